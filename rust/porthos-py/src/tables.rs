//! The constant tables of the Rust side, exported so that the Python package takes its
//! names and codes from them instead of keeping copies (tests/test_native_tables.py
//! holds porthos.status and the signature-algorithm lists to these).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use porthos_core::cms::CmsStatus;
use porthos_core::sign::SigAlg;
use porthos_core::verify::VerifyStatus;
use porthos_core::x509::csr::SIGNATURE_ALGORITHMS;
use porthos_core::x509::spki::KeyType;

fn codes<'py>(
    py: Python<'py>,
    items: impl IntoIterator<Item = (&'static str, u8)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, code) in items {
        d.set_item(name, code)?;
    }
    Ok(d)
}

pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Status codes: member name -> code, as in porthos.status.
    let csr = VerifyStatus::ALL.map(|s| (s.name(), s as u8));
    let key = KeyType::ALL.map(|k| (k.name(), k as u8));
    let cms = CmsStatus::ALL.map(|s| (s.name(), s as u8));
    m.add("CSR_STATUS", codes(py, csr)?)?;
    m.add("KEY_TYPE", codes(py, key)?)?;
    m.add("CMS_STATUS", codes(py, cms)?)?;
    m.add("HSM_ITEM_STATUS", codes(py, porthos_pkcs11::ITEM_STATUSES)?)?;
    // Every signature algorithm porthos verifies, by its stable name.
    let names = SIGNATURE_ALGORITHMS.map(|(_, n)| n);
    m.add("SIGNATURE_ALGORITHMS", PyTuple::new(py, names)?)?;
    // The ones it signs with -> the hash of the digest an external signer is handed.
    let signing = PyDict::new(py);
    for a in SigAlg::ALL {
        signing.set_item(a.name(), a.hash().name())?;
    }
    m.add("SIGNING_ALGORITHMS", signing)?;
    Ok(())
}
