//! porthos-core: the pure-Rust half of porthos (no pyo3 here).
//!
//! * [`der`]: a strict, zero-copy DER reader and an exact-length writer.
//! * [`x509`]: names, times, extensions, SubjectPublicKeyInfo and PKCS#10 CSRs.
//! * [`template`]: certificate profiles compiled into fixed bytes plus typed holes.
//! * [`sign`]: the `Signer` trait and aws-lc-rs software keys.
//! * [`crl`]: streaming CRL writer, strict parser, shards and delta CRLs.
//! * [`cms`]: CMS SignedData (RFC 5652) reading and signer verification.
//! * [`verify`]: batch signature verification (CSR proof of possession).
//! * [`ocsp`]: the OCSP request parser (RFC 6960 §4.1), response templates and batch
//!   pre-signing (RFC 6960, RFC 5019).
//! * [`rpki`]: RFC 3779 resources, SIA, RFC 6488 signed objects, manifests and ROAs.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cms;
pub mod crl;
pub mod der;
pub mod error;
pub mod fuzz_props;
pub mod ocsp;
pub mod rpki;
pub mod sign;
pub mod template;
pub mod verify;
pub mod x509;

pub use error::{DerError, DerErrorKind};
