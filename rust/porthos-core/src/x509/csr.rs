//! PKCS#10 certification requests (RFC 2986) and signature AlgorithmIdentifiers.
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!     certificationRequestInfo CertificationRequestInfo,
//!     signatureAlgorithm       AlgorithmIdentifier,
//!     signature                BIT STRING }
//! CertificationRequestInfo ::= SEQUENCE {
//!     version       INTEGER { v1(0) },
//!     subject       Name,
//!     subjectPKInfo SubjectPublicKeyInfo,
//!     attributes    [0] IMPLICIT SET OF Attribute }
//! ```

use crate::der::oid::decode_oid;
use crate::der::reader::{validate_tree, Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};
use crate::x509::name_parse::{parse_name_in, NameAttribute};
use crate::x509::oids;
use crate::x509::spki::{parse_spki_in, PublicKeyInfo};

/// A signature algorithm porthos can verify, or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256 (RFC 5758 §3.2), parameters absent.
    EcdsaSha256,
    /// ecdsa-with-SHA384 (RFC 5758 §3.2), parameters absent.
    EcdsaSha384,
    /// ecdsa-with-SHA512 (RFC 5758 §3.2), parameters absent.
    EcdsaSha512,
    /// sha256WithRSAEncryption (RFC 4055 §5), RSASSA-PKCS1-v1_5.
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption (RFC 4055 §5), RSASSA-PKCS1-v1_5.
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption (RFC 4055 §5), RSASSA-PKCS1-v1_5.
    RsaPkcs1Sha512,
    /// id-RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 4055 §3.1).
    RsaPssSha256,
    /// id-RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48 (RFC 4055 §3.1).
    RsaPssSha384,
    /// id-RSASSA-PSS with SHA-512, MGF1-SHA-512, salt 64 (RFC 4055 §3.1).
    RsaPssSha512,
    /// id-Ed25519 (RFC 8410 §3), parameters absent.
    Ed25519,
    /// Any other OID, or a known OID with parameters we do not accept.
    Unknown,
}

/// The one table of signature-algorithm names: every algorithm porthos knows, with its
/// stable short name (the name in Python, profiles, templates and reports). Every other
/// list reads this one: [`SignatureAlgorithm::name`] / [`SignatureAlgorithm::parse`],
/// [`crate::sign::SigAlg`] (the subset porthos signs with), verify_signatures, and
/// `porthos._native.SIGNATURE_ALGORITHMS` / `SIGNING_ALGORITHMS`, which the Python
/// package takes its names from.
pub const SIGNATURE_ALGORITHMS: [(SignatureAlgorithm, &str); 10] = [
    (SignatureAlgorithm::EcdsaSha256, "ecdsa-sha256"),
    (SignatureAlgorithm::EcdsaSha384, "ecdsa-sha384"),
    (SignatureAlgorithm::EcdsaSha512, "ecdsa-sha512"),
    (SignatureAlgorithm::RsaPkcs1Sha256, "rsa-pkcs1-sha256"),
    (SignatureAlgorithm::RsaPkcs1Sha384, "rsa-pkcs1-sha384"),
    (SignatureAlgorithm::RsaPkcs1Sha512, "rsa-pkcs1-sha512"),
    (SignatureAlgorithm::RsaPssSha256, "rsa-pss-sha256"),
    (SignatureAlgorithm::RsaPssSha384, "rsa-pss-sha384"),
    (SignatureAlgorithm::RsaPssSha512, "rsa-pss-sha512"),
    (SignatureAlgorithm::Ed25519, "ed25519"),
];

impl SignatureAlgorithm {
    /// Stable short name from [`SIGNATURE_ALGORITHMS`]; `""` for `Unknown`.
    pub fn name(&self) -> &'static str {
        SIGNATURE_ALGORITHMS
            .iter()
            .find(|(a, _)| a == self)
            .map_or("", |&(_, n)| n)
    }

    /// The algorithm named `name` in [`SIGNATURE_ALGORITHMS`] (never `Unknown`).
    pub fn parse(name: &str) -> Option<Self> {
        SIGNATURE_ALGORITHMS
            .iter()
            .find(|&&(_, n)| n == name)
            .map(|&(a, _)| a)
    }
}

/// Parse an AlgorithmIdentifier TLV read by `parent`. Malformed DER is an error;
/// well-formed but unsupported algorithms or parameters give `Unknown`.
pub fn parse_signature_algorithm(
    parent: &Reader<'_>,
    alg: &Tlv<'_>,
) -> Result<SignatureAlgorithm, DerError> {
    use SignatureAlgorithm as S;
    if alg.tag != tag::SEQUENCE {
        let kind = DerErrorKind::UnexpectedTag {
            expected: tag::SEQUENCE,
            found: alg.tag,
        };
        return Err(DerError::new(kind, alg.offset, ""));
    }
    // Every part must be well-formed DER even when we end up saying Unknown.
    validate_tree(parent, alg)?;
    let mut r = parent.nested(alg)?;
    let oid = r.read_oid("algorithm")?;
    let params = if r.is_empty() {
        None
    } else {
        Some(r.read_tlv()?)
    };
    r.finish("")?;
    let is_null =
        |p: &Option<Tlv<'_>>| matches!(p, Some(t) if t.tag == tag::NULL && t.value.is_empty());
    Ok(match oid {
        // RFC 5758 §3.2: ecdsa-with-SHA* parameters MUST be absent.
        o if o == oids::ECDSA_WITH_SHA256 && params.is_none() => S::EcdsaSha256,
        o if o == oids::ECDSA_WITH_SHA384 && params.is_none() => S::EcdsaSha384,
        o if o == oids::ECDSA_WITH_SHA512 && params.is_none() => S::EcdsaSha512,
        // RFC 4055 §5: NULL is required, but absent parameters are seen in the wild
        // and mean the same thing; both are accepted.
        o if o == oids::SHA256_WITH_RSA && (params.is_none() || is_null(&params)) => {
            S::RsaPkcs1Sha256
        }
        o if o == oids::SHA384_WITH_RSA && (params.is_none() || is_null(&params)) => {
            S::RsaPkcs1Sha384
        }
        o if o == oids::SHA512_WITH_RSA && (params.is_none() || is_null(&params)) => {
            S::RsaPkcs1Sha512
        }
        // RFC 8410 §3: id-Ed25519 parameters MUST be absent.
        o if o == oids::ED25519 && params.is_none() => S::Ed25519,
        o if o == oids::RSASSA_PSS => match params {
            Some(p) if p.tag == tag::SEQUENCE => parse_pss_params(&r, &p)?,
            _ => S::Unknown,
        },
        _ => S::Unknown,
    })
}

/// Convenience: parse an AlgorithmIdentifier that spans exactly `der`.
pub fn signature_algorithm_from_der(der: &[u8]) -> Result<SignatureAlgorithm, DerError> {
    let mut r = Reader::new(der);
    let tlv = r.read_tlv()?;
    r.finish("AlgorithmIdentifier")?;
    parse_signature_algorithm(&r, &tlv)
}

/// Which SHA-2 hash an AlgorithmIdentifier names, parameters NULL or absent
/// (RFC 4055 §2.1 requires accepting both). `None` for anything else.
fn sha2_of(parent: &Reader<'_>, alg: &Tlv<'_>) -> Result<Option<(&'static [u8], usize)>, DerError> {
    if alg.tag != tag::SEQUENCE {
        return Ok(None);
    }
    let mut r = parent.nested(alg)?;
    let oid = r.read_oid("algorithm")?;
    if let Some(p) = if r.is_empty() {
        None
    } else {
        Some(r.read_tlv()?)
    } {
        if p.tag != tag::NULL || !p.value.is_empty() {
            return Ok(None);
        }
    }
    r.finish("")?;
    Ok([(oids::SHA256, 32), (oids::SHA384, 48), (oids::SHA512, 64)]
        .into_iter()
        .find(|(o, _)| *o == oid))
}

/// RSASSA-PSS-params (RFC 4055 §3.1): we accept exactly the profile of RFC 4055
/// §3.3 / CA/B BR §7.1.3.2: SHA-2 hash, MGF1 with the same hash, salt length equal
/// to the hash length, trailer field 1. Any other combination is `Unknown`.
fn parse_pss_params(parent: &Reader<'_>, params: &Tlv<'_>) -> Result<SignatureAlgorithm, DerError> {
    let mut r = parent.nested(params)?;
    let Some(hash_tlv) = r.optional(tag::context_constructed(0), "hashAlgorithm")? else {
        return Ok(SignatureAlgorithm::Unknown); // DEFAULT sha1
    };
    let mut h = r.nested(&hash_tlv)?;
    let hash_alg = h.read_tlv()?;
    h.finish("hashAlgorithm")?;
    let Some((hash, hash_len)) = sha2_of(&h, &hash_alg)? else {
        return Ok(SignatureAlgorithm::Unknown);
    };

    let Some(mgf_tlv) = r.optional(tag::context_constructed(1), "maskGenAlgorithm")? else {
        return Ok(SignatureAlgorithm::Unknown); // DEFAULT mgf1SHA1
    };
    let mut m = r.nested(&mgf_tlv)?;
    let (_, mut mgf) = m.enter(tag::SEQUENCE, "maskGenAlgorithm")?;
    m.finish("maskGenAlgorithm")?;
    let mgf_oid = mgf.read_oid("maskGenAlgorithm.algorithm")?;
    let mgf_hash = if mgf.is_empty() {
        None
    } else {
        Some(mgf.read_tlv()?)
    };
    mgf.finish("maskGenAlgorithm")?;
    let same_hash = match mgf_hash {
        Some(t) => sha2_of(&mgf, &t)?.map(|(o, _)| o) == Some(hash),
        None => false,
    };
    if mgf_oid != oids::MGF1 || !same_hash {
        return Ok(SignatureAlgorithm::Unknown);
    }

    let Some(salt_tlv) = r.optional(tag::context_constructed(2), "saltLength")? else {
        return Ok(SignatureAlgorithm::Unknown); // DEFAULT 20
    };
    let mut s = r.nested(&salt_tlv)?;
    let salt = s.read_integer_bytes("saltLength")?;
    s.finish("saltLength")?;
    if salt.len() != 1 || usize::from(salt[0]) != hash_len {
        return Ok(SignatureAlgorithm::Unknown);
    }

    if let Some(trailer_tlv) = r.optional(tag::context_constructed(3), "trailerField")? {
        let mut t = r.nested(&trailer_tlv)?;
        let trailer = t.read_integer_bytes("trailerField")?;
        t.finish("trailerField")?;
        if trailer == [1] {
            // DER forbids encoding a DEFAULT value (X.690 §11.5).
            return Err(DerError::new(
                DerErrorKind::InvalidValue("DEFAULT trailerField encoded"),
                trailer_tlv.offset,
                "trailerField",
            ));
        }
        return Ok(SignatureAlgorithm::Unknown);
    }
    r.finish("")?;
    Ok(match hash_len {
        32 => SignatureAlgorithm::RsaPssSha256,
        48 => SignatureAlgorithm::RsaPssSha384,
        _ => SignatureAlgorithm::RsaPssSha512,
    })
}

/// One extension from the PKCS#9 extensionRequest attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedExtension<'a> {
    /// extnID in dotted form.
    pub oid: String,
    /// The critical flag (DEFAULT FALSE).
    pub critical: bool,
    /// The extnValue OCTET STRING content.
    pub value: &'a [u8],
}

/// A parsed PKCS#10 request, borrowing from the input.
#[derive(Debug, Clone)]
pub struct Csr<'a> {
    /// The whole CertificationRequest.
    pub der: &'a [u8],
    /// The certificationRequestInfo TLV: the bytes the signature covers.
    pub info: &'a [u8],
    /// The subject Name TLV.
    pub subject_der: &'a [u8],
    /// The subject, flattened in DER order.
    pub subject: Vec<NameAttribute>,
    /// The subjectPKInfo.
    pub spki: PublicKeyInfo<'a>,
    /// Extensions from the extensionRequest attribute (RFC 2985 §5.4.2); empty if none.
    pub extensions: Vec<RequestedExtension<'a>>,
    /// The outer signatureAlgorithm.
    pub signature_algorithm: SignatureAlgorithm,
    /// The signature BIT STRING payload.
    pub signature: &'a [u8],
}

const CSR: &str = "CertificationRequest";
const INFO: &str = "CertificationRequest.certificationRequestInfo";

/// Parse a DER CertificationRequest that spans exactly `der`.
pub fn parse_csr(der: &[u8]) -> Result<Csr<'_>, DerError> {
    let mut outer = Reader::new(der);
    let (_, mut csr) = outer.enter(tag::SEQUENCE, CSR)?;
    outer.finish(CSR)?;

    let (info_tlv, mut info) = csr.enter(tag::SEQUENCE, INFO)?;
    let alg_tlv = csr.expect(tag::SEQUENCE, "CertificationRequest.signatureAlgorithm")?;
    let signature_algorithm = parse_signature_algorithm(&csr, &alg_tlv)
        .map_err(|e| e.within(&format!("{CSR}.signatureAlgorithm")))?;
    let signature = csr.read_bit_string("CertificationRequest.signature")?;
    csr.finish(CSR)?;

    let version =
        info.read_integer_bytes("CertificationRequest.certificationRequestInfo.version")?;
    if version != [0] {
        return Err(DerError::new(
            DerErrorKind::InvalidValue("version must be v1(0)"),
            info_tlv.offset,
            format!("{INFO}.version"),
        ));
    }
    let subject_tlv = info.expect(
        tag::SEQUENCE,
        "CertificationRequest.certificationRequestInfo.subject",
    )?;
    let subject =
        parse_name_in(&info, &subject_tlv).map_err(|e| e.within(&format!("{INFO}.subject")))?;
    let spki_tlv = info.expect(
        tag::SEQUENCE,
        "CertificationRequest.certificationRequestInfo.subjectPKInfo",
    )?;
    let spki =
        parse_spki_in(&info, &spki_tlv).map_err(|e| e.within(&format!("{INFO}.subjectPKInfo")))?;
    // Literal paths (not format!): the success path of a batch allocates no path text.
    let attrs_path = "CertificationRequest.certificationRequestInfo.attributes";
    let (_, mut attrs) = info.enter(tag::context_constructed(0), attrs_path)?;
    info.finish(INFO)?;
    let extensions = parse_attributes(&mut attrs).map_err(|e| e.within(attrs_path))?;

    Ok(Csr {
        der,
        info: info_tlv.raw,
        subject_der: subject_tlv.raw,
        subject,
        spki,
        extensions,
        signature_algorithm,
        signature,
    })
}

/// Walk the attributes; return the extensionRequest's extensions. Other
/// attributes (challengePassword, …) are skipped but must be well-formed DER.
fn parse_attributes<'a>(attrs: &mut Reader<'a>) -> Result<Vec<RequestedExtension<'a>>, DerError> {
    let mut found: Option<Vec<RequestedExtension<'a>>> = None;
    let mut index = 0usize;
    while !attrs.is_empty() {
        let path = format!("attribute[{index}]");
        let (attr_tlv, mut attr) = attrs.enter(tag::SEQUENCE, &path)?;
        let oid = attr.read_oid("type").map_err(|e| e.within(&path))?;
        let (values_tlv, mut values) = attr.enter(tag::SET, &format!("{path}.values"))?;
        attr.finish(&path)?;
        // Attribute values: SET SIZE (1..MAX) (RFC 2986 §4.1).
        if values.is_empty() {
            return Err(DerError::new(
                DerErrorKind::InvalidValue("attribute with no values"),
                values_tlv.offset,
                path,
            ));
        }
        if oid == oids::EXTENSION_REQUEST {
            if found.is_some() {
                return Err(DerError::new(
                    DerErrorKind::InvalidValue("duplicate extensionRequest"),
                    attr_tlv.offset,
                    path,
                ));
            }
            // extensionRequest is SINGLE VALUE (RFC 2985 §5.4.2).
            let (_, mut exts) = values.enter(tag::SEQUENCE, &path)?;
            values.finish(&path)?;
            found = Some(parse_extensions(&mut exts).map_err(|e| e.within(&path))?);
        } else {
            validate_tree(&attr, &values_tlv).map_err(|e| e.within(&path))?;
        }
        index += 1;
    }
    Ok(found.unwrap_or_default())
}

/// Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension (RFC 5280 §4.1).
/// Shared with certificate parsing. A repeated extnID is malformed (RFC 5280 §4.2).
pub fn parse_extensions<'a>(
    exts: &mut Reader<'a>,
) -> Result<Vec<RequestedExtension<'a>>, DerError> {
    let mut out: Vec<RequestedExtension<'a>> = Vec::new();
    let mut index = 0usize;
    if exts.is_empty() {
        return Err(DerError::new(
            DerErrorKind::InvalidValue("empty Extensions"),
            exts.offset(),
            "extensions",
        ));
    }
    while !exts.is_empty() {
        let path = format!("extension[{index}]");
        let (ext_tlv, mut ext) = exts.enter(tag::SEQUENCE, &path)?;
        let oid_bytes = ext.read_oid("extnID").map_err(|e| e.within(&path))?;
        let critical = match ext.peek_tag() {
            Some(tag::BOOLEAN) => {
                let at = ext.offset();
                let c = ext.read_bool("critical").map_err(|e| e.within(&path))?;
                if !c {
                    // DER forbids encoding the DEFAULT FALSE (X.690 §11.5).
                    let kind = DerErrorKind::InvalidValue("DEFAULT critical FALSE encoded");
                    return Err(DerError::new(kind, at, format!("{path}.critical")));
                }
                c
            }
            _ => false,
        };
        let value = ext
            .expect(tag::OCTET_STRING, "extnValue")
            .map_err(|e| e.within(&path))?;
        ext.finish(&path)?;
        let oid = decode_oid(oid_bytes).expect("read_oid validated the OID");
        if out.iter().any(|e| e.oid == oid) {
            return Err(DerError::new(
                DerErrorKind::InvalidValue("duplicate extension"),
                ext_tlv.offset,
                path,
            ));
        }
        out.push(RequestedExtension {
            oid,
            critical,
            value: value.value,
        });
        index += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128);
        [&[t, content.len() as u8][..], content].concat()
    }
    fn alg(oid: &[u8], params: &[u8]) -> Vec<u8> {
        tlv(
            tag::SEQUENCE,
            &[tlv(tag::OID, oid), params.to_vec()].concat(),
        )
    }
    fn pss(hash: &[u8], mgf_hash: &[u8], salt: u8, extra: &[u8]) -> Vec<u8> {
        let null = tlv(tag::NULL, &[]);
        let p = [
            tlv(0xa0, &alg(hash, &null)),
            tlv(0xa1, &alg(oids::MGF1, &alg(mgf_hash, &[]))),
            tlv(0xa2, &tlv(tag::INTEGER, &[salt])),
            extra.to_vec(),
        ]
        .concat();
        alg(oids::RSASSA_PSS, &tlv(tag::SEQUENCE, &p))
    }

    #[test]
    fn simple_algorithms() {
        use SignatureAlgorithm as S;
        let null = tlv(tag::NULL, &[]);
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::ECDSA_WITH_SHA256, &[])).unwrap(),
            S::EcdsaSha256
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::ECDSA_WITH_SHA512, &[])).unwrap(),
            S::EcdsaSha512
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::ECDSA_WITH_SHA256, &null)).unwrap(),
            S::Unknown
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::SHA384_WITH_RSA, &null)).unwrap(),
            S::RsaPkcs1Sha384
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::SHA256_WITH_RSA, &[])).unwrap(),
            S::RsaPkcs1Sha256
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(oids::ED25519, &[])).unwrap(),
            S::Ed25519
        );
        assert_eq!(
            signature_algorithm_from_der(&alg(&[0x2a, 3], &[])).unwrap(),
            S::Unknown
        );
        assert_eq!(S::RsaPssSha384.name(), "rsa-pss-sha384");
        assert_eq!(S::Unknown.name(), "");
        assert_eq!(S::parse("rsa-pss-sha384"), Some(S::RsaPssSha384));
        assert_eq!(S::parse(""), None);
        for (a, n) in SIGNATURE_ALGORITHMS {
            assert_eq!((a.name(), S::parse(n)), (n, Some(a)));
        }
        // Malformed DER inside is an error, not Unknown.
        assert!(signature_algorithm_from_der(&alg(&[0x2a, 3], &[0x05, 0x01, 0x00])).is_err());
        assert!(signature_algorithm_from_der(&alg(&[0x2a, 3], &[0x30, 0x80, 0x00, 0x00])).is_err());
    }

    #[test]
    fn pss_parameters() {
        use SignatureAlgorithm as S;
        let parse = |d: Vec<u8>| signature_algorithm_from_der(&d);
        assert_eq!(
            parse(pss(oids::SHA256, oids::SHA256, 32, &[])).unwrap(),
            S::RsaPssSha256
        );
        assert_eq!(
            parse(pss(oids::SHA384, oids::SHA384, 48, &[])).unwrap(),
            S::RsaPssSha384
        );
        assert_eq!(
            parse(pss(oids::SHA512, oids::SHA512, 64, &[])).unwrap(),
            S::RsaPssSha512
        );
        // Mismatched MGF1 hash, wrong salt, non-default trailer: Unknown.
        assert_eq!(
            parse(pss(oids::SHA256, oids::SHA384, 32, &[])).unwrap(),
            S::Unknown
        );
        assert_eq!(
            parse(pss(oids::SHA256, oids::SHA256, 20, &[])).unwrap(),
            S::Unknown
        );
        let trailer2 = tlv(0xa3, &tlv(tag::INTEGER, &[2]));
        assert_eq!(
            parse(pss(oids::SHA256, oids::SHA256, 32, &trailer2)).unwrap(),
            S::Unknown
        );
        // Explicit DEFAULT trailerField 1 is not DER.
        let trailer1 = tlv(0xa3, &tlv(tag::INTEGER, &[1]));
        assert!(parse(pss(oids::SHA256, oids::SHA256, 32, &trailer1)).is_err());
        // Empty params (all defaults: SHA-1) and absent params: Unknown.
        assert_eq!(
            parse(alg(oids::RSASSA_PSS, &tlv(tag::SEQUENCE, &[]))).unwrap(),
            S::Unknown
        );
        assert_eq!(parse(alg(oids::RSASSA_PSS, &[])).unwrap(), S::Unknown);
        // Trailing junk inside the params.
        assert!(parse(pss(oids::SHA256, oids::SHA256, 32, &tlv(tag::NULL, &[]))).is_err());
    }

    #[test]
    fn extensions_rules() {
        let ext = |oid: &[u8], crit: &[u8]| {
            tlv(
                tag::SEQUENCE,
                &[
                    tlv(tag::OID, oid),
                    crit.to_vec(),
                    tlv(tag::OCTET_STRING, &[5, 0]),
                ]
                .concat(),
            )
        };
        let parse = |body: Vec<u8>| {
            let seq = tlv(tag::SEQUENCE, &body);
            let mut r = Reader::new(&seq);
            let (_, mut inner) = r.enter(tag::SEQUENCE, "x").unwrap();
            parse_extensions(&mut inner).map(|v| {
                v.into_iter()
                    .map(|e| (e.oid, e.critical))
                    .collect::<Vec<_>>()
            })
        };
        let t = tlv(tag::BOOLEAN, &[0xff]);
        let f = tlv(tag::BOOLEAN, &[0x00]);
        assert_eq!(
            parse([ext(&[0x55, 29, 17], &[]), ext(&[0x55, 29, 15], &t)].concat()).unwrap(),
            [
                ("2.5.29.17".to_string(), false),
                ("2.5.29.15".to_string(), true)
            ]
        );
        assert!(
            parse([ext(&[0x55, 29, 17], &[]), ext(&[0x55, 29, 17], &t)].concat()).is_err(),
            "duplicate"
        );
        assert!(parse(ext(&[0x55, 29, 17], &f)).is_err(), "explicit FALSE");
        assert!(parse(vec![]).is_err(), "empty");
    }
}
