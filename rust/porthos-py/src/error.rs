//! The one place where Rust errors become Python exceptions. The exception classes
//! are defined in Python (porthos/exceptions.py) and imported here, so they are
//! documented, picklable and carry a stable `.code`.

use porthos_core::crl::CrlError;
use porthos_core::sign::SignError;
use porthos_core::template::SpecError;
use porthos_core::DerError;
use pyo3::PyErr;

pyo3::import_exception!(porthos.exceptions, DerDecodeError);
pyo3::import_exception!(porthos.exceptions, EncodeError);
pyo3::import_exception!(porthos.exceptions, BatchArgumentError);
pyo3::import_exception!(porthos.exceptions, ProfileError);
pyo3::import_exception!(porthos.exceptions, KeyMaterialError);
pyo3::import_exception!(porthos.exceptions, SigningError);
pyo3::import_exception!(porthos.exceptions, CrlSignatureError);
pyo3::import_exception!(porthos.exceptions, HsmError);
pyo3::import_exception!(porthos.exceptions, HsmPinError);
pyo3::import_exception!(porthos.exceptions, HsmNotFoundError);

pub enum NativeError {
    /// Input DER that does not parse.
    Decode(DerError),
    /// A value porthos was asked to encode but cannot (bad OID, oversize serial).
    Encode(String),
    /// A malformed batch argument; names the argument and item.
    Batch(String),
    Spec(SpecError),
    Key(SignError),
    Sign(String),
    /// CRL build/parse errors (porthos_core::crl).
    Crl(CrlError),
    /// PKCS#11 (porthos-pkcs11): missing module/token/key, PIN, other CKR_ codes.
    Hsm(porthos_pkcs11::HsmError),
    Py(PyErr),
}

pub type NativeResult<T> = Result<T, NativeError>;

impl From<PyErr> for NativeError {
    fn from(e: PyErr) -> Self {
        NativeError::Py(e)
    }
}

impl From<SpecError> for NativeError {
    fn from(e: SpecError) -> Self {
        NativeError::Spec(e)
    }
}

impl From<NativeError> for PyErr {
    fn from(e: NativeError) -> PyErr {
        match e {
            NativeError::Decode(e) => decode_error(e),
            NativeError::Encode(m) => EncodeError::new_err(m),
            NativeError::Batch(m) => BatchArgumentError::new_err(m),
            NativeError::Spec(e) => ProfileError::new_err(e.to_string()),
            NativeError::Key(e) => KeyMaterialError::new_err(e.to_string()),
            NativeError::Sign(m) => SigningError::new_err(m),
            NativeError::Crl(e) => match e {
                CrlError::Argument(m) => BatchArgumentError::new_err(m),
                CrlError::Decode(d) => decode_error(d),
                CrlError::BadSignature(m) => CrlSignatureError::new_err(m),
                CrlError::Sign(s) => SigningError::new_err(s.to_string()),
                // Rows that cannot be encoded, duplicates, cancellation.
                other => EncodeError::new_err(other.to_string()),
            },
            NativeError::Hsm(e) => {
                use porthos_pkcs11::HsmError as H;
                let msg = e.to_string();
                match e {
                    H::PinIncorrect { .. } | H::PinLocked { .. } => HsmPinError::new_err(msg),
                    H::ModuleNotFound { .. } | H::TokenNotFound { .. } | H::KeyNotFound { .. } => {
                        HsmNotFoundError::new_err(msg)
                    }
                    H::Argument(_) => BatchArgumentError::new_err(msg),
                    H::Call { .. } => HsmError::new_err(msg),
                }
            }
            NativeError::Py(e) => e,
        }
    }
}

/// DerDecodeError for `e`, carrying the structured location as attributes: `.offset`
/// (byte offset of the offending TLV in the outermost input) and `.path` (dotted field
/// path, most general first; "" for the outermost value). The exception class takes
/// them as constructor arguments (porthos/exceptions.py), so the error stays lazy
/// (no GIL needed here) and pickles with its location.
fn decode_error(e: DerError) -> PyErr {
    DerDecodeError::new_err((e.to_string(), e.offset, e.path))
}
