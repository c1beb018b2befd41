//! Readers for the scalar arguments of the public native API, used as
//! `#[pyo3(from_py_with = ...)]`.
//!
//! pyo3's own extraction raises `TypeError` for a wrong type and `OverflowError` for a
//! negative count. The README promises a `PorthosError` for every argument error
//! (issue 20 §3), so these raise `BatchArgumentError`, naming the argument and the type
//! that came. pyo3 passes an error that is not exactly a `TypeError` through unchanged.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyString};

use crate::batch::DerBatch;
use crate::error::NativeError;
use crate::keys::SoftwareKey;
use crate::threads::MAX_THREADS;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn refused(name: &str, what: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    NativeError::Batch(format!("{name}: expected {what}, got {}", type_name(obj))).into()
}

/// bytes, bytearray or any object exporting a byte buffer (memoryview, uint8 array); a
/// `str` is refused: it has no defined byte encoding here.
pub fn bytes_of(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if !obj.is_instance_of::<PyString>() {
        if let Ok(v) = PyBuffer::<u8>::get(obj).and_then(|b| b.to_vec(obj.py())) {
            return Ok(v);
        }
    }
    Err(refused(name, "bytes", obj))
}

pub fn str_of(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(refused(name, "str", obj)),
    }
}

/// A thread count: None (the default pool) or an int in 1..=MAX_THREADS. A bool is
/// refused although Python counts it an int: `threads=True` is a mistake, not one thread.
pub fn threads_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if obj.is_none() {
        return Ok(None);
    }
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(refused("threads", "an int or None", obj));
    }
    match obj.extract::<u64>() {
        Ok(n) if (1..=MAX_THREADS as u64).contains(&n) => Ok(Some(n as usize)),
        _ => {
            // A huge int's repr is long (or refused past 4300 digits): name a short one.
            let text = obj.repr().map(|r| r.to_string()).unwrap_or_default();
            let shown = if text.is_empty() || text.len() > 24 {
                "that int"
            } else {
                &text
            };
            Err(NativeError::Batch(format!("threads: {shown} is outside 1..{MAX_THREADS}")).into())
        }
    }
}

/// A named reader for one argument: `from_py_with` takes a function of the object only.
macro_rules! reader {
    ($fn:ident, $arg:literal, bytes) => {
        pub fn $fn(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
            bytes_of(obj, $arg)
        }
    };
    ($fn:ident, $arg:literal, opt_bytes) => {
        pub fn $fn(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
            if obj.is_none() {
                return Ok(None);
            }
            bytes_of(obj, $arg).map(Some)
        }
    };
    ($fn:ident, $arg:literal, str) => {
        pub fn $fn(obj: &Bound<'_, PyAny>) -> PyResult<String> {
            str_of(obj, $arg)
        }
    };
    ($fn:ident, $arg:literal, opt_str) => {
        pub fn $fn(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
            if obj.is_none() {
                return Ok(None);
            }
            str_of(obj, $arg).map(Some)
        }
    };
}

reader!(der, "der", bytes);
reader!(message, "message", bytes);
reader!(issuer_name_der, "issuer_name_der", bytes);
reader!(issuer_cert_der, "issuer_cert_der", bytes);
reader!(issuer_key_id, "issuer_key_id", opt_bytes);
reader!(key_type, "key_type", str);
reader!(spec_json, "spec_json", str);
reader!(signature_algorithm, "signature_algorithm", str);
reader!(opt_signature_algorithm, "signature_algorithm", opt_str);

/// The index of a batch accessor: an int (negative counts from the end where the
/// accessor allows it); anything else is refused by name.
pub fn index(obj: &Bound<'_, PyAny>) -> PyResult<isize> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(refused("index", "an int", obj));
    }
    obj.extract::<isize>()
        .map_err(|_| NativeError::Batch("index: out of range".into()).into())
}

/// A boolean flag: only True or False (pyo3 refuses 0/1 with a TypeError).
pub fn verify_flag(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| refused("verify", "True or False", obj))
}

/// The signing key of `Template.issue` and the bench: a SoftwareKey (a frozen class, so
/// the handle is enough; the key itself is shared, not copied).
pub fn signer(obj: &Bound<'_, PyAny>) -> PyResult<Py<SoftwareKey>> {
    obj.cast::<SoftwareKey>()
        .map(|k| k.clone().unbind())
        .map_err(|_| refused("signer", "a SoftwareKey", obj))
}

pub fn tbs_batch(obj: &Bound<'_, PyAny>) -> PyResult<Py<DerBatch>> {
    obj.cast::<DerBatch>()
        .map(|b| b.clone().unbind())
        .map_err(|_| refused("tbs", "a DerBatch", obj))
}
