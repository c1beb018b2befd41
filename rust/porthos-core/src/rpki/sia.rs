//! Subject Information Access for RPKI certificates (RFC 6487 §4.8.8, RFC 8182 §3.2)
//! and the RPKI certificate policy (RFC 6484 §1.2, RFC 6487 §4.8.9).
//!
//! ```text
//! SubjectInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription
//! AccessDescription ::= SEQUENCE { accessMethod OBJECT IDENTIFIER,
//!                                  accessLocation GeneralName }   -- [6] IA5String URI
//! ```
//! A CA certificate names its publication point (caRepository, rsync), its manifest
//! (rpkiManifest, rsync) and optionally its RRDP notification file (rpkiNotify,
//! https); an EE certificate names its signed object (signedObject, rsync).

use crate::der::reader::Reader;
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::x509::ext;

/// id-pe-subjectInfoAccess 1.3.6.1.5.5.7.1.11 (RFC 5280 §4.2.2.2).
pub const ID_PE_SUBJECT_INFO_ACCESS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0b];
/// id-ad-caRepository 1.3.6.1.5.5.7.48.5 (RFC 5280 §4.2.2.2).
pub const ID_AD_CA_REPOSITORY: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x05];
/// id-ad-rpkiManifest 1.3.6.1.5.5.7.48.10 (RFC 6487 §4.8.8.1).
pub const ID_AD_RPKI_MANIFEST: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x0a];
/// id-ad-signedObject 1.3.6.1.5.5.7.48.11 (RFC 6487 §4.8.8.2).
pub const ID_AD_SIGNED_OBJECT: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x0b];
/// id-ad-rpkiNotify 1.3.6.1.5.5.7.48.13 (RFC 8182 §3.2).
pub const ID_AD_RPKI_NOTIFY: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x0d];
/// id-cp-ipAddr-asNumber 1.3.6.1.5.5.7.14.2 (RFC 6484 §1.2).
pub const ID_CP_IPADDR_ASNUMBER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x0e, 0x02];

/// The access methods of an RPKI SIA, in the order the writer emits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMethod {
    CaRepository,
    RpkiManifest,
    RpkiNotify,
    SignedObject,
}

impl AccessMethod {
    pub const ALL: [AccessMethod; 4] = [
        AccessMethod::CaRepository,
        AccessMethod::RpkiManifest,
        AccessMethod::RpkiNotify,
        AccessMethod::SignedObject,
    ];
    pub fn oid(self) -> &'static [u8] {
        match self {
            AccessMethod::CaRepository => ID_AD_CA_REPOSITORY,
            AccessMethod::RpkiManifest => ID_AD_RPKI_MANIFEST,
            AccessMethod::RpkiNotify => ID_AD_RPKI_NOTIFY,
            AccessMethod::SignedObject => ID_AD_SIGNED_OBJECT,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AccessMethod::CaRepository => "ca_repository",
            AccessMethod::RpkiManifest => "rpki_manifest",
            AccessMethod::RpkiNotify => "rpki_notify",
            AccessMethod::SignedObject => "signed_object",
        }
    }
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
    fn from_oid(o: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.oid() == o)
    }
    /// The URI scheme the RPKI requires: rsync everywhere except RRDP (https).
    pub fn scheme(self) -> &'static str {
        match self {
            AccessMethod::RpkiNotify => "https://",
            _ => "rsync://",
        }
    }
}

fn err(what: &'static str, path: String) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

fn check_uri(method: AccessMethod, uri: &str, path: String) -> Result<(), DerError> {
    if !uri.is_ascii() || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(err("URI must be printable ASCII without spaces", path));
    }
    let scheme = method.scheme();
    if uri.len() <= scheme.len() || !uri[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return Err(err(
            if method == AccessMethod::RpkiNotify {
                "rpkiNotify must be an https URI (RFC 8182 §3.2)"
            } else {
                "must be an rsync URI (RFC 6487 §4.8.8)"
            },
            path,
        ));
    }
    Ok(())
}

/// The SubjectInfoAccessSyntax extnValue for (method, URI) pairs, written in the
/// order given. URIs are checked for the scheme RFC 6487 / RFC 8182 require.
pub fn encode_sia(entries: &[(AccessMethod, &str)]) -> Result<Vec<u8>, DerError> {
    if entries.is_empty() {
        return Err(err(
            "SIA needs at least one access description",
            "sia".into(),
        ));
    }
    let mut body = Vec::new();
    for (i, &(method, uri)) in entries.iter().enumerate() {
        check_uri(method, uri, format!("sia[{i}].{}", method.name()))?;
        let mut ad = writer::tlv(tag::OID, method.oid());
        writer::push_tlv(&mut ad, tag::context_primitive(6), uri.as_bytes());
        writer::push_tlv(&mut body, tag::SEQUENCE, &ad);
    }
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

/// The SIA Extension TLV (never critical, RFC 6487 §4.8.8).
pub fn sia_extension(entries: &[(AccessMethod, &str)]) -> Result<Vec<u8>, DerError> {
    Ok(ext::extension(
        ID_PE_SUBJECT_INFO_ACCESS,
        false,
        &encode_sia(entries)?,
    ))
}

/// certificatePolicies with the one RPKI policy, critical, no qualifiers
/// (RFC 6487 §4.8.9).
pub fn rpki_policy_extension() -> Vec<u8> {
    let info = writer::tlv(tag::SEQUENCE, &writer::tlv(tag::OID, ID_CP_IPADDR_ASNUMBER));
    ext::extension(
        crate::x509::oids::CERTIFICATE_POLICIES,
        true,
        &writer::tlv(tag::SEQUENCE, &info),
    )
}

/// Parse an SIA extnValue (from a child CA's request): every AccessDescription whose
/// method is one of the four RPKI methods, with its URI; other methods are skipped
/// (RFC 6487 §4.8.8.1 allows them), other GeneralName forms are refused. The URI
/// schemes are checked as the writer checks them.
pub fn parse_sia(der: &[u8]) -> Result<Vec<(AccessMethod, String)>, DerError> {
    const P: &str = "SubjectInfoAccessSyntax";
    let mut top = Reader::new(der);
    let (_, mut seq) = top.enter(tag::SEQUENCE, P)?;
    top.finish(P)?;
    let mut out = Vec::new();
    let mut i = 0usize;
    while !seq.is_empty() {
        let path = format!("{P}[{i}]");
        i += 1;
        let (_, mut ad) = seq.enter(tag::SEQUENCE, &path)?;
        let oid = ad.read_oid(&format!("{path}.accessMethod"))?;
        let loc = ad.expect(tag::context_primitive(6), &format!("{path}.accessLocation"))?;
        ad.finish(&path)?;
        let Some(method) = AccessMethod::from_oid(oid) else {
            continue;
        };
        let uri = std::str::from_utf8(loc.value)
            .ok()
            .filter(|s| s.is_ascii())
            .ok_or_else(|| {
                DerError::new(
                    DerErrorKind::InvalidValue("URI is not ASCII"),
                    loc.offset,
                    &path,
                )
            })?;
        check_uri(method, uri, path.clone()).map_err(|e| {
            DerError::new(
                DerErrorKind::InvalidValue("URI scheme not allowed here"),
                loc.offset,
                e.path,
            )
        })?;
        out.push((method, uri.to_string()));
    }
    if i == 0 {
        return Err(DerError::new(DerErrorKind::InvalidValue("empty SIA"), 0, P));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_back() {
        let entries = [
            (
                AccessMethod::CaRepository,
                "rsync://rpki.example.net/repo/ca/",
            ),
            (
                AccessMethod::RpkiManifest,
                "rsync://rpki.example.net/repo/ca/ca.mft",
            ),
            (
                AccessMethod::RpkiNotify,
                "https://rpki.example.net/rrdp/notification.xml",
            ),
        ];
        let der = encode_sia(&entries).unwrap();
        let back = parse_sia(&der).unwrap();
        assert_eq!(back.len(), 3);
        for ((m, u), (bm, bu)) in entries.iter().zip(&back) {
            assert_eq!((m, *u), (bm, bu.as_str()));
        }
        // 30 81 a0, then the caRepository AccessDescription: 30 2d 06 08 <oid> 86 len uri
        assert_eq!(&der[..3], &[0x30, 0x81, 0xa0]);
        assert_eq!(&der[3..7], &[0x30, 0x2d, 0x06, 0x08]);
        assert_eq!(der[15], 0x86);
    }

    #[test]
    fn schemes_are_checked() {
        assert!(encode_sia(&[(AccessMethod::CaRepository, "https://x/")]).is_err());
        assert!(encode_sia(&[(AccessMethod::RpkiNotify, "rsync://x/n.xml")]).is_err());
        assert!(encode_sia(&[(AccessMethod::SignedObject, "rsync://x/a b.roa")]).is_err());
        assert!(encode_sia(&[]).is_err());
    }

    #[test]
    fn policy_is_critical_rpki_oid() {
        let e = rpki_policy_extension();
        // SEQUENCE { OID 2.5.29.32, TRUE, OCTET STRING { SEQ { SEQ { OID 1.3.6.1.5.5.7.14.2 }}}}
        assert_eq!(
            e,
            [
                0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x20, 0x01, 0x01, 0xff, 0x04, 0x0e, 0x30, 0x0c,
                0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x0e, 0x02
            ][..]
        );
    }
}
