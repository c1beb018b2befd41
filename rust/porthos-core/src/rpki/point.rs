//! A publication point kept between changes, so that re-issuing its manifest and CRL
//! after one object changed costs what the output costs, not what rebuilding the
//! point's state costs (issue 18 §6: ≤ 50 ms at 100,000 objects).
//!
//! * The manifest's file list (RFC 9286 §4.2.1) is a sorted map file name → SHA-256:
//!   one change is one O(log n) replace or remove, the running length of the encoded
//!   `fileList` is kept, and [`PointState::manifest_content`] writes the eContent into
//!   one buffer of the exact size (no per-entry allocation, no re-validation: names
//!   are checked once, on the way in, and are unique by construction). The bytes are
//!   those of [`super::manifest::encode_manifest`] given the same files in name order
//!   (tested below).
//! * The CRL's entries (RFC 6487 §5: serial and revocation date, no entry extensions)
//!   are a sorted map serial → time, kept in the CRL writer's key form, so the writer
//!   reads them in serial order without a copy of the world.
//!
//! The one-time key of each new manifest (RFC 9286 §4.1, RFC 6487 §3) is the caller's
//! to bring, from keys generated ahead (keygen is ~75 ms, far over the budget).

use std::collections::BTreeMap;

use super::manifest::{valid_file_name, MAX_NUMBER_OCTETS};
use crate::crl::columns::OwnedColumns;
use crate::crl::{INVALIDITY_NONE, REASON_NONE};
use crate::der::writer::tlv_len;
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};

/// A publication point's manifest entries and CRL entries.
#[derive(Debug, Clone, Default)]
pub struct PointState {
    files: BTreeMap<String, [u8; 32]>,
    /// Sum of the FileAndHash TLV lengths of `files` (the fileList content length).
    list_len: usize,
    /// Right-aligned 20-octet serial magnitude → revocation time (Unix seconds).
    revoked: BTreeMap<[u8; 20], i64>,
}

fn unencodable(what: &'static str, path: impl Into<String>) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

/// `SEQUENCE { IA5String name, BIT STRING (0 unused bits) hash }` length.
fn entry_len(name: &str) -> usize {
    let content = tlv_len(name.len()) + tlv_len(33);
    tlv_len(content)
}

impl PointState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Put (or replace) one file's hash; `Ok(true)` when it replaced one.
    pub fn set(&mut self, name: &str, sha256: [u8; 32]) -> Result<bool, DerError> {
        if !valid_file_name(name) {
            return Err(unencodable(
                "file name outside the RFC 9286 §4.2.2 syntax",
                name.to_string(),
            ));
        }
        let replaced = self.files.insert(name.to_string(), sha256).is_some();
        if !replaced {
            self.list_len += entry_len(name);
        }
        Ok(replaced)
    }

    /// Remove one file; `true` when it was listed.
    pub fn remove(&mut self, name: &str) -> bool {
        let was = self.files.remove(name).is_some();
        if was {
            self.list_len -= entry_len(name);
        }
        was
    }

    pub fn get(&self, name: &str) -> Option<&[u8; 32]> {
        self.files.get(name)
    }

    /// Add a CRL entry (RFC 6487 §5); `serial` is a big-endian magnitude of 1..=20
    /// octets (leading zeros allowed), not zero. Revoking again keeps the first time.
    pub fn revoke(&mut self, serial: &[u8], time: i64) -> Result<(), DerError> {
        let key = serial_key(serial)?;
        self.revoked.entry(key).or_insert(time);
        Ok(())
    }

    /// Drop a CRL entry (the certificate expired: RFC 5280 §3.3 lets it go).
    pub fn unrevoke(&mut self, serial: &[u8]) -> Result<bool, DerError> {
        Ok(self.revoked.remove(&serial_key(serial)?).is_some())
    }

    pub fn revoked_len(&self) -> usize {
        self.revoked.len()
    }

    /// The CRL entries in the writer's canonical form (serial order, no reasons).
    pub fn crl_columns(&self) -> OwnedColumns {
        let mut cols = OwnedColumns::with_capacity(self.revoked.len());
        for (key, &t) in &self.revoked {
            let start = key.iter().position(|&b| b != 0).unwrap_or(20);
            cols.push(&key[start..], t, REASON_NONE, INVALIDITY_NONE);
        }
        cols
    }

    /// The Manifest eContent (RFC 9286 §4.2) listing every file in name order.
    pub fn manifest_content(
        &self,
        number: &[u8],
        this_update: i64,
        next_update: i64,
    ) -> Result<Vec<u8>, DerError> {
        let num = writer::unsigned_integer_content(number);
        if num.len() > MAX_NUMBER_OCTETS {
            return Err(unencodable(
                "manifestNumber longer than 20 octets (RFC 9286 §4.2.1)",
                "manifestNumber",
            ));
        }
        if next_update <= this_update {
            return Err(unencodable(
                "nextUpdate must be later than thisUpdate (RFC 9286 §4.2.1)",
                "nextUpdate",
            ));
        }
        // Everything before fileList is small: encode it the ordinary way.
        let head = super::manifest::encode_manifest(number, this_update, next_update, &[])?;
        // head = SEQUENCE { number, times, alg, SEQUENCE {} }: strip the outer header
        // and the empty list (2 octets) to get the prefix of the body.
        let (_, body_at) = outer(&head);
        let prefix = &head[body_at..head.len() - 2];
        let body_len = prefix.len() + tlv_len(self.list_len);
        let mut out = Vec::with_capacity(tlv_len(body_len));
        writer::write_header(&mut out, tag::SEQUENCE, body_len);
        out.extend_from_slice(prefix);
        writer::write_header(&mut out, tag::SEQUENCE, self.list_len);
        for (name, hash) in &self.files {
            let content = tlv_len(name.len()) + tlv_len(33);
            writer::write_header(&mut out, tag::SEQUENCE, content);
            writer::write_header(&mut out, tag::IA5_STRING, name.len());
            out.extend_from_slice(name.as_bytes());
            writer::write_header(&mut out, tag::BIT_STRING, 33);
            out.push(0);
            out.extend_from_slice(hash);
        }
        debug_assert_eq!(out.len(), out.capacity());
        Ok(out)
    }
}

/// (content length, offset of the content) of the TLV at the start of `der`.
fn outer(der: &[u8]) -> (usize, usize) {
    let first = der[1];
    if first < 0x80 {
        return (first as usize, 2);
    }
    let n = (first & 0x7f) as usize;
    let len = der[2..2 + n]
        .iter()
        .fold(0usize, |a, &b| (a << 8) | b as usize);
    (len, 2 + n)
}

fn serial_key(serial: &[u8]) -> Result<[u8; 20], DerError> {
    let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    let mag = &serial[start..];
    if mag.is_empty() || mag.len() > 20 {
        return Err(unencodable(
            "serial must be 1..=20 octets and not zero (RFC 5280 §4.1.2.2)",
            "serial",
        ));
    }
    let mut key = [0u8; 20];
    key[20 - mag.len()..].copy_from_slice(mag);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpki::manifest::{encode_manifest, parse_manifest};

    fn h(i: u32) -> [u8; 32] {
        let mut x = [0u8; 32];
        x[..4].copy_from_slice(&i.to_be_bytes());
        x[31] = 0xa5;
        x
    }

    #[test]
    fn same_bytes_as_the_plain_encoder_through_changes() {
        let mut s = PointState::new();
        // Lengths cross the 1-, 2- and 3-octet length forms of the fileList.
        for n in [0usize, 1, 2, 3, 40, 2000] {
            while s.len() < n {
                let i = s.len() as u32;
                s.set(&format!("o{i}-{}.roa", "x".repeat(i as usize % 50)), h(i))
                    .unwrap();
            }
            for number in [&[][..], &[1], &[0x80], &[0x7f; 20]] {
                let got = s
                    .manifest_content(number, 1_700_000_000, 1_700_086_400)
                    .unwrap();
                let files: Vec<(&str, &[u8])> =
                    s.files.iter().map(|(n, h)| (n.as_str(), &h[..])).collect();
                let want = encode_manifest(number, 1_700_000_000, 1_700_086_400, &files).unwrap();
                assert_eq!(got, want, "n={n}");
                assert_eq!(parse_manifest(&got).unwrap().files.len(), n);
            }
        }
        // Replace, remove, add: still the same bytes as encoding from scratch.
        assert!(s.set("o5-xxxxx.roa", h(99)).unwrap());
        assert!(s.remove("o7-xxxxxxx.roa"));
        assert!(!s.remove("o7-xxxxxxx.roa"));
        assert!(!s.set("new.crl", h(7)).unwrap());
        let files: Vec<(&str, &[u8])> = s.files.iter().map(|(n, h)| (n.as_str(), &h[..])).collect();
        assert_eq!(
            s.manifest_content(&[9], 10, 20).unwrap(),
            encode_manifest(&[9], 10, 20, &files).unwrap()
        );
    }

    #[test]
    fn bad_names_serials_and_times_refused() {
        let mut s = PointState::new();
        assert!(s.set("../x.roa", h(1)).is_err());
        assert!(s.set("x.ROA", h(1)).is_err());
        assert!(s.revoke(&[], 1).is_err());
        assert!(s.revoke(&[0, 0], 1).is_err());
        assert!(s.revoke(&[1; 21], 1).is_err());
        assert!(s.manifest_content(&[1; 21], 1, 2).is_err());
        assert!(s.manifest_content(&[1], 2, 2).is_err());
    }

    #[test]
    fn crl_columns_in_serial_order() {
        let mut s = PointState::new();
        s.revoke(&[0x01, 0x00], 5).unwrap();
        s.revoke(&[0x00, 0x02], 6).unwrap();
        s.revoke(&[0x02], 7).unwrap(); // same serial: the first time stays
        let c = s.crl_columns();
        assert_eq!(c.len(), 2);
        assert_eq!(c.revocation_times, vec![6, 5]);
        assert!(s.unrevoke(&[2]).unwrap());
        assert_eq!(s.revoked_len(), 1);
    }
}
