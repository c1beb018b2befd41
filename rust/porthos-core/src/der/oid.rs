//! OBJECT IDENTIFIER content octets <-> dotted text (X.690 §8.19).

use crate::error::{DerError, DerErrorKind};

/// Encode dotted text (`"2.5.4.3"`) into OID content octets (no tag or length).
pub fn encode_oid(dotted: &str) -> Result<Vec<u8>, DerError> {
    let bad = || {
        DerError::new(
            DerErrorKind::Unencodable("object identifier"),
            0,
            dotted.to_string(),
        )
    };
    let mut arcs = Vec::new();
    for part in dotted.split('.') {
        // Each arc is plain decimal: no sign, no leading zero, no empty arc.
        if part.is_empty()
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (part.len() > 1 && part.starts_with('0'))
        {
            return Err(bad());
        }
        arcs.push(part.parse::<u64>().map_err(|_| bad())?);
    }
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40) {
        return Err(bad());
    }
    let first = arcs[0]
        .checked_mul(40)
        .and_then(|v| v.checked_add(arcs[1]))
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(arcs.len() * 2);
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        push_base128(&mut out, arc);
    }
    Ok(out)
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    let last = tmp.len() - 1;
    for (j, b) in tmp.iter().enumerate().skip(i) {
        out.push(if j == last { *b } else { b | 0x80 });
    }
}

/// Decode OID content octets into dotted text. Rejects empty content, non-minimal
/// arcs (a leading 0x80 octet) and arcs past 64 bits.
pub fn decode_oid(content: &[u8]) -> Option<String> {
    if content.is_empty() || content[content.len() - 1] & 0x80 != 0 {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut cur: u64 = 0;
    let mut start = true;
    for &b in content {
        if start && b == 0x80 {
            return None;
        }
        start = false;
        if cur > (u64::MAX >> 7) {
            return None;
        }
        cur = (cur << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(cur);
            cur = 0;
            start = true;
        }
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_oids() {
        assert_eq!(
            encode_oid("1.2.840.10045.4.3.2").unwrap(),
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        assert_eq!(encode_oid("2.5.29.19").unwrap(), [0x55, 0x1d, 0x13]);
        assert_eq!(encode_oid("2.999.3").unwrap(), [0x88, 0x37, 0x03]);
        assert_eq!(decode_oid(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "", "1", "3.1", "1.40", "1.2.", "1..2", "1.02", "-1.2", "1.2.x",
        ] {
            assert!(encode_oid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_content() {
        assert!(decode_oid(&[]).is_none());
        assert!(decode_oid(&[0x2a, 0x80, 0x01]).is_none());
        assert!(decode_oid(&[0x2a, 0x86]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(a in 0u64..3, b in 0u64..40, rest in proptest::collection::vec(0u64..u64::MAX, 0..8)) {
            let mut s = format!("{a}.{b}");
            for r in &rest { s.push_str(&format!(".{r}")); }
            let enc = encode_oid(&s).unwrap();
            proptest::prop_assert_eq!(decode_oid(&enc).unwrap(), s);
        }
    }
}
