//! Serial numbers from their hex text, separated by one byte: the store keeps each
//! revocation's serial as hex, and `crl publish` reads a million of them at once
//! (issue 20 §1). SQLite concatenates them; this turns the text into the N x 20
//! right-aligned rows the CRL writer takes, in one pass, without a Python object each.

use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::prelude::*;

use crate::error::{NativeError, NativeResult};

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parse `text` (hex serials separated by `sep`) into `count` rows of 20 octets.
pub fn parse(text: &[u8], sep: u8, count: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; count.checked_mul(20).ok_or("too many serials")?];
    let mut row = 0usize;
    for token in text.split(|&b| b == sep) {
        if row >= count {
            return Err(format!("more than {count} serials"));
        }
        if token.is_empty() || token.len() > 40 {
            return Err(format!(
                "serial {row}: {} hex digits, expected 1 to 40",
                token.len()
            ));
        }
        let dst = &mut out[row * 20..row * 20 + 20];
        // Right-aligned: the last digit is the low nibble of octet 19.
        for (k, &c) in token.iter().rev().enumerate() {
            let v =
                hex_value(c).ok_or_else(|| format!("serial {row}: {:?} is not hex", c as char))?;
            let byte = 19 - k / 2;
            dst[byte] |= if k % 2 == 0 { v } else { v << 4 };
        }
        row += 1;
    }
    if row != count {
        return Err(format!("{row} serials, expected {count}"));
    }
    Ok(out)
}

/// `serials_from_hex_text(text, count, sep=",")` -> N x 20 uint8 (big-endian magnitudes,
/// right-aligned). ValueError (BatchArgumentError) naming the first bad serial.
#[pyfunction]
#[pyo3(signature = (text, count, sep = ","))]
pub fn serials_from_hex_text<'py>(
    py: Python<'py>,
    text: &str,
    count: usize,
    sep: &str,
) -> NativeResult<Bound<'py, PyArray2<u8>>> {
    let sep = match sep.as_bytes() {
        [b] => *b,
        _ => return Err(NativeError::Batch("sep: one ASCII character".into())),
    };
    if count == 0 {
        if !text.is_empty() {
            return Err(NativeError::Batch(
                "serials: text given for 0 serials".into(),
            ));
        }
        return Ok(Vec::<u8>::new().into_pyarray(py).reshape([0, 20])?);
    }
    let bytes = text.as_bytes();
    let out = py
        .detach(|| parse(bytes, sep, count))
        .map_err(|e| NativeError::Batch(format!("serials: {e}")))?;
    Ok(out.into_pyarray(py).reshape([count, 20])?)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn right_aligned_rows() {
        let out = parse(b"1,ff,abc", b',', 3).unwrap();
        assert_eq!(out[19], 1);
        assert_eq!(out[39], 0xff);
        assert_eq!((out[58], out[59]), (0x0a, 0xbc));
        assert!(out[..19].iter().all(|&b| b == 0));
    }

    #[test]
    fn refusals() {
        assert!(parse(b"1,,2", b',', 3).is_err());
        assert!(parse(b"xyz", b',', 1).is_err());
        assert!(parse(&[b'1'; 41], b',', 1).is_err());
        assert!(parse(b"1,2", b',', 1).is_err());
        assert!(parse(b"1", b',', 2).is_err());
    }
}
