//! OCSP response templates for Python (porthos.issuance.ocsp): one call per batch,
//! columns in as NumPy arrays (the CRL code's shapes), a DerBatch out, the GIL
//! released for the fill, the hashing and the signing.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::ocsp::response::{CertIdHash, Items, OcspError, ResponseTemplate, Times};
use porthos_core::sign::Signer;

use crate::args::{byte_items, check_len};
use crate::batch::DerBatch;
use crate::error::{NativeError, NativeResult};
use crate::keys::{parse_alg, SoftwareKey};
use crate::threads::{pool, run_in};

fn ocsp_err(e: OcspError) -> NativeError {
    match e {
        OcspError::Argument(m) => NativeError::Batch(m),
        OcspError::Decode(d) => NativeError::Decode(d),
        OcspError::Sign(s) => NativeError::Sign(s.to_string()),
    }
}

/// Borrowed per-item columns (the NumPy guards live as long as this).
struct Columns<'py> {
    serials: PyReadonlyArray2<'py, u8>,
    status: PyReadonlyArray1<'py, u8>,
    revocation_times: PyReadonlyArray1<'py, i64>,
    reasons: PyReadonlyArray1<'py, u8>,
}

impl<'py> Columns<'py> {
    fn extract(
        serials: &Bound<'py, PyAny>,
        status: &Bound<'py, PyAny>,
        revocation_times: &Bound<'py, PyAny>,
        reasons: &Bound<'py, PyAny>,
    ) -> NativeResult<Self> {
        let bad = |name: &str, want: &str| NativeError::Batch(format!("{name}: expected {want}"));
        Ok(Columns {
            serials: serials
                .extract()
                .map_err(|_| bad("serials", "an N x W uint8 array"))?,
            status: status
                .extract()
                .map_err(|_| bad("status", "a uint8 array"))?,
            revocation_times: revocation_times
                .extract()
                .map_err(|_| bad("revocation_times", "an int64 array"))?,
            reasons: reasons
                .extract()
                .map_err(|_| bad("reasons", "a uint8 array"))?,
        })
    }

    fn items(&self) -> NativeResult<Items<'_>> {
        let c = |name: &str| NativeError::Batch(format!("{name}: must be C-contiguous"));
        let items = Items {
            serials: self.serials.as_slice().map_err(|_| c("serials"))?,
            width: self.serials.shape()[1],
            status: self.status.as_slice().map_err(|_| c("status"))?,
            revocation_times: self
                .revocation_times
                .as_slice()
                .map_err(|_| c("revocation_times"))?,
            reasons: self.reasons.as_slice().map_err(|_| c("reasons"))?,
        };
        check_len("serials", self.serials.shape()[0], items.len())?;
        Ok(items)
    }
}

/// A BasicOCSPResponse compiled for one responder certificate, one issuer and one
/// CertID hash (porthos_core::ocsp::response).
#[pyclass(frozen, module = "porthos._native")]
pub struct OcspTemplate {
    inner: ResponseTemplate,
}

#[pymethods]
impl OcspTemplate {
    #[new]
    #[pyo3(signature = (responder_cert, issuer_cert, signature_algorithm, cert_id_hash = "sha1"))]
    fn new(
        responder_cert: &[u8],
        issuer_cert: &[u8],
        signature_algorithm: &str,
        cert_id_hash: &str,
    ) -> NativeResult<OcspTemplate> {
        let alg = parse_alg(signature_algorithm)?;
        let hash = CertIdHash::parse(cert_id_hash).ok_or_else(|| {
            NativeError::Batch(format!(
                "cert_id_hash: {cert_id_hash:?}; expected \"sha1\" or \"sha256\""
            ))
        })?;
        let inner =
            ResponseTemplate::new(responder_cert, issuer_cert, alg, hash).map_err(ocsp_err)?;
        Ok(OcspTemplate { inner })
    }

    #[getter]
    fn signature_algorithm(&self) -> &'static str {
        self.inner.algorithm().name()
    }

    #[getter]
    fn cert_id_hash(&self) -> &'static str {
        self.inner.cert_id_hash().name()
    }

    #[getter]
    fn issuer_name_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.issuer_name_hash())
    }

    #[getter]
    fn issuer_key_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.issuer_key_hash())
    }

    #[getter]
    fn responder_key_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.responder_key_hash())
    }

    /// SubjectPublicKeyInfo of the responder certificate (an external signer's key
    /// must equal it).
    fn responder_public_key_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.responder_spki())
    }

    /// tbsResponseData of each item (the external-signer path: hash with
    /// `tbs_digests`, sign, then `assemble`).
    #[pyo3(signature = (serials, status, revocation_times, reasons, *, this_update, produced_at, next_update = None, nonce = None))]
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        py: Python<'_>,
        serials: &Bound<'_, PyAny>,
        status: &Bound<'_, PyAny>,
        revocation_times: &Bound<'_, PyAny>,
        reasons: &Bound<'_, PyAny>,
        this_update: i64,
        produced_at: i64,
        next_update: Option<i64>,
        nonce: Option<Vec<u8>>,
    ) -> NativeResult<DerBatch> {
        let cols = Columns::extract(serials, status, revocation_times, reasons)?;
        let items = cols.items()?;
        let times = Times {
            this_update,
            next_update,
            produced_at,
        };
        let (data, offsets) = py
            .detach(|| self.inner.fill_batch(&items, &times, nonce.as_deref()))
            .map_err(ocsp_err)?;
        Ok(DerBatch::new(py, data, offsets)?)
    }

    /// Fill, sign with a software key and assemble OCSPResponses (GIL released;
    /// `threads`: None = every core, 1 = this thread only).
    #[pyo3(signature = (key, serials, status, revocation_times, reasons, *, this_update, produced_at, next_update = None, nonce = None, threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        py: Python<'_>,
        key: &SoftwareKey,
        serials: &Bound<'_, PyAny>,
        status: &Bound<'_, PyAny>,
        revocation_times: &Bound<'_, PyAny>,
        reasons: &Bound<'_, PyAny>,
        this_update: i64,
        produced_at: i64,
        next_update: Option<i64>,
        nonce: Option<Vec<u8>>,
        threads: Option<usize>,
    ) -> NativeResult<DerBatch> {
        let cols = Columns::extract(serials, status, revocation_times, reasons)?;
        let items = cols.items()?;
        let times = Times {
            this_update,
            next_update,
            produced_at,
        };
        let k: &dyn Signer = &key.inner;
        let tpl = &self.inner;
        let nonce = nonce.as_deref();
        let (data, offsets) = if threads == Some(1) {
            // One thread: no pool at all, the loop runs on this (detached) thread.
            py.detach(|| -> Result<_, OcspError> {
                tpl.validate(&items, &times, nonce)?;
                let (d, ends) = tpl.sign_range(&items, 0..items.len(), &times, nonce, k)?;
                let mut offsets = Vec::with_capacity(ends.len() + 1);
                offsets.push(0u64);
                offsets.extend(ends.into_iter().map(|e| e as u64));
                Ok((d, offsets))
            })
            .map_err(ocsp_err)?
        } else {
            let pool = pool(threads)?;
            py.detach(|| run_in(&pool, || tpl.sign_batch(&items, &times, nonce, k)))
                .map_err(ocsp_err)?
        };
        Ok(DerBatch::new(py, data, offsets)?)
    }

    /// OCSPResponses from `fill`'s tbsResponseData and one signature per item
    /// (X.509 form: DER Ecdsa-Sig-Value, or the RSA octets).
    fn assemble(
        &self,
        py: Python<'_>,
        tbs: &DerBatch,
        signatures: &Bound<'_, PyAny>,
    ) -> NativeResult<DerBatch> {
        let sigs = byte_items(signatures, "signatures")?;
        let (data, offsets) = tbs.to_owned_items(py)?;
        let n = offsets.len().saturating_sub(1);
        check_len("signatures", sigs.len(), n)?;
        let refs: Vec<&[u8]> = (0..n).map(|i| sigs.get(i)).collect();
        let (out, out_offsets) = py.detach(|| self.inner.assemble_batch(&data, &offsets, &refs));
        Ok(DerBatch::new(py, out, out_offsets)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "OcspTemplate({}, certid {})",
            self.inner.algorithm().name(),
            self.inner.cert_id_hash().name()
        )
    }
}

/// Write item i of `batch` to `folder/names[i]` for every item: each to a temporary
/// name, then renamed into place (a reader never sees half a file), in parallel with
/// the GIL released. Pre-signing writes one file per response (docs/ocsp.md); a Python
/// loop of write + rename did 27,000 files a second, below one thread's P-256 signing.
/// Names are single path components (no separator, not "." or ".."): anything else is
/// a BatchArgumentError before a file is written.
#[pyfunction]
#[pyo3(signature = (folder, names, batch, threads = None))]
pub fn write_der_files(
    py: Python<'_>,
    folder: std::path::PathBuf,
    names: Vec<String>,
    batch: &DerBatch,
    threads: Option<usize>,
) -> NativeResult<()> {
    use rayon::prelude::*;

    let (data, offsets) = batch.to_owned_items(py)?;
    check_len("names", names.len(), offsets.len().saturating_sub(1))?;
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\', '\0']) {
            return Err(NativeError::Batch(format!(
                "names[{i}]: {n:?} is not a plain file name"
            )));
        }
    }
    let pid = std::process::id();
    let pool = pool(threads)?;
    py.detach(|| {
        run_in(&pool, || {
            names.par_iter().enumerate().try_for_each(|(i, name)| {
                let item = &data[offsets[i] as usize..offsets[i + 1] as usize];
                let tmp = folder.join(format!(".{name}.{pid}.tmp"));
                std::fs::write(&tmp, item)
                    .and_then(|_| std::fs::rename(&tmp, folder.join(name)))
                    .map_err(|e| {
                        let _ = std::fs::remove_file(&tmp);
                        NativeError::Encode(format!("{}: {e}", folder.join(name).display()))
                    })
            })
        })
    })
}
