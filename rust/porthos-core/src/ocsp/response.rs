//! OCSP responses from a compiled template (RFC 6960 §4.2.1, RFC 5019 §2.2).
//!
//! ```text
//! OCSPResponse ::= SEQUENCE {
//!   responseStatus ENUMERATED successful(0)                      -- fixed
//!   responseBytes [0] EXPLICIT SEQUENCE {
//!     responseType id-pkix-ocsp-basic                           -- fixed
//!     response OCTET STRING (BasicOCSPResponse) } }
//! BasicOCSPResponse ::= SEQUENCE {
//!   tbsResponseData ResponseData, signatureAlgorithm,           -- fixed alg id
//!   signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate } -- fixed certs
//! ResponseData ::= SEQUENCE {                                    -- version v1 omitted
//!   responderID [2] EXPLICIT KeyHash                             -- fixed (byKey)
//!   producedAt GeneralizedTime                                   -- hole
//!   responses SEQUENCE OF SingleResponse (exactly one, RFC 5019 §2.2.1)
//!   responseExtensions [1] EXPLICIT Extensions OPTIONAL }        -- nonce hole
//! SingleResponse ::= SEQUENCE {
//!   certID SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash -- fixed run
//!                     serialNumber }                             -- hole
//!   certStatus good [0] | revoked [1] { time, [0] reason } | unknown [2] -- hole
//!   thisUpdate GeneralizedTime, nextUpdate [0] EXPLICIT GeneralizedTime } -- holes
//! ```
//! Every length is computed before its header is written, so each response is one
//! exact-size run of appends; nothing fixed is re-encoded per item.

use aws_lc_rs::digest;
use rayon::prelude::*;

use crate::der::{tag, writer};
use crate::error::DerError;
use crate::sign::{SigAlg, SignError, Signer};
use crate::template::key_identifier;
use crate::x509::cert::parse_certificate;
use crate::x509::spki::parse_spki;
use crate::x509::time::{civil_from_unix, MAX_TIME, MIN_TIME};

/// id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1 (RFC 6960 §4.2.1).
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 (RFC 6960 §4.4.1, RFC 8954).
const OID_OCSP_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// Status codes of the per-item column.
pub const STATUS_GOOD: u8 = 0;
pub const STATUS_REVOKED: u8 = 1;
pub const STATUS_UNKNOWN: u8 = 2;
/// "No reasonCode" in the reasons column (as in the CRL columns).
pub const REASON_NONE: u8 = 255;
/// RFC 8954 §2.1: a nonce is 1 to 32 octets.
pub const MAX_NONCE: usize = 32;
/// GeneralizedTime TLV: YYYYMMDDHHMMSSZ (RFC 6960 §4.2.2.1 / RFC 5280 §4.1.2.5.2).
const GT_LEN: usize = 17;

/// The hash of a CertID (RFC 6960 §4.1.1); RFC 5019 §2.1.1 asks for SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertIdHash {
    Sha1,
    Sha256,
}

impl CertIdHash {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(CertIdHash::Sha1),
            "sha256" => Some(CertIdHash::Sha256),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CertIdHash::Sha1 => "sha1",
            CertIdHash::Sha256 => "sha256",
        }
    }
    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            // SHA-1 names the issuer here; it is an identifier, not a signature hash.
            CertIdHash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            CertIdHash::Sha256 => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
    /// AlgorithmIdentifier with NULL parameters, as OpenSSL and pyca write it.
    fn algorithm_identifier(self) -> Vec<u8> {
        let oid = match self {
            CertIdHash::Sha1 => OID_SHA1,
            CertIdHash::Sha256 => OID_SHA256,
        };
        writer::constructed(
            tag::SEQUENCE,
            &[&writer::tlv(tag::OID, oid), &[tag::NULL, 0]],
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspError {
    /// A malformed argument (names the argument and, for columns, the row).
    Argument(String),
    /// A certificate given to the template does not parse.
    Decode(DerError),
    Sign(SignError),
}

impl std::fmt::Display for OcspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OcspError::Argument(m) => write!(f, "{m}"),
            OcspError::Decode(e) => write!(f, "{e}"),
            OcspError::Sign(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OcspError {}

fn arg(m: impl Into<String>) -> OcspError {
    OcspError::Argument(m.into())
}

/// The per-item columns of a batch: serial magnitudes as an N x `width` matrix
/// (right-aligned, leading zero octets ignored), status, revocation time, reason.
#[derive(Debug, Clone, Copy)]
pub struct Items<'a> {
    pub serials: &'a [u8],
    pub width: usize,
    pub status: &'a [u8],
    pub revocation_times: &'a [i64],
    pub reasons: &'a [u8],
}

impl Items<'_> {
    pub fn len(&self) -> usize {
        self.status.len()
    }
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }
    fn serial(&self, i: usize) -> &[u8] {
        let row = &self.serials[i * self.width..(i + 1) * self.width];
        let s = row.iter().position(|&b| b != 0).unwrap_or(row.len());
        &row[s..]
    }
    fn check_shape(&self) -> Result<(), OcspError> {
        let n = self.len();
        if self.width == 0 || self.serials.len() != n * self.width {
            return Err(arg(format!(
                "serials: {} octets is not {n} rows of a positive width",
                self.serials.len()
            )));
        }
        if self.revocation_times.len() != n || self.reasons.len() != n {
            return Err(arg(format!(
                "status: {n} rows, revocation_times: {}, reasons: {}",
                self.revocation_times.len(),
                self.reasons.len()
            )));
        }
        Ok(())
    }
}

/// Times shared by a batch (one producedAt per signing run, RFC 6960 §4.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub produced_at: i64,
}

/// A compiled BasicOCSPResponse for one responder, one issuer and one CertID hash.
#[derive(Debug, Clone)]
pub struct ResponseTemplate {
    alg: SigAlg,
    alg_id: Vec<u8>,
    hash: CertIdHash,
    /// responderID byKey: [2] EXPLICIT OCTET STRING (SHA-1 of the responder key).
    responder_id: Vec<u8>,
    /// hashAlgorithm, issuerNameHash, issuerKeyHash TLVs (the fixed start of CertID).
    certid_prefix: Vec<u8>,
    /// certs [0] EXPLICIT SEQUENCE OF Certificate with the responder certificate.
    certs: Vec<u8>,
    responder_spki: Vec<u8>,
    issuer_name_hash: Vec<u8>,
    issuer_key_hash: Vec<u8>,
    responder_key_hash: [u8; 20],
}

fn push_generalized(out: &mut Vec<u8>, t: i64) {
    let (y, mo, d, h, mi, s) = civil_from_unix(t);
    out.extend_from_slice(&[tag::GENERALIZED_TIME, 15]);
    let y = y as u32;
    for v in [y / 100, y % 100, mo, d, h, mi, s] {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    }
    out.push(b'Z');
}

fn check_time(t: i64, name: &str) -> Result<(), OcspError> {
    // GeneralizedTime here has four year digits: years 1..9999.
    if (MIN_TIME..=MAX_TIME).contains(&t) {
        Ok(())
    } else {
        Err(arg(format!("{name}: {t} is outside years 1..9999")))
    }
}

fn check_reason(r: u8) -> bool {
    // CRLReason (RFC 5280 §5.3.1): 7 is unused, removeFromCRL(8) only marks a delta
    // CRL entry and means nothing in an OCSP status.
    r == REASON_NONE || (r <= 10 && r != 7 && r != 8)
}

impl ResponseTemplate {
    /// Compile for `responder_cert` (its key signs; it goes into `certs`) answering
    /// for certificates of `issuer_cert`. The responder may be the issuer itself or a
    /// certificate the issuer issued (RFC 6960 §4.2.2.2); nothing else is accepted.
    pub fn new(
        responder_cert: &[u8],
        issuer_cert: &[u8],
        alg: SigAlg,
        hash: CertIdHash,
    ) -> Result<Self, OcspError> {
        let issuer = parse_certificate(issuer_cert)
            .map_err(|e| OcspError::Decode(e.within("issuer_cert")))?;
        let responder = parse_certificate(responder_cert)
            .map_err(|e| OcspError::Decode(e.within("responder_cert")))?;
        if responder.issuer_der != issuer.subject_der && responder_cert != issuer_cert {
            return Err(arg(
                "responder_cert: not issued by issuer_cert (RFC 6960 §4.2.2.2 delegation)",
            ));
        }
        let issuer_key = parse_spki(issuer.spki.der).map_err(OcspError::Decode)?;
        let issuer_name_hash = hash.digest(issuer.subject_der);
        let issuer_key_hash = hash.digest(issuer_key.subject_public_key);
        let certid_prefix = [
            hash.algorithm_identifier(),
            writer::tlv(tag::OCTET_STRING, &issuer_name_hash),
            writer::tlv(tag::OCTET_STRING, &issuer_key_hash),
        ]
        .concat();
        let responder_key_hash = key_identifier(responder.spki.der).map_err(OcspError::Decode)?;
        let responder_id = writer::tlv(
            tag::context_constructed(2),
            &writer::tlv(tag::OCTET_STRING, &responder_key_hash),
        );
        let certs = writer::tlv(
            tag::context_constructed(0),
            &writer::tlv(tag::SEQUENCE, responder_cert),
        );
        Ok(ResponseTemplate {
            alg,
            alg_id: alg.algorithm_identifier(),
            hash,
            responder_id,
            certid_prefix,
            certs,
            responder_spki: responder.spki.der.to_vec(),
            issuer_name_hash,
            issuer_key_hash,
            responder_key_hash,
        })
    }

    pub fn algorithm(&self) -> SigAlg {
        self.alg
    }
    pub fn cert_id_hash(&self) -> CertIdHash {
        self.hash
    }
    pub fn issuer_name_hash(&self) -> &[u8] {
        &self.issuer_name_hash
    }
    pub fn issuer_key_hash(&self) -> &[u8] {
        &self.issuer_key_hash
    }
    pub fn responder_key_hash(&self) -> &[u8] {
        &self.responder_key_hash
    }
    /// SubjectPublicKeyInfo of the responder certificate: the signer's key must match.
    pub fn responder_spki(&self) -> &[u8] {
        &self.responder_spki
    }

    /// Check everything a batch carries before any signing starts, so a bad row fails
    /// the whole call with its index and nothing half-signed comes back.
    pub fn validate(
        &self,
        items: &Items<'_>,
        times: &Times,
        nonce: Option<&[u8]>,
    ) -> Result<(), OcspError> {
        items.check_shape()?;
        check_time(times.this_update, "this_update")?;
        check_time(times.produced_at, "produced_at")?;
        if let Some(nu) = times.next_update {
            check_time(nu, "next_update")?;
            if nu < times.this_update {
                return Err(arg("next_update: before this_update (RFC 5019 §4)"));
            }
        }
        if let Some(n) = nonce {
            if n.is_empty() || n.len() > MAX_NONCE {
                return Err(arg(format!(
                    "nonce: {} octets; RFC 8954 §2.1 allows 1 to {MAX_NONCE}",
                    n.len()
                )));
            }
        }
        for i in 0..items.len() {
            let s = items.serial(i);
            if s.is_empty() || s.len() > 20 || (s.len() == 20 && s[0] & 0x80 != 0) {
                return Err(arg(format!(
                    "serials: row {i} is zero or longer than 20 octets (RFC 5280 §4.1.2.2)"
                )));
            }
            match items.status[i] {
                STATUS_GOOD | STATUS_UNKNOWN => {}
                STATUS_REVOKED => {
                    check_time(items.revocation_times[i], "revocation_times")
                        .map_err(|e| arg(format!("row {i}: {e}")))?;
                    if !check_reason(items.reasons[i]) {
                        return Err(arg(format!(
                            "reasons: row {i}: {} is not a CRLReason for OCSP (RFC 5280 §5.3.1)",
                            items.reasons[i]
                        )));
                    }
                }
                other => {
                    return Err(arg(format!(
                        "status: row {i}: {other}; expected 0 good, 1 revoked, 2 unknown"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Append tbsResponseData of item `i` (validated) to `out`.
    pub fn write_tbs(
        &self,
        items: &Items<'_>,
        i: usize,
        times: &Times,
        nonce: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        let serial = items.serial(i);
        let serial_content = serial.len() + usize::from(serial[0] & 0x80 != 0);
        let certid_len = self.certid_prefix.len() + writer::tlv_len(serial_content);
        let status = items.status[i];
        let reason = items.reasons[i];
        let revoked_len = GT_LEN + if reason == REASON_NONE { 0 } else { 5 };
        let status_len = match status {
            STATUS_REVOKED => writer::tlv_len(revoked_len),
            _ => 2,
        };
        let next_len = times.next_update.map_or(0, |_| 2 + GT_LEN);
        let single_len = writer::tlv_len(certid_len) + status_len + GT_LEN + next_len;
        let responses_len = writer::tlv_len(single_len);
        // responseExtensions [1] { SEQUENCE { Extension { nonce OID, OCTET STRING {
        // OCTET STRING nonce } } } } (RFC 8954 §2.1: the value is a DER Nonce).
        let ext_len = nonce.map(|n| {
            let value = writer::tlv_len(writer::tlv_len(n.len()));
            let ext = writer::tlv_len(OID_OCSP_NONCE.len()) + value;
            writer::tlv_len(writer::tlv_len(ext))
        });
        let tbs_len = self.responder_id.len()
            + GT_LEN
            + writer::tlv_len(responses_len)
            + ext_len.map_or(0, writer::tlv_len);
        out.reserve(writer::tlv_len(tbs_len));
        writer::write_header(out, tag::SEQUENCE, tbs_len);
        out.extend_from_slice(&self.responder_id);
        push_generalized(out, times.produced_at);
        writer::write_header(out, tag::SEQUENCE, responses_len);
        writer::write_header(out, tag::SEQUENCE, single_len);
        writer::write_header(out, tag::SEQUENCE, certid_len);
        out.extend_from_slice(&self.certid_prefix);
        writer::write_header(out, tag::INTEGER, serial_content);
        if serial_content > serial.len() {
            out.push(0);
        }
        out.extend_from_slice(serial);
        match status {
            STATUS_GOOD => out.extend_from_slice(&[tag::context_primitive(0), 0]),
            STATUS_REVOKED => {
                writer::write_header(out, tag::context_constructed(1), revoked_len);
                push_generalized(out, items.revocation_times[i]);
                if reason != REASON_NONE {
                    // revocationReason [0] EXPLICIT CRLReason (ENUMERATED).
                    out.extend_from_slice(&[tag::context_constructed(0), 3, 0x0a, 1, reason]);
                }
            }
            _ => out.extend_from_slice(&[tag::context_primitive(2), 0]),
        }
        push_generalized(out, times.this_update);
        if let Some(nu) = times.next_update {
            out.extend_from_slice(&[tag::context_constructed(0), GT_LEN as u8]);
            push_generalized(out, nu);
        }
        if let (Some(n), Some(len)) = (nonce, ext_len) {
            writer::write_header(out, tag::context_constructed(1), len);
            let ext =
                writer::tlv_len(OID_OCSP_NONCE.len()) + writer::tlv_len(writer::tlv_len(n.len()));
            writer::write_header(out, tag::SEQUENCE, writer::tlv_len(ext));
            writer::write_header(out, tag::SEQUENCE, ext);
            writer::push_tlv(out, tag::OID, OID_OCSP_NONCE);
            writer::write_header(out, tag::OCTET_STRING, writer::tlv_len(n.len()));
            writer::push_tlv(out, tag::OCTET_STRING, n);
        }
    }

    /// OCSPResponse around a signed tbsResponseData.
    pub fn assemble(&self, tbs: &[u8], signature: &[u8], out: &mut Vec<u8>) {
        let basic_len =
            tbs.len() + self.alg_id.len() + writer::tlv_len(signature.len() + 1) + self.certs.len();
        let octet_len = writer::tlv_len(basic_len);
        let bytes_seq = writer::tlv_len(OID_OCSP_BASIC.len()) + writer::tlv_len(octet_len);
        let explicit = writer::tlv_len(bytes_seq);
        let outer = 3 + writer::tlv_len(explicit);
        out.reserve(writer::tlv_len(outer));
        writer::write_header(out, tag::SEQUENCE, outer);
        out.extend_from_slice(&[0x0a, 1, 0]); // responseStatus successful(0)
        writer::write_header(out, tag::context_constructed(0), explicit);
        writer::write_header(out, tag::SEQUENCE, bytes_seq);
        writer::push_tlv(out, tag::OID, OID_OCSP_BASIC);
        writer::write_header(out, tag::OCTET_STRING, octet_len);
        writer::write_header(out, tag::SEQUENCE, basic_len);
        out.extend_from_slice(tbs);
        out.extend_from_slice(&self.alg_id);
        writer::write_header(out, tag::BIT_STRING, signature.len() + 1);
        out.push(0);
        out.extend_from_slice(signature);
        out.extend_from_slice(&self.certs);
    }

    /// tbsResponseData of every item: one buffer plus N + 1 offsets (the HSM path
    /// hashes these and hands the signatures to [`Self::assemble_batch`]).
    pub fn fill_batch(
        &self,
        items: &Items<'_>,
        times: &Times,
        nonce: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Vec<u64>), OcspError> {
        self.validate(items, times, nonce)?;
        let n = items.len();
        let mut data = Vec::with_capacity(n * 160);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for i in 0..n {
            self.write_tbs(items, i, times, nonce, &mut data);
            offsets.push(data.len() as u64);
        }
        Ok((data, offsets))
    }

    /// OCSPResponses from filled tbsResponseData and one signature per item.
    pub fn assemble_batch(
        &self,
        tbs: &[u8],
        offsets: &[u64],
        signatures: &[&[u8]],
    ) -> (Vec<u8>, Vec<u64>) {
        let mut out = Vec::with_capacity(tbs.len() + signatures.len() * (self.certs.len() + 128));
        let mut out_offsets = Vec::with_capacity(signatures.len() + 1);
        out_offsets.push(0);
        for (w, s) in offsets.windows(2).zip(signatures) {
            self.assemble(&tbs[w[0] as usize..w[1] as usize], s, &mut out);
            out_offsets.push(out.len() as u64);
        }
        (out, out_offsets)
    }

    /// Fill, sign and assemble every item, in parallel over the current rayon pool
    /// (chunks of [`CHUNK`] items, each written into its own buffer, then joined).
    pub fn sign_batch(
        &self,
        items: &Items<'_>,
        times: &Times,
        nonce: Option<&[u8]>,
        signer: &dyn Signer,
    ) -> Result<(Vec<u8>, Vec<u64>), OcspError> {
        if signer.algorithm() != self.alg {
            return Err(arg(format!(
                "key signs {}, the template was compiled for {}",
                signer.algorithm().name(),
                self.alg.name()
            )));
        }
        if signer.public_key_der() != self.responder_spki {
            return Err(arg(
                "key: not the key of the responder certificate (RFC 6960 §4.2.2.2)",
            ));
        }
        self.validate(items, times, nonce)?;
        let n = items.len();
        let chunks: Vec<(Vec<u8>, Vec<usize>)> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                self.sign_range(
                    items,
                    c * CHUNK..((c + 1) * CHUNK).min(n),
                    times,
                    nonce,
                    signer,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(join(chunks, n))
    }

    /// One thread's share of [`Self::sign_batch`], also the single-thread path.
    pub fn sign_range(
        &self,
        items: &Items<'_>,
        range: std::ops::Range<usize>,
        times: &Times,
        nonce: Option<&[u8]>,
        signer: &dyn Signer,
    ) -> Result<(Vec<u8>, Vec<usize>), OcspError> {
        let mut tbs = Vec::with_capacity(256);
        let mut out = Vec::with_capacity(range.len() * (self.certs.len() + 300));
        let mut ends = Vec::with_capacity(range.len());
        for i in range {
            tbs.clear();
            self.write_tbs(items, i, times, nonce, &mut tbs);
            let sig = signer.sign(&tbs).map_err(OcspError::Sign)?;
            self.assemble(&tbs, &sig, &mut out);
            ends.push(out.len());
        }
        Ok((out, ends))
    }
}

/// Items per parallel task: large enough that joining costs nothing, small enough
/// that two cores share a batch of a few thousand evenly.
pub const CHUNK: usize = 64;

fn join(chunks: Vec<(Vec<u8>, Vec<usize>)>, n: usize) -> (Vec<u8>, Vec<u64>) {
    let total: usize = chunks.iter().map(|(b, _)| b.len()).sum();
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0u64);
    for (buf, ends) in chunks {
        let base = data.len() as u64;
        offsets.extend(ends.iter().map(|&e| base + e as u64));
        data.extend_from_slice(&buf);
    }
    (data, offsets)
}
