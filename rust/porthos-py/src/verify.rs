//! verify_signatures (raw batch verification over (key, message, signature) triples)
//! and verify_csrs (parse + proof of possession, status per item, details on demand).
//!
//! Both copy their arguments out under the GIL, then work as one parallel job with the GIL
//! released (threads::par_runs), so Ctrl-C interrupts a batch of millions.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::verify::{check_csr, check_csr_run, verify_signature_run, VerifyStatus, RUN_LEN};
use porthos_core::x509::csr::{SignatureAlgorithm, SIGNATURE_ALGORITHMS};
use porthos_core::x509::spki::parse_spki;

use crate::args::{check_len, item_refs, ItemRefs};
use crate::error::{NativeError, NativeResult};
use crate::threads::{par_runs, place};

/// Verify N signatures. Item i is valid iff `public_keys[i]` is a SubjectPublicKeyInfo
/// acceptable for `algorithm` (same key checks as CSRs: EC point on the curve, RSA
/// 2048-4096 bits) and `signatures[i]` verifies over `messages[i]`. A malformed key or
/// signature is `False`, never an exception.
#[pyfunction]
#[pyo3(signature = (algorithm, public_keys, messages, signatures, *, threads = None))]
pub fn verify_signatures<'py>(
    py: Python<'py>,
    algorithm: &str,
    public_keys: &Bound<'py, PyAny>,
    messages: &Bound<'py, PyAny>,
    signatures: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = crate::typed_args::threads_of)] threads: Option<usize>,
) -> NativeResult<Bound<'py, PyArray1<bool>>> {
    let alg = SignatureAlgorithm::parse(algorithm).ok_or_else(|| {
        let known: Vec<_> = SIGNATURE_ALGORITHMS.iter().map(|&(_, n)| n).collect();
        NativeError::Batch(format!(
            "algorithm: unknown '{algorithm}' (one of {})",
            known.join(", ")
        ))
    })?;
    let keys = item_refs(public_keys, "public_keys")?;
    let msgs = item_refs(messages, "messages")?;
    let sigs = item_refs(signatures, "signatures")?;
    check_len("messages", msgs.len(), keys.len())?;
    check_len("signatures", sigs.len(), keys.len())?;
    let place = place(threads)?;
    let result = par_runs(py, keys.len(), &place, RUN_LEN, |run| {
        // A key that does not parse is False; the rest go to the core as one run, so
        // P-256/SHA-256 items reach the IFMA kernel eight at a time.
        let parsed: Vec<_> = run.clone().map(|i| parse_spki(keys.get(i)).ok()).collect();
        let triples: Vec<_> = run
            .clone()
            .zip(&parsed)
            .filter_map(|(i, k)| k.as_ref().map(|k| (k, msgs.get(i), sigs.get(i))))
            .collect();
        let mut verdicts = verify_signature_run(alg, &triples).into_iter();
        parsed
            .iter()
            .map(|k| k.is_some() && verdicts.next() == Some(VerifyStatus::Ok))
            .collect()
    })?;
    Ok(result.into_pyarray(py))
}

/// What verify_csrs found, per item: the status array and, on demand, the reason.
/// Only the status is computed for the whole batch; `detail(i)` re-checks item i
/// alone, so a batch of millions carries no per-item strings.
#[pyclass(frozen, module = "porthos._native")]
pub struct CsrVerification {
    items: ItemRefs,
    status: Vec<u8>,
}

impl CsrVerification {
    fn index(&self, index: isize) -> PyResult<usize> {
        let n = self.status.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "CsrVerification index {index} out of range for {n} items"
            )));
        }
        Ok(i as usize)
    }
}

#[pymethods]
impl CsrVerification {
    fn __len__(&self) -> usize {
        self.status.len()
    }
    /// The status codes (porthos.CsrStatus values), a fresh uint8 array.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.status.clone().into_pyarray(py)
    }
    /// Why item `index` is not OK: what failed and where (byte offset and field path
    /// for malformed DER); "" for an OK item.
    fn detail(&self, py: Python<'_>, index: isize) -> PyResult<String> {
        let i = self.index(index)?;
        let der = self.items.get(i);
        Ok(py.detach(|| check_csr(der, true).detail))
    }
    /// The DER of item `index` as given.
    fn der<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyBytes>> {
        let i = self.index(index)?;
        Ok(PyBytes::new(py, self.items.get(i)))
    }
    /// The signature algorithm name of item `index` ("" when unknown or malformed).
    fn signature_algorithm(&self, index: isize) -> PyResult<&'static str> {
        let i = self.index(index)?;
        Ok(check_csr(self.items.get(i), false)
            .csr
            .map_or("", |c| c.signature_algorithm.name()))
    }
    fn __repr__(&self) -> String {
        let ok = self.status.iter().filter(|&&s| s == 0).count();
        format!("CsrVerification(len={}, ok={ok})", self.status.len())
    }
}

/// Parse and verify the proof of possession of N DER CSRs.
#[pyfunction]
#[pyo3(signature = (csrs, *, threads = None))]
pub fn verify_csrs<'py>(
    py: Python<'py>,
    csrs: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = crate::typed_args::threads_of)] threads: Option<usize>,
) -> NativeResult<(Bound<'py, PyArray1<u8>>, CsrVerification)> {
    let items = item_refs(csrs, "csrs")?;
    let place = place(threads)?;
    let status = par_runs(py, items.len(), &place, RUN_LEN, |run| {
        let ders: Vec<&[u8]> = run.map(|i| items.get(i)).collect();
        check_csr_run(&ders, true)
            .into_iter()
            .map(|o| o.status as u8)
            .collect()
    })?;
    let array = status.clone().into_pyarray(py);
    Ok((array, CsrVerification { items, status }))
}
