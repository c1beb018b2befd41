//! The pre-signed responses on disk, read into one immutable snapshot.
//!
//! The contract is written by `porthos ocsp presign` (docs/ocsp-responder.md):
//!
//! ```text
//! W/ocsp/<CA-NAME>/issuer.der      the CA certificate (CertID hashes come from it)
//! W/ocsp/<CA-NAME>/config.json     {"nonce": "echo"|"ignore", "hashes": [...], "max_age_hint": s}
//! W/ocsp/<CA-NAME>/index.tsv       header + serial_hex hash status this_update next_update
//!                                  produced_at sha256_hex path   (times: Unix seconds)
//! W/ocsp/<CA-NAME>/responses/<hash>/<SERIALHEX>.der
//! ```
//!
//! The index is replaced atomically (os.replace), so a snapshot is rebuilt whenever
//! a file's (inode, mtime, size) changes and swapped in whole; requests in flight keep
//! the snapshot they started with. A response file whose SHA-256 is unchanged is
//! taken from the previous snapshot instead of being read again, so an incremental
//! re-presign costs a reload of the changed files only.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest;
use bytes::Bytes;
use hyper::header::HeaderValue;
use porthos_core::ocsp::request::HashAlg;
use porthos_core::x509::cert::parse_certificate;

/// How a CA treats a request's nonce (the CP/CPS decides; Carillon echoes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoncePolicy {
    /// Sign on demand and echo the nonce (RFC 8954).
    Echo,
    /// Serve the pre-signed response; the nonce is not echoed.
    Ignore,
}

/// One pre-signed response and what its caching headers need (RFC 5019 §6.2); the
/// headers that do not depend on the time of the request are made once, at load.
#[derive(Debug, Clone)]
pub struct Entry {
    pub this_update: i64,
    pub next_update: i64,
    pub produced_at: i64,
    /// Lower-case hex SHA-256 of `der`: the ETag.
    pub sha256_hex: String,
    pub der: Bytes,
    /// `"<sha256_hex>"`.
    pub etag: HeaderValue,
    /// thisUpdate as an HTTP date (as Boulder does).
    pub last_modified: HeaderValue,
    /// nextUpdate as an HTTP date.
    pub expires: HeaderValue,
}

fn http_date(t: i64) -> HeaderValue {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("an HTTP date is a header value")
}

impl Entry {
    pub fn new(
        this_update: i64,
        next_update: i64,
        produced_at: i64,
        sha256_hex: String,
        der: Bytes,
    ) -> Entry {
        let etag =
            HeaderValue::from_str(&format!("\"{sha256_hex}\"")).expect("hex is a header value");
        Entry {
            this_update,
            next_update,
            produced_at,
            sha256_hex,
            der,
            etag,
            last_modified: http_date(this_update),
            expires: http_date(next_update),
        }
    }
}

/// A serial magnitude (at most 20 octets, RFC 5280 §4.1.2.2) as a fixed-size key:
/// its length, then its octets, zero-padded; lookups need no allocation.
pub type SerialKey = [u8; 21];

pub fn serial_key(magnitude: &[u8]) -> Option<SerialKey> {
    if magnitude.len() > 20 {
        return None;
    }
    let mut k = [0u8; 21];
    k[0] = magnitude.len() as u8;
    k[1..1 + magnitude.len()].copy_from_slice(magnitude);
    Some(k)
}

/// One CA folder.
#[derive(Debug)]
pub struct CaState {
    pub name: String,
    pub nonce: NoncePolicy,
    /// The CertID hashes that have pre-signed files.
    pub hashes: Vec<HashAlg>,
    /// (hash, serial) → response.
    pub entries: HashMap<(HashAlg, SerialKey), Arc<Entry>>,
}

/// Everything the responder serves, immutable once built.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub cas: Vec<Arc<CaState>>,
    /// (hash, issuerNameHash ‖ issuerKeyHash, zero-padded) → index into `cas`.
    by_issuer: HashMap<(HashAlg, [u8; 64]), usize>,
}

/// issuerNameHash ‖ issuerKeyHash, zero-padded to 64 octets (two SHA-256 outputs);
/// the hash algorithm beside it in the key fixes the lengths.
fn issuer_key(name_hash: &[u8], key_hash: &[u8]) -> Option<[u8; 64]> {
    let n = name_hash.len();
    if n + key_hash.len() > 64 {
        return None;
    }
    let mut k = [0u8; 64];
    k[..n].copy_from_slice(name_hash);
    k[n..n + key_hash.len()].copy_from_slice(key_hash);
    Some(k)
}

impl Snapshot {
    /// The CA whose certificate gives these CertID hashes, if served.
    pub fn ca_for(
        &self,
        hash: HashAlg,
        name_hash: &[u8],
        key_hash: &[u8],
    ) -> Option<&Arc<CaState>> {
        let key = issuer_key(name_hash, key_hash)?;
        self.by_issuer.get(&(hash, key)).map(|&i| &self.cas[i])
    }
}

/// What identifies a version of a file: replaced files get a new inode.
pub type Fingerprint = Vec<(PathBuf, u64, i128, u64)>;

/// The (inode, mtime ns, size) of every input file under `ocsp_dir`, in name order.
pub fn fingerprint(ocsp_dir: &Path) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for dir in ca_dirs(ocsp_dir).unwrap_or_default() {
        for f in ["issuer.der", "config.json", "index.tsv"] {
            let p = dir.join(f);
            if let Ok(m) = fs::metadata(&p) {
                let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                out.push((p, m.ino(), mtime, m.size()));
            }
        }
    }
    out
}

fn ca_dirs(ocsp_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(ocsp_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("index.tsv").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn sha(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    let a = match alg {
        HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha256 => &digest::SHA256,
    };
    digest::digest(a, data).as_ref().to_vec()
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A serial in hex (either case, leading zeros allowed) as its magnitude.
pub fn serial_from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches('0');
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
        .collect()
}

fn parse_config(text: &str) -> Result<(NoncePolicy, Vec<HashAlg>), String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("config.json: {e}"))?;
    let nonce = match v.get("nonce").and_then(|n| n.as_str()) {
        Some("echo") => NoncePolicy::Echo,
        Some("ignore") | None => NoncePolicy::Ignore,
        Some(other) => return Err(format!("config.json: nonce {other:?} is not echo/ignore")),
    };
    let mut hashes = Vec::new();
    for h in v
        .get("hashes")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let name = h.as_str().unwrap_or("");
        hashes.push(
            HashAlg::from_name(name)
                .ok_or_else(|| format!("config.json: unknown hash {name:?}"))?,
        );
    }
    Ok((nonce, hashes))
}

/// A relative path that stays inside the CA folder.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("index.tsv: path {rel:?} leaves the CA folder"));
    }
    Ok(dir.join(p))
}

fn load_ca(dir: &Path, previous: Option<&CaState>) -> Result<CaState, String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let err = |m: String| format!("{}: {m}", dir.display());
    let read = |f: &str| fs::read(dir.join(f)).map_err(|e| err(format!("{f}: {e}")));
    let config = String::from_utf8(read("config.json")?)
        .map_err(|_| err("config.json is not UTF-8".into()))?;
    let (nonce, hashes) = parse_config(&config).map_err(err)?;
    let index =
        String::from_utf8(read("index.tsv")?).map_err(|_| err("index.tsv is not UTF-8".into()))?;
    let mut entries = HashMap::new();
    for (n, line) in index.lines().enumerate() {
        if n == 0 && line.starts_with("serial_hex") || line.is_empty() {
            continue;
        }
        let bad = |what: &str| err(format!("index.tsv line {}: {what}", n + 1));
        let cols: Vec<&str> = line.split('\t').collect();
        let [serial_hex, hash, _status, this_u, next_u, produced, sha_hex, rel] = cols[..] else {
            return Err(bad("expected 8 tab-separated columns"));
        };
        let serial = serial_from_hex(serial_hex)
            .and_then(|m| serial_key(&m))
            .ok_or_else(|| bad("serial_hex"))?;
        let alg = HashAlg::from_name(hash).ok_or_else(|| bad("hash"))?;
        let time = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| bad("time is not Unix seconds"))
        };
        let sha256_hex = sha_hex.to_ascii_lowercase();
        let key = (alg, serial);
        // Reuse the bytes of an unchanged response (same digest) from the last snapshot.
        let reused = previous
            .and_then(|p| p.entries.get(&key))
            .filter(|e| e.sha256_hex == sha256_hex)
            .map(|e| e.der.clone());
        let der = match reused {
            Some(d) => d,
            None => {
                let path = inside(dir, rel).map_err(err)?;
                let data = fs::read(&path).map_err(|e| bad(&format!("{}: {e}", path.display())))?;
                if hex(&sha(HashAlg::Sha256, &data)) != sha256_hex {
                    return Err(bad("sha256_hex differs from the response file"));
                }
                Bytes::from(data)
            }
        };
        let entry = Entry::new(
            time(this_u)?,
            time(next_u)?,
            time(produced)?,
            sha256_hex,
            der,
        );
        entries.insert(key, Arc::new(entry));
    }
    Ok(CaState {
        name,
        nonce,
        hashes,
        entries,
    })
}

/// Build a snapshot of every CA folder under `ocsp_dir`. A CA that fails to load is
/// an error when there is no `previous` snapshot (start-up); on reload it keeps its
/// previous state and the error is returned beside the snapshot for the log.
pub fn load(
    ocsp_dir: &Path,
    previous: Option<&Snapshot>,
) -> Result<(Snapshot, Vec<String>), String> {
    let dirs = ca_dirs(ocsp_dir).map_err(|e| format!("{}: {e}", ocsp_dir.display()))?;
    let mut snap = Snapshot::default();
    let mut errors = Vec::new();
    for dir in dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let prev = previous.and_then(|p| p.cas.iter().find(|c| c.name == name));
        let loaded = fs::read(dir.join("issuer.der"))
            .map_err(|e| format!("{}: issuer.der: {e}", dir.display()))
            .and_then(|issuer| {
                let ca = load_ca(&dir, prev.map(|a| a.as_ref()))?;
                Ok((issuer, Arc::new(ca)))
            });
        let (issuer, ca) = match (loaded, previous) {
            (Ok(x), _) => x,
            (Err(e), None) => return Err(e),
            (Err(e), Some(_)) => {
                errors.push(e);
                match (prev, fs::read(dir.join("issuer.der"))) {
                    (Some(p), Ok(issuer)) => (issuer, p.clone()),
                    _ => continue,
                }
            }
        };
        let cert = parse_certificate(&issuer)
            .map_err(|e| format!("{}: issuer.der: {e}", dir.display()))?;
        let i = snap.cas.len();
        for alg in [HashAlg::Sha1, HashAlg::Sha256] {
            // CertID hashes (RFC 6960 §4.1.1): the issuer's subject Name DER and the
            // subjectPublicKey BIT STRING value without tag, length and unused bits.
            let key = issuer_key(
                &sha(alg, cert.subject_der),
                &sha(alg, cert.spki.subject_public_key),
            )
            .expect("two hash outputs fit 64 octets");
            snap.by_issuer.insert((alg, key), i);
        }
        snap.cas.push(ca);
    }
    Ok((snap, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_hex_forms() {
        assert_eq!(serial_from_hex("0A1b"), Some(vec![0x0a, 0x1b]));
        assert_eq!(serial_from_hex("00abc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(serial_from_hex("0"), None);
        assert_eq!(serial_from_hex("xyz"), None);
        assert_eq!(serial_from_hex(&"1".repeat(41)), None);
    }

    #[test]
    fn paths_stay_inside() {
        let d = Path::new("/w/ocsp/ca");
        assert!(inside(d, "responses/sha1/01.der").is_ok());
        for bad in ["../x.der", "/etc/passwd", "", "responses/../../x"] {
            assert!(inside(d, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_values() {
        let (n, h) =
            parse_config(r#"{"nonce":"echo","hashes":["sha1","sha256"],"max_age_hint":60}"#)
                .unwrap();
        assert_eq!(
            (n, h),
            (NoncePolicy::Echo, vec![HashAlg::Sha1, HashAlg::Sha256])
        );
        assert!(parse_config(r#"{"nonce":"maybe"}"#).is_err());
        assert!(parse_config(r#"{"hashes":["md5"]}"#).is_err());
    }
}
