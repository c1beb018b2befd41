//! What to answer: one OCSP request (already out of its HTTP envelope) and the current
//! snapshot in, a decision out. No I/O here, so every rule is tested without a socket.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use porthos_core::ocsp::request::{parse_request, HashAlg, Limits};

use std::sync::Arc;

use crate::store::{serial_key, Entry, NoncePolicy, Snapshot};

/// OCSPResponse with only a responseStatus (RFC 6960 §4.2.1): no responseBytes.
pub const MALFORMED_REQUEST: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x01];
pub const INTERNAL_ERROR: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x02];
pub const TRY_LATER: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x03];
pub const UNAUTHORIZED: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x06];

/// Pre-signed answers cover one CertID per request (RFC 5019 §2.1.1: clients MUST
/// send one); a request with more is `malformedRequest`, found at the second CertID.
pub const LIMITS: Limits = Limits { max_cert_ids: 1 };

/// What a signer needs to make one response on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignJob {
    pub ca: String,
    /// Serial magnitude.
    pub serial: Vec<u8>,
    pub hash: HashAlg,
    /// The nonce octets to echo (RFC 8954), when the CA echoes nonces.
    pub nonce: Option<Vec<u8>>,
}

/// Why a response is signed on demand (for the log and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDemandWhy {
    /// The request carries a nonce and the CA echoes nonces.
    Nonce,
    /// The serial is not in the index: the signer answers `unknown` (RFC 6960 §2.2).
    UnknownSerial,
    /// The CA pre-signs no files for this CertID hash.
    HashNotPresigned,
}

#[derive(Debug, Clone)]
pub enum Decision {
    /// A status-only OCSPResponse (one of the constants above).
    Status(&'static [u8]),
    /// A pre-signed response, served with RFC 5019 §6.2 caching headers.
    Presigned(Arc<Entry>),
    OnDemand(SignJob, OnDemandWhy),
}

/// Decide the answer to `der` (an OCSPRequest) from `snap`.
pub fn decide(snap: &Snapshot, der: &[u8]) -> Decision {
    let Ok(req) = parse_request(der, LIMITS) else {
        return Decision::Status(MALFORMED_REQUEST);
    };
    let id = req.cert_ids[0];
    let Some(ca) = snap.ca_for(id.hash, id.issuer_name_hash, id.issuer_key_hash) else {
        // RFC 6960 §2.3: the responder cannot answer authoritatively for this CA.
        return Decision::Status(UNAUTHORIZED);
    };
    let echo = ca.nonce == NoncePolicy::Echo;
    let job = |why| {
        Decision::OnDemand(
            SignJob {
                ca: ca.name.clone(),
                serial: id.serial.to_vec(),
                hash: id.hash,
                nonce: req.nonce.filter(|_| echo).map(<[u8]>::to_vec),
            },
            why,
        )
    };
    if echo && req.nonce.is_some() {
        return job(OnDemandWhy::Nonce);
    }
    if !ca.hashes.contains(&id.hash) {
        return job(OnDemandWhy::HashNotPresigned);
    }
    // The parser admits serials of at most 20 octets, so the key always exists.
    let found = serial_key(id.serial).and_then(|k| ca.entries.get(&(id.hash, k)));
    match found {
        Some(e) => Decision::Presigned(e.clone()),
        None => job(OnDemandWhy::UnknownSerial),
    }
}

/// The OCSPRequest DER inside a GET path (RFC 6960 appendix A.1, RFC 5019 §5):
/// `/{url-encoding of base64(DER)}`. Accepts the standard and the URL-safe alphabets,
/// with or without padding, percent-encoded or not; `None` when it does not decode.
pub fn decode_get_path(path: &str) -> Option<Vec<u8>> {
    let raw = path.strip_prefix('/')?;
    let mut text = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            text.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            text.push(b[i]);
            i += 1;
        }
    }
    while text.last() == Some(&b'=') {
        text.pop();
    }
    if text.contains(&b'-') || text.contains(&b'_') {
        URL_SAFE_NO_PAD.decode(&text).ok()
    } else {
        STANDARD_NO_PAD.decode(&text).ok()
    }
}

/// `If-None-Match` (RFC 9110 §13.1.2) matches this strong ETag (quoted), or is `*`.
pub fn none_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `Cache-Control` of a pre-signed response at time `now` (RFC 5019 §6.2): max-age
/// runs to nextUpdate, never negative. ETag, Last-Modified (thisUpdate, as Boulder
/// does) and Expires (nextUpdate) are made once per response, in [`Entry::new`].
pub fn cache_control(e: &Entry, now: i64) -> String {
    let max_age = (e.next_update - now).max(0);
    format!("max-age={max_age}, public, no-transform, must-revalidate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_path_encodings() {
        let der = vec![0xfb, 0xff, 0x30, 0x03, 0x0a];
        let std = STANDARD_NO_PAD.encode(&der);
        assert!(std.contains('/') || std.contains('+'));
        for path in [
            format!("/{std}"),
            format!("/{std}="),
            format!("/{}", URL_SAFE_NO_PAD.encode(&der)),
            format!("/{}", std.replace('/', "%2F").replace('+', "%2B")),
            format!("/{}", std.replace('/', "%2f")),
        ] {
            assert_eq!(decode_get_path(&path).as_deref(), Some(&der[..]), "{path}");
        }
        for bad in ["", "/%zz", "/%4", "/!!!!"] {
            assert_eq!(decode_get_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn etag_matching() {
        assert!(none_match("\"ab\"", "\"ab\""));
        assert!(none_match("\"x\", W/\"ab\"", "\"ab\""));
        assert!(none_match("*", "\"ab\""));
        assert!(!none_match("\"abc\"", "\"ab\""));
    }

    #[test]
    fn max_age_never_negative() {
        let e = Entry::new(0, 100, 0, "00".into(), bytes::Bytes::new());
        assert_eq!(
            cache_control(&e, 40),
            "max-age=60, public, no-transform, must-revalidate"
        );
        assert!(cache_control(&e, 500).starts_with("max-age=0,"));
        assert_eq!(e.expires, "Thu, 01 Jan 1970 00:01:40 GMT");
        assert_eq!(e.last_modified, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(e.etag, "\"00\"");
    }

    #[test]
    fn junk_and_unknown_ca() {
        let snap = Snapshot::default();
        assert!(matches!(
            decide(&snap, b"junk"),
            Decision::Status(MALFORMED_REQUEST)
        ));
        use porthos_core::ocsp::request::encode::{request, CertIdSpec};
        let id = CertIdSpec {
            hash: HashAlg::Sha1,
            null_params: true,
            issuer_name_hash: vec![1; 20],
            issuer_key_hash: vec![2; 20],
            serial: vec![9],
        };
        let one = request(std::slice::from_ref(&id), None);
        assert!(matches!(
            decide(&snap, &one),
            Decision::Status(UNAUTHORIZED)
        ));
        let two = request(&[id.clone(), id], None);
        assert!(matches!(
            decide(&snap, &two),
            Decision::Status(MALFORMED_REQUEST)
        ));
    }
}
