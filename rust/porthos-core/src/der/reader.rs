//! Strict, zero-copy DER reader (X.690 §10).
//!
//! Everything a CA parses from an applicant is hostile input, so the reader accepts
//! exactly one encoding per value: definite, minimal lengths (X.690 §10.1), low-tag-number
//! form only, no trailing bytes. Every error carries the absolute byte offset in the
//! outermost input plus a field path so an operator can find the bad byte.

use crate::der::{tag, MAX_DEPTH};
use crate::error::{DerError, DerErrorKind};

/// One tag-length-value, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (low-tag-number form only).
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// The whole encoding: tag, length and value.
    pub raw: &'a [u8],
    /// Absolute offset of the tag octet in the outermost input.
    pub offset: usize,
}

impl Tlv<'_> {
    /// Absolute offset of the first content octet.
    pub fn value_offset(&self) -> usize {
        self.offset + (self.raw.len() - self.value.len())
    }
}

/// A cursor over a DER buffer. Cheap to copy; `nested` opens a constructed value.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Absolute offset of `data[0]` in the outermost input.
    base: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the outermost input (offset 0, depth 0).
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader {
            data: input,
            pos: 0,
            base: 0,
            depth: 0,
        }
    }

    /// A reader over `input` that reports offsets as if `input` started at `base`.
    pub fn with_base(input: &'a [u8], base: usize) -> Reader<'a> {
        Reader {
            data: input,
            pos: 0,
            base,
            depth: 0,
        }
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The tag of the next TLV without consuming it (`None` at the end).
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn err(&self, kind: DerErrorKind, at: usize) -> DerError {
        DerError::new(kind, self.base + at, "")
    }

    /// Read the next TLV. Enforces DER length rules (X.690 §8.1.3, §10.1).
    pub fn read_tlv(&mut self) -> Result<Tlv<'a>, DerError> {
        let start = self.pos;
        let rest = &self.data[start..];
        let &t = rest
            .first()
            .ok_or_else(|| self.err(DerErrorKind::Truncated, start))?;
        // High-tag-number form (X.690 §8.1.2.4): nothing in X.509/PKCS#10 uses it.
        if t & 0x1f == 0x1f {
            return Err(self.err(DerErrorKind::UnsupportedTag, start));
        }
        let &l0 = rest
            .get(1)
            .ok_or_else(|| self.err(DerErrorKind::Truncated, start))?;
        let (len, hdr) = if l0 < 0x80 {
            (usize::from(l0), 2usize)
        } else if l0 == 0x80 {
            // Indefinite form is BER only (X.690 §10.1).
            return Err(self.err(DerErrorKind::IndefiniteLength, start));
        } else {
            let n = usize::from(l0 & 0x7f);
            if n > 4 {
                return Err(self.err(DerErrorKind::LengthTooLarge, start));
            }
            let octets = rest
                .get(2..2 + n)
                .ok_or_else(|| self.err(DerErrorKind::Truncated, start))?;
            // Minimal: no leading zero octet, and long form only for >= 128 (X.690 §10.1).
            if octets[0] == 0 {
                return Err(self.err(DerErrorKind::NonMinimalLength, start));
            }
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(self.err(DerErrorKind::NonMinimalLength, start));
            }
            (len, 2 + n)
        };
        let end = hdr
            .checked_add(len)
            .ok_or_else(|| self.err(DerErrorKind::LengthTooLarge, start))?;
        if end > rest.len() {
            return Err(self.err(DerErrorKind::Truncated, start));
        }
        self.pos = start + end;
        Ok(Tlv {
            tag: t,
            value: &rest[hdr..end],
            raw: &rest[..end],
            offset: self.base + start,
        })
    }

    /// Read the next TLV and require `tag`; `path` names the field in errors.
    pub fn expect(&mut self, want: u8, path: &str) -> Result<Tlv<'a>, DerError> {
        let at = self.pos;
        match self.peek_tag() {
            Some(found) if found != want => Err(self
                .err(
                    DerErrorKind::UnexpectedTag {
                        expected: want,
                        found,
                    },
                    at,
                )
                .within(path)),
            _ => self.read_tlv().map_err(|e| e.within(path)),
        }
    }

    /// Read the next TLV only if its tag is `want` (for OPTIONAL / DEFAULT fields).
    pub fn optional(&mut self, want: u8, path: &str) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(want) {
            self.expect(want, path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Require that every byte was consumed (X.690: no trailing data in a structure).
    pub fn finish(&self, path: &str) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(DerErrorKind::TrailingBytes, self.pos).within(path))
        }
    }

    /// A reader over the content of `tlv` (which must come from this reader or one of
    /// its ancestors), one level deeper.
    pub fn nested(&self, tlv: &Tlv<'a>) -> Result<Reader<'a>, DerError> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(DerError::new(DerErrorKind::TooDeep, tlv.offset, ""));
        }
        Ok(Reader {
            data: tlv.value,
            pos: 0,
            base: tlv.value_offset(),
            depth: self.depth + 1,
        })
    }

    /// `expect(tag)` followed by `nested`: the usual way into a SEQUENCE or SET.
    pub fn enter(&mut self, want: u8, path: &str) -> Result<(Tlv<'a>, Reader<'a>), DerError> {
        let tlv = self.expect(want, path)?;
        let inner = self.nested(&tlv).map_err(|e| e.within(path))?;
        Ok((tlv, inner))
    }

    /// Read an INTEGER and return its content octets after checking the minimal
    /// two's-complement rule (X.690 §8.3.2): non-empty, and the first nine bits are
    /// neither all zero nor all one.
    pub fn read_integer_bytes(&mut self, path: &str) -> Result<&'a [u8], DerError> {
        let tlv = self.expect(tag::INTEGER, path)?;
        check_integer(&tlv).map_err(|e| e.within(path))?;
        Ok(tlv.value)
    }

    /// Read a BOOLEAN; DER allows only 0x00 and 0xff (X.690 §11.1).
    pub fn read_bool(&mut self, path: &str) -> Result<bool, DerError> {
        let tlv = self.expect(tag::BOOLEAN, path)?;
        match tlv.value {
            [0x00] => Ok(false),
            [0xff] => Ok(true),
            _ => Err(DerError::new(
                DerErrorKind::InvalidValue("BOOLEAN must be 0x00 or 0xff"),
                tlv.offset,
                path,
            )),
        }
    }

    /// Read a NULL (content must be empty, X.690 §8.8.2).
    pub fn read_null(&mut self, path: &str) -> Result<(), DerError> {
        let tlv = self.expect(tag::NULL, path)?;
        if !tlv.value.is_empty() {
            return Err(DerError::new(
                DerErrorKind::InvalidValue("NULL with content"),
                tlv.offset,
                path,
            ));
        }
        Ok(())
    }

    /// Read an OBJECT IDENTIFIER and return its content octets after checking that
    /// they decode (non-empty, minimal arcs; X.690 §8.19).
    pub fn read_oid(&mut self, path: &str) -> Result<&'a [u8], DerError> {
        let tlv = self.expect(tag::OID, path)?;
        check_oid(&tlv).map_err(|e| e.within(path))?;
        Ok(tlv.value)
    }

    /// Read a BIT STRING whose unused-bits octet is 0 (keys and signatures are whole
    /// octets) and return the payload after that octet.
    pub fn read_bit_string(&mut self, path: &str) -> Result<&'a [u8], DerError> {
        let tlv = self.expect(tag::BIT_STRING, path)?;
        match tlv.value.split_first() {
            Some((0, payload)) => Ok(payload),
            Some(_) => Err(DerError::new(
                DerErrorKind::InvalidValue("BIT STRING with unused bits"),
                tlv.offset,
                path,
            )),
            None => Err(DerError::new(
                DerErrorKind::InvalidValue("empty BIT STRING"),
                tlv.offset,
                path,
            )),
        }
    }
}

/// Minimal two's-complement check for an INTEGER TLV (X.690 §8.3.2).
pub fn check_integer(tlv: &Tlv<'_>) -> Result<(), DerError> {
    let bad = |what| {
        Err(DerError::new(
            DerErrorKind::InvalidValue(what),
            tlv.offset,
            "",
        ))
    };
    match tlv.value {
        [] => bad("empty INTEGER"),
        [0x00, b, ..] if b & 0x80 == 0 => bad("non-minimal INTEGER (leading 0x00)"),
        [0xff, b, ..] if b & 0x80 != 0 => bad("non-minimal INTEGER (leading 0xff)"),
        _ => Ok(()),
    }
}

/// Check that an OID TLV's content decodes (X.690 §8.19).
pub fn check_oid(tlv: &Tlv<'_>) -> Result<(), DerError> {
    if !crate::der::oid::is_valid_oid(tlv.value) {
        return Err(DerError::new(
            DerErrorKind::InvalidValue("malformed OBJECT IDENTIFIER"),
            tlv.offset,
            "",
        ));
    }
    Ok(())
}

/// Walk `tlv` and everything inside it, checking that every constructed value is a
/// well-formed sequence of DER TLVs with no trailing bytes, down to `MAX_DEPTH`, and
/// that universal primitives whose DER form is fixed (BOOLEAN, INTEGER, NULL, OID)
/// obey it. Used for parts we skip (unknown CSR attributes, unknown parameters)
/// but that still must not be BER.
pub fn validate_tree(reader: &Reader<'_>, tlv: &Tlv<'_>) -> Result<(), DerError> {
    let bad = |what| {
        Err(DerError::new(
            DerErrorKind::InvalidValue(what),
            tlv.offset,
            "",
        ))
    };
    // Bit 6 of the identifier octet marks a constructed encoding (X.690 §8.1.2.5).
    let constructed = tlv.tag & 0x20 != 0;
    let universal = tlv.tag & 0xc0 == 0;
    let number = tlv.tag & 0x1f;
    if universal {
        match (number, constructed) {
            // SEQUENCE and SET are always constructed.
            (0x10 | 0x11, false) => return bad("primitive SEQUENCE/SET"),
            (0x10 | 0x11, true) => {}
            // DER: every other universal type is primitive (X.690 §10.2).
            (_, true) => return bad("constructed encoding of a primitive type"),
            (0x01, false) if tlv.value != [0x00] && tlv.value != [0xff] => {
                return bad("BOOLEAN must be 0x00 or 0xff")
            }
            (0x02, false) => check_integer(tlv)?,
            (0x05, false) if !tlv.value.is_empty() => return bad("NULL with content"),
            (0x06, false) => check_oid(tlv)?,
            _ => {}
        }
    }
    if !constructed {
        return Ok(());
    }
    let mut inner = reader.nested(tlv)?;
    while !inner.is_empty() {
        let child = inner.read_tlv()?;
        validate_tree(&inner, &child)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(input: &[u8]) -> DerErrorKind {
        Reader::new(input).read_tlv().unwrap_err().kind
    }

    #[test]
    fn reads_short_and_long_form() {
        let mut r = Reader::new(&[0x04, 0x02, 0xaa, 0xbb, 0x05, 0x00]);
        let t = r.read_tlv().unwrap();
        assert_eq!((t.tag, t.value, t.offset), (0x04, &[0xaa, 0xbb][..], 0));
        assert_eq!(t.raw.len(), 4);
        let n = r.read_tlv().unwrap();
        assert_eq!((n.tag, n.value.len(), n.offset), (0x05, 0, 4));
        r.finish("x").unwrap();

        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 128));
        assert_eq!(Reader::new(&long).read_tlv().unwrap().value.len(), 128);
    }

    #[test]
    fn rejects_every_bad_length() {
        assert_eq!(kind(&[]), DerErrorKind::Truncated);
        assert_eq!(kind(&[0x04]), DerErrorKind::Truncated);
        assert_eq!(kind(&[0x04, 0x03, 0x00]), DerErrorKind::Truncated);
        assert_eq!(kind(&[0x04, 0x82, 0x01]), DerErrorKind::Truncated);
        assert_eq!(
            kind(&[0x30, 0x80, 0x00, 0x00]),
            DerErrorKind::IndefiniteLength
        );
        assert_eq!(
            kind(&[0x04, 0x81, 0x01, 0x00]),
            DerErrorKind::NonMinimalLength
        );
        assert_eq!(
            kind(&[0x04, 0x82, 0x00, 0x81]),
            DerErrorKind::NonMinimalLength
        );
        assert_eq!(
            kind(&[0x04, 0x85, 1, 0, 0, 0, 0]),
            DerErrorKind::LengthTooLarge
        );
        assert_eq!(
            kind(&[0x1f, 0x81, 0x00, 0x00]),
            DerErrorKind::UnsupportedTag
        );
        assert_eq!(kind(&[0xbf, 0x01, 0x00]), DerErrorKind::UnsupportedTag);
        // A 4-octet length far past the buffer is Truncated, not an overflow.
        assert_eq!(
            kind(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
            DerErrorKind::Truncated
        );
    }

    #[test]
    fn trailing_bytes_and_tag_mismatch() {
        let mut r = Reader::new(&[0x05, 0x00, 0x00]);
        r.read_null("a").unwrap();
        let e = r.finish("outer").unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.path.as_str()),
            (DerErrorKind::TrailingBytes, 2, "outer")
        );
        let e = Reader::new(&[0x05, 0x00])
            .expect(tag::INTEGER, "v")
            .unwrap_err();
        assert_eq!(
            e.kind,
            DerErrorKind::UnexpectedTag {
                expected: 0x02,
                found: 0x05
            }
        );
    }

    #[test]
    fn nested_offsets_are_absolute_and_depth_is_bounded() {
        // SEQUENCE { SEQUENCE { NULL 01 } }: the bad NULL sits at byte 4.
        let input = [0x30, 0x05, 0x30, 0x03, 0x05, 0x01, 0x00];
        let mut r = Reader::new(&input);
        let (_, mut a) = r.enter(tag::SEQUENCE, "A").unwrap();
        let (_, mut b) = a.enter(tag::SEQUENCE, "B").unwrap();
        let e = b.read_null("n").unwrap_err().within("B").within("A");
        assert_eq!((e.offset, e.path.as_str()), (4, "A.B.n"));

        // Build exactly MAX_DEPTH + 1 nested SEQUENCEs with long-form-safe lengths.
        let mut v = vec![0x05, 0x00];
        for _ in 0..=MAX_DEPTH {
            let mut o = vec![0x30];
            push_len(&mut o, v.len());
            o.extend(&v);
            v = o;
        }
        let mut r = Reader::new(&v);
        let mut depth_err = None;
        let mut cur = r.clone();
        let mut tlv = r.read_tlv().unwrap();
        for _ in 0..=MAX_DEPTH + 1 {
            match cur.nested(&tlv) {
                Ok(mut n) => {
                    tlv = n.read_tlv().unwrap();
                    cur = n;
                }
                Err(e) => {
                    depth_err = Some(e.kind);
                    break;
                }
            }
        }
        assert_eq!(depth_err, Some(DerErrorKind::TooDeep));
        assert!(validate_tree(&Reader::new(&v), &Reader::new(&v).read_tlv().unwrap()).is_err());
    }

    #[test]
    fn value_helpers() {
        let ok_ints: [&[u8]; 4] = [
            &[2, 1, 0],
            &[2, 1, 0x7f],
            &[2, 2, 0, 0x80],
            &[2, 2, 0xff, 0x7f],
        ];
        for i in ok_ints {
            Reader::new(i).read_integer_bytes("i").unwrap();
        }
        let bad_ints: [&[u8]; 3] = [&[2, 0], &[2, 2, 0, 0x7f], &[2, 2, 0xff, 0x80]];
        for i in bad_ints {
            assert!(matches!(
                Reader::new(i).read_integer_bytes("i").unwrap_err().kind,
                DerErrorKind::InvalidValue(_)
            ));
        }
        assert!(Reader::new(&[1, 1, 0xff]).read_bool("b").unwrap());
        assert!(!Reader::new(&[1, 1, 0x00]).read_bool("b").unwrap());
        assert!(Reader::new(&[1, 1, 0x01]).read_bool("b").is_err());
        assert!(Reader::new(&[1, 2, 0, 0]).read_bool("b").is_err());
        assert_eq!(
            Reader::new(&[6, 3, 0x55, 0x04, 0x03])
                .read_oid("o")
                .unwrap(),
            [0x55, 4, 3]
        );
        assert!(Reader::new(&[6, 0]).read_oid("o").is_err());
        assert!(Reader::new(&[6, 2, 0x55, 0x80]).read_oid("o").is_err());
        assert_eq!(
            Reader::new(&[3, 2, 0, 0xaa]).read_bit_string("k").unwrap(),
            [0xaa]
        );
        assert!(Reader::new(&[3, 2, 1, 0xaa]).read_bit_string("k").is_err());
        assert!(Reader::new(&[3, 0]).read_bit_string("k").is_err());
        assert!(Reader::new(&[5, 1, 0]).read_null("n").is_err());
    }

    #[test]
    fn validate_tree_checks_skipped_content() {
        let check = |b: &[u8]| {
            let r = Reader::new(b);
            let t = r.clone().read_tlv().unwrap();
            validate_tree(&r, &t)
        };
        check(&[0x30, 0x08, 0x01, 0x01, 0xff, 0x05, 0x00, 0xa0, 0x01, 0x00]).unwrap_err();
        check(&[0x30, 0x07, 0x01, 0x01, 0xff, 0x05, 0x00, 0x80, 0x00]).unwrap();
        for bad in [
            &[0x30, 0x03, 0x01, 0x01, 0x01][..],   // BOOLEAN 0x01
            &[0x30, 0x04, 0x02, 0x02, 0x00, 0x01], // non-minimal INTEGER
            &[0x30, 0x03, 0x05, 0x01, 0x00],       // NULL with content
            &[0x30, 0x03, 0x06, 0x01, 0x80],       // bad OID
            &[0x30, 0x04, 0x24, 0x02, 0x04, 0x00], // constructed OCTET STRING
            &[0x10, 0x00],                         // primitive SEQUENCE
            &[0x31, 0x03, 0x30, 0x80, 0x00],       // indefinite inside
        ] {
            assert!(check(bad).is_err(), "{bad:02x?}");
        }
    }

    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend(&bytes[skip..]);
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            while let Ok(t) = r.read_tlv() {
                let _ = validate_tree(&r, &t);
                if r.is_empty() { break; }
            }
        }

        #[test]
        fn well_formed_tlv_roundtrips(t in 0u8..0xff, content in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assume!(t & 0x1f != 0x1f);
            let mut enc = vec![t];
            push_len(&mut enc, content.len());
            enc.extend(&content);
            let mut r = Reader::new(&enc);
            let tlv = r.read_tlv().unwrap();
            prop_assert_eq!(tlv.tag, t);
            prop_assert_eq!(tlv.value, &content[..]);
            prop_assert_eq!(tlv.raw, &enc[..]);
            prop_assert!(r.finish("x").is_ok());
        }
    }
}
