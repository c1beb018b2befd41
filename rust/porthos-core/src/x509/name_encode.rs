//! Distinguished Name encoding (RFC 5280 §4.1.2.4): one attribute per RDN, in the
//! order given, most general first.
//!
//! String types: countryName, serialNumber and dnQualifier are PrintableString
//! (X.520 upper bounds and RFC 5280 App. A require it); every other attribute is
//! UTF8String, which RFC 5280 §4.1.2.6 says conforming CAs MUST use for new names.

use crate::der::{oid::encode_oid, tag, writer};
use crate::error::{DerError, DerErrorKind};

/// Dotted OID for a short attribute name, or the input when it already is dotted.
pub fn attribute_oid(name: &str) -> &str {
    match name {
        "C" | "countryName" => "2.5.4.6",
        "O" | "organizationName" => "2.5.4.10",
        "OU" | "organizationalUnitName" => "2.5.4.11",
        "CN" | "commonName" => "2.5.4.3",
        "serialNumber" => "2.5.4.5",
        "dnQualifier" => "2.5.4.46",
        "L" | "localityName" => "2.5.4.7",
        "ST" | "stateOrProvinceName" => "2.5.4.8",
        other => other,
    }
}

fn is_printable(s: &str) -> bool {
    // X.680 §41.4 PrintableString character set.
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// The string tag an attribute gets, by dotted OID.
pub fn string_tag(dotted: &str) -> u8 {
    match dotted {
        "2.5.4.6" | "2.5.4.5" | "2.5.4.46" => tag::PRINTABLE_STRING,
        _ => tag::UTF8_STRING,
    }
}

/// One RelativeDistinguishedName TLV: SET { SEQUENCE { type, value } }.
fn push_rdn(out: &mut Vec<u8>, oid_content: &[u8], value_tag: u8, value: &[u8]) {
    let atv_len = writer::tlv_len(oid_content.len()) + writer::tlv_len(value.len());
    writer::write_header(out, tag::SET, writer::tlv_len(atv_len));
    writer::write_header(out, tag::SEQUENCE, atv_len);
    writer::push_tlv(out, tag::OID, oid_content);
    writer::push_tlv(out, value_tag, value);
}

/// Encode a Name from (attribute, value) pairs.
pub fn encode_name<S: AsRef<str>, V: AsRef<str>>(attrs: &[(S, V)]) -> Result<Vec<u8>, DerError> {
    let mut body = Vec::with_capacity(attrs.len() * 24);
    for (i, (name, value)) in attrs.iter().enumerate() {
        let (name, value) = (name.as_ref(), value.as_ref());
        let path = || format!("subject[{i}]");
        let dotted = attribute_oid(name);
        let oid_content = encode_oid(dotted).map_err(|_| {
            DerError::new(
                DerErrorKind::Unencodable("unknown attribute name"),
                0,
                format!("{}: {name}", path()),
            )
        })?;
        if value.is_empty() {
            return Err(DerError::new(
                DerErrorKind::Unencodable("empty attribute value"),
                0,
                path(),
            ));
        }
        let value_tag = string_tag(dotted);
        if value_tag == tag::PRINTABLE_STRING && !is_printable(value) {
            return Err(DerError::new(
                DerErrorKind::Unencodable("value not representable as PrintableString"),
                0,
                path(),
            ));
        }
        if dotted == "2.5.4.6" && value.len() != 2 {
            return Err(DerError::new(
                DerErrorKind::Unencodable("countryName must be 2 letters"),
                0,
                path(),
            ));
        }
        push_rdn(&mut body, &oid_content, value_tag, value.as_bytes());
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porthos_root_name() {
        let der =
            encode_name(&[("C", "CH"), ("O", "dormakaba"), ("CN", "Porthos Root CA 1")]).unwrap();
        // openssl-compatible layout: SEQ { SET { SEQ { 2.5.4.6, PrintableString "CH" } } ... }
        assert_eq!(
            &der[..15],
            &[
                0x30, 0x3d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C',
                b'H'
            ]
        );
        assert_eq!(der.len(), 0x3f);
    }

    #[test]
    fn rejects() {
        assert!(encode_name(&[("C", "CHE")]).is_err());
        assert!(encode_name(&[("serialNumber", "a_b")]).is_err());
        assert!(encode_name(&[("CN", "")]).is_err());
        assert!(encode_name(&[("XX", "v")]).is_err());
        assert_eq!(encode_name::<&str, &str>(&[]).unwrap(), [0x30, 0x00]);
    }
}
