//! verify_signatures: raw batch verification over (key, message, signature) triples.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use rayon::prelude::*;

use porthos_core::verify::{verify_signature, VerifyStatus};
use porthos_core::x509::csr::SignatureAlgorithm;
use porthos_core::x509::spki::parse_spki;

use crate::args::{byte_items, check_len, pool, run_in};
use crate::error::{NativeError, NativeResult};

const ALGORITHMS: [SignatureAlgorithm; 10] = [
    SignatureAlgorithm::EcdsaSha256,
    SignatureAlgorithm::EcdsaSha384,
    SignatureAlgorithm::EcdsaSha512,
    SignatureAlgorithm::RsaPkcs1Sha256,
    SignatureAlgorithm::RsaPkcs1Sha384,
    SignatureAlgorithm::RsaPkcs1Sha512,
    SignatureAlgorithm::RsaPssSha256,
    SignatureAlgorithm::RsaPssSha384,
    SignatureAlgorithm::RsaPssSha512,
    SignatureAlgorithm::Ed25519,
];

#[pyfunction]
#[pyo3(signature = (algorithm, public_keys, messages, signatures, *, threads = None))]
pub fn verify_signatures<'py>(
    py: Python<'py>,
    algorithm: &str,
    public_keys: &Bound<'py, PyAny>,
    messages: &Bound<'py, PyAny>,
    signatures: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> NativeResult<Bound<'py, PyArray1<bool>>> {
    let alg = ALGORITHMS
        .into_iter()
        .find(|a| a.name() == algorithm)
        .ok_or_else(|| NativeError::Batch(format!("algorithm: unknown '{algorithm}'")))?;
    let keys = byte_items(public_keys, "public_keys")?;
    let msgs = byte_items(messages, "messages")?;
    let sigs = byte_items(signatures, "signatures")?;
    check_len("messages", msgs.len(), keys.len())?;
    check_len("signatures", sigs.len(), keys.len())?;
    let pool = pool(threads)?;
    let result: Vec<bool> = py.detach(|| {
        run_in(&pool, || {
            (0..keys.len())
                .into_par_iter()
                .with_min_len(64)
                .map(|i| match parse_spki(keys.get(i)) {
                    Ok(k) => verify_signature(alg, &k, msgs.get(i), sigs.get(i)) == VerifyStatus::Ok,
                    Err(_) => false,
                })
                .collect()
        })
    });
    Ok(result.into_pyarray(py))
}
