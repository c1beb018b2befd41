//! porthos._native: the only crate of porthos that knows Python.
//!
//! Batches cross the boundary once: every function takes whole batches, copies the
//! arguments out under the GIL, releases it for the work, and hands results back
//! as NumPy arrays or DerBatch buffers.

mod args;
mod batch;
mod cms;
mod crl;
mod csr;
mod error;
mod hex_serials;
mod hsm;
mod keys;
mod ocsp_serve;
mod ocsp_sign;
mod rpki;
mod rpki_point;
mod tables;
mod template;
mod threads;
mod typed_args;
mod verify;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Benchmarks refuse to run on debug builds (pydantic-core's build_profile).
    m.add(
        "BUILD_PROFILE",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    m.add("MAX_THREADS", threads::MAX_THREADS)?;
    tables::add(m)?;
    m.add_class::<batch::DerBatch>()?;
    m.add_class::<csr::CsrBatch>()?;
    m.add_class::<keys::SoftwareKey>()?;
    m.add_class::<template::Template>()?;
    m.add_function(wrap_pyfunction!(csr::parse_csrs, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_csrs, m)?)?;
    m.add_class::<verify::CsrVerification>()?;
    m.add_function(wrap_pyfunction!(keys::generate_serials, m)?)?;
    m.add_function(wrap_pyfunction!(keys::encode_name, m)?)?;
    m.add_function(wrap_pyfunction!(keys::key_identifier, m)?)?;
    m.add_function(wrap_pyfunction!(keys::ecdsa_raw_to_der, m)?)?;
    m.add_function(wrap_pyfunction!(keys::tbs_digests, m)?)?;
    m.add_function(wrap_pyfunction!(keys::bench_sign_p256, m)?)?;
    m.add_function(wrap_pyfunction!(keys::bench_sign_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::bench_rsa_keygen, m)?)?;
    // CRLs (issue 4).
    m.add_class::<crl::CrlDrafts>()?;
    m.add_class::<crl::CrlInfo>()?;
    m.add_function(wrap_pyfunction!(crl::crl_drafts, m)?)?;
    m.add_function(wrap_pyfunction!(crl::parse_crl, m)?)?;
    m.add_function(wrap_pyfunction!(hex_serials::serials_from_hex_text, m)?)?;
    m.add_function(wrap_pyfunction!(crl::crl_delta_columns, m)?)?;
    m.add_function(wrap_pyfunction!(crl::crl_merge_columns, m)?)?;
    m.add_function(wrap_pyfunction!(crl::crl_shard_of, m)?)?;
    m.add_function(wrap_pyfunction!(crl::crl_read_revocations_csv, m)?)?;
    m.add_function(wrap_pyfunction!(crl::crl_hex_serials, m)?)?;
    m.add_class::<hsm::Pkcs11Pool>()?;
    m.add_function(wrap_pyfunction!(hsm::pkcs11_load_module, m)?)?;
    m.add_function(wrap_pyfunction!(hsm::pkcs11_close_all_sessions, m)?)?;
    m.add_function(wrap_pyfunction!(hsm::pkcs11_init_token, m)?)?;
    // CMS SignedData for the RA (issue 6).
    m.add_class::<cms::SignedDataInfo>()?;
    m.add_function(wrap_pyfunction!(cms::verify_signed_data, m)?)?;
    // The certs-only .p7c bundle at caIssuers URLs (issue 16).
    m.add_function(wrap_pyfunction!(cms::cms_certs_only, m)?)?;
    // OCSP response pre-signing (issue 17).
    m.add_class::<ocsp_sign::OcspTemplate>()?;
    m.add_function(wrap_pyfunction!(ocsp_sign::write_der_files, m)?)?;
    // OCSP request parsing and the responder (issue 17).
    m.add_class::<ocsp_serve::OcspCertId>()?;
    m.add_class::<ocsp_serve::OcspRequestInfo>()?;
    m.add_function(wrap_pyfunction!(ocsp_serve::parse_ocsp_request, m)?)?;
    m.add_function(wrap_pyfunction!(ocsp_serve::ocsp_serve, m)?)?;
    // The RPKI engine (issue 18).
    rpki::add(m)?;
    rpki_point::add(m)?;
    Ok(())
}
