//! X.509 pieces: names, times, extensions, keys and PKCS#10 requests.

pub mod cert;
pub mod csr;
pub mod ext;
pub mod name_encode;
pub mod name_parse;
pub mod oids;
pub mod san;
pub mod spki;
pub mod time;
