//! The OCSP request parser and the responder (issue 17) for Python:
//! `parse_ocsp_request` for tests and tooling, `ocsp_serve` for `porthos ocsp serve`.
//! The responder runs in porthos-ocspd with the GIL released; Python is entered only
//! for the `ready` callback and the on-demand signer, from tokio's blocking pool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use porthos_core::ocsp::request::{parse_request, Limits, RequestError};
use porthos_ocspd::{OnDemandSigner, ServeConfig, SignJob};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::NativeError;

pyo3::import_exception!(porthos.exceptions, OcspRequestError);
pyo3::import_exception!(porthos.exceptions, WorkspaceError);

/// One CertID of a parsed OCSP request (RFC 6960 §4.1.1).
#[pyclass(frozen, module = "porthos._native", get_all)]
pub struct OcspCertId {
    /// "sha1" or "sha256".
    pub hash: &'static str,
    pub issuer_name_hash: Py<PyBytes>,
    pub issuer_key_hash: Py<PyBytes>,
    /// The serial's magnitude as lower-case hex, no leading zeros.
    pub serial_hex: String,
}

/// A parsed OCSPRequest.
#[pyclass(frozen, module = "porthos._native", get_all)]
pub struct OcspRequestInfo {
    pub cert_ids: Vec<Py<OcspCertId>>,
    /// The nonce octets (RFC 8954), or None.
    pub nonce: Option<Py<PyBytes>>,
    /// requestorName's GeneralName DER, or None.
    pub requestor_name: Option<Py<PyBytes>>,
    /// True when optionalSignature was present (accepted, not verified).
    pub signed: bool,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parse one DER OCSPRequest (strict DER, at most `max_cert_ids` CertIDs).
/// Malformed DER raises DerDecodeError (`.offset`, `.path`); a CertID count past the
/// cap, a nonce outside 1..32 octets or a hash other than SHA-1/SHA-256 raises
/// OcspRequestError with `.reason` "too-many-certids" / "nonce-length" /
/// "unsupported-hash".
#[pyfunction]
#[pyo3(signature = (der, max_cert_ids = 1000))]
pub fn parse_ocsp_request(
    py: Python<'_>,
    der: &[u8],
    max_cert_ids: usize,
) -> PyResult<OcspRequestInfo> {
    if max_cert_ids == 0 {
        return Err(NativeError::Batch("max_cert_ids must be at least 1".into()).into());
    }
    let req = match parse_request(der, Limits { max_cert_ids }) {
        Ok(r) => r,
        Err(RequestError::Decode(d)) => return Err(NativeError::Decode(d).into()),
        Err(e) => return Err(OcspRequestError::new_err((e.to_string(), e.code()))),
    };
    let b = |v: &[u8]| PyBytes::new(py, v).unbind();
    let cert_ids = req
        .cert_ids
        .iter()
        .map(|c| {
            Py::new(
                py,
                OcspCertId {
                    hash: c.hash.name(),
                    issuer_name_hash: b(c.issuer_name_hash),
                    issuer_key_hash: b(c.issuer_key_hash),
                    serial_hex: hex(c.serial),
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(OcspRequestInfo {
        cert_ids,
        nonce: req.nonce.map(b),
        requestor_name: req.requestor_name.map(b),
        signed: req.signed,
    })
}

/// `sign(ca_name, serial, hash, nonce) -> bytes` as an OnDemandSigner.
struct PySigner(Py<PyAny>);

impl OnDemandSigner for PySigner {
    fn sign(&self, job: &SignJob) -> Result<Vec<u8>, String> {
        Python::attach(|py| {
            let nonce = job.nonce.as_deref().map(|n| PyBytes::new(py, n));
            let out = self
                .0
                .call1(
                    py,
                    (
                        job.ca.as_str(),
                        PyBytes::new(py, &job.serial),
                        job.hash.name(),
                        nonce,
                    ),
                )
                .map_err(|e| e.to_string())?;
            let bytes = out
                .bind(py)
                .cast::<PyBytes>()
                .map_err(|_| "the signer did not return bytes".to_string())?;
            Ok(bytes.as_bytes().to_vec())
        })
    }
}

/// Serve `workdir/ocsp/` on `listen` until SIGINT or SIGTERM, with the GIL released.
/// `ready(address)` is called once the socket listens (e.g. "127.0.0.1:39512");
/// `signer(ca_name, serial, hash, nonce) -> bytes` signs on demand (None: those
/// requests get tryLater). A missing or unreadable response folder raises
/// WorkspaceError before anything listens.
#[pyfunction]
#[pyo3(signature = (workdir, listen, signer = None, ready = None, max_body = 16384, threads = 0, max_connections = 20000, reload_interval_ms = 500))]
#[allow(clippy::too_many_arguments)]
pub fn ocsp_serve(
    py: Python<'_>,
    workdir: PathBuf,
    listen: &str,
    signer: Option<Py<PyAny>>,
    ready: Option<Py<PyAny>>,
    max_body: usize,
    threads: usize,
    max_connections: usize,
    reload_interval_ms: u64,
) -> PyResult<()> {
    let listen: SocketAddr = listen.parse().map_err(|_| {
        NativeError::Batch(format!(
            "listen: {listen:?} is not HOST:PORT with an IP address"
        ))
    })?;
    if !(1..=1000).contains(&reload_interval_ms) {
        return Err(NativeError::Batch("reload_interval_ms must be 1..1000".into()).into());
    }
    let cfg = ServeConfig {
        workdir,
        listen,
        max_body: max_body.max(1),
        threads,
        max_connections: max_connections.max(1),
        reload_interval: Duration::from_millis(reload_interval_ms),
        ..ServeConfig::default()
    };
    let signer = signer.map(|s| Arc::new(PySigner(s)) as Arc<dyn OnDemandSigner>);
    let mut ready_err = None;
    let result = py.detach(|| {
        porthos_ocspd::serve(cfg, signer, None, true, |addr| {
            if let Some(cb) = ready {
                ready_err = Python::attach(|py| cb.call1(py, (addr.to_string(),)).err());
            }
        })
    });
    if let Some(e) = ready_err {
        return Err(e);
    }
    result.map_err(WorkspaceError::new_err)
}
