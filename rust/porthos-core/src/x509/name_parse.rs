//! Parse an X.501 Name (RFC 5280 §4.1.2.4) into a flat list of attributes.
//!
//! Name ::= SEQUENCE OF RelativeDistinguishedName
//! RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
//! AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }

use crate::der::oid::decode_oid;
use crate::der::reader::{Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};

/// One AttributeTypeAndValue, decoded to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAttribute {
    /// Attribute type in dotted form, e.g. `"2.5.4.3"` for commonName.
    pub oid: String,
    /// The universal tag of the string type the value was encoded with.
    pub tag: u8,
    /// The decoded value.
    pub value: String,
}

/// Parse a whole Name TLV (`raw_name_tlv` must be exactly one SEQUENCE).
/// Attributes come out in DER order: most general RDN first, and within a
/// multi-valued RDN in the (sorted) order of the encoding.
pub fn parse_name(raw_name_tlv: &[u8]) -> Result<Vec<NameAttribute>, DerError> {
    let mut r = Reader::new(raw_name_tlv);
    let tlv = r.expect(tag::SEQUENCE, "Name")?;
    r.finish("Name")?;
    parse_name_in(&r, &tlv).map_err(|e| e.within("Name"))
}

/// Parse a Name TLV read by `parent`; offsets in errors are absolute in the
/// outermost input of `parent`. Errors carry paths relative to the Name.
pub fn parse_name_in(parent: &Reader<'_>, name: &Tlv<'_>) -> Result<Vec<NameAttribute>, DerError> {
    if name.tag != tag::SEQUENCE {
        return Err(DerError::new(
            DerErrorKind::UnexpectedTag {
                expected: tag::SEQUENCE,
                found: name.tag,
            },
            name.offset,
            "",
        ));
    }
    let mut rdns = parent.nested(name)?;
    let mut out = Vec::new();
    let mut index = 0usize;
    while !rdns.is_empty() {
        let path = format!("rdn[{index}]");
        let (set, mut atvs) = rdns.enter(tag::SET, &path)?;
        if atvs.is_empty() {
            // SET SIZE (1..MAX): an empty RDN is not a Name (RFC 5280 App. A).
            return Err(DerError::new(
                DerErrorKind::InvalidValue("empty RelativeDistinguishedName"),
                set.offset,
                path,
            ));
        }
        let mut prev: Option<&[u8]> = None;
        while !atvs.is_empty() {
            let (atv, mut fields) = atvs.enter(tag::SEQUENCE, &path)?;
            // DER sorts SET OF members by their encodings (X.690 §11.6); a
            // multi-valued RDN in another order is BER, and would compare unequal
            // to the same name encoded correctly.
            if let Some(p) = prev {
                if set_of_order(p, atv.raw) == std::cmp::Ordering::Greater {
                    return Err(DerError::new(
                        DerErrorKind::InvalidValue("SET OF not in DER order"),
                        atv.offset,
                        path,
                    ));
                }
            }
            prev = Some(atv.raw);
            let oid = fields.read_oid("type").map_err(|e| e.within(&path))?;
            let value = fields
                .read_tlv()
                .map_err(|e| e.within("value").within(&path))?;
            fields.finish(&path)?;
            let text = decode_string(&value).map_err(|e| e.within(&path))?;
            out.push(NameAttribute {
                oid: decode_oid(oid).expect("read_oid validated the OID"),
                tag: value.tag,
                value: text,
            });
        }
        index += 1;
    }
    Ok(out)
}

/// X.690 §11.6: SET OF members compare as octet strings, the shorter one padded
/// at its end with zero octets.
fn set_of_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let pad = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| pad(a, i).cmp(&pad(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// PrintableString alphabet (X.680 §41.4, Table 10).
fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}

/// Decode a directory string value to text, by its universal tag.
pub fn decode_string(tlv: &Tlv<'_>) -> Result<String, DerError> {
    let bad = |what| DerError::new(DerErrorKind::InvalidValue(what), tlv.offset, "value");
    let v = tlv.value;
    match tlv.tag {
        tag::PRINTABLE_STRING => {
            if !v.iter().all(|&b| is_printable(b)) {
                return Err(bad("character outside the PrintableString alphabet"));
            }
            Ok(v.iter().map(|&b| char::from(b)).collect())
        }
        tag::IA5_STRING => {
            if !v.is_ascii() {
                return Err(bad("non-ASCII octet in IA5String"));
            }
            Ok(v.iter().map(|&b| char::from(b)).collect())
        }
        tag::UTF8_STRING => {
            String::from_utf8(v.to_vec()).map_err(|_| bad("invalid UTF-8 in UTF8String"))
        }
        // T.61 is not Latin-1, but every deployed encoder that emits TeletexString
        // means Latin-1 by it (RFC 5280 §4.1.2.4 keeps it only for legacy names).
        tag::TELETEX_STRING => Ok(v.iter().map(|&b| char::from(b)).collect()),
        tag::BMP_STRING => {
            if !v.len().is_multiple_of(2) {
                return Err(bad("BMPString of odd length"));
            }
            // UCS-2: the Basic Multilingual Plane without surrogates.
            v.chunks_exact(2)
                .map(|c| {
                    let u = u32::from(u16::from_be_bytes([c[0], c[1]]));
                    char::from_u32(u).ok_or_else(|| bad("surrogate in BMPString"))
                })
                .collect()
        }
        tag::UNIVERSAL_STRING => {
            if !v.len().is_multiple_of(4) {
                return Err(bad("UniversalString length not a multiple of 4"));
            }
            v.chunks_exact(4)
                .map(|c| {
                    char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .ok_or_else(|| bad("invalid code point in UniversalString"))
                })
                .collect()
        }
        _ => Err(bad("unsupported string type in name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128);
        let mut v = vec![t, content.len() as u8];
        v.extend_from_slice(content);
        v
    }

    fn atv(oid: &[u8], t: u8, value: &[u8]) -> Vec<u8> {
        tlv(tag::SEQUENCE, &[tlv(tag::OID, oid), tlv(t, value)].concat())
    }

    #[test]
    fn flattens_in_der_order_and_decodes_each_string_type() {
        let cn = [0x55, 4, 3];
        let name = tlv(
            tag::SEQUENCE,
            &[
                tlv(tag::SET, &atv(&[0x55, 4, 6], tag::PRINTABLE_STRING, b"CH")),
                tlv(
                    tag::SET,
                    &atv(&[0x55, 4, 10], tag::UTF8_STRING, "Zürich AG".as_bytes()),
                ),
                tlv(tag::SET, &atv(&cn, tag::TELETEX_STRING, &[0x4d, 0xfc])),
                tlv(
                    tag::SET,
                    &atv(&cn, tag::BMP_STRING, &[0x00, 0x41, 0x20, 0xac]),
                ),
                tlv(
                    tag::SET,
                    &atv(&cn, tag::UNIVERSAL_STRING, &[0, 1, 0xf6, 0x00]),
                ),
                tlv(
                    tag::SET,
                    &atv(
                        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 1],
                        tag::IA5_STRING,
                        b"a@b.c",
                    ),
                ),
            ]
            .concat(),
        );
        let got = parse_name(&name).unwrap();
        let values: Vec<_> = got.iter().map(|a| a.value.as_str()).collect();
        assert_eq!(
            values,
            ["CH", "Zürich AG", "Mü", "A€", "\u{1f600}", "a@b.c"]
        );
        assert_eq!(got[0].oid, "2.5.4.6");
        assert_eq!(got[0].tag, tag::PRINTABLE_STRING);
        assert_eq!(got[5].oid, "1.2.840.113549.1.9.1");
    }

    #[test]
    fn rejects_bad_values() {
        let one = |t: u8, v: &[u8]| {
            parse_name(&tlv(
                tag::SEQUENCE,
                &tlv(tag::SET, &atv(&[0x55, 4, 3], t, v)),
            ))
            .unwrap_err()
        };
        for (t, v) in [
            (tag::PRINTABLE_STRING, &b"a*b"[..]),
            (tag::PRINTABLE_STRING, b"a@b"),
            (tag::IA5_STRING, &[0x80]),
            (tag::UTF8_STRING, &[0xc3, 0x28]),
            (tag::BMP_STRING, &[0x00]),
            (tag::BMP_STRING, &[0xd8, 0x00]),
            (tag::UNIVERSAL_STRING, &[0, 0x11, 0, 0]),
            (tag::INTEGER, &[1]),
        ] {
            assert!(
                matches!(one(t, v).kind, DerErrorKind::InvalidValue(_)),
                "{t:#x} {v:?}"
            );
        }
        // The error points at the value's tag: SEQ(2) SET(2) SEQ(2) OID(5) -> byte 11.
        let e = one(tag::IA5_STRING, &[0x80]);
        assert_eq!((e.offset, e.path.as_str()), (11, "Name.rdn[0].value"));
    }

    #[test]
    fn rejects_bad_structure() {
        // Empty RDN.
        assert!(parse_name(&tlv(tag::SEQUENCE, &tlv(tag::SET, &[]))).is_err());
        // Extra field in the AttributeTypeAndValue.
        let extra = tlv(
            tag::SEQUENCE,
            &[
                tlv(tag::OID, &[0x55, 4, 3]),
                tlv(tag::UTF8_STRING, b"x"),
                tlv(tag::NULL, &[]),
            ]
            .concat(),
        );
        assert_eq!(
            parse_name(&tlv(tag::SEQUENCE, &tlv(tag::SET, &extra)))
                .unwrap_err()
                .kind,
            DerErrorKind::TrailingBytes
        );
        // Trailing bytes after the Name.
        let mut n = tlv(tag::SEQUENCE, &[]);
        assert!(parse_name(&n).unwrap().is_empty());
        n.push(0);
        assert_eq!(
            parse_name(&n).unwrap_err().kind,
            DerErrorKind::TrailingBytes
        );
        // Multi-valued RDN: sorted is fine, unsorted is BER.
        let a = atv(&[0x55, 4, 3], tag::UTF8_STRING, b"a");
        let b = atv(&[0x55, 4, 5], tag::UTF8_STRING, b"b");
        let sorted = tlv(
            tag::SEQUENCE,
            &tlv(tag::SET, &[a.clone(), b.clone()].concat()),
        );
        assert_eq!(parse_name(&sorted).unwrap().len(), 2);
        let unsorted = tlv(tag::SEQUENCE, &tlv(tag::SET, &[b, a].concat()));
        assert!(parse_name(&unsorted).is_err());
    }
}
