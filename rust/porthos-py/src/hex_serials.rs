//! Serial numbers from their hex text, separated by one byte: the store keeps each
//! revocation's serial as hex, and `crl publish` reads a million of them at once
//! (issue 20 §1). SQLite concatenates them; this turns the text into the N x 20
//! right-aligned rows the CRL writer takes, in one pass, without a Python object each.

use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use rayon::prelude::*;

// The digit table (0xff: not a hex digit) is the CSV reader's.
use porthos_core::crl::revocations_csv::HEX;

use crate::error::{NativeError, NativeResult};

/// Texts shorter than this are parsed on the calling thread: a pool hand-off costs more.
const PARALLEL_FROM: usize = 1 << 16;

/// One serial's digits into its 20-octet row, right-aligned (the last digit is the low
/// nibble of octet 19). Two digits per step through a table: the branchy per-digit form
/// took 146 ms of a 1.6 s `crl publish` of 1,000,000 serials.
fn parse_token(token: &[u8], row: usize, dst: &mut [u8]) -> Result<(), String> {
    if token.is_empty() || token.len() > 40 {
        return Err(format!(
            "serial {row}: {} hex digits, expected 1 to 40",
            token.len()
        ));
    }
    let mut end = token.len();
    let mut byte = 20;
    let mut bad = false;
    while end >= 2 {
        let hi = HEX[token[end - 2] as usize];
        let lo = HEX[token[end - 1] as usize];
        bad |= hi > 15 || lo > 15;
        byte -= 1;
        dst[byte] = (hi << 4) | (lo & 0x0f);
        end -= 2;
    }
    if end == 1 {
        let v = HEX[token[0] as usize];
        bad |= v > 15;
        dst[byte - 1] = v & 0x0f;
    }
    if bad {
        // The same digit the one-at-a-time parser named: the last bad one.
        let c = token
            .iter()
            .rev()
            .find(|&&c| HEX[c as usize] > 15)
            .copied()
            .unwrap_or(b'?');
        return Err(format!("serial {row}: {:?} is not hex", c as char));
    }
    Ok(())
}

/// Parse `rows` serials of one chunk (`text` holds whole tokens) into `out`, naming rows
/// from `first_row`.
fn parse_chunk(text: &[u8], sep: u8, first_row: usize, out: &mut [u8]) -> Result<(), String> {
    for (k, (token, dst)) in text
        .split(|&b| b == sep)
        .zip(out.chunks_exact_mut(20))
        .enumerate()
    {
        parse_token(token, first_row + k, dst)?;
    }
    Ok(())
}

/// Cut `text` into about `parts` pieces, each ending at a separator (kept out of it).
fn chunks(text: &[u8], sep: u8, parts: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(parts);
    let mut rest = text;
    let step = text.len().div_ceil(parts.max(1)).max(1);
    while rest.len() > step {
        match rest[step..].iter().position(|&b| b == sep) {
            Some(p) => {
                out.push(&rest[..step + p]);
                rest = &rest[step + p + 1..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Parse `text` (hex serials separated by `sep`) into `count` rows of 20 octets. The
/// separators are counted first, so a text with the wrong number of serials allocates
/// nothing; large texts are parsed on the rayon pool, chunk by chunk.
pub fn parse(text: &[u8], sep: u8, count: usize) -> Result<Vec<u8>, String> {
    let size = count.checked_mul(20).ok_or("too many serials")?;
    let parts = if text.len() < PARALLEL_FROM {
        1
    } else {
        rayon::current_num_threads() * 4
    };
    let pieces = chunks(text, sep, parts);
    let rows: Vec<usize> = pieces
        .par_iter()
        .map(|p| p.iter().filter(|&&b| b == sep).count() + 1)
        .collect();
    let found: usize = rows.iter().sum();
    if found > count {
        return Err(format!("more than {count} serials"));
    }
    if found != count {
        return Err(format!("{found} serials, expected {count}"));
    }
    let mut out = vec![0u8; size];
    let mut jobs = Vec::with_capacity(pieces.len());
    let mut rest = out.as_mut_slice();
    let mut first = 0usize;
    for (piece, &n) in pieces.iter().zip(&rows) {
        let (mine, tail) = rest.split_at_mut(n * 20);
        jobs.push((*piece, first, mine));
        rest = tail;
        first += n;
    }
    // The first bad row of the text is reported, whichever chunk finished first.
    let errors: Vec<(usize, String)> = jobs
        .into_par_iter()
        .filter_map(|(piece, first, dst)| {
            parse_chunk(piece, sep, first, dst)
                .err()
                .map(|e| (first, e))
        })
        .collect();
    match errors.into_iter().min_by_key(|(first, _)| *first) {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
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
        assert_eq!(
            parse(b"1,zz", b',', 2).unwrap_err(),
            "serial 1: 'z' is not hex"
        );
        assert_eq!(parse(b"1,2,3", b',', 2).unwrap_err(), "more than 2 serials");
    }

    /// The chunked parse agrees with a one-digit-at-a-time reference on a text large
    /// enough to be split, odd lengths and upper case included; an error names the
    /// first bad row wherever the chunk boundaries fall.
    #[test]
    fn chunked_matches_reference() {
        let mut tokens = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..40_000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x as usize % 40);
            let digits: String = (0..len)
                .map(|k| b"0123456789abcdefABCDEF"[((x >> (k % 60)) as usize + i + k) % 22] as char)
                .collect();
            tokens.push(digits);
        }
        let text = tokens.join(",");
        assert!(text.len() >= super::PARALLEL_FROM);
        let out = parse(text.as_bytes(), b',', tokens.len()).unwrap();
        for (row, t) in tokens.iter().enumerate() {
            let v = u128::from_str_radix(&t[t.len().saturating_sub(32)..], 16).unwrap();
            let high = if t.len() > 32 {
                u64::from_str_radix(&t[..t.len() - 32], 16).unwrap()
            } else {
                0
            };
            let mut want = [0u8; 20];
            want[4..].copy_from_slice(&v.to_be_bytes());
            want[..4].copy_from_slice(&(high as u32).to_be_bytes());
            assert_eq!(&out[row * 20..row * 20 + 20], &want, "row {row}: {t}");
        }
        let mut bad = tokens.clone();
        bad[30_000] = "12g4".into();
        bad[35_000] = "x".into();
        let err = parse(bad.join(",").as_bytes(), b',', bad.len()).unwrap_err();
        assert_eq!(err, "serial 30000: 'g' is not hex");
    }
}
