//! PKCS#11 signing pool (porthos-pkcs11) for Python: porthos.signers.Pkcs11Signer
//! hands it the N TBS digests of a batch and gets N signatures back. Every PKCS#11
//! call runs with the GIL released.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

use porthos_pkcs11 as p11;

use crate::error::{NativeError, NativeResult};
use crate::keys::parse_alg;

/// The PIN as a zeroising secret. Accepts bytes/bytearray only, so a PIN never
/// travels as a Python str that could end up in a repr or a log line.
fn secret_pin(pin: &Bound<'_, PyAny>) -> NativeResult<cryptoki::types::AuthPin> {
    let raw: Vec<u8> = if let Ok(b) = pin.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(b) = pin.cast::<PyByteArray>() {
        b.to_vec()
    } else {
        return Err(NativeError::Batch("pin: expected bytes".into()));
    };
    let text = String::from_utf8(raw).map_err(|_| NativeError::Batch("pin: not UTF-8".into()))?;
    Ok(cryptoki::types::AuthPin::from(text))
}

/// Sessions on one token signing with one private key, one worker thread per session.
#[pyclass(frozen, module = "porthos._native")]
pub struct Pkcs11Pool {
    inner: p11::Pool,
}

type SignResult<'py> = (
    Bound<'py, PyList>,
    Bound<'py, PyArray1<u8>>,
    Vec<String>,
    Bound<'py, PyArray1<u64>>,
    usize,
);

#[pymethods]
impl Pkcs11Pool {
    /// `key_placement`: "session-copy" (default: each session signs with a
    /// non-extractable session copy of the key, see porthos_pkcs11) or
    /// "token-object" (every session signs with the token object).
    #[new]
    #[pyo3(signature = (module, token, key, signature_algorithm, pin, sessions, key_placement="session-copy"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        module: PathBuf,
        token: String,
        key: String,
        signature_algorithm: &str,
        pin: &Bound<'_, PyAny>,
        sessions: usize,
        key_placement: &str,
    ) -> NativeResult<Pkcs11Pool> {
        let alg = parse_alg(signature_algorithm)?;
        let placement = match key_placement {
            "session-copy" => p11::KeyPlacement::SessionCopy,
            "token-object" => p11::KeyPlacement::TokenObject,
            other => {
                return Err(NativeError::Batch(format!(
                    "key_placement: {other:?}; expected \"session-copy\" or \"token-object\""
                )))
            }
        };
        let pin = secret_pin(pin)?;
        let inner = py
            .detach(move || {
                p11::Pool::open_with(&module, &token, &key, alg, pin, sessions, placement)
            })
            .map_err(NativeError::Hsm)?;
        Ok(Pkcs11Pool { inner })
    }

    /// Sign each row of `digests` (N x hash length). Returns (signatures, status,
    /// reasons, latency_ns, reopened): signature i is None when status[i] != 0.
    fn sign_digests<'py>(
        &self,
        py: Python<'py>,
        digests: PyReadonlyArray2<'py, u8>,
    ) -> NativeResult<SignResult<'py>> {
        let view = digests.as_array();
        let hash = match view.ncols() {
            32 => porthos_core::sign::HashAlg::Sha256,
            48 => porthos_core::sign::HashAlg::Sha384,
            64 => porthos_core::sign::HashAlg::Sha512,
            c => {
                return Err(NativeError::Batch(format!(
                    "digests: rows of {c} octets; expected 32 or 48"
                )))
            }
        };
        let flat: Vec<u8> = view.iter().copied().collect();
        drop(digests);
        let out = py
            .detach(|| self.inner.sign_digests(&flat, hash))
            .map_err(NativeError::Hsm)?;
        let sigs = PyList::empty(py);
        for s in &out.signatures {
            match s {
                Some(b) => sigs.append(PyBytes::new(py, b))?,
                None => sigs.append(py.None())?,
            }
        }
        Ok((
            sigs,
            out.status.into_pyarray(py),
            out.reasons,
            out.latency_ns.into_pyarray(py),
            out.reopened,
        ))
    }

    /// Close every session now (a later batch reopens them).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close())
    }

    #[getter]
    fn sessions(&self) -> usize {
        self.inner.sessions()
    }

    #[getter]
    fn token(&self) -> &str {
        self.inner.token()
    }

    #[getter]
    fn key_label(&self) -> &str {
        self.inner.key_label()
    }

    /// How many open sessions sign with a session copy of the key.
    #[getter]
    fn session_key_copies(&self) -> usize {
        self.inner.session_key_copies()
    }

    /// True once C_Login refused the PIN (the pool never logs in again).
    #[getter]
    fn pin_refused(&self) -> bool {
        self.inner.pin_refused()
    }

    #[getter]
    fn key_placement(&self) -> &'static str {
        match self.inner.placement() {
            p11::KeyPlacement::SessionCopy => "session-copy",
            p11::KeyPlacement::TokenObject => "token-object",
        }
    }

    #[getter]
    fn signature_algorithm(&self) -> &'static str {
        self.inner.algorithm().name()
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// Load a PKCS#11 module and leave it initialised with CKF_OS_LOCKING_OK (it is
/// finalised and re-initialised if python-pkcs11 initialised it without).
#[pyfunction]
pub fn pkcs11_load_module(py: Python<'_>, module: PathBuf) -> NativeResult<()> {
    py.detach(|| p11::load_module(&module).map(|_| ()))
        .map_err(NativeError::Hsm)
}

/// C_CloseAllSessions on a token: ends every session (and the login) this process has on it.
#[pyfunction]
pub fn pkcs11_close_all_sessions(
    py: Python<'_>,
    module: PathBuf,
    token: String,
) -> NativeResult<()> {
    py.detach(|| p11::close_all_sessions(&module, &token))
        .map_err(NativeError::Hsm)
}

/// C_InitToken + C_InitPIN on the first uninitialised token of the module.
#[pyfunction]
pub fn pkcs11_init_token(
    py: Python<'_>,
    module: PathBuf,
    label: String,
    so_pin: &Bound<'_, PyAny>,
    user_pin: &Bound<'_, PyAny>,
) -> NativeResult<()> {
    let so = secret_pin(so_pin)?;
    let user = secret_pin(user_pin)?;
    py.detach(move || p11::init_token(&module, &label, &so, &user))
        .map_err(NativeError::Hsm)
}
