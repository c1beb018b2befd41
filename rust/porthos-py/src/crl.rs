//! CRLs from NumPy columns, and CRLs back to NumPy columns.
//!
//! Zero-copy both ways: the input columns are borrowed from NumPy (read-only views)
//! for the whole build, which runs with the GIL released; the output buffer (one
//! exact-size Vec) becomes the storage of the DerBatch's NumPy array, and a single
//! CRL is the slice `[start, end)` of it, so 35 MB are never copied into a PyBytes
//! under the GIL. (The columns are borrowed, not copied, while the GIL is released:
//! another Python thread that writes into them meanwhile gets what it deserves, as
//! with any NumPy buffer shared with native code; porthos' own callers never do.)
//!
//! Progress: the core calls a Rust closure after each group of chunks, on the thread
//! running the build; the closure takes the GIL for the duration of one Python call
//! (`progress(done, total)`), so the callback can draw a rich progress bar. An
//! exception from it (KeyboardInterrupt included) stops the build and is re-raised.

use std::sync::Mutex;

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::crl::{
    self, columns::Columns, delta, shard, CrlError, CrlParams, Draft, HoldInstruction, Idp,
    OwnedColumns,
};
use porthos_core::sign::{SigAlg, Signer};
use porthos_core::template::key_identifier;
use porthos_core::x509::cert::parse_certificate;

use crate::batch::DerBatch;
use crate::error::{NativeError, NativeResult};
use crate::keys::{parse_alg, SoftwareKey};
use crate::threads::{pool, run_in};

fn slice<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> NativeResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| NativeError::Batch(format!("{name}: must be a C-contiguous 1-D array")))
}

/// Borrowed input columns (the NumPy guards live as long as this).
struct Inputs<'py> {
    serials: PyReadonlyArray2<'py, u8>,
    lengths: Option<PyReadonlyArray1<'py, u8>>,
    times: PyReadonlyArray1<'py, i64>,
    reasons: PyReadonlyArray1<'py, u8>,
    invalidity: Option<PyReadonlyArray1<'py, i64>>,
}

impl<'py> Inputs<'py> {
    fn extract(
        serials: &Bound<'py, PyAny>,
        lengths: Option<&Bound<'py, PyAny>>,
        times: &Bound<'py, PyAny>,
        reasons: &Bound<'py, PyAny>,
        invalidity: Option<&Bound<'py, PyAny>>,
    ) -> NativeResult<Self> {
        let bad = |name: &str, want: &str| NativeError::Batch(format!("{name}: expected {want}"));
        Ok(Inputs {
            serials: serials.extract().map_err(|_| {
                bad(
                    "serials",
                    "an N x W uint8 array (S20 arrays: view as uint8)",
                )
            })?,
            lengths: lengths
                .filter(|l| !l.is_none())
                .map(|l| {
                    l.extract()
                        .map_err(|_| bad("serial_lengths", "a uint8 array"))
                })
                .transpose()?,
            times: times
                .extract()
                .map_err(|_| bad("revocation_times", "an int64 array"))?,
            reasons: reasons
                .extract()
                .map_err(|_| bad("reasons", "a uint8 array"))?,
            invalidity: invalidity
                .filter(|l| !l.is_none())
                .map(|l| {
                    l.extract()
                        .map_err(|_| bad("invalidity_dates", "an int64 array"))
                })
                .transpose()?,
        })
    }

    fn columns(&self) -> NativeResult<Columns<'_>> {
        let shape = self.serials.shape();
        let serials = self
            .serials
            .as_slice()
            .map_err(|_| NativeError::Batch("serials: must be C-contiguous".into()))?;
        let c = Columns {
            serials,
            width: shape[1],
            serial_lengths: self
                .lengths
                .as_ref()
                .map(|l| slice(l, "serial_lengths"))
                .transpose()?,
            revocation_times: slice(&self.times, "revocation_times")?,
            reasons: slice(&self.reasons, "reasons")?,
            invalidity: self
                .invalidity
                .as_ref()
                .map(|l| slice(l, "invalidity_dates"))
                .transpose()?,
        };
        if shape[0] != c.revocation_times.len() {
            return Err(NativeError::Batch(format!(
                "serials: {} rows, revocation_times: {} rows",
                shape[0],
                c.revocation_times.len()
            )));
        }
        Ok(c)
    }
}

/// Runs the core with a progress closure that calls back into Python.
struct ProgressBridge {
    callback: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
}

impl ProgressBridge {
    fn call(&self, done: usize, total: usize) -> bool {
        let Some(cb) = &self.callback else {
            return true;
        };
        Python::attach(|py| {
            let r = py.check_signals().and_then(|_| cb.call1(py, (done, total)));
            match r {
                Ok(_) => true,
                Err(e) => {
                    *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    false
                }
            }
        })
    }

    fn map_err(&self, e: CrlError) -> NativeError {
        if let Some(err) = self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return NativeError::Py(err);
        }
        NativeError::Crl(e)
    }
}

/// TBSCertLists written and hashed, waiting for signatures: software keys sign them in
/// Rust (`sign`), external signers get `digests` and hand back `finish(signatures)`.
#[pyclass(frozen, module = "porthos._native")]
pub struct CrlDrafts {
    drafts: Mutex<Option<Vec<Draft>>>,
    alg: SigAlg,
    digests: Py<PyArray2<u8>>,
    entries: Vec<usize>,
}

impl CrlDrafts {
    fn take(&self) -> NativeResult<Vec<Draft>> {
        self.drafts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| NativeError::Batch("these CRL drafts were already signed".into()))
    }

    fn assemble(py: Python<'_>, parts: Vec<(Vec<u8>, usize)>) -> NativeResult<DerBatch> {
        if parts.len() == 1 {
            // One CRL: hand the buffer over as it is; the CRL is [start, len).
            let (buf, start) = parts.into_iter().next().expect("one part");
            let end = buf.len() as u64;
            return Ok(DerBatch::new(py, buf, vec![start as u64, end])?);
        }
        let total: usize = parts.iter().map(|(b, s)| b.len() - s).sum();
        let mut data = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(parts.len() + 1);
        offsets.push(0u64);
        for (b, s) in parts {
            data.extend_from_slice(&b[s..]);
            offsets.push(data.len() as u64);
        }
        Ok(DerBatch::new(py, data, offsets)?)
    }
}

#[pymethods]
impl CrlDrafts {
    fn __len__(&self) -> usize {
        self.entries.len()
    }

    /// One row per CRL: the hash of its TBSCertList under the signature's hash.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<u8>> {
        self.digests.bind(py).clone()
    }

    #[getter]
    fn signature_algorithm(&self) -> &'static str {
        self.alg.name()
    }

    /// Entries per CRL.
    #[getter]
    fn entries(&self) -> Vec<usize> {
        self.entries.clone()
    }

    /// Sign every draft with a software key (GIL released) and assemble.
    fn sign(&self, py: Python<'_>, key: &SoftwareKey) -> NativeResult<DerBatch> {
        if key.inner.algorithm() != self.alg {
            return Err(NativeError::Sign(format!(
                "key signs {}, the CRLs were prepared for {}",
                key.inner.algorithm().name(),
                self.alg.name()
            )));
        }
        let drafts = self.take()?;
        let k = &key.inner;
        let parts = py.detach(|| -> NativeResult<Vec<(Vec<u8>, usize)>> {
            use rayon::prelude::*;
            drafts
                .into_par_iter()
                .map(|d| d.sign(k).map_err(NativeError::Crl))
                .collect()
        })?;
        Self::assemble(py, parts)
    }

    /// Assemble with signatures from an external signer (one per draft, X.509 form).
    fn finish(&self, py: Python<'_>, signatures: Vec<Vec<u8>>) -> NativeResult<DerBatch> {
        if signatures.len() != self.entries.len() {
            return Err(NativeError::Batch(format!(
                "signatures: {} given for {} CRLs",
                signatures.len(),
                self.entries.len()
            )));
        }
        let drafts = self.take()?;
        let parts = drafts
            .into_iter()
            .zip(signatures.iter())
            .map(|(d, s)| d.finish(s).map_err(NativeError::Crl))
            .collect::<NativeResult<Vec<_>>>()?;
        Self::assemble(py, parts)
    }

    fn __repr__(&self) -> String {
        format!("CrlDrafts(len={}, {})", self.entries.len(), self.alg.name())
    }
}

/// Prepare one CRL (`crl_numbers` of length 1, optional `idp_urls`) or N shard CRLs
/// (`url_template` containing `{shard}`, one CRL number per shard).
#[pyfunction]
#[pyo3(signature = (
    issuer_cert, serials, revocation_times, reasons, *, crl_numbers, this_update, signature_algorithm,
    next_update = None, serial_lengths = None, invalidity_dates = None, idp_urls = None,
    url_template = None, only_user_certs = false, only_ca_certs = false, delta_base = None,
    hold_instruction = None, threads = None, progress = None
))]
#[allow(clippy::too_many_arguments)]
pub fn crl_drafts(
    py: Python<'_>,
    issuer_cert: &[u8],
    serials: &Bound<'_, PyAny>,
    revocation_times: &Bound<'_, PyAny>,
    reasons: &Bound<'_, PyAny>,
    crl_numbers: Vec<Vec<u8>>,
    this_update: i64,
    signature_algorithm: &str,
    next_update: Option<i64>,
    serial_lengths: Option<&Bound<'_, PyAny>>,
    invalidity_dates: Option<&Bound<'_, PyAny>>,
    idp_urls: Option<Vec<String>>,
    url_template: Option<String>,
    only_user_certs: bool,
    only_ca_certs: bool,
    delta_base: Option<Vec<u8>>,
    hold_instruction: Option<&str>,
    #[pyo3(from_py_with = crate::typed_args::threads_of)] threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> NativeResult<CrlDrafts> {
    let alg = parse_alg(signature_algorithm)?;
    let hold_instruction = match hold_instruction {
        None => None,
        Some(name) => Some(HoldInstruction::from_name(name).ok_or_else(|| {
            NativeError::Batch(format!(
                "hold_instruction {name:?}: one of none, callissuer, reject (RFC 3280 §5.3.2)"
            ))
        })?),
    };
    let info =
        parse_certificate(issuer_cert).map_err(|e| NativeError::Decode(e.within("issuer_cert")))?;
    let kid = match info.subject_key_id {
        Some(k) => k.to_vec(),
        None => key_identifier(info.spki.der)
            .map_err(NativeError::Decode)?
            .to_vec(),
    };
    let idp =
        if idp_urls.as_ref().is_some_and(|u| !u.is_empty()) || only_user_certs || only_ca_certs {
            Some(Idp {
                full_name_uris: idp_urls.unwrap_or_default(),
                only_user_certs,
                only_ca_certs,
            })
        } else {
            None
        };
    if crl_numbers.is_empty() {
        return Err(NativeError::Batch("crl_numbers: at least one".into()));
    }
    if url_template.is_none() && crl_numbers.len() != 1 {
        return Err(NativeError::Batch(
            "crl_numbers: one number unless url_template makes shards".into(),
        ));
    }
    let params = CrlParams {
        issuer_der: info.subject_der.to_vec(),
        authority_key_id: Some(kid),
        this_update,
        next_update,
        crl_number: crl_numbers[0].clone(),
        idp,
        delta_base,
        hold_instruction,
        alg,
    };
    let inputs = Inputs::extract(
        serials,
        serial_lengths,
        revocation_times,
        reasons,
        invalidity_dates,
    )?;
    let cols = inputs.columns()?;
    let bridge = ProgressBridge {
        callback: progress,
        error: Mutex::new(None),
    };
    let pool = pool(threads)?;
    let result = py.detach(|| {
        run_in(&pool, || {
            let cb = |d: usize, t: usize| bridge.call(d, t);
            match &url_template {
                None => crl::write_tbs(&params, &cols, &cb).map(|d| vec![d]),
                Some(t) => shard::shard_drafts(&params, &cols, &crl_numbers, t, &cb),
            }
        })
    });
    let drafts = result.map_err(|e| bridge.map_err(e))?;
    let h = alg.hash().output_len();
    let mut flat = Vec::with_capacity(drafts.len() * h);
    for d in &drafts {
        flat.extend_from_slice(d.digest());
    }
    let digests = flat.into_pyarray(py).reshape([drafts.len(), h])?;
    let entries = drafts.iter().map(|d| d.entries()).collect();
    Ok(CrlDrafts {
        drafts: Mutex::new(Some(drafts)),
        alg,
        digests: digests.unbind(),
        entries,
    })
}

fn owned_to_py(py: Python<'_>, c: OwnedColumns) -> NativeResult<PyColumns> {
    let n = c.len();
    Ok((
        c.serials.into_pyarray(py).reshape([n, 20])?.unbind(),
        c.revocation_times.into_pyarray(py).unbind(),
        c.reasons.into_pyarray(py).unbind(),
        c.invalidity.into_pyarray(py).unbind(),
    ))
}

type PyColumns = (
    Py<PyArray2<u8>>,
    Py<PyArray1<i64>>,
    Py<PyArray1<u8>>,
    Py<PyArray1<i64>>,
);

/// A parsed CRL: metadata plus columns in serial order (serials N x 20, right-aligned).
#[pyclass(frozen, module = "porthos._native")]
pub struct CrlInfo {
    #[pyo3(get)]
    issuer_der: Py<PyBytes>,
    #[pyo3(get)]
    this_update: i64,
    #[pyo3(get)]
    next_update: Option<i64>,
    #[pyo3(get)]
    crl_number: Option<Py<PyBytes>>,
    #[pyo3(get)]
    delta_base: Option<Py<PyBytes>>,
    #[pyo3(get)]
    authority_key_id: Option<Py<PyBytes>>,
    #[pyo3(get)]
    idp_urls: Option<Vec<String>>,
    #[pyo3(get)]
    only_user_certs: bool,
    #[pyo3(get)]
    only_ca_certs: bool,
    #[pyo3(get)]
    signature_algorithm: &'static str,
    #[pyo3(get)]
    signature_checked: bool,
    #[pyo3(get)]
    serials: Py<PyArray2<u8>>,
    #[pyo3(get)]
    revocation_times: Py<PyArray1<i64>>,
    #[pyo3(get)]
    reasons: Py<PyArray1<u8>>,
    #[pyo3(get)]
    invalidity_dates: Py<PyArray1<i64>>,
}

fn magnitude_key(serial: &[u8]) -> &[u8] {
    let s = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    &serial[s..]
}

#[pymethods]
impl CrlInfo {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.revocation_times.bind(py).len()
    }

    /// Row of `serial` (big-endian magnitude bytes) or -1, by binary search.
    fn index_of(&self, py: Python<'_>, serial: &[u8]) -> NativeResult<i64> {
        let arr = self.serials.bind(py).readonly();
        let flat = arr
            .as_slice()
            .map_err(|e| NativeError::Batch(e.to_string()))?;
        Ok(find(flat, magnitude_key(serial)).map_or(-1, |i| i as i64))
    }

    /// For each row of an N x W uint8 array of magnitudes: its row here or -1.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        serials: PyReadonlyArray2<'py, u8>,
    ) -> NativeResult<Bound<'py, PyArray1<i64>>> {
        let arr = self.serials.bind(py).readonly();
        let flat = arr
            .as_slice()
            .map_err(|e| NativeError::Batch(e.to_string()))?;
        let w = serials.shape()[1];
        let q = serials
            .as_slice()
            .map_err(|_| NativeError::Batch("serials: must be C-contiguous".into()))?;
        let out: Vec<i64> = py.detach(|| {
            use rayon::prelude::*;
            q.par_chunks(w.max(1))
                .map(|row| find(flat, magnitude_key(row)).map_or(-1, |i| i as i64))
                .collect()
        });
        Ok(out.into_pyarray(py))
    }
}

fn find(flat: &[u8], key: &[u8]) -> Option<usize> {
    if key.len() > 20 {
        return None;
    }
    let n = flat.len() / 20;
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let row = &flat[mid * 20..mid * 20 + 20];
        match crl::columns::cmp_keys(magnitude_key(row), key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// Parse a CRL (bytes or a uint8 array); with `issuer_cert`, check name, AKI and
/// signature. Strict: see porthos_core::crl::parser.
#[pyfunction]
#[pyo3(signature = (der, issuer_cert = None))]
pub fn parse_crl(
    py: Python<'_>,
    der: &Bound<'_, PyAny>,
    issuer_cert: Option<&[u8]>,
) -> NativeResult<CrlInfo> {
    let arr;
    let bytes: &[u8] = if let Ok(b) = der.cast::<PyBytes>() {
        b.as_bytes()
    } else {
        arr = der
            .extract::<PyReadonlyArray1<'_, u8>>()
            .map_err(|_| NativeError::Batch("der: expected bytes or a 1-D uint8 array".into()))?;
        slice(&arr, "der")?
    };
    let parsed = py.detach(|| {
        crl::parse_crl(bytes, issuer_cert).map(|p| {
            let meta = (
                p.issuer_der.to_vec(),
                p.crl_number.clone(),
                p.delta_base.clone(),
                p.authority_key_id.map(|k| k.to_vec()),
                p.idp.clone(),
                p.signature_algorithm.name(),
            );
            (
                meta,
                p.this_update,
                p.next_update,
                p.signature_checked,
                p.columns,
            )
        })
    });
    let ((issuer, number, base, aki, idp, alg), tu, nu, checked, cols) =
        parsed.map_err(NativeError::Crl)?;
    let (serials, revocation_times, reasons, invalidity_dates) = owned_to_py(py, cols)?;
    let b = |v: Vec<u8>| PyBytes::new(py, &v).unbind();
    Ok(CrlInfo {
        issuer_der: b(issuer),
        this_update: tu,
        next_update: nu,
        crl_number: number.map(b),
        delta_base: base.map(b),
        authority_key_id: aki.map(b),
        idp_urls: idp.as_ref().map(|i| i.full_name_uris.clone()),
        only_user_certs: idp.as_ref().is_some_and(|i| i.only_user_certs),
        only_ca_certs: idp.as_ref().is_some_and(|i| i.only_ca_certs),
        signature_algorithm: alg,
        signature_checked: checked,
        serials,
        revocation_times,
        reasons,
        invalidity_dates,
    })
}

type ColumnArgs<'py> = (
    PyReadonlyArray2<'py, u8>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, u8>,
    PyReadonlyArray1<'py, i64>,
);

fn canonical(c: &ColumnArgs<'_>, delta_ok: bool) -> NativeResult<OwnedColumns> {
    if c.0.shape()[1] != 20 {
        return Err(NativeError::Batch(
            "serials: canonical columns are N x 20".into(),
        ));
    }
    let cols = Columns {
        serials: c
            .0
            .as_slice()
            .map_err(|_| NativeError::Batch("serials: must be C-contiguous".into()))?,
        width: 20,
        serial_lengths: None,
        revocation_times: slice(&c.1, "revocation_times")?,
        reasons: slice(&c.2, "reasons")?,
        invalidity: Some(slice(&c.3, "invalidity_dates")?),
    };
    OwnedColumns::from_columns(&cols, delta_ok).map_err(NativeError::Crl)
}

/// The delta from `base` to `current` (each: serials N x 20, times, reasons, invalidity).
#[pyfunction]
pub fn crl_delta_columns(
    py: Python<'_>,
    base: ColumnArgs<'_>,
    current: ColumnArgs<'_>,
) -> NativeResult<PyColumns> {
    let (b, c) = (canonical(&base, false)?, canonical(&current, false)?);
    owned_to_py(py, py.detach(|| delta::delta(&b, &c)))
}

/// `base` with `delta` applied (removeFromCRL drops, other entries add or replace).
#[pyfunction]
pub fn crl_merge_columns(
    py: Python<'_>,
    base: ColumnArgs<'_>,
    delta_cols: ColumnArgs<'_>,
) -> NativeResult<PyColumns> {
    let (b, d) = (canonical(&base, false)?, canonical(&delta_cols, true)?);
    owned_to_py(py, py.detach(|| delta::merge(&b, &d)))
}

/// The shard of each serial (N x W uint8 magnitudes): serial mod `shards`.
#[pyfunction]
pub fn crl_shard_of<'py>(
    py: Python<'py>,
    serials: PyReadonlyArray2<'py, u8>,
    shards: u32,
) -> NativeResult<Bound<'py, PyArray1<u32>>> {
    let w = serials.shape()[1].max(1);
    let q = serials
        .as_slice()
        .map_err(|_| NativeError::Batch("serials: must be C-contiguous".into()))?;
    let out: Vec<u32> = q.chunks(w).map(|r| shard::shard_of(r, shards)).collect();
    Ok(out.into_pyarray(py))
}

/// The revocation CSV (docs/crl-input.md) → (serials N x 20, revocation_times,
/// reasons, invalidity_dates), parsed with the GIL released; bad rows raise one
/// BatchArgumentError naming the first 20 by line number and counting the rest.
#[pyfunction]
pub fn crl_read_revocations_csv(py: Python<'_>, data: &[u8]) -> NativeResult<PyColumns> {
    let cols = py
        .detach(|| crl::revocations_csv::read_revocations_csv(data))
        .map_err(|e| NativeError::Batch(e.to_string()))?;
    owned_to_py(py, cols)
}

/// (serials N x 20, status per row) of [`crl_hex_serials`].
type HexSerials<'py> = (Bound<'py, PyArray2<u8>>, Bound<'py, PyArray1<u8>>);

/// A column of hex serials (the data and `n + 1` int64 offsets of an Arrow string
/// column) → (serials N x 20, status per row: 0 ok, 1 not hex, 2 zero or over 20
/// octets), with the CSV reader's grammar; the GIL is released.
#[pyfunction]
pub fn crl_hex_serials<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    offsets: PyReadonlyArray1<'py, i64>,
) -> NativeResult<HexSerials<'py>> {
    let (d, o) = (slice(&data, "data")?, slice(&offsets, "offsets")?);
    let (serials, status) = py
        .detach(|| crl::revocations_csv::hex_serials(d, o))
        .map_err(NativeError::Batch)?;
    let n = status.len();
    Ok((
        serials.into_pyarray(py).reshape([n, 20])?,
        status.into_pyarray(py),
    ))
}
