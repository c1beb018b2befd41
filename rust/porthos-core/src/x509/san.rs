//! subjectAltName GeneralNames for one certificate (RFC 5280 §4.2.1.6), from the
//! per-item values the RA gives, encoded strictly, and parsed back.
//!
//! Kinds: `dns`, `email` (rfc822Name), `uri`, `ip` (iPAddress, v4 or v6), `dirname`
//! (directoryName, a list of (attribute, value) pairs encoded by the name encoder with
//! the template's string types), `dirname_hex` (a Name already in DER) and `upn`
//! (otherName Microsoft UPN, 1.3.6.1.4.1.311.20.2.3, UTF8String). Strict means: the
//! IA5String kinds are printable ASCII, an rfc822Name has exactly one `@` with text on
//! both sides, a URI has a scheme (RFC 3986 §3.1), a dNSName is letter-digit-hyphen
//! labels (RFC 5280 §4.2.1.6 "preferred name syntax"), an address parses exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::der::reader::Reader;
use crate::der::{oid::decode_oid, tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::x509::ext;
use crate::x509::name_encode::{attribute_name, encode_name_with, NameStrings};
use crate::x509::name_parse::parse_name;

/// id-ms-san-upn (Microsoft user principal name), as OID content octets.
const UPN_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];

/// One SAN value: text, or the attributes of a directoryName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanValue {
    Text(String),
    Name(Vec<(String, String)>),
}

fn err(what: &'static str, path: &str) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

/// Printable ASCII (no controls, no space): what an IA5String name may hold here.
fn visible_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

fn check_dns(s: &str, path: &str) -> Result<(), DerError> {
    if !visible_ascii(s) {
        return Err(err("dNSName must be non-empty visible ASCII", path));
    }
    let body = s.strip_prefix("*.").unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() > 253 || !body.split('.').all(label_ok) {
        return Err(err("dNSName is not letter-digit-hyphen labels", path));
    }
    Ok(())
}

fn check_email(s: &str, path: &str) -> Result<(), DerError> {
    if !visible_ascii(s) {
        return Err(err("rfc822Name must be non-empty visible ASCII", path));
    }
    match s.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(err(
            "rfc822Name must be local@domain with exactly one @",
            path,
        )),
    }
}

fn check_uri(s: &str, path: &str) -> Result<(), DerError> {
    if !visible_ascii(s) {
        return Err(err("URI must be non-empty visible ASCII", path));
    }
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
    let scheme_ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if !scheme_ok {
        return Err(err("URI must start with a scheme (RFC 3986 §3.1)", path));
    }
    Ok(())
}

/// otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY } under [0] IMPLICIT.
fn upn(value: &str, path: &str) -> Result<Vec<u8>, DerError> {
    if value.chars().any(char::is_control) {
        return Err(err("UPN must not hold control characters", path));
    }
    match value.split_once('@') {
        Some((user, suffix)) if !user.is_empty() && !suffix.is_empty() && !suffix.contains('@') => {
        }
        _ => return Err(err("UPN must be user@suffix with exactly one @", path)),
    }
    let inner = writer::tlv(
        tag::context_constructed(0),
        &writer::tlv(tag::UTF8_STRING, value.as_bytes()),
    );
    let mut body = writer::tlv(tag::OID, UPN_OID);
    body.extend(inner);
    Ok(writer::tlv(tag::context_constructed(0), &body))
}

/// One GeneralName of a certificate's SAN.
pub fn san_general_name(
    kind: &str,
    value: &SanValue,
    strings: &NameStrings,
    path: &str,
) -> Result<Vec<u8>, DerError> {
    match (kind, value) {
        ("dirname", SanValue::Name(attrs)) => {
            if attrs.is_empty() {
                return Err(err("directoryName needs at least one attribute", path));
            }
            let name = encode_name_with(attrs, strings).map_err(|e| e.within(path))?;
            Ok(writer::tlv(tag::context_constructed(4), &name))
        }
        ("dirname", SanValue::Text(_)) => Err(err(
            "directoryName is a list of [attribute, value] pairs",
            path,
        )),
        (_, SanValue::Name(_)) => Err(err("only a directoryName is a list of pairs", path)),
        (kind, SanValue::Text(text)) => {
            match kind {
                "dns" => check_dns(text, path)?,
                "email" => check_email(text, path)?,
                "uri" => check_uri(text, path)?,
                "upn" => return upn(text, path),
                "ip" => {
                    // Rust's parser is strict: no octal or short v4 forms, no zone ids.
                    text.parse::<IpAddr>()
                        .map_err(|_| err("not an IPv4 or IPv6 address", path))?;
                }
                "dirname_hex" => {}
                _ => return Err(err("unknown GeneralName kind", path)),
            }
            ext::general_name(kind, text, false, path)
        }
    }
}

/// GeneralNames SEQUENCE of one certificate; errors name the entry as `path[i]`.
pub fn subject_alt_names(
    names: &[(String, SanValue)],
    strings: &NameStrings,
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if names.is_empty() {
        // RFC 5280 §4.2.1.6: GeneralNames is SIZE (1..MAX).
        return Err(err("a subjectAltName needs at least one name", path));
    }
    let mut body = Vec::with_capacity(names.len() * 40);
    for (i, (kind, value)) in names.iter().enumerate() {
        body.extend(san_general_name(
            kind,
            value,
            strings,
            &format!("{path}[{i}]"),
        )?);
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

fn text(bytes: &[u8], what: &'static str, offset: usize) -> Result<String, DerError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| DerError::new(DerErrorKind::InvalidValue(what), offset, ""))
}

/// Parse GeneralNames (a SEQUENCE) into the (kind, value) pairs the encoder takes;
/// directoryName attributes come back with their short names where porthos has one.
pub fn parse_general_names(der: &[u8]) -> Result<Vec<(String, SanValue)>, DerError> {
    let mut outer = Reader::new(der);
    let (_, mut r) = outer.enter(tag::SEQUENCE, "GeneralNames")?;
    outer.finish("GeneralNames")?;
    let mut out = Vec::new();
    while !r.is_empty() {
        let gn = r.read_tlv()?;
        let bad = |what| DerError::new(DerErrorKind::InvalidValue(what), gn.offset, "");
        let item = match gn.tag {
            t if t == tag::context_primitive(1) => (
                "email",
                SanValue::Text(text(gn.value, "rfc822Name", gn.offset)?),
            ),
            t if t == tag::context_primitive(2) => {
                ("dns", SanValue::Text(text(gn.value, "dNSName", gn.offset)?))
            }
            t if t == tag::context_primitive(6) => {
                ("uri", SanValue::Text(text(gn.value, "URI", gn.offset)?))
            }
            t if t == tag::context_primitive(7) => {
                let ip = match gn.value.len() {
                    4 => IpAddr::V4(Ipv4Addr::from(
                        <[u8; 4]>::try_from(gn.value).map_err(|_| bad("iPAddress"))?,
                    )),
                    16 => IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(gn.value).map_err(|_| bad("iPAddress"))?,
                    )),
                    _ => return Err(bad("iPAddress is 4 or 16 octets")),
                };
                ("ip", SanValue::Text(ip.to_string()))
            }
            t if t == tag::context_constructed(4) => {
                let attrs = parse_name(gn.value)?
                    .into_iter()
                    .map(|a| {
                        let name = attribute_name(&a.oid).map_or(a.oid, str::to_string);
                        (name, a.value)
                    })
                    .collect();
                ("dirname", SanValue::Name(attrs))
            }
            t if t == tag::context_constructed(0) => {
                let mut on = Reader::new(gn.value);
                let oid = on.read_oid("otherName.type-id")?;
                let (_, mut v) = on.enter(tag::context_constructed(0), "otherName.value")?;
                on.finish("otherName")?;
                let s = v.expect(tag::UTF8_STRING, "otherName.value")?;
                v.finish("otherName.value")?;
                if oid != UPN_OID {
                    let dotted = decode_oid(oid).unwrap_or_default();
                    return Err(DerError::new(
                        DerErrorKind::InvalidValue("otherName other than UPN"),
                        gn.offset,
                        dotted,
                    ));
                }
                ("upn", SanValue::Text(text(s.value, "UPN", gn.offset)?))
            }
            _ => return Err(bad("GeneralName kind porthos does not read")),
        };
        out.push((item.0.to_string(), item.1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: &str, v: &str) -> (String, SanValue) {
        (kind.to_string(), SanValue::Text(v.to_string()))
    }

    #[test]
    fn upn_encoding() {
        let der = san_general_name(
            "upn",
            &SanValue::Text("a@b".into()),
            &NameStrings::default(),
            "p",
        )
        .unwrap();
        assert_eq!(
            der,
            [
                0xa0, 0x13, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03,
                0xa0, 0x05, 0x0c, 0x03, b'a', b'@', b'b'
            ]
        );
    }

    #[test]
    fn strict_refusals() {
        let s = NameStrings::default();
        for (kind, v) in [
            ("email", "no-at.example"),
            ("email", "a@b@c"),
            ("email", "@b"),
            ("uri", "no-scheme"),
            ("uri", "1x:y"),
            ("uri", "urn:uuid: space"),
            ("dns", "bücher.example"),
            ("dns", "-a.example"),
            ("dns", "a..example"),
            ("ip", "10.0.0.010"),
            ("ip", "10.0.0"),
            ("ip", "fe80::1%eth0"),
            ("upn", "nobody"),
            ("upn", "a@b\n"),
            ("x400", "x"),
        ] {
            assert!(
                san_general_name(kind, &SanValue::Text(v.into()), &s, "p").is_err(),
                "{kind} {v}"
            );
        }
        assert!(san_general_name("dirname", &SanValue::Name(vec![]), &s, "p").is_err());
        assert!(san_general_name("dirname", &SanValue::Text("CN=x".into()), &s, "p").is_err());
        assert!(san_general_name("uri", &SanValue::Name(vec![]), &s, "p").is_err());
        assert!(subject_alt_names(&[], &s, "p").is_err());
    }

    #[test]
    fn dirname_uses_the_string_types() {
        let strings = NameStrings::new(&[("O", "printable")]).unwrap();
        let names = vec![(
            "dirname".to_string(),
            SanValue::Name(vec![("O".into(), "x".into()), ("CN".into(), "y".into())]),
        )];
        let der = subject_alt_names(&names, &strings, "sans").unwrap();
        // ... [4] { SEQUENCE { SET { SEQUENCE { OID 2.5.4.10, PrintableString "x" ...
        assert_eq!(der[2], 0xa4);
        assert_eq!(der[15], tag::PRINTABLE_STRING);
        let bad = vec![(
            "dirname".to_string(),
            SanValue::Name(vec![("O".into(), "a_b".into())]),
        )];
        let e = subject_alt_names(&bad, &strings, "sans").unwrap_err();
        assert_eq!(e.path, "sans[0].subject[0]");
    }

    #[test]
    fn every_kind_round_trips() {
        let names = vec![
            t("uri", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
            t("email", "user@example.com"),
            t("dns", "host.example.com"),
            t("ip", "192.0.2.1"),
            t("ip", "2001:db8::1"),
            t("upn", "user@example.com"),
            (
                "dirname".into(),
                SanValue::Name(vec![("O".into(), "x".into()), ("CN".into(), "y".into())]),
            ),
        ];
        let der = subject_alt_names(&names, &NameStrings::default(), "sans").unwrap();
        assert_eq!(parse_general_names(&der).unwrap(), names);
    }

    proptest::proptest! {
        #[test]
        fn random_names_round_trip(
            items in proptest::collection::vec(
                (0u8..6, "[a-z0-9]{1,12}", "[a-z0-9]{1,12}", proptest::collection::vec(0u8..=255, 16)),
                1..8,
            )
        ) {
            let names: Vec<(String, SanValue)> = items
                .iter()
                .map(|(k, a, b, bytes)| match k {
                    0 => t("dns", &format!("{a}.{b}")),
                    1 => t("email", &format!("{a}@{b}")),
                    2 => t("uri", &format!("urn:{a}:{b}")),
                    3 => t("upn", &format!("{a}@{b}")),
                    4 => {
                        let ip = if bytes[0] % 2 == 0 {
                            IpAddr::V4(Ipv4Addr::new(bytes[1], bytes[2], bytes[3], bytes[4]))
                        } else {
                            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..]).unwrap()))
                        };
                        t("ip", &ip.to_string())
                    }
                    _ => (
                        "dirname".into(),
                        SanValue::Name(vec![("O".into(), a.clone()), ("CN".into(), b.clone())]),
                    ),
                })
                .collect();
            let der = subject_alt_names(&names, &NameStrings::default(), "sans").unwrap();
            proptest::prop_assert_eq!(parse_general_names(&der).unwrap(), names);
        }
    }
}
