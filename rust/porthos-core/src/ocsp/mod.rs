//! OCSP (RFC 6960, RFC 5019): the request parser here; responses in `response`.

pub mod request;
