//! DER writer with exact length computation.
//!
//! Every constructed value is written as header + content where the content length
//! is known before the header is written, so outputs are one allocation of the exact
//! size (the two-phase model of RustCrypto `der`: compute lengths, then write).

use crate::error::{DerError, DerErrorKind};

/// Number of octets the length field takes for a content of `len` octets (X.690 §8.1.3).
pub const fn length_octets(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xff {
        2
    } else if len <= 0xffff {
        3
    } else if len <= 0xff_ffff {
        4
    } else {
        5
    }
}

/// Total size of a TLV (single-octet tag) whose content is `content_len` octets.
pub const fn tlv_len(content_len: usize) -> usize {
    1 + length_octets(content_len) + content_len
}

/// Append tag and definite, minimal length.
pub fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    match length_octets(len) {
        1 => out.push(len as u8),
        n => {
            out.push(0x80 | (n as u8 - 1));
            for i in (0..n - 1).rev() {
                out.push((len >> (8 * i)) as u8);
            }
        }
    }
}

/// Append a whole TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    write_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// A whole TLV as a new vector of the exact size.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(content.len()));
    push_tlv(&mut out, tag, content);
    out
}

/// A constructed TLV from already-encoded children.
pub fn constructed(tag: u8, children: &[&[u8]]) -> Vec<u8> {
    let len: usize = children.iter().map(|c| c.len()).sum();
    let mut out = Vec::with_capacity(tlv_len(len));
    write_header(&mut out, tag, len);
    for c in children {
        out.extend_from_slice(c);
    }
    out
}

/// Content octets of a non-negative INTEGER given as a big-endian magnitude:
/// leading zero octets stripped, one 0x00 prepended when the top bit is set
/// (X.690 §8.3.2: minimal two's complement).
pub fn unsigned_integer_content(magnitude: &[u8]) -> Vec<u8> {
    let first_nonzero = magnitude.iter().position(|&b| b != 0);
    let trimmed = match first_nonzero {
        Some(i) => &magnitude[i..],
        None => return vec![0],
    };
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

/// INTEGER TLV of a small non-negative number.
pub fn integer_u64(v: u64) -> Vec<u8> {
    tlv(0x02, &unsigned_integer_content(&v.to_be_bytes()))
}

/// Certificate serial INTEGER (RFC 5280 §4.1.2.2): positive, at most 20 content octets.
pub fn serial_integer(magnitude: &[u8]) -> Result<Vec<u8>, DerError> {
    let content = unsigned_integer_content(magnitude);
    if content == [0] {
        return Err(DerError::new(
            DerErrorKind::Unencodable("serial number is zero"),
            0,
            "serialNumber",
        ));
    }
    if content.len() > 20 {
        return Err(DerError::new(
            DerErrorKind::Unencodable("serial number longer than 20 octets"),
            0,
            "serialNumber",
        ));
    }
    Ok(tlv(0x02, &content))
}

/// OBJECT IDENTIFIER TLV from dotted text.
pub fn oid(dotted: &str) -> Result<Vec<u8>, DerError> {
    Ok(tlv(0x06, &super::oid::encode_oid(dotted)?))
}

/// BIT STRING TLV with zero unused bits (keys, signatures).
pub fn bit_string(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(payload.len() + 1));
    write_header(&mut out, 0x03, payload.len() + 1);
    out.push(0);
    out.extend_from_slice(payload);
    out
}

/// Named-bit-list BIT STRING (X.690 §11.2.2: trailing zero bits are removed and the
/// unused-bits count says how many of the last octet are padding). `bits` are bit
/// numbers, 0 = most significant bit of the first octet.
pub fn named_bit_string(bits: &[u8]) -> Vec<u8> {
    let Some(&highest) = bits.iter().max() else {
        return vec![0x03, 0x01, 0x00];
    };
    let nbytes = usize::from(highest) / 8 + 1;
    let mut value = vec![0u8; nbytes];
    for &b in bits {
        value[usize::from(b) / 8] |= 0x80 >> (b % 8);
    }
    let unused = 7 - (highest % 8);
    let mut out = Vec::with_capacity(3 + nbytes);
    write_header(&mut out, 0x03, nbytes + 1);
    out.push(unused);
    out.extend_from_slice(&value);
    out
}

/// BOOLEAN TRUE as DER requires (X.690 §11.1: 0xff).
pub const BOOLEAN_TRUE: [u8; 3] = [0x01, 0x01, 0xff];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_forms() {
        assert_eq!(tlv(0x04, &[0u8; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(0x04, &[0u8; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0u8; 0x100])[..4], [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(
            tlv(0x04, &vec![0u8; 0x10000])[..5],
            [0x04, 0x83, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn integers() {
        assert_eq!(integer_u64(0), [0x02, 0x01, 0x00]);
        assert_eq!(integer_u64(127), [0x02, 0x01, 0x7f]);
        assert_eq!(integer_u64(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer_content(&[0, 0, 1]), [1]);
        assert!(serial_integer(&[0, 0]).is_err());
        assert!(
            serial_integer(&[0x80; 20]).is_err(),
            "21 octets once the sign octet is added"
        );
        assert_eq!(serial_integer(&[0x7f; 20]).unwrap().len(), 22);
    }

    #[test]
    fn named_bits() {
        // keyUsage digitalSignature(0) + keyAgreement(4): 03 02 03 88
        assert_eq!(named_bit_string(&[0, 4]), [0x03, 0x02, 0x03, 0x88]);
        // keyCertSign(5) + cRLSign(6): 03 02 01 06
        assert_eq!(named_bit_string(&[5, 6]), [0x03, 0x02, 0x01, 0x06]);
        // decipherOnly(8): 03 03 07 00 80
        assert_eq!(named_bit_string(&[8]), [0x03, 0x03, 0x07, 0x00, 0x80]);
    }

    proptest::proptest! {
        #[test]
        fn tlv_len_is_exact(n in 0usize..70_000) {
            let content = vec![0xabu8; n];
            proptest::prop_assert_eq!(tlv(0x04, &content).len(), tlv_len(n));
        }
    }
}
