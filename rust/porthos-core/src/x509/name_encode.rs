//! Distinguished Name encoding (RFC 5280 §4.1.2.4): one attribute per RDN, in the
//! order given, most general first.
//!
//! String types, by default: countryName, serialNumber and dnQualifier are
//! PrintableString (X.520 upper bounds and RFC 5280 App. A require it);
//! domainComponent and emailAddress are IA5String (RFC 4519 §2.4, PKCS #9); every
//! other attribute is UTF8String, which RFC 5280 §4.1.2.6 says conforming CAs MUST use
//! for new names. A CP/CPS may choose the DirectoryString type per attribute instead
//! (`NameStrings`, the `name_strings` of docs/template-spec.md): bridge-certified PKIs
//! ask for PrintableString in CA names.

use crate::der::{oid::encode_oid, tag, writer};
use crate::error::{DerError, DerErrorKind};

const COUNTRY: &str = "2.5.4.6";
const SERIAL_NUMBER: &str = "2.5.4.5";
const DN_QUALIFIER: &str = "2.5.4.46";
const DOMAIN_COMPONENT: &str = "0.9.2342.19200300.100.1.25";
const EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

/// Dotted OID for a short attribute name, or the input when it already is dotted.
pub fn attribute_oid(name: &str) -> &str {
    match name {
        "C" | "countryName" => COUNTRY,
        "O" | "organizationName" => "2.5.4.10",
        "OU" | "organizationalUnitName" => "2.5.4.11",
        "CN" | "commonName" => "2.5.4.3",
        "serialNumber" => SERIAL_NUMBER,
        "dnQualifier" => DN_QUALIFIER,
        "L" | "localityName" => "2.5.4.7",
        "ST" | "stateOrProvinceName" => "2.5.4.8",
        "DC" | "domainComponent" => DOMAIN_COMPONENT,
        "emailAddress" => EMAIL_ADDRESS,
        other => other,
    }
}

/// The short name of a dotted attribute OID porthos names (the inverse of
/// [`attribute_oid`] for its short forms).
pub fn attribute_name(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        COUNTRY => "C",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        SERIAL_NUMBER => "serialNumber",
        DN_QUALIFIER => "dnQualifier",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        DOMAIN_COMPONENT => "DC",
        EMAIL_ADDRESS => "emailAddress",
        _ => return None,
    })
}

pub fn is_printable(s: &str) -> bool {
    // X.680 §41.4 PrintableString character set.
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// The string type chosen for an attribute (`name_strings` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringKind {
    Printable,
    Utf8,
    Ia5,
    /// PrintableString when the value fits its alphabet, else UTF8String (a DirectoryString
    /// "PrintableString where possible").
    PrintableElseUtf8,
}

impl StringKind {
    pub fn parse(name: &str) -> Option<StringKind> {
        Some(match name {
            "printable" => StringKind::Printable,
            "utf8" => StringKind::Utf8,
            "ia5" => StringKind::Ia5,
            "printable-else-utf8" => StringKind::PrintableElseUtf8,
            _ => return None,
        })
    }
}

/// The syntax an attribute type fixes (X.520, RFC 4519, PKCS #9): a DirectoryString
/// lets the CA choose; the others have exactly one string type.
fn fixed_kind(dotted: &str) -> Option<StringKind> {
    match dotted {
        COUNTRY | SERIAL_NUMBER | DN_QUALIFIER => Some(StringKind::Printable),
        DOMAIN_COMPONENT | EMAIL_ADDRESS => Some(StringKind::Ia5),
        _ => None,
    }
}

/// The string type per attribute for one name (an empty table: the defaults above).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameStrings {
    /// (dotted OID, kind); a handful of entries, so a scan beats a map.
    by_oid: Vec<(String, StringKind)>,
}

impl NameStrings {
    /// Build from (attribute, kind name) pairs; the error names the attribute. An
    /// attribute whose type fixes its syntax (countryName, domainComponent, ...) only
    /// accepts that syntax, and IA5String is no DirectoryString choice (X.520).
    pub fn new<A: AsRef<str>, K: AsRef<str>>(pairs: &[(A, K)]) -> Result<NameStrings, String> {
        let mut by_oid: Vec<(String, StringKind)> = Vec::with_capacity(pairs.len());
        for (attr, kind) in pairs {
            let (attr, kind_name) = (attr.as_ref(), kind.as_ref());
            let dotted = attribute_oid(attr);
            encode_oid(dotted).map_err(|_| format!("{attr}: unknown attribute"))?;
            let kind = StringKind::parse(kind_name).ok_or_else(|| {
                format!(
                    "{attr}: unknown string type {kind_name:?}; \
                     known: printable, utf8, ia5, printable-else-utf8"
                )
            })?;
            match fixed_kind(dotted) {
                Some(fixed) if fixed != kind => {
                    let want = if fixed == StringKind::Ia5 {
                        "ia5"
                    } else {
                        "printable"
                    };
                    return Err(format!(
                        "{attr}: this attribute is always {want} (X.520, RFC 4519, PKCS #9)"
                    ));
                }
                None if kind == StringKind::Ia5 => {
                    return Err(format!(
                        "{attr}: ia5 is no DirectoryString choice (X.520); \
                         use printable, utf8 or printable-else-utf8"
                    ));
                }
                _ => {}
            }
            if by_oid.iter().any(|(d, _)| d == dotted) {
                return Err(format!("{attr}: listed twice"));
            }
            by_oid.push((dotted.to_string(), kind));
        }
        Ok(NameStrings { by_oid })
    }

    pub fn is_empty(&self) -> bool {
        self.by_oid.is_empty()
    }

    fn kind(&self, dotted: &str) -> StringKind {
        if let Some((_, k)) = self.by_oid.iter().find(|(d, _)| d == dotted) {
            return *k;
        }
        fixed_kind(dotted).unwrap_or(StringKind::Utf8)
    }
}

/// The string tag an attribute gets by default, by dotted OID.
pub fn string_tag(dotted: &str) -> u8 {
    match fixed_kind(dotted) {
        Some(StringKind::Printable) => tag::PRINTABLE_STRING,
        Some(StringKind::Ia5) => tag::IA5_STRING,
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

/// Encode a Name from (attribute, value) pairs with the default string types.
pub fn encode_name<S: AsRef<str>, V: AsRef<str>>(attrs: &[(S, V)]) -> Result<Vec<u8>, DerError> {
    encode_name_with(attrs, &NameStrings::default())
}

/// Encode a Name from (attribute, value) pairs, each value in the string type
/// `strings` chooses for its attribute. Errors name the item as `subject[i]`.
pub fn encode_name_with<S: AsRef<str>, V: AsRef<str>>(
    attrs: &[(S, V)],
    strings: &NameStrings,
) -> Result<Vec<u8>, DerError> {
    let mut body = Vec::with_capacity(attrs.len() * 24);
    for (i, (name, value)) in attrs.iter().enumerate() {
        let (name, value) = (name.as_ref(), value.as_ref());
        let path = || format!("subject[{i}]");
        let bad = |what| DerError::new(DerErrorKind::Unencodable(what), 0, path());
        let dotted = attribute_oid(name);
        let oid_content = encode_oid(dotted).map_err(|_| {
            DerError::new(
                DerErrorKind::Unencodable("unknown attribute name"),
                0,
                format!("{}: {name}", path()),
            )
        })?;
        if value.is_empty() {
            return Err(bad("empty attribute value"));
        }
        let value_tag = match strings.kind(dotted) {
            StringKind::Printable if is_printable(value) => tag::PRINTABLE_STRING,
            StringKind::Printable => return Err(bad("value not representable as PrintableString")),
            StringKind::Ia5 if value.is_ascii() => tag::IA5_STRING,
            StringKind::Ia5 => return Err(bad("value not representable as IA5String")),
            StringKind::PrintableElseUtf8 if is_printable(value) => tag::PRINTABLE_STRING,
            StringKind::Utf8 | StringKind::PrintableElseUtf8 => tag::UTF8_STRING,
        };
        if dotted == COUNTRY && value.len() != 2 {
            return Err(bad("countryName must be 2 letters"));
        }
        push_rdn(&mut body, &oid_content, value_tag, value.as_bytes());
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::name_parse::parse_name;

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
        assert!(encode_name(&[("DC", "bücher")]).is_err());
        assert_eq!(encode_name::<&str, &str>(&[]).unwrap(), [0x30, 0x00]);
    }

    fn tags(der: &[u8]) -> Vec<u8> {
        parse_name(der).unwrap().iter().map(|a| a.tag).collect()
    }

    #[test]
    fn an_empty_table_is_the_default() {
        let attrs = [
            ("C", "US"),
            ("O", "Carillon"),
            ("DC", "example"),
            ("CN", "x"),
            ("serialNumber", "1"),
        ];
        let strings = NameStrings::new::<&str, &str>(&[]).unwrap();
        assert_eq!(
            encode_name_with(&attrs, &strings).unwrap(),
            encode_name(&attrs).unwrap()
        );
        assert_eq!(
            tags(&encode_name(&attrs).unwrap()),
            [
                tag::PRINTABLE_STRING,
                tag::UTF8_STRING,
                tag::IA5_STRING,
                tag::UTF8_STRING,
                tag::PRINTABLE_STRING
            ]
        );
    }

    #[test]
    fn kinds_per_attribute() {
        let strings = NameStrings::new(&[
            ("O", "printable"),
            ("CN", "printable-else-utf8"),
            ("OU", "utf8"),
        ])
        .unwrap();
        let der = encode_name_with(
            &[
                ("O", "Carillon"),
                ("OU", "People"),
                ("CN", "Zoë"),
                ("CN", "Zoe"),
            ],
            &strings,
        )
        .unwrap();
        assert_eq!(
            tags(&der),
            [
                tag::PRINTABLE_STRING,
                tag::UTF8_STRING,
                tag::UTF8_STRING,
                tag::PRINTABLE_STRING
            ]
        );
        let e = encode_name_with(&[("CN", "x"), ("O", "a_b")], &strings).unwrap_err();
        assert_eq!(e.path, "subject[1]");
    }

    #[test]
    fn table_errors_name_the_attribute() {
        for (pairs, needle) in [
            (vec![("XX", "utf8")], "XX: unknown attribute"),
            (vec![("CN", "bmp")], "unknown string type"),
            (vec![("C", "utf8")], "always printable"),
            (vec![("DC", "printable")], "always ia5"),
            (vec![("CN", "ia5")], "no DirectoryString"),
            (vec![("CN", "utf8"), ("commonName", "utf8")], "listed twice"),
        ] {
            let e = NameStrings::new(&pairs).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
