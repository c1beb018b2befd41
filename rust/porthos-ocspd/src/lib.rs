//! porthos-ocspd: the OCSP responder of porthos (RFC 6960 appendix A, RFC 5019), pure
//! Rust with no pyo3; `porthos ocsp serve` drives it from rust/porthos-py.
//!
//! * [`store`]: the pre-signed responses on disk (`W/ocsp/<CA>/`) as one snapshot.
//! * [`service`]: one request → status-only answer, pre-signed response, or a job for
//!   the on-demand signer; GET path decoding and the RFC 5019 §6.2 caching headers.
//! * [`server`]: hyper 1.x on tokio, reload on index replacement, graceful shutdown.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod server;
pub mod service;
pub mod store;

pub use server::{serve, OnDemandSigner, ServeConfig};
pub use service::SignJob;
