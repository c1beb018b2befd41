//! Certificate extension encoders (RFC 5280 §4.2) and the GeneralName forms they use.
//!
//! Each encoder returns the whole `Extension` TLV:
//! `SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
//! DER omits a DEFAULT value, so `critical` is written only when TRUE (X.690 §11.5).

use std::net::IpAddr;

use crate::der::{oid::encode_oid, tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::x509::oids;

fn err(what: &'static str, path: impl Into<String>) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

/// Wrap an extnValue into a complete Extension TLV.
pub fn extension(oid_content: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let inner = writer::tlv_len(oid_content.len())
        + if critical { 3 } else { 0 }
        + writer::tlv_len(value.len());
    let mut out = Vec::with_capacity(writer::tlv_len(inner));
    writer::write_header(&mut out, tag::SEQUENCE, inner);
    writer::push_tlv(&mut out, tag::OID, oid_content);
    if critical {
        out.extend_from_slice(&writer::BOOLEAN_TRUE);
    }
    writer::push_tlv(&mut out, tag::OCTET_STRING, value);
    out
}

/// A GeneralName (RFC 5280 §4.2.1.6) from a (kind, value) pair.
/// kinds: dns, email, uri, ip (an address; in name constraints a CIDR), dirname_hex.
pub fn general_name(
    kind: &str,
    value: &str,
    constraint: bool,
    path: &str,
) -> Result<Vec<u8>, DerError> {
    let ia5 = |t: u8| -> Result<Vec<u8>, DerError> {
        if value.is_empty() && !constraint {
            return Err(err("empty name", path));
        }
        if !value.is_ascii() {
            return Err(err("IA5String must be ASCII", path));
        }
        Ok(writer::tlv(t, value.as_bytes()))
    };
    match kind {
        "email" => ia5(tag::context_primitive(1)),
        "dns" => ia5(tag::context_primitive(2)),
        "uri" => ia5(tag::context_primitive(6)),
        "ip" if !constraint => {
            let addr: IpAddr = value.parse().map_err(|_| err("not an IP address", path))?;
            let bytes = match addr {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            Ok(writer::tlv(tag::context_primitive(7), &bytes))
        }
        "ip" => {
            // Name constraints carry address || mask (RFC 5280 §4.2.1.10).
            let (a, bits) = value
                .split_once('/')
                .ok_or_else(|| err("IP constraint must be CIDR", path))?;
            let addr: IpAddr = a.parse().map_err(|_| err("not an IP address", path))?;
            let mut bytes = match addr {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            let width = bytes.len() * 8;
            let bits: usize = bits.parse().map_err(|_| err("bad prefix length", path))?;
            if bits > width {
                return Err(err("prefix longer than the address", path));
            }
            let mut mask = vec![0u8; bytes.len()];
            for i in 0..bits {
                mask[i / 8] |= 0x80 >> (i % 8);
            }
            bytes.extend_from_slice(&mask);
            Ok(writer::tlv(tag::context_primitive(7), &bytes))
        }
        "dirname_hex" => {
            let name = hex_decode(value).ok_or_else(|| err("dirname_hex is not hex", path))?;
            if name.first() != Some(&tag::SEQUENCE) {
                return Err(err("dirname_hex must be a Name SEQUENCE", path));
            }
            Ok(writer::tlv(tag::context_constructed(4), &name))
        }
        _ => Err(err("unknown GeneralName kind", path)),
    }
}

/// GeneralNames SEQUENCE from (kind, value) pairs.
pub fn general_names<K: AsRef<str>, V: AsRef<str>>(
    names: &[(K, V)],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    let mut body = Vec::new();
    for (i, (k, v)) in names.iter().enumerate() {
        body.extend(general_name(
            k.as_ref(),
            v.as_ref(),
            false,
            &format!("{path}[{i}]"),
        )?);
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn basic_constraints(critical: bool, ca: bool, path_len: Option<u32>) -> Vec<u8> {
    let mut body = Vec::new();
    if ca {
        body.extend_from_slice(&writer::BOOLEAN_TRUE);
    }
    if let Some(n) = path_len {
        body.extend(writer::integer_u64(u64::from(n)));
    }
    extension(
        oids::BASIC_CONSTRAINTS,
        critical,
        &writer::tlv(tag::SEQUENCE, &body),
    )
}

/// KeyUsage bit numbers (RFC 5280 §4.2.1.3).
pub fn key_usage_bit(name: &str) -> Option<u8> {
    Some(match name {
        "digital_signature" => 0,
        "content_commitment" => 1,
        "key_encipherment" => 2,
        "data_encipherment" => 3,
        "key_agreement" => 4,
        "key_cert_sign" => 5,
        "crl_sign" => 6,
        "encipher_only" => 7,
        "decipher_only" => 8,
        _ => return None,
    })
}

pub fn key_usage(critical: bool, bits: &[u8]) -> Vec<u8> {
    extension(oids::KEY_USAGE, critical, &writer::named_bit_string(bits))
}

pub fn oid_sequence(dotted: &[String], path: &str) -> Result<Vec<u8>, DerError> {
    let mut body = Vec::new();
    for (i, d) in dotted.iter().enumerate() {
        body.extend(writer::oid(d).map_err(|e| e.within(&format!("{path}[{i}]")))?);
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

pub fn extended_key_usage(
    critical: bool,
    purposes: &[String],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if purposes.is_empty() {
        return Err(err("extended key usage needs at least one purpose", path));
    }
    Ok(extension(
        oids::EXT_KEY_USAGE,
        critical,
        &oid_sequence(purposes, path)?,
    ))
}

/// SubjectKeyIdentifier extension from a 20-octet key id (never critical, §4.2.1.2).
pub fn subject_key_identifier(key_id: &[u8]) -> Vec<u8> {
    extension(
        oids::SUBJECT_KEY_IDENTIFIER,
        false,
        &writer::tlv(tag::OCTET_STRING, key_id),
    )
}

/// AuthorityKeyIdentifier with keyIdentifier only (RFC 5280 §4.2.1.1).
pub fn authority_key_identifier(key_id: &[u8]) -> Vec<u8> {
    let kid = writer::tlv(tag::context_primitive(0), key_id);
    extension(
        oids::AUTHORITY_KEY_IDENTIFIER,
        false,
        &writer::tlv(tag::SEQUENCE, &kid),
    )
}

/// CRLDistributionPoints with one DistributionPoint whose fullName lists every URI:
/// RFC 5280 §4.2.1.13 says several names in one distributionPoint are different
/// ways to obtain the same CRL, which is what extra URIs in a profile mean.
pub fn crl_distribution_points(uris: &[String], path: &str) -> Result<Vec<u8>, DerError> {
    if uris.is_empty() {
        return Err(err("at least one URI", path));
    }
    let mut names = Vec::new();
    for (i, uri) in uris.iter().enumerate() {
        names.extend(general_name(
            "uri",
            uri,
            false,
            &format!("{path}.uris[{i}]"),
        )?);
    }
    let full_name = writer::tlv(tag::context_constructed(0), &names);
    let dp_name = writer::tlv(tag::context_constructed(0), &full_name);
    let dp = writer::tlv(tag::SEQUENCE, &dp_name);
    Ok(extension(
        oids::CRL_DISTRIBUTION_POINTS,
        false,
        &writer::tlv(tag::SEQUENCE, &dp),
    ))
}

/// AuthorityInfoAccess: OCSP entries first, then caIssuers (RFC 5280 §4.2.2.1).
pub fn authority_info_access(
    ocsp: &[String],
    ca_issuers: &[String],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if ocsp.is_empty() && ca_issuers.is_empty() {
        return Err(err("at least one access description", path));
    }
    let mut body = Vec::new();
    for (method, uris) in [(oids::AD_OCSP, ocsp), (oids::AD_CA_ISSUERS, ca_issuers)] {
        for (i, uri) in uris.iter().enumerate() {
            let mut ad = writer::tlv(tag::OID, method);
            ad.extend(general_name("uri", uri, false, &format!("{path}[{i}]"))?);
            body.extend(writer::tlv(tag::SEQUENCE, &ad));
        }
    }
    Ok(extension(
        oids::AUTHORITY_INFO_ACCESS,
        false,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

pub struct PolicyInfo {
    pub oid: String,
    pub cps_uris: Vec<String>,
    pub user_notices: Vec<String>,
}

/// CertificatePolicies with CPS-pointer and user-notice (explicitText, UTF8String)
/// qualifiers (RFC 5280 §4.2.1.4), qualifiers in that order.
pub fn certificate_policies(
    critical: bool,
    policies: &[PolicyInfo],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if policies.is_empty() {
        return Err(err("at least one policy", path));
    }
    let mut body = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let mut info = writer::oid(&p.oid).map_err(|e| e.within(&ppath))?;
        let mut quals = Vec::new();
        for uri in &p.cps_uris {
            if !uri.is_ascii() {
                return Err(err("CPS URI must be ASCII", ppath));
            }
            let mut q = writer::tlv(tag::OID, oids::POLICY_QUALIFIER_CPS);
            q.extend(writer::tlv(tag::IA5_STRING, uri.as_bytes()));
            quals.extend(writer::tlv(tag::SEQUENCE, &q));
        }
        for text in &p.user_notices {
            // explicitText is at most 200 characters (RFC 5280 §4.2.1.4).
            if text.is_empty() || text.chars().count() > 200 {
                return Err(err("explicitText must be 1..200 characters", ppath));
            }
            let mut q = writer::tlv(tag::OID, oids::POLICY_QUALIFIER_UNOTICE);
            let notice = writer::tlv(tag::UTF8_STRING, text.as_bytes());
            q.extend(writer::tlv(tag::SEQUENCE, &notice));
            quals.extend(writer::tlv(tag::SEQUENCE, &q));
        }
        if !quals.is_empty() {
            info.extend(writer::tlv(tag::SEQUENCE, &quals));
        }
        body.extend(writer::tlv(tag::SEQUENCE, &info));
    }
    Ok(extension(
        oids::CERTIFICATE_POLICIES,
        critical,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

/// NameConstraints (RFC 5280 §4.2.1.10); GeneralSubtree minimum/maximum are left at
/// their defaults, as the RFC requires.
pub fn name_constraints(
    critical: bool,
    permitted: &[(String, String)],
    excluded: &[(String, String)],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if permitted.is_empty() && excluded.is_empty() {
        return Err(err("permitted or excluded subtrees required", path));
    }
    let mut body = Vec::new();
    for (n, list, label) in [(0u8, permitted, "permitted"), (1u8, excluded, "excluded")] {
        if list.is_empty() {
            continue;
        }
        let mut subtrees = Vec::new();
        for (i, (k, v)) in list.iter().enumerate() {
            let gn = general_name(k, v, true, &format!("{path}.{label}[{i}]"))?;
            subtrees.extend(writer::tlv(tag::SEQUENCE, &gn));
        }
        body.extend(writer::tlv(tag::context_constructed(n), &subtrees));
    }
    Ok(extension(
        oids::NAME_CONSTRAINTS,
        critical,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

pub fn policy_mappings(
    critical: bool,
    mappings: &[(String, String)],
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if mappings.is_empty() {
        return Err(err("at least one mapping", path));
    }
    let mut body = Vec::new();
    for (i, (issuer, subject)) in mappings.iter().enumerate() {
        let p = format!("{path}[{i}]");
        // anyPolicy must not be mapped (RFC 5280 §4.2.1.5).
        if issuer == "2.5.29.32.0" || subject == "2.5.29.32.0" {
            return Err(err("anyPolicy cannot be mapped", p));
        }
        let mut m = writer::oid(issuer).map_err(|e| e.within(&p))?;
        m.extend(writer::oid(subject).map_err(|e| e.within(&p))?);
        body.extend(writer::tlv(tag::SEQUENCE, &m));
    }
    Ok(extension(
        oids::POLICY_MAPPINGS,
        critical,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

pub fn policy_constraints(
    critical: bool,
    require: Option<u32>,
    inhibit: Option<u32>,
    path: &str,
) -> Result<Vec<u8>, DerError> {
    if require.is_none() && inhibit.is_none() {
        // RFC 5280 §4.2.1.11: the sequence MUST NOT be empty.
        return Err(err(
            "requireExplicitPolicy or inhibitPolicyMapping required",
            path,
        ));
    }
    let mut body = Vec::new();
    for (n, v) in [(0u8, require), (1u8, inhibit)] {
        if let Some(v) = v {
            body.extend(writer::tlv(
                tag::context_primitive(n),
                &writer::unsigned_integer_content(&u64::from(v).to_be_bytes()),
            ));
        }
    }
    Ok(extension(
        oids::POLICY_CONSTRAINTS,
        critical,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

pub fn inhibit_any_policy(critical: bool, skip_certs: u32) -> Vec<u8> {
    extension(
        oids::INHIBIT_ANY_POLICY,
        critical,
        &writer::integer_u64(u64::from(skip_certs)),
    )
}

/// Any extension by OID; the value must be one complete DER TLV.
pub fn raw(oid: &str, critical: bool, value: &[u8], path: &str) -> Result<Vec<u8>, DerError> {
    let oid_content = encode_oid(oid).map_err(|e| e.within(path))?;
    check_single_tlv(value).map_err(|e| e.within(path))?;
    Ok(extension(&oid_content, critical, value))
}

/// The outer header of `value` is one definite, minimal-length TLV spanning all of it.
/// (Raw extension values come from operators' profiles; the deep check is the
/// strict reader's job when the certificate is parsed back in tests.)
fn check_single_tlv(value: &[u8]) -> Result<(), DerError> {
    let bad = |what| DerError::new(DerErrorKind::InvalidValue(what), 0, "value_hex");
    let (&first_len, rest) = value
        .get(1..)
        .and_then(|r| r.split_first())
        .ok_or_else(|| bad("not a TLV"))?;
    let (len, header) = if first_len < 0x80 {
        (usize::from(first_len), 2)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return Err(bad("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        if len < 0x80 {
            return Err(bad("non-minimal length"));
        }
        (len, 2 + n)
    };
    if value[0] & 0x1f == 0x1f || header + len != value.len() {
        return Err(bad("value must be exactly one TLV"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_constraints_forms() {
        // CA:false -> empty SEQUENCE; critical TRUE present.
        assert_eq!(
            basic_constraints(true, false, None),
            [0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00]
        );
        let ca0 = basic_constraints(true, true, Some(0));
        // extnValue OCTET STRING { SEQUENCE { TRUE, INTEGER 0 } }
        assert_eq!(
            &ca0[ca0.len() - 10..],
            &[0x04, 0x08, 0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00][..]
        );
    }

    #[test]
    fn ip_constraint_mask() {
        let gn = general_name("ip", "10.0.0.0/8", true, "p").unwrap();
        assert_eq!(gn, [0x87, 0x08, 10, 0, 0, 0, 0xff, 0, 0, 0]);
        assert!(general_name("ip", "10.0.0.0/33", true, "p").is_err());
        assert!(general_name("dns", "bücher.example", false, "p").is_err());
    }
}
