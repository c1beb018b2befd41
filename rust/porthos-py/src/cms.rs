//! verify_signed_data: one CMS SignedData (RFC 5652) in, what the RA needs out:
//! the content, the certificates, which of them signed and whether the signature is
//! good. Trust decisions (chains, allowlists, re-key windows) stay in porthos/ra.py.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::cms::{verify_signed_data as core_verify, CmsStatus, Digest, SignerId};
use porthos_core::der::oid::decode_oid;

use crate::error::NativeError;

/// The outcome of verify_signed_data: the status of the one signer, and the parts
/// of the SignedData, copied out of the input.
#[pyclass(frozen, module = "porthos._native", get_all)]
pub struct SignedDataInfo {
    /// porthos.status.CmsStatus value (0 = OK).
    pub status: u8,
    /// The status name, e.g. "BAD_SIGNATURE".
    pub status_name: &'static str,
    /// "" when OK; otherwise what failed (RFC 5652 section named).
    pub detail: String,
    /// eContentType in dotted form (1.2.840.113549.1.7.1 = id-data).
    pub content_type: String,
    /// The eContent octets; None for a detached signature.
    pub content: Option<Py<PyBytes>>,
    /// Every carried certificate (CertificateSet `certificate` choice), DER, in order.
    pub certificates: Vec<Py<PyBytes>>,
    /// Index of the signer certificate in certificates + extra_certificates, or None.
    pub signer_index: Option<usize>,
    /// The signer certificate's DER, or None when none matched the sid.
    pub signer_certificate: Option<Py<PyBytes>>,
    /// The signer's SubjectPublicKeyInfo DER, or None.
    pub signer_spki: Option<Py<PyBytes>>,
    /// sid issuerAndSerialNumber: the issuer Name DER and the serial as lower-case hex
    /// of the INTEGER content octets; None for a subjectKeyIdentifier sid.
    pub sid_issuer: Option<Py<PyBytes>>,
    pub sid_serial_hex: Option<String>,
    /// sid subjectKeyIdentifier octets; None for an issuerAndSerialNumber sid.
    pub sid_key_id: Option<Py<PyBytes>>,
    /// "sha256" / "sha384" / "sha512" / "" (unknown).
    pub digest_algorithm: &'static str,
    /// e.g. "ecdsa-sha256", "rsa-pkcs1-sha256"; "" when unknown.
    pub signature_algorithm: &'static str,
    /// Number of SignerInfos (an RA request has exactly one).
    pub signer_count: usize,
}

#[pymethods]
impl SignedDataInfo {
    /// True when the one signer's signature verifies.
    #[getter]
    fn ok(&self) -> bool {
        self.status == CmsStatus::Ok as u8
    }
    fn __repr__(&self) -> String {
        format!(
            "SignedDataInfo(status={}, signer_index={:?}, certificates={})",
            self.status_name,
            self.signer_index,
            self.certificates.len()
        )
    }
}

fn bytes(py: Python<'_>, b: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, b).unbind()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parse and verify one DER ContentInfo/SignedData. `extra_certificates`: DER
/// certificates the caller already holds (e.g. a subscriber's current certificate
/// for a re-key), searched after the carried ones. Malformed DER raises
/// DerDecodeError with `.offset` and `.path`; every other failure is a status.
#[pyfunction]
#[pyo3(signature = (der, extra_certificates = Vec::new()))]
pub fn verify_signed_data(
    py: Python<'_>,
    der: &[u8],
    extra_certificates: Vec<Vec<u8>>,
) -> PyResult<SignedDataInfo> {
    let extra: Vec<&[u8]> = extra_certificates.iter().map(|c| c.as_slice()).collect();
    let v = py
        .detach(|| core_verify(der, &extra))
        .map_err(NativeError::Decode)?;
    let sd = &v.signed;
    let n = sd.certificates.len();
    let signer = v.signer_index.map(|i| {
        if i < n {
            (sd.certificates[i].der, sd.certificates[i].spki.der)
        } else {
            (
                extra[i - n],
                porthos_core::x509::cert::parse_certificate(extra[i - n])
                    .map(|c| c.spki.der)
                    .unwrap_or_default(),
            )
        }
    });
    let si = sd.signer_infos.first();
    let (sid_issuer, sid_serial_hex, sid_key_id) = match si.map(|s| s.sid) {
        Some(SignerId::IssuerSerial { issuer, serial }) => {
            (Some(bytes(py, issuer)), Some(hex(serial)), None)
        }
        Some(SignerId::KeyId(id)) => (None, None, Some(bytes(py, id))),
        None => (None, None, None),
    };
    Ok(SignedDataInfo {
        status: v.status as u8,
        status_name: v.status.name(),
        detail: v.detail.clone(),
        content_type: decode_oid(sd.content_type).unwrap_or_default(),
        content: sd.content.map(|c| bytes(py, c)),
        certificates: sd.certificates.iter().map(|c| bytes(py, c.der)).collect(),
        signer_index: v.signer_index,
        signer_certificate: signer.map(|(c, _)| bytes(py, c)),
        signer_spki: signer.map(|(_, k)| bytes(py, k)),
        sid_issuer,
        sid_serial_hex,
        sid_key_id,
        digest_algorithm: match si.map(|s| s.digest_algorithm) {
            Some(Digest::Sha256) => "sha256",
            Some(Digest::Sha384) => "sha384",
            Some(Digest::Sha512) => "sha512",
            _ => "",
        },
        signature_algorithm: si.map_or("", |s| s.signature_algorithm.name()),
        signer_count: sd.signer_infos.len(),
    })
}

/// A certs-only SignedData (RFC 5652 §5, no signer): the `.p7c` bundle an AIA
/// caIssuers URL may name (RFC 5280 §4.2.2.1). Certificates DER, any order; they are
/// written sorted (DER SET OF) and once each. A non-certificate raises DerDecodeError
/// naming its index.
#[pyfunction]
pub fn cms_certs_only(py: Python<'_>, certificates: Vec<Vec<u8>>) -> PyResult<Py<PyBytes>> {
    let certs: Vec<&[u8]> = certificates.iter().map(|c| c.as_slice()).collect();
    let der = porthos_core::cms::cms_certs_only(&certs).map_err(NativeError::Decode)?;
    Ok(bytes(py, &der))
}
