//! OCSP (RFC 6960, with the RFC 5019 lightweight profile): pre-signed responses.
//!
//! * [`response`]: a BasicOCSPResponse compiled once per (responder, issuer, CertID
//!   hash) into fixed runs plus holes, filled and signed N at a time.

pub mod response;
