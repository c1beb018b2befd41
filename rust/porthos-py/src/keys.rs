//! SoftwareKey and the small helpers around keys, names, serials and digests.

use numpy::{IntoPyArray, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use porthos_core::sign::{self, HashAlg, SigAlg, Signer};
use porthos_core::template::key_identifier as core_key_identifier;
use porthos_core::x509::name_encode;

use crate::batch::DerBatch;
use crate::error::{NativeError, NativeResult};
use crate::typed_args;

pub fn parse_alg(name: &str) -> NativeResult<SigAlg> {
    SigAlg::parse(name)
        .ok_or_else(|| NativeError::Key(sign::SignError::UnknownAlgorithm(name.to_string())))
}

/// A CA private key in process memory (software mode), signing through aws-lc-rs.
#[pyclass(frozen, module = "porthos._native")]
pub struct SoftwareKey {
    pub(crate) inner: sign::SoftwareKey,
}

#[pymethods]
impl SoftwareKey {
    #[staticmethod]
    #[pyo3(signature = (key_type, signature_algorithm = None))]
    fn generate(
        py: Python<'_>,
        #[pyo3(from_py_with = typed_args::key_type)] key_type: String,
        #[pyo3(from_py_with = typed_args::opt_signature_algorithm)] signature_algorithm: Option<
            String,
        >,
    ) -> NativeResult<SoftwareKey> {
        let alg = signature_algorithm.as_deref().map(parse_alg).transpose()?;
        // RSA key generation takes long enough that other threads should run meanwhile.
        let inner = py
            .detach(|| sign::SoftwareKey::generate(&key_type, alg))
            .map_err(NativeError::Key)?;
        Ok(SoftwareKey { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (der, signature_algorithm = None))]
    fn from_pkcs8(
        #[pyo3(from_py_with = typed_args::der)] der: Vec<u8>,
        #[pyo3(from_py_with = typed_args::opt_signature_algorithm)] signature_algorithm: Option<
            String,
        >,
    ) -> NativeResult<SoftwareKey> {
        let alg = signature_algorithm.as_deref().map(parse_alg).transpose()?;
        Ok(SoftwareKey {
            inner: sign::SoftwareKey::from_pkcs8(&der, alg).map_err(NativeError::Key)?,
        })
    }

    fn to_pkcs8<'py>(&self, py: Python<'py>) -> NativeResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(
            py,
            &self.inner.to_pkcs8().map_err(NativeError::Key)?,
        ))
    }

    #[getter]
    fn key_type(&self) -> &'static str {
        self.inner.key_type()
    }

    #[getter]
    fn signature_algorithm(&self) -> &'static str {
        self.inner.algorithm().name()
    }

    fn public_key_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key_der())
    }

    fn sign<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = typed_args::message)] message: Vec<u8>,
    ) -> NativeResult<Bound<'py, PyBytes>> {
        let sig = self
            .inner
            .sign(&message)
            .map_err(|e| NativeError::Sign(e.to_string()))?;
        Ok(PyBytes::new(py, &sig))
    }

    fn __repr__(&self) -> String {
        format!(
            "SoftwareKey({}, {})",
            self.inner.key_type(),
            self.inner.algorithm().name()
        )
    }
}

#[pyfunction]
#[pyo3(signature = (n, length = 16))]
pub fn generate_serials<'py>(
    py: Python<'py>,
    n: usize,
    length: usize,
) -> NativeResult<Bound<'py, PyArray2<u8>>> {
    // RFC 5280 §4.1.2.2: at most 20 octets; >= 8 octets keeps >= 64 random bits.
    if !(8..=20).contains(&length) {
        return Err(NativeError::Batch(format!(
            "length: {length} octets; serials are 8..=20 octets"
        )));
    }
    let flat = sign::generate_serials(n, length).map_err(|e| NativeError::Sign(e.to_string()))?;
    let arr = flat.into_pyarray(py);
    Ok(arr.reshape([n, length])?)
}

/// A Name's DER; `name_strings` ({attribute: "printable" | "utf8" | "ia5" |
/// "printable-else-utf8"}) chooses string types as a template spec's does.
#[pyfunction]
#[pyo3(signature = (attributes, name_strings = None))]
pub fn encode_name<'py>(
    py: Python<'py>,
    attributes: Vec<(String, String)>,
    name_strings: Option<std::collections::BTreeMap<String, String>>,
) -> NativeResult<Bound<'py, PyBytes>> {
    let strings = match name_strings {
        None => name_encode::NameStrings::default(),
        Some(table) => {
            let pairs: Vec<(&String, &String)> = table.iter().collect();
            name_encode::NameStrings::new(&pairs)
                .map_err(|e| NativeError::Encode(format!("name_strings: {e}")))?
        }
    };
    let der = name_encode::encode_name_with(&attributes, &strings)
        .map_err(|e| NativeError::Encode(e.to_string()))?;
    Ok(PyBytes::new(py, &der))
}

#[pyfunction]
pub fn key_identifier<'py>(py: Python<'py>, spki_der: &[u8]) -> NativeResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &core_key_identifier(spki_der).map_err(NativeError::Decode)?,
    ))
}

#[pyfunction]
pub fn ecdsa_raw_to_der<'py>(py: Python<'py>, raw: &[u8]) -> NativeResult<Bound<'py, PyBytes>> {
    let der = sign::ecdsa_raw_to_der(raw).ok_or_else(|| {
        NativeError::Encode(format!(
            "raw ECDSA signature of {} octets: expected r||s",
            raw.len()
        ))
    })?;
    Ok(PyBytes::new(py, &der))
}

#[pyfunction]
pub fn tbs_digests<'py>(
    py: Python<'py>,
    tbs: &DerBatch,
    hash: &str,
) -> NativeResult<Bound<'py, PyArray2<u8>>> {
    let h = HashAlg::parse(hash)
        .ok_or_else(|| NativeError::Batch(format!("hash: unknown '{hash}'")))?;
    let (data, offsets) = tbs.to_owned_items(py)?;
    let n = offsets.len().saturating_sub(1);
    let flat = py.detach(|| {
        sign::digest_batch(
            offsets
                .windows(2)
                .map(|w| &data[w[0] as usize..w[1] as usize]),
            h,
        )
    });
    Ok(flat.into_pyarray(py).reshape([n, h.output_len()])?)
}

/// Seconds for aws-lc-rs to sign `n` 400-octet messages with `key` (its own algorithm:
/// RSA PKCS#1 v1.5, ECDSA, ...), GIL released: the bare-signing yardstick of
/// `porthos bench issue --cpcps` for an issuing CA's own key (RSA-2048/4096 signing
/// dominates issuance there, so the floor must be that key, not P-256). `threads`:
/// 1 (default) signs in a plain loop on this thread; more (or None: every core) spread
/// the n signatures over a rayon pool, the floor of issuance on that many threads.
#[pyfunction]
#[pyo3(signature = (key, n, threads = Some(1)))]
pub fn bench_sign_key(
    py: Python<'_>,
    #[pyo3(from_py_with = typed_args::signer)] key: Py<SoftwareKey>,
    n: usize,
    #[pyo3(from_py_with = typed_args::threads_of)] threads: Option<usize>,
) -> NativeResult<f64> {
    use rayon::prelude::*;

    let msg = [0x5au8; 400];
    let inner = &key.get().inner;
    let pool = crate::threads::pool(threads)?;
    py.detach(|| {
        let start = std::time::Instant::now();
        if threads == Some(1) {
            for _ in 0..n {
                inner
                    .sign(&msg)
                    .map_err(|e| NativeError::Sign(e.to_string()))?;
            }
        } else {
            crate::threads::run_in(&pool, || {
                (0..n).into_par_iter().try_for_each(|_| {
                    inner
                        .sign(&msg)
                        .map(|_| ())
                        .map_err(|e| NativeError::Sign(e.to_string()))
                })
            })?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// Seconds for aws-lc-rs to sign `n` 400-octet messages with a fresh P-256 key on
/// one thread, entirely in Rust: the "bare signing" yardstick of `porthos bench`.
#[pyfunction]
pub fn bench_sign_p256(py: Python<'_>, n: usize) -> NativeResult<f64> {
    let key = sign::SoftwareKey::generate("ec-p256", None).map_err(NativeError::Key)?;
    let msg = [0x5au8; 400];
    py.detach(|| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            key.sign(&msg)
                .map_err(|e| NativeError::Sign(e.to_string()))?;
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// Seconds for aws-lc-rs to generate `n` RSA-2048 key pairs, nothing else (each key is
/// dropped at once): the raw keygen yardstick of `porthos bench rpki` (issue 18 §6).
/// `threads`: None (every core, rayon's global pool) or a count.
#[pyfunction]
#[pyo3(signature = (n, threads = None))]
pub fn bench_rsa_keygen(
    py: Python<'_>,
    n: usize,
    #[pyo3(from_py_with = typed_args::threads_of)] threads: Option<usize>,
) -> NativeResult<f64> {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use rayon::prelude::*;

    let pool = crate::threads::pool(threads)?;
    py.detach(|| {
        let start = std::time::Instant::now();
        crate::threads::run_in(&pool, || {
            (0..n).into_par_iter().try_for_each(|_| {
                KeyPair::generate(KeySize::Rsa2048)
                    .map(drop)
                    .map_err(|_| NativeError::Sign("RSA-2048 key generation failed".into()))
            })
        })?;
        Ok(start.elapsed().as_secs_f64())
    })
}
