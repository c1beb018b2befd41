//! CMS SignedData (RFC 5652 §5) reading and signature verification, zero-copy on the
//! strict DER reader; the certs-only bundle (`.p7c`) writer is in [`certs_only`].
//!
//! The registration authority receives a PKCS#10 request wrapped in a SignedData: a
//! high assurance device signs it with the key of its Device Manufacturer Certificate
//! (000 §3.2.3.1), a subscriber re-keying signs it with its current key (000 §4.7.3,
//! type A). This module answers "which certificate signed these content bytes, and is
//! the signature good"; whether that certificate is *trusted* (chain, allowlist,
//! re-key window) is decided in Python (porthos/ra.py).
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!     version CMSVersion, digestAlgorithms SET OF DigestAlgorithmIdentifier,
//!     encapContentInfo EncapsulatedContentInfo,
//!     certificates [0] IMPLICIT CertificateSet OPTIONAL,
//!     crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!     signerInfos SET OF SignerInfo }
//! EncapsulatedContentInfo ::= SEQUENCE {
//!     eContentType ContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
//! SignerInfo ::= SEQUENCE {
//!     version CMSVersion, sid SignerIdentifier, digestAlgorithm DigestAlgorithmIdentifier,
//!     signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
//!     signatureAlgorithm SignatureAlgorithmIdentifier, signature OCTET STRING,
//!     unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
//! SignerIdentifier ::= CHOICE {
//!     issuerAndSerialNumber IssuerAndSerialNumber,
//!     subjectKeyIdentifier [0] SubjectKeyIdentifier }
//! ```

use aws_lc_rs::digest;

pub mod certs_only;
pub use certs_only::cms_certs_only;

use crate::der::reader::{validate_tree, Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};
use crate::verify::{verify_signature, VerifyStatus};
use crate::x509::cert::{parse_certificate, CertificateInfo};
use crate::x509::csr::{parse_signature_algorithm, SignatureAlgorithm};
use crate::x509::oids;

// RFC 5652 §14 object identifiers (content octets).
/// id-signedData 1.2.840.113549.1.7.2
pub const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-data 1.2.840.113549.1.7.1
pub const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// id-contentType 1.2.840.113549.1.9.3
pub const ID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
/// id-messageDigest 1.2.840.113549.1.9.4
pub const ID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];

/// Outcome of verifying a SignedData whose DER parsed. Numeric values are the contract
/// with Python (porthos.status.CmsStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CmsStatus {
    /// The one SignerInfo's signature verifies with the matched certificate's key.
    Ok = 0,
    /// Signature or digest algorithm porthos does not verify, or one that does not
    /// fit the signer's key.
    UnsupportedAlgorithm = 2,
    /// The signature does not verify.
    BadSignature = 3,
    /// The signer's key is unusable (same rules as CSR keys, verify.rs).
    WeakKey = 4,
    /// No certificate (carried or supplied) matches the SignerIdentifier.
    SignerNotFound = 5,
    /// The messageDigest attribute differs from the digest of the content
    /// (RFC 5652 §5.4, §11.2).
    DigestMismatch = 6,
    /// The contentType attribute differs from eContentType (RFC 5652 §11.1).
    ContentTypeMismatch = 7,
    /// No eContent: a detached signature; the RA needs the request inside.
    NoContent = 8,
    /// Not exactly one SignerInfo: an RA request has one signer.
    SignerCount = 9,
    /// signedAttrs is present but lacks contentType or messageDigest, or
    /// signedAttrs is absent while eContentType is not id-data (RFC 5652 §5.3).
    MissingAttribute = 10,
}

impl CmsStatus {
    /// Every status, in code order (exported to Python as `_native.CMS_STATUS`; a test
    /// holds it equal to porthos.status.CmsStatus).
    pub const ALL: [CmsStatus; 10] = [
        CmsStatus::Ok,
        CmsStatus::UnsupportedAlgorithm,
        CmsStatus::BadSignature,
        CmsStatus::WeakKey,
        CmsStatus::SignerNotFound,
        CmsStatus::DigestMismatch,
        CmsStatus::ContentTypeMismatch,
        CmsStatus::NoContent,
        CmsStatus::SignerCount,
        CmsStatus::MissingAttribute,
    ];

    /// The name of the member of porthos.status.CmsStatus with this code.
    pub fn name(self) -> &'static str {
        match self {
            CmsStatus::Ok => "OK",
            CmsStatus::UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM",
            CmsStatus::BadSignature => "BAD_SIGNATURE",
            CmsStatus::WeakKey => "WEAK_KEY",
            CmsStatus::SignerNotFound => "SIGNER_NOT_FOUND",
            CmsStatus::DigestMismatch => "DIGEST_MISMATCH",
            CmsStatus::ContentTypeMismatch => "CONTENT_TYPE_MISMATCH",
            CmsStatus::NoContent => "NO_CONTENT",
            CmsStatus::SignerCount => "SIGNER_COUNT",
            CmsStatus::MissingAttribute => "MISSING_ATTRIBUTE",
        }
    }
}

/// SignerIdentifier (RFC 5652 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerId<'a> {
    /// issuer Name TLV and serialNumber INTEGER content octets.
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    /// The subjectKeyIdentifier octets.
    KeyId(&'a [u8]),
}

impl SignerId<'_> {
    /// Does `cert` carry this identifier (RFC 5652 §5.3: issuer + serial, or the
    /// subjectKeyIdentifier extension)?
    pub fn matches(&self, cert: &CertificateInfo<'_>) -> bool {
        match *self {
            SignerId::IssuerSerial { issuer, serial } => {
                cert.issuer_der == issuer && cert.serial == serial
            }
            SignerId::KeyId(id) => cert.subject_key_id == Some(id),
        }
    }
}

/// A SHA-2 digest algorithm of CMS (RFC 5754 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha384,
    Sha512,
    /// Well-formed, but not one porthos accepts (SHA-1, MD5, ...).
    Unknown,
}

impl Digest {
    fn algorithm(self) -> Option<&'static digest::Algorithm> {
        match self {
            Digest::Sha256 => Some(&digest::SHA256),
            Digest::Sha384 => Some(&digest::SHA384),
            Digest::Sha512 => Some(&digest::SHA512),
            Digest::Unknown => None,
        }
    }
}

/// One parsed SignerInfo, borrowing from the input.
#[derive(Debug, Clone)]
pub struct SignerInfo<'a> {
    pub version: u8,
    pub sid: SignerId<'a>,
    pub digest_algorithm: Digest,
    /// The signedAttrs TLV as received (tag [0] IMPLICIT, 0xa0); `None` if absent.
    pub signed_attrs: Option<&'a [u8]>,
    /// contentType attribute value (OID content octets), if present.
    pub attr_content_type: Option<&'a [u8]>,
    /// messageDigest attribute value, if present.
    pub attr_message_digest: Option<&'a [u8]>,
    /// The signature algorithm, resolved against `digest_algorithm` where the
    /// AlgorithmIdentifier names only the key type (rsaEncryption: RFC 3370 §3.2;
    /// id-ecPublicKey).
    pub signature_algorithm: SignatureAlgorithm,
    pub signature: &'a [u8],
}

/// A parsed ContentInfo/SignedData, borrowing from the input.
#[derive(Debug, Clone)]
pub struct SignedData<'a> {
    pub version: u8,
    /// eContentType OID content octets.
    pub content_type: &'a [u8],
    /// The eContent OCTET STRING content; `None` for a detached signature.
    pub content: Option<&'a [u8]>,
    /// Every certificate of the CertificateSet (only the `certificate` choice; other
    /// choices are well-formed-checked and skipped).
    pub certificates: Vec<CertificateInfo<'a>>,
    pub signer_infos: Vec<SignerInfo<'a>>,
}

const SD: &str = "ContentInfo.content.SignedData";

fn invalid(what: &'static str, offset: usize, path: impl Into<String>) -> DerError {
    DerError::new(DerErrorKind::InvalidValue(what), offset, path)
}

/// A small non-negative INTEGER (CMSVersion 0..=5).
fn small_version(r: &mut Reader<'_>, path: &str) -> Result<u8, DerError> {
    let at = r.offset();
    let v = r.read_integer_bytes(path)?;
    match v {
        [n @ 0..=5] => Ok(*n),
        _ => Err(invalid("CMSVersion out of range 0..5", at, path)),
    }
}

/// DigestAlgorithmIdentifier: SHA-2 with parameters absent or NULL (RFC 5754 §2).
fn parse_digest(r: &mut Reader<'_>, path: &str) -> Result<Digest, DerError> {
    let (_, mut a) = r.enter(tag::SEQUENCE, path)?;
    let oid = a.read_oid(&format!("{path}.algorithm"))?;
    if !a.is_empty() {
        let at = a.offset();
        a.read_null(&format!("{path}.parameters"))
            .map_err(|_| invalid("digest parameters must be NULL or absent", at, path))?;
    }
    a.finish(path)?;
    Ok(match oid {
        o if o == oids::SHA256 => Digest::Sha256,
        o if o == oids::SHA384 => Digest::Sha384,
        o if o == oids::SHA512 => Digest::Sha512,
        _ => Digest::Unknown,
    })
}

/// X.690 §11.6: the components of a SET OF are in ascending order of their
/// encodings (compared as octet strings, the shorter padded with zeros).
fn der_set_order(prev: &[u8], next: &[u8]) -> bool {
    let n = prev.len().max(next.len());
    for i in 0..n {
        let a = prev.get(i).copied().unwrap_or(0);
        let b = next.get(i).copied().unwrap_or(0);
        if a != b {
            return a < b;
        }
    }
    true
}

/// The signature algorithm of a SignerInfo. CMS allows an AlgorithmIdentifier that
/// names only the key (rsaEncryption, RFC 3370 §3.2: "the digest is the
/// digestAlgorithm"; id-ecPublicKey, as some encoders write for ECDSA); those take
/// the hash from digestAlgorithm.
fn signer_signature_algorithm(
    r: &Reader<'_>,
    alg: &Tlv<'_>,
    digest_alg: Digest,
) -> Result<SignatureAlgorithm, DerError> {
    use SignatureAlgorithm as S;
    validate_tree(r, alg)?;
    let mut a = r.nested(alg)?;
    let oid = a.read_oid("algorithm")?;
    let key_only = oid == oids::RSA_ENCRYPTION || oid == oids::EC_PUBLIC_KEY;
    if !key_only {
        return parse_signature_algorithm(r, alg);
    }
    // Parameters: NULL or absent for rsaEncryption; anything well-formed for
    // id-ecPublicKey (the curve is the certificate's).
    let rsa = oid == oids::RSA_ENCRYPTION;
    if rsa && !a.is_empty() {
        let p = a.read_tlv()?;
        if p.tag != tag::NULL || !p.value.is_empty() {
            return Ok(S::Unknown);
        }
    }
    Ok(match (rsa, digest_alg) {
        (true, Digest::Sha256) => S::RsaPkcs1Sha256,
        (true, Digest::Sha384) => S::RsaPkcs1Sha384,
        (true, Digest::Sha512) => S::RsaPkcs1Sha512,
        (false, Digest::Sha256) => S::EcdsaSha256,
        (false, Digest::Sha384) => S::EcdsaSha384,
        (false, Digest::Sha512) => S::EcdsaSha512,
        _ => S::Unknown,
    })
}

/// Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue }.
/// contentType and messageDigest must appear at most once, with exactly one value
/// (RFC 5652 §11.1, §11.2). The SET OF must be in DER order (RFC 5652 §5.3:
/// "signedAttrs MUST be DER encoded", because the signature covers that encoding).
type SignedAttrs<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

fn parse_signed_attrs<'a>(r: &mut Reader<'a>, path: &str) -> Result<SignedAttrs<'a>, DerError> {
    let mut content_type = None;
    let mut message_digest = None;
    let mut prev: Option<&[u8]> = None;
    let mut index = 0usize;
    if r.is_empty() {
        // SignedAttributes ::= SET SIZE (1..MAX) OF Attribute.
        return Err(invalid("empty signedAttrs", r.offset(), path));
    }
    while !r.is_empty() {
        let p = format!("{path}[{index}]");
        let (attr_tlv, mut attr) = r.enter(tag::SEQUENCE, &p)?;
        if let Some(prev) = prev {
            if !der_set_order(prev, attr_tlv.raw) {
                return Err(invalid(
                    "signedAttrs not in DER SET OF order",
                    attr_tlv.offset,
                    p,
                ));
            }
        }
        prev = Some(attr_tlv.raw);
        let oid = attr.read_oid(&format!("{p}.attrType"))?;
        let (values_tlv, mut values) = attr.enter(tag::SET, &format!("{p}.attrValues"))?;
        attr.finish(&p)?;
        let mut count = 0usize;
        let mut first: Option<Tlv<'a>> = None;
        while !values.is_empty() {
            let v = values.read_tlv().map_err(|e| e.within(&p))?;
            validate_tree(&values, &v).map_err(|e| e.within(&p))?;
            if first.is_none() {
                first = Some(v);
            }
            count += 1;
        }
        if count == 0 {
            return Err(invalid("attribute without values", values_tlv.offset, p));
        }
        let is_ct = oid == ID_CONTENT_TYPE;
        let is_md = oid == ID_MESSAGE_DIGEST;
        if is_ct || is_md {
            let v = first.expect("count >= 1");
            if count != 1 {
                return Err(invalid(
                    "contentType/messageDigest must have exactly one value",
                    values_tlv.offset,
                    p,
                ));
            }
            let slot = if is_ct {
                &mut content_type
            } else {
                &mut message_digest
            };
            if slot.is_some() {
                return Err(invalid(
                    "contentType/messageDigest attribute repeated",
                    attr_tlv.offset,
                    p,
                ));
            }
            let want = if is_ct { tag::OID } else { tag::OCTET_STRING };
            if v.tag != want {
                let kind = DerErrorKind::UnexpectedTag {
                    expected: want,
                    found: v.tag,
                };
                return Err(DerError::new(kind, v.offset, format!("{p}.attrValues")));
            }
            *slot = Some(v.value);
        }
        index += 1;
    }
    Ok((content_type, message_digest))
}

fn parse_signer_info<'a>(r: &mut Reader<'a>, path: &str) -> Result<SignerInfo<'a>, DerError> {
    let (si_tlv, mut si) = r.enter(tag::SEQUENCE, path)?;
    let version = small_version(&mut si, &format!("{path}.version"))?;
    let sid_path = format!("{path}.sid");
    let sid = match si.peek_tag() {
        Some(tag::SEQUENCE) => {
            let (_, mut ias) = si.enter(tag::SEQUENCE, &sid_path)?;
            let issuer = ias.expect(tag::SEQUENCE, &format!("{sid_path}.issuer"))?;
            validate_tree(&ias, &issuer).map_err(|e| e.within(&format!("{sid_path}.issuer")))?;
            let serial = ias.read_integer_bytes(&format!("{sid_path}.serialNumber"))?;
            ias.finish(&sid_path)?;
            SignerId::IssuerSerial {
                issuer: issuer.raw,
                serial,
            }
        }
        _ => {
            // subjectKeyIdentifier [0] IMPLICIT OCTET STRING.
            let t = si.expect(tag::context_primitive(0), &sid_path)?;
            SignerId::KeyId(t.value)
        }
    };
    // RFC 5652 §5.3: version 1 goes with issuerAndSerialNumber, 3 with the key id.
    let want = match sid {
        SignerId::IssuerSerial { .. } => 1,
        SignerId::KeyId(_) => 3,
    };
    if version != want {
        return Err(invalid(
            "SignerInfo version does not match the sid choice (RFC 5652 §5.3)",
            si_tlv.offset,
            format!("{path}.version"),
        ));
    }
    let digest_algorithm = parse_digest(&mut si, &format!("{path}.digestAlgorithm"))?;
    let attrs_path = format!("{path}.signedAttrs");
    let (signed_attrs, attr_content_type, attr_message_digest) =
        match si.optional(tag::context_constructed(0), &attrs_path)? {
            Some(t) => {
                let mut a = si.nested(&t)?;
                let (ct, md) = parse_signed_attrs(&mut a, &attrs_path)?;
                (Some(t.raw), ct, md)
            }
            None => (None, None, None),
        };
    let alg_path = format!("{path}.signatureAlgorithm");
    let alg = si.expect(tag::SEQUENCE, &alg_path)?;
    let signature_algorithm =
        signer_signature_algorithm(&si, &alg, digest_algorithm).map_err(|e| e.within(&alg_path))?;
    let signature = si.expect(tag::OCTET_STRING, &format!("{path}.signature"))?;
    if let Some(u) = si.optional(
        tag::context_constructed(1),
        &format!("{path}.unsignedAttrs"),
    )? {
        validate_tree(&si, &u).map_err(|e| e.within(&format!("{path}.unsignedAttrs")))?;
    }
    si.finish(path)?;
    Ok(SignerInfo {
        version,
        sid,
        digest_algorithm,
        signed_attrs,
        attr_content_type,
        attr_message_digest,
        signature_algorithm,
        signature: signature.value,
    })
}

/// Parse a DER ContentInfo holding a SignedData that spans exactly `der`.
pub fn parse_signed_data(der: &[u8]) -> Result<SignedData<'_>, DerError> {
    let mut outer = Reader::new(der);
    let (_, mut ci) = outer.enter(tag::SEQUENCE, "ContentInfo")?;
    outer.finish("ContentInfo")?;
    let ct_at = ci.offset();
    let content_type = ci.read_oid("ContentInfo.contentType")?;
    if content_type != ID_SIGNED_DATA {
        return Err(invalid(
            "contentType is not id-signedData (RFC 5652 §5.1)",
            ct_at,
            "ContentInfo.contentType",
        ));
    }
    let (_, mut explicit) = ci.enter(tag::context_constructed(0), "ContentInfo.content")?;
    ci.finish("ContentInfo")?;
    let (_, mut sd) = explicit.enter(tag::SEQUENCE, SD)?;
    explicit.finish("ContentInfo.content")?;

    let version = small_version(&mut sd, &format!("{SD}.version"))?;
    // digestAlgorithms: informative (RFC 5652 §5.1); each must be well-formed.
    let (_, mut digests) = sd.enter(tag::SET, &format!("{SD}.digestAlgorithms"))?;
    let mut i = 0;
    while !digests.is_empty() {
        parse_digest(&mut digests, &format!("{SD}.digestAlgorithms[{i}]"))?;
        i += 1;
    }

    let eci_path = format!("{SD}.encapContentInfo");
    let (_, mut eci) = sd.enter(tag::SEQUENCE, &eci_path)?;
    let content_type = eci.read_oid(&format!("{eci_path}.eContentType"))?;
    let content =
        match eci.optional(tag::context_constructed(0), &format!("{eci_path}.eContent"))? {
            Some(t) => {
                let mut e = eci.nested(&t)?;
                let octets = e.expect(tag::OCTET_STRING, &format!("{eci_path}.eContent"))?;
                e.finish(&format!("{eci_path}.eContent"))?;
                Some(octets.value)
            }
            None => None,
        };
    eci.finish(&eci_path)?;

    let mut certificates = Vec::new();
    let certs_path = format!("{SD}.certificates");
    if let Some(t) = sd.optional(tag::context_constructed(0), &certs_path)? {
        let mut set = sd.nested(&t)?;
        let mut index = 0usize;
        while !set.is_empty() {
            let c = set.read_tlv().map_err(|e| e.within(&certs_path))?;
            let p = format!("{certs_path}[{index}]");
            if c.tag == tag::SEQUENCE {
                let info = parse_certificate(c.raw).map_err(|mut e| {
                    e.offset += c.offset;
                    e.within(&p)
                })?;
                certificates.push(info);
            } else {
                // extendedCertificate [0], v1/v2AttrCert [1]/[2], other [3]: not
                // signer certificates; they must still be DER.
                validate_tree(&set, &c).map_err(|e| e.within(&p))?;
            }
            index += 1;
        }
    }
    if let Some(t) = sd.optional(tag::context_constructed(1), &format!("{SD}.crls"))? {
        validate_tree(&sd, &t).map_err(|e| e.within(&format!("{SD}.crls")))?;
    }
    let (_, mut sis) = sd.enter(tag::SET, &format!("{SD}.signerInfos"))?;
    sd.finish(SD)?;
    let mut signer_infos = Vec::new();
    let mut index = 0usize;
    while !sis.is_empty() {
        signer_infos.push(parse_signer_info(
            &mut sis,
            &format!("{SD}.signerInfos[{index}]"),
        )?);
        index += 1;
    }
    Ok(SignedData {
        version,
        content_type,
        content,
        certificates,
        signer_infos,
    })
}

/// The result of [`verify_signed_data`].
#[derive(Debug, Clone)]
pub struct CmsVerification<'a> {
    pub status: CmsStatus,
    /// `""` when Ok; otherwise what failed.
    pub detail: String,
    pub signed: SignedData<'a>,
    /// Index of the signer certificate: `< certificates.len()` for a carried one,
    /// `certificates.len() + j` for `extra[j]`.
    pub signer_index: Option<usize>,
}

/// Parse `der` and verify its one SignerInfo (RFC 5652 §5.6): find the signer
/// certificate by sid among the carried certificates, then `extra` (certificates the
/// caller knows, e.g. the subscriber's current certificate for a re-key); check
/// contentType and messageDigest against the content; verify the signature over the
/// DER of signedAttrs with its tag set to SET OF (0x31), or over the content when
/// there are no signed attributes. Malformed DER (content or any certificate) is an
/// error; everything else is a status.
pub fn verify_signed_data<'a>(
    der: &'a [u8],
    extra: &[&'a [u8]],
) -> Result<CmsVerification<'a>, DerError> {
    let signed = parse_signed_data(der)?;
    let mut extra_certs = Vec::with_capacity(extra.len());
    for (j, e) in extra.iter().enumerate() {
        extra_certs.push(parse_certificate(e).map_err(|err| err.within(&format!("extra[{j}]")))?);
    }
    let (status, detail, signer_index) = check(&signed, &extra_certs);
    Ok(CmsVerification {
        status,
        detail,
        signed,
        signer_index,
    })
}

fn check(sd: &SignedData<'_>, extra: &[CertificateInfo<'_>]) -> (CmsStatus, String, Option<usize>) {
    let fail = |s: CmsStatus, d: String| (s, d, None);
    if sd.signer_infos.len() != 1 {
        return fail(
            CmsStatus::SignerCount,
            format!(
                "{} SignerInfos; exactly one signer is accepted",
                sd.signer_infos.len()
            ),
        );
    }
    let si = &sd.signer_infos[0];
    let Some(content) = sd.content else {
        return fail(
            CmsStatus::NoContent,
            "detached signature: eContent is absent".into(),
        );
    };
    let n = sd.certificates.len();
    let found = sd
        .certificates
        .iter()
        .chain(extra.iter())
        .position(|c| si.sid.matches(c));
    let Some(index) = found else {
        let what = match si.sid {
            SignerId::IssuerSerial { .. } => "issuerAndSerialNumber",
            SignerId::KeyId(_) => "subjectKeyIdentifier",
        };
        return fail(
            CmsStatus::SignerNotFound,
            format!(
                "no certificate matches the signer's {what} ({n} carried, {} supplied)",
                extra.len()
            ),
        );
    };
    let cert = if index < n {
        &sd.certificates[index]
    } else {
        &extra[index - n]
    };
    let Some(dalg) = si.digest_algorithm.algorithm() else {
        return (
            CmsStatus::UnsupportedAlgorithm,
            "digestAlgorithm is not SHA-256/384/512".into(),
            Some(index),
        );
    };
    if si.signature_algorithm == SignatureAlgorithm::Unknown {
        return (
            CmsStatus::UnsupportedAlgorithm,
            "signatureAlgorithm is not one porthos verifies".into(),
            Some(index),
        );
    }
    let message: Vec<u8>;
    let signed_bytes: &[u8] = match si.signed_attrs {
        Some(raw) => {
            let (Some(ct), Some(md)) = (si.attr_content_type, si.attr_message_digest) else {
                return (
                    CmsStatus::MissingAttribute,
                    "signedAttrs lacks contentType or messageDigest (RFC 5652 §5.3)".into(),
                    Some(index),
                );
            };
            if ct != sd.content_type {
                return (
                    CmsStatus::ContentTypeMismatch,
                    "contentType attribute differs from eContentType (RFC 5652 §11.1)".into(),
                    Some(index),
                );
            }
            if digest::digest(dalg, content).as_ref() != md {
                return (
                    CmsStatus::DigestMismatch,
                    "messageDigest differs from the digest of eContent (RFC 5652 §11.2)".into(),
                    Some(index),
                );
            }
            // RFC 5652 §5.4: the signature covers the DER of SignedAttributes with
            // the EXPLICIT SET OF tag, not the [0] IMPLICIT tag that was sent.
            let mut m = raw.to_vec();
            m[0] = tag::SET;
            message = m;
            &message
        }
        None => {
            // RFC 5652 §5.3: without signed attributes the content type must be id-data.
            if sd.content_type != ID_DATA {
                return (
                    CmsStatus::MissingAttribute,
                    "signedAttrs absent with an eContentType other than id-data (RFC 5652 §5.3)"
                        .into(),
                    Some(index),
                );
            }
            content
        }
    };
    match verify_signature(
        si.signature_algorithm,
        &cert.spki,
        signed_bytes,
        si.signature,
    ) {
        VerifyStatus::Ok => (CmsStatus::Ok, String::new(), Some(index)),
        VerifyStatus::BadSignature => (
            CmsStatus::BadSignature,
            format!(
                "{} signature does not verify with the signer certificate's key",
                si.signature_algorithm.name()
            ),
            Some(index),
        ),
        VerifyStatus::WeakKey => (
            CmsStatus::WeakKey,
            "the signer certificate's key is unusable".into(),
            Some(index),
        ),
        _ => (
            CmsStatus::UnsupportedAlgorithm,
            format!(
                "signature algorithm {} does not fit the signer's {:?} key",
                si.signature_algorithm.name(),
                cert.spki.key_type
            ),
            Some(index),
        ),
    }
}

#[cfg(test)]
mod tests;
