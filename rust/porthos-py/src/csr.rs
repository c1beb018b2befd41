//! parse_csrs: parse + proof of possession for a whole batch, GIL released, and
//! CsrBatch, the owned result Python reads per item on demand.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use porthos_core::sign::{digest_batch, HashAlg};
use porthos_core::verify::{check_csr_run, CsrOutcome, VerifyStatus, RUN_LEN};

use crate::args::byte_items;
use crate::error::NativeResult;
use crate::threads::{par_runs, place};

struct Item {
    subject: Vec<(String, String)>,
    spki: (usize, usize),
    /// SHA-256 of the SPKI DER (zeros when the request did not parse): the store keys
    /// subjects' keys by it (000 §3.1, §4.7); hashed here, on the parse workers, so
    /// issuance does not hash 10,000s of keys one by one under the GIL.
    spki_sha256: [u8; 32],
    signature_algorithm: &'static str,
    detail: String,
    extensions: Vec<(String, bool, Vec<u8>)>,
}

#[pyclass(frozen, module = "porthos._native")]
pub struct CsrBatch {
    data: Vec<u8>,
    status: Vec<u8>,
    key_type: Vec<u8>,
    key_bits: Vec<u32>,
    items: Vec<Item>,
}

impl CsrBatch {
    fn item(&self, index: isize) -> PyResult<&Item> {
        let n = self.items.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "CsrBatch index {index} out of range"
            )));
        }
        Ok(&self.items[i as usize])
    }
}

#[pymethods]
impl CsrBatch {
    fn __len__(&self) -> usize {
        self.items.len()
    }
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.status.clone().into_pyarray(py)
    }
    #[getter]
    fn key_type<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.key_type.clone().into_pyarray(py)
    }
    #[getter]
    fn key_bits<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.key_bits.clone().into_pyarray(py)
    }
    fn subject(
        &self,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<Vec<(String, String)>> {
        Ok(self.item(index)?.subject.clone())
    }
    fn spki<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (a, b) = self.item(index)?.spki;
        Ok(PyBytes::new(py, &self.data[a..b]))
    }
    /// Every item's subject as one list (empty for an item that did not parse): the
    /// issuance path reads all of them, and one call costs far less than N `subject(i)`.
    fn subjects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let lists = self
            .items
            .iter()
            .map(|it| PyList::new(py, it.subject.iter().map(|(o, v)| (o.as_str(), v.as_str()))))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }
    /// Every item's SubjectPublicKeyInfo DER as one list (b"" where it did not parse).
    fn spkis<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.items
                .iter()
                .map(|it| PyBytes::new(py, &self.data[it.spki.0..it.spki.1])),
        )
    }
    /// Every item's SHA-256 of its SPKI DER as one list of 32-byte strings (zeros
    /// where it did not parse).
    fn spki_sha256<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.items
                .iter()
                .map(|it| PyBytes::new(py, &it.spki_sha256)),
        )
    }
    fn signature_algorithm(
        &self,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<&'static str> {
        Ok(self.item(index)?.signature_algorithm)
    }
    fn detail(
        &self,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<String> {
        Ok(self.item(index)?.detail.clone())
    }
    fn requested_extensions<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<Vec<(String, bool, Bound<'py, PyBytes>)>> {
        Ok(self
            .item(index)?
            .extensions
            .iter()
            .map(|(o, c, v)| (o.clone(), *c, PyBytes::new(py, v)))
            .collect())
    }
    fn __repr__(&self) -> String {
        let ok = self.status.iter().filter(|&&s| s == 0).count();
        format!("CsrBatch(len={}, ok={ok})", self.items.len())
    }
}

fn offset_in(outer: &[u8], inner: &[u8]) -> (usize, usize) {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    (start, start + inner.len())
}

/// One CsrBatch row from a core outcome: status, key type, key bits, owned fields.
fn row(data: &[u8], o: CsrOutcome<'_>) -> (u8, u8, u32, Item) {
    match &o.csr {
        Some(c) => (
            o.status as u8,
            c.spki.key_type as u8,
            c.spki.key_bits,
            Item {
                subject: c
                    .subject
                    .iter()
                    .map(|a| (a.oid.clone(), a.value.clone()))
                    .collect(),
                spki: offset_in(data, c.spki.der),
                spki_sha256: digest_batch(std::iter::once(c.spki.der), HashAlg::Sha256)
                    .try_into()
                    .unwrap_or([0; 32]),
                signature_algorithm: c.signature_algorithm.name(),
                detail: o.detail.clone(),
                extensions: c
                    .extensions
                    .iter()
                    .map(|e| (e.oid.clone(), e.critical, e.value.to_vec()))
                    .collect(),
            },
        ),
        None => {
            debug_assert_ne!(o.status, VerifyStatus::Ok);
            let item = Item {
                subject: Vec::new(),
                spki: (0, 0),
                spki_sha256: [0; 32],
                signature_algorithm: "",
                detail: o.detail.clone(),
                extensions: Vec::new(),
            };
            (o.status as u8, 0, 0, item)
        }
    }
}

/// Parse (and by default verify) a batch of DER CSRs: the same engine as
/// verify_csrs (core `check_csr`, one parallel job, GIL released, Ctrl-C polled), plus
/// the parsed fields the issuance path needs.
#[pyfunction]
#[pyo3(signature = (csrs, *, verify = true, threads = None))]
pub fn parse_csrs(
    py: Python<'_>,
    csrs: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = crate::typed_args::verify_flag)] verify: bool,
    #[pyo3(from_py_with = crate::typed_args::threads_of)] threads: Option<usize>,
) -> NativeResult<CsrBatch> {
    let items = byte_items(csrs, "csrs")?;
    let place = place(threads)?;
    let rows = par_runs(py, items.len(), &place, RUN_LEN, |run| {
        let ders: Vec<&[u8]> = run.map(|i| items.get(i)).collect();
        check_csr_run(&ders, verify)
            .into_iter()
            .map(|o| row(&items.data, o))
            .collect()
    })?;
    let n = rows.len();
    let mut status = Vec::with_capacity(n);
    let mut key_type = Vec::with_capacity(n);
    let mut key_bits = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    for (s, t, b, item) in rows {
        status.push(s);
        key_type.push(t);
        key_bits.push(b);
        out.push(item);
    }
    Ok(CsrBatch {
        data: items.data,
        status,
        key_type,
        key_bits,
        items: out,
    })
}
