//! OCSP (RFC 6960, with the RFC 5019 lightweight profile).
//!
//! * [`request`]: the strict-DER request parser of the responder (RFC 6960 §4.1).
//! * [`response`]: a BasicOCSPResponse compiled once per (responder, issuer, CertID
//!   hash) into fixed runs plus holes, filled and signed N at a time.

pub mod request;
pub mod response;
