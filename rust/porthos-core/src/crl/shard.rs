//! Sharded (partitioned) CRLs: every serial belongs to exactly one shard, and each
//! shard is a complete CRL for its scope with its own IssuingDistributionPoint URL
//! (RFC 5280 §5.2.5) and its own CRL number.
//!
//! shard(serial) = serial mod N, the serial read as an unsigned big-endian integer.
//! It depends on nothing but the serial, so the shard of a certificate is known at
//! issuance (its CDP can name the shard URL, the way Let's Encrypt partitions) and
//! never changes; Python computes the same value as `int.from_bytes(serial) % N`.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::crl::columns::{Columns, OwnedColumns};
use crate::crl::writer::{write_tbs, CrlParams, Draft, Idp};
use crate::crl::{CrlError, Progress};

/// The shard of a serial magnitude (leading zeros allowed).
pub fn shard_of(magnitude: &[u8], shards: u32) -> u32 {
    let n = u64::from(shards.max(1));
    // Horner's rule: (acc * 256 + b) mod n never exceeds 2^40 for n < 2^32.
    magnitude
        .iter()
        .fold(0u64, |acc, &b| (acc * 256 + u64::from(b)) % n) as u32
}

/// The IDP URL of a shard: `{shard}` in the template becomes the shard number.
pub fn shard_url(template: &str, shard: u32) -> String {
    template.replace("{shard}", &shard.to_string())
}

/// Validate and order the whole input once (row numbers in errors refer to it), then
/// split it into per-shard columns, each already in serial order.
pub fn split(cols: &Columns<'_>, shards: u32, delta: bool) -> Result<Vec<OwnedColumns>, CrlError> {
    if shards == 0 {
        return Err(CrlError::Argument("shards: at least 1".into()));
    }
    cols.validate(delta)?;
    let order = cols.sorted_order()?;
    let mut out: Vec<OwnedColumns> = (0..shards).map(|_| OwnedColumns::default()).collect();
    out.par_iter_mut().enumerate().for_each(|(s, part)| {
        for &i in &order {
            let i = i as usize;
            let key = cols.key(i);
            if shard_of(key, shards) as usize == s {
                part.push(
                    key,
                    cols.revocation_times[i],
                    cols.reasons[i],
                    cols.invalidity_at(i),
                );
            }
        }
    });
    Ok(out)
}

/// Write (and hash) every shard's TBSCertList in parallel. `numbers[s]` is shard s's
/// CRL number; its IDP carries `url_template` with `{shard}` replaced, plus the
/// only-… flags of `base.idp` if any.
pub fn shard_drafts(
    base: &CrlParams,
    cols: &Columns<'_>,
    numbers: &[Vec<u8>],
    url_template: &str,
    progress: Progress<'_>,
) -> Result<Vec<Draft>, CrlError> {
    let shards =
        u32::try_from(numbers.len()).map_err(|_| CrlError::Argument("too many shards".into()))?;
    if !url_template.contains("{shard}") {
        return Err(CrlError::Argument(format!(
            "url_template {url_template:?} has no {{shard}}"
        )));
    }
    let parts = split(cols, shards, base.delta_base.is_some())?;
    let total = cols.len();
    let done = AtomicUsize::new(0);
    let flags = base.idp.clone().unwrap_or_default();
    parts
        .par_iter()
        .enumerate()
        .map(|(s, part)| {
            let mut p = base.clone();
            p.crl_number = numbers[s].clone();
            p.idp = Some(Idp {
                full_name_uris: vec![shard_url(url_template, s as u32)],
                ..flags.clone()
            });
            let d = write_tbs(&p, &part.view(), &|_, _| true)?;
            let now = done.fetch_add(part.len(), Ordering::Relaxed) + part.len();
            if !progress(now, total) {
                return Err(CrlError::Cancelled);
            }
            Ok(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_serial_mod_n() {
        assert_eq!(shard_of(&[0x01, 0x00], 7), 256 % 7);
        assert_eq!(shard_of(&[0, 0, 0x01, 0x00], 7), 256 % 7);
        let big = [0xffu8; 20];
        // 2^160 - 1 mod 128 = 127
        assert_eq!(shard_of(&big, 128), 127);
        assert_eq!(
            shard_url("http://x/ca-shard-{shard}.crl", 5),
            "http://x/ca-shard-5.crl"
        );
    }
}
