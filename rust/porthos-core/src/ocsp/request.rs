//! Strict OCSP request parser (RFC 6960 §4.1, ASN.1 in §4.1.1 and appendix B.1).
//!
//! A request comes from anyone on the network, so it gets the same rules as a CSR:
//! DER only (the reader refuses BER, indefinite lengths, non-minimal lengths and
//! trailing bytes), every INTEGER minimal, and bounded work. The decisions a
//! responder needs are made here, once:
//!
//! * `version` is `[0] EXPLICIT` with DEFAULT v1: DER never encodes the default, so an
//!   encoded v1 is refused like any other version (X.690 §11.5).
//! * `requestorName` is structurally checked and kept as raw bytes; porthos does not
//!   authorize by it.
//! * `optionalSignature` is **accepted but ignored**: its DER is checked, `signed`
//!   reports it, and the signature is not verified, because the answer a pre-signed
//!   responder gives does not depend on who asks (RFC 5019 §2.1.2: requests SHOULD be
//!   unsigned; a responder MAY ignore the signature).
//! * CertID `hashAlgorithm` is SHA-1 or SHA-256, with NULL parameters present or
//!   absent (RFC 5754 §2 allows both); `issuerNameHash`/`issuerKeyHash` must be as
//!   long as that hash's output. Any other hash OID is `UnsupportedHash`.
//! * `serialNumber` is a positive INTEGER of at most 20 octets (RFC 5280 §4.1.2.2).
//! * At most `limits.max_cert_ids` CertIDs: counting stops at the first one over, so
//!   10,000 CertIDs cost one pass up to the cap, not 10,000 parses.
//! * The nonce (id-pkix-ocsp-nonce, RFC 6960 §4.4.1) is an OCTET STRING of 1..32
//!   octets (RFC 8954 §2.1); other lengths are `NonceLength`. Unknown request
//!   extensions are skipped unless critical (RFC 6960 §4.4); duplicates are refused
//!   (RFC 5280 §4.2).

use std::fmt;

use crate::der::reader::{validate_tree, Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};

/// id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2 (RFC 6960 §4.4.1), OID content octets.
pub const OID_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// id-sha1, 1.3.14.3.2.26.
pub const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-sha256, 2.16.840.1.101.3.4.2.1.
pub const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// Nonce length bounds, RFC 8954 §2.1 (a responder SHOULD reject longer nonces).
pub const NONCE_MIN: usize = 1;
pub const NONCE_MAX: usize = 32;

/// The CertID hash algorithms a responder can match (RFC 6960 §4.1.1, RFC 5019 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha256,
}

impl HashAlg {
    /// Output length in octets: issuerNameHash and issuerKeyHash must have it.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
        }
    }
    /// The name used in the on-disk index and config (`sha1`, `sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
        }
    }
    /// The OID content octets.
    pub const fn oid(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => OID_SHA1,
            HashAlg::Sha256 => OID_SHA256,
        }
    }
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name {
            "sha1" => Some(HashAlg::Sha1),
            "sha256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }
}

/// Bounds on the work one request may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most CertIDs in requestList (RFC 5019 §2.1.1 clients send exactly one).
    pub max_cert_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_cert_ids: 1000 }
    }
}

/// One CertID (RFC 6960 §4.1.1), borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertId<'a> {
    pub hash: HashAlg,
    pub issuer_name_hash: &'a [u8],
    pub issuer_key_hash: &'a [u8],
    /// The serial's magnitude: INTEGER content without a leading 0x00, never empty.
    pub serial: &'a [u8],
    /// The whole CertID TLV (a response's SingleResponse repeats it).
    pub raw: &'a [u8],
}

/// A parsed OCSPRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest<'a> {
    /// requestList in order, at least one.
    pub cert_ids: Vec<CertId<'a>>,
    /// The nonce octets (the inner OCTET STRING's content, RFC 8954 §2.1).
    pub nonce: Option<&'a [u8]>,
    /// requestorName's GeneralName TLV, unchecked beyond DER.
    pub requestor_name: Option<&'a [u8]>,
    /// True when optionalSignature was present (not verified; see the module doc).
    pub signed: bool,
}

/// Why a request was refused. Every kind maps to `malformedRequest` in a responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not DER, or a field breaks RFC 6960 §4.1.1 / RFC 5280.
    Decode(DerError),
    /// More CertIDs than `Limits::max_cert_ids`.
    TooManyCertIds { limit: usize },
    /// A nonce outside 1..32 octets (RFC 8954 §2.1); `len` is what was sent.
    NonceLength { len: usize },
    /// A CertID hash algorithm other than SHA-1 / SHA-256 (dotted OID).
    UnsupportedHash { oid: String },
}

impl RequestError {
    /// A stable short code (logs, Python `.reason`).
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Decode(_) => "der",
            RequestError::TooManyCertIds { .. } => "too-many-certids",
            RequestError::NonceLength { .. } => "nonce-length",
            RequestError::UnsupportedHash { .. } => "unsupported-hash",
        }
    }
}

impl From<DerError> for RequestError {
    fn from(e: DerError) -> Self {
        RequestError::Decode(e)
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Decode(e) => write!(f, "malformed OCSP request: {e}"),
            RequestError::TooManyCertIds { limit } => {
                write!(f, "more than {limit} CertIDs in one OCSP request")
            }
            RequestError::NonceLength { len } => write!(
                f,
                "OCSP nonce of {len} octets (RFC 8954 §2.1 allows {NONCE_MIN}..{NONCE_MAX})"
            ),
            RequestError::UnsupportedHash { oid } => {
                write!(f, "CertID hash algorithm {oid} is not SHA-1 or SHA-256")
            }
        }
    }
}

impl std::error::Error for RequestError {}

fn invalid(what: &'static str, at: usize, path: &str) -> RequestError {
    RequestError::Decode(DerError::new(DerErrorKind::InvalidValue(what), at, path))
}

const TBS: &str = "OCSPRequest.tbsRequest";
const CERT_ID: &str = "OCSPRequest.tbsRequest.requestList[].reqCert";

/// Parse one DER OCSPRequest under `limits`.
pub fn parse_request(der: &[u8], limits: Limits) -> Result<OcspRequest<'_>, RequestError> {
    let mut top = Reader::new(der);
    let (_, mut req) = top.enter(tag::SEQUENCE, "OCSPRequest")?;
    top.finish("OCSPRequest")?;
    let (_, mut tbs) = req.enter(tag::SEQUENCE, TBS)?;

    if let Some(v) = tbs.optional(tag::context_constructed(0), TBS)? {
        // Any encoded version is refused: v1 is the DEFAULT and DER omits it, and
        // RFC 6960 defines no other.
        return Err(invalid(
            "version encoded (DER omits DEFAULT v1)",
            v.offset,
            TBS,
        ));
    }
    let mut requestor_name = None;
    if let Some(n) = tbs.optional(tag::context_constructed(1), TBS)? {
        let mut inner = tbs.nested(&n)?;
        let name = inner.read_tlv().map_err(|e| e.within(TBS))?;
        validate_tree(&inner, &name).map_err(|e| e.within(TBS))?;
        inner.finish(TBS)?;
        requestor_name = Some(name.raw);
    }
    let (_, mut list) = tbs.enter(tag::SEQUENCE, "OCSPRequest.tbsRequest.requestList")?;
    let mut cert_ids = Vec::new();
    while !list.is_empty() {
        if cert_ids.len() == limits.max_cert_ids {
            return Err(RequestError::TooManyCertIds {
                limit: limits.max_cert_ids,
            });
        }
        cert_ids.push(read_single_request(&mut list)?);
    }
    if cert_ids.is_empty() {
        return Err(invalid("empty requestList", list.offset(), TBS));
    }
    let mut nonce = None;
    if let Some(x) = tbs.optional(tag::context_constructed(2), TBS)? {
        nonce = read_request_extensions(&tbs, &x)?;
    }
    tbs.finish(TBS)?;

    let mut signed = false;
    if let Some(s) = req.optional(tag::context_constructed(0), "OCSPRequest")? {
        // Checked as DER, not verified (module doc).
        validate_tree(&req, &s).map_err(|e| e.within("OCSPRequest.optionalSignature"))?;
        signed = true;
    }
    req.finish("OCSPRequest")?;
    Ok(OcspRequest {
        cert_ids,
        nonce,
        requestor_name,
        signed,
    })
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT
/// Extensions OPTIONAL }`; the single extensions are checked and skipped.
fn read_single_request<'a>(list: &mut Reader<'a>) -> Result<CertId<'a>, RequestError> {
    let path = "OCSPRequest.tbsRequest.requestList[]";
    let (_, mut r) = list.enter(tag::SEQUENCE, path)?;
    let id = read_cert_id(&mut r)?;
    if let Some(x) = r.optional(tag::context_constructed(0), path)? {
        for_each_extension(&r, &x, path, |_, _, _| Ok(()))?;
    }
    r.finish(path)?;
    Ok(id)
}

fn read_cert_id<'a>(r: &mut Reader<'a>) -> Result<CertId<'a>, RequestError> {
    let (whole, mut c) = r.enter(tag::SEQUENCE, CERT_ID)?;
    let (_, mut alg) = c.enter(
        tag::SEQUENCE,
        "OCSPRequest.tbsRequest.requestList[].reqCert.hashAlgorithm",
    )?;
    let oid_at = alg.offset();
    let oid = alg.read_oid(CERT_ID)?;
    let hash = if oid == OID_SHA1 {
        HashAlg::Sha1
    } else if oid == OID_SHA256 {
        HashAlg::Sha256
    } else {
        let dotted = crate::der::oid::decode_oid(oid).unwrap_or_default();
        return Err(RequestError::UnsupportedHash { oid: dotted });
    };
    // Parameters: NULL or absent (RFC 5754 §2), nothing else.
    if !alg.is_empty() && alg.peek_tag() != Some(tag::NULL) {
        return Err(invalid(
            "hashAlgorithm parameters other than NULL",
            oid_at,
            CERT_ID,
        ));
    }
    if !alg.is_empty() {
        alg.read_null(CERT_ID)?;
    }
    alg.finish(CERT_ID)?;
    let name_hash = c.expect(tag::OCTET_STRING, CERT_ID)?;
    let key_hash = c.expect(tag::OCTET_STRING, CERT_ID)?;
    for h in [&name_hash, &key_hash] {
        if h.value.len() != hash.output_len() {
            return Err(invalid(
                "issuerNameHash/issuerKeyHash length differs from the hash output",
                h.offset,
                CERT_ID,
            ));
        }
    }
    let serial_at = c.offset();
    let serial = c.read_integer_bytes(CERT_ID)?;
    if serial[0] & 0x80 != 0 {
        return Err(invalid("negative serialNumber", serial_at, CERT_ID));
    }
    if serial.len() > 20 {
        return Err(invalid(
            "serialNumber longer than 20 octets (RFC 5280 §4.1.2.2)",
            serial_at,
            CERT_ID,
        ));
    }
    if serial == [0] {
        return Err(invalid(
            "serialNumber zero (RFC 5280 §4.1.2.2)",
            serial_at,
            CERT_ID,
        ));
    }
    c.finish(CERT_ID)?;
    let serial = if serial[0] == 0 { &serial[1..] } else { serial };
    Ok(CertId {
        hash,
        issuer_name_hash: name_hash.value,
        issuer_key_hash: key_hash.value,
        serial,
        raw: whole.raw,
    })
}

/// Walk `[n] EXPLICIT Extensions` (RFC 5280 §4.1): one SEQUENCE of at least one
/// Extension, no OID twice; `f(oid, critical, extnValue)` sees each one.
fn for_each_extension<'a>(
    parent: &Reader<'a>,
    wrapper: &Tlv<'a>,
    path: &str,
    mut f: impl FnMut(&'a [u8], bool, Tlv<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let mut outer = parent.nested(wrapper)?;
    let (_, mut exts) = outer.enter(tag::SEQUENCE, path)?;
    outer.finish(path)?;
    if exts.is_empty() {
        return Err(invalid("empty Extensions", wrapper.offset, path));
    }
    // Few extensions in practice; a request's size is capped by the responder, and
    // the OID list is bounded by it, so the quadratic duplicate check stays small.
    let mut seen: Vec<&[u8]> = Vec::new();
    while !exts.is_empty() {
        let (_, mut e) = exts.enter(tag::SEQUENCE, path)?;
        let oid_at = e.offset();
        let oid = e.read_oid(path)?;
        let crit_at = e.offset();
        let critical = if e.peek_tag() == Some(tag::BOOLEAN) {
            if !e.read_bool(path)? {
                return Err(invalid(
                    "critical FALSE encoded (DER omits a DEFAULT)",
                    crit_at,
                    path,
                ));
            }
            true
        } else {
            false
        };
        let value = e.expect(tag::OCTET_STRING, path)?;
        e.finish(path)?;
        if seen.contains(&oid) {
            return Err(invalid(
                "the same extension twice (RFC 5280 §4.2)",
                oid_at,
                path,
            ));
        }
        if seen.len() >= 64 {
            return Err(invalid("more than 64 extensions", oid_at, path));
        }
        seen.push(oid);
        f(oid, critical, value)?;
    }
    Ok(())
}

/// requestExtensions: the nonce is read, unknown non-critical ones skipped, unknown
/// critical ones refused (RFC 6960 §4.4).
fn read_request_extensions<'a>(
    tbs: &Reader<'a>,
    wrapper: &Tlv<'a>,
) -> Result<Option<&'a [u8]>, RequestError> {
    let path = "OCSPRequest.tbsRequest.requestExtensions";
    let mut nonce = None;
    for_each_extension(tbs, wrapper, path, |oid, critical, value| {
        if oid == OID_NONCE {
            // extnValue holds `Nonce ::= OCTET STRING` (RFC 8954 §2.1).
            let mut r = Reader::with_base(value.value, value.value_offset());
            let inner = r.expect(tag::OCTET_STRING, path)?;
            r.finish(path)?;
            let len = inner.value.len();
            if !(NONCE_MIN..=NONCE_MAX).contains(&len) {
                return Err(RequestError::NonceLength { len });
            }
            nonce = Some(inner.value);
        } else if critical {
            return Err(invalid(
                "unknown critical request extension",
                value.offset,
                path,
            ));
        }
        Ok(())
    })?;
    Ok(nonce)
}

/// Encode an OCSPRequest: the test oracle for the parser (proptest round trip, the
/// fuzz seeds, the responder's tests and benchmark). It writes what it is given,
/// so tests can also make requests the parser must refuse.
pub mod encode {
    use crate::der::tag;
    use crate::der::writer::{constructed, tlv};

    use super::{HashAlg, OID_NONCE};

    /// One CertID to encode; `serial` is a magnitude (a 0x00 is prepended when needed).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CertIdSpec {
        pub hash: HashAlg,
        /// Encode the NULL parameters (RFC 5754 §2 allows both forms).
        pub null_params: bool,
        pub issuer_name_hash: Vec<u8>,
        pub issuer_key_hash: Vec<u8>,
        pub serial: Vec<u8>,
    }

    /// The CertID TLV.
    pub fn cert_id(c: &CertIdSpec) -> Vec<u8> {
        let oid = tlv(tag::OID, c.hash.oid());
        let alg = if c.null_params {
            constructed(tag::SEQUENCE, &[&oid, &[0x05, 0x00]])
        } else {
            constructed(tag::SEQUENCE, &[&oid])
        };
        let mut serial = c.serial.clone();
        if serial.first().is_none_or(|b| b & 0x80 != 0) {
            serial.insert(0, 0);
        }
        constructed(
            tag::SEQUENCE,
            &[
                &alg,
                &tlv(tag::OCTET_STRING, &c.issuer_name_hash),
                &tlv(tag::OCTET_STRING, &c.issuer_key_hash),
                &tlv(tag::INTEGER, &serial),
            ],
        )
    }

    /// The whole OCSPRequest: unsigned, no requestorName, an optional nonce.
    pub fn request(ids: &[CertIdSpec], nonce: Option<&[u8]>) -> Vec<u8> {
        let reqs: Vec<Vec<u8>> = ids
            .iter()
            .map(|c| constructed(tag::SEQUENCE, &[&cert_id(c)]))
            .collect();
        let refs: Vec<&[u8]> = reqs.iter().map(Vec::as_slice).collect();
        let list = constructed(tag::SEQUENCE, &refs);
        let mut tbs_parts = vec![list];
        if let Some(n) = nonce {
            let ext = constructed(
                tag::SEQUENCE,
                &[
                    &tlv(tag::OID, OID_NONCE),
                    &tlv(tag::OCTET_STRING, &tlv(tag::OCTET_STRING, n)),
                ],
            );
            let exts = constructed(tag::SEQUENCE, &[&ext]);
            tbs_parts.push(constructed(tag::context_constructed(2), &[&exts]));
        }
        let refs: Vec<&[u8]> = tbs_parts.iter().map(Vec::as_slice).collect();
        let tbs = constructed(tag::SEQUENCE, &refs);
        constructed(tag::SEQUENCE, &[&tbs])
    }
}

/// The property the `ocsp_request` fuzz target and its stable twin check on any bytes:
/// no panic; a request that parses has 1..=limit CertIDs whose fields lie in the
/// input, hashes of the algorithm's length, a positive minimal serial of at most 20
/// octets and a nonce of 1..32 octets; and each CertID re-encodes (with or without
/// the NULL parameters) to exactly its own bytes, since DER has one encoding. Returns
/// whether the input parsed.
pub fn assert_ocsp_request_invariants(data: &[u8]) -> bool {
    let limits = Limits { max_cert_ids: 64 };
    let Ok(r) = parse_request(data, limits) else {
        return false;
    };
    let inside = |part: &[u8]| {
        let (w, p) = (data.as_ptr() as usize, part.as_ptr() as usize);
        p >= w && p + part.len() <= w + data.len()
    };
    assert!((1..=limits.max_cert_ids).contains(&r.cert_ids.len()));
    for c in &r.cert_ids {
        assert!(inside(c.raw) && inside(c.serial) && inside(c.issuer_name_hash));
        assert_eq!(c.issuer_name_hash.len(), c.hash.output_len());
        assert_eq!(c.issuer_key_hash.len(), c.hash.output_len());
        assert!(!c.serial.is_empty() && c.serial.len() <= 20 && c.serial[0] != 0);
        let again = |null_params| {
            encode::cert_id(&encode::CertIdSpec {
                hash: c.hash,
                null_params,
                issuer_name_hash: c.issuer_name_hash.to_vec(),
                issuer_key_hash: c.issuer_key_hash.to_vec(),
                serial: c.serial.to_vec(),
            })
        };
        assert!(
            again(true) == c.raw || again(false) == c.raw,
            "CertID re-encoding"
        );
    }
    if let Some(n) = r.nonce {
        assert!(inside(n) && (NONCE_MIN..=NONCE_MAX).contains(&n.len()));
    }
    true
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
