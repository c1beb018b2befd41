//! porthos-mb: multi-buffer P-256 ECDSA verification.
//!
//! Eight signatures are verified side by side, one per 64-bit lane of an AVX-512
//! register, with field elements in radix 2^52 so that the IFMA instructions
//! `vpmadd52luq`/`vpmadd52huq` do the limb products (the approach of Intel's
//! crypto_mb, Drucker–Gueron "Fast modular squaring with AVX512IFMA", 2019;
//! reimplemented here from the math, no code taken).
//!
//! * [`verify_p256_batch`]: the entry point. Uses the IFMA kernel when the CPU has
//!   AVX-512F + IFMA and `PORTHOS_DISABLE_IFMA` is not `1`; otherwise aws-lc-rs,
//!   one signature at a time. The verdicts are the same either way.
//! * [`verify_p256_batch_portable`]: the same kernel on portable `[u64; 8]` lanes
//!   (slow; for tests and fuzzing on any CPU).
//! * [`verify_p256_fallback`]: aws-lc-rs for one item.
//!
//! Inputs are digests, not messages: ECDSA-with-SHA-256 over P-256 (FIPS 186-5
//! §6.4.2) uses the whole 32-byte digest as e. The public key is the SEC1
//! uncompressed point; the kernel checks it is on the curve (so an off-curve key
//! is simply "false", as with aws-lc-rs), callers should still validate keys first
//! to report WeakKey rather than a bad signature.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![deny(rust_2018_idioms)]

mod field;
mod kernel;
mod lanes;
mod point;
#[doc(hidden)]
pub mod profile;
mod scalar;
mod table;

#[cfg(test)]
mod tests;

use kernel::LaneInput;

/// One ECDSA P-256 / SHA-256 verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P256Item {
    /// SEC1 uncompressed point: 0x04 || X || Y.
    pub public_key: [u8; 65],
    /// SHA-256 of the signed message.
    pub digest: [u8; 32],
    /// r, big-endian, left-padded to 32 bytes.
    pub r: [u8; 32],
    /// s, big-endian, left-padded to 32 bytes.
    pub s: [u8; 32],
}

/// Environment switch that forces the aws-lc-rs path (comparisons, debugging).
pub const DISABLE_ENV: &str = "PORTHOS_DISABLE_IFMA";

/// Does this CPU have AVX-512F and AVX-512 IFMA?
pub fn ifma_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Will [`verify_p256_batch`] use the kernel (detected and not disabled)?
pub fn ifma_enabled() -> bool {
    ifma_detected() && std::env::var_os(DISABLE_ENV).is_none_or(|v| v != "1")
}

/// Verify every item; `out[i]` is item i's verdict. IFMA kernel when
/// [`ifma_enabled`], aws-lc-rs otherwise.
pub fn verify_p256_batch(items: &[P256Item]) -> Vec<bool> {
    verify_p256_batch_ifma(items)
        .unwrap_or_else(|| items.iter().map(verify_p256_fallback).collect())
}

/// The IFMA kernel, or `None` when it is not enabled on this machine/process.
pub fn verify_p256_batch_ifma(items: &[P256Item]) -> Option<Vec<bool>> {
    if !ifma_enabled() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(run_batches(items, |chunk, gtab| {
            // SAFETY: `ifma_enabled()` returned true just above, so the CPU has
            // AVX-512F and AVX-512 IFMA, the features `verify8_avx` is compiled for.
            unsafe { verify8_avx(chunk, gtab) }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The same kernel on portable lanes (any CPU; much slower).
pub fn verify_p256_batch_portable(items: &[P256Item]) -> Vec<bool> {
    run_batches(items, kernel::verify8::<lanes::Soft>)
}

/// aws-lc-rs, one item.
pub fn verify_p256_fallback(item: &P256Item) -> bool {
    use aws_lc_rs::{digest, signature};
    let Ok(d) = digest::Digest::import_less_safe(&item.digest, &digest::SHA256) else {
        return false;
    };
    let Ok(key) =
        signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, item.public_key)
    else {
        return false;
    };
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&item.r);
    sig[32..].copy_from_slice(&item.s);
    key.verify_digest_sig(&d, &sig).is_ok()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
/// # Safety
/// The CPU must support AVX-512F and AVX-512 IFMA.
unsafe fn verify8_avx(inp: &[LaneInput; 8], gtab: &[u64]) -> u8 {
    kernel::verify8::<lanes::Avx>(inp, gtab)
}

/// Range checks and scalar work for every item, then the kernel in groups of
/// eight. Items failing a range check are `false` without entering the kernel;
/// a short last group is padded with copies of its first lane, whose extra
/// verdicts are dropped.
fn run_batches(items: &[P256Item], kernel: impl Fn(&[LaneInput; 8], &[u64]) -> u8) -> Vec<bool> {
    let mut out = vec![false; items.len()];
    let mut ready: Vec<(usize, LaneInput)> = Vec::with_capacity(items.len());
    let mut pending = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if let Some(p) = precheck(it) {
            pending.push((i, p));
        }
    }
    // w = s^-1 for all items at once (Montgomery's trick): one inversion mod n.
    let s_m: Vec<scalar::Scalar> = pending.iter().map(|(_, p)| scalar::to_mont(&p.s)).collect();
    let w = scalar::batch_inv(&s_m);
    for ((i, p), w) in pending.iter().zip(&w) {
        // mont_mul(a, w·R) = a·w: u1, u2 come out in plain form, < n.
        let u1 = scalar::mont_mul(&p.e, w);
        let u2 = scalar::mont_mul(&p.r, w);
        let (rn, carry) = scalar::add_carry(&p.r, &scalar::N);
        let rn = (!carry && lt_p(&rn)).then(|| field::words_to_limbs(&rn));
        ready.push((
            *i,
            LaneInput {
                qx: field::words_to_limbs(&p.qx),
                qy: field::words_to_limbs(&p.qy),
                u1,
                u2,
                r: field::words_to_limbs(&p.r),
                rn,
            },
        ));
    }
    if ready.is_empty() {
        return out;
    }
    let gtab = table::g_table();
    for group in ready.chunks(8) {
        let lanes: [LaneInput; 8] = core::array::from_fn(|l| group.get(l).unwrap_or(&group[0]).1);
        let mask = kernel(&lanes, gtab);
        for (l, (i, _)) in group.iter().enumerate() {
            out[*i] = mask >> l & 1 == 1;
        }
    }
    out
}

struct Prechecked {
    qx: scalar::Scalar,
    qy: scalar::Scalar,
    r: scalar::Scalar,
    s: scalar::Scalar,
    e: scalar::Scalar,
}

/// SEC1 uncompressed form with coordinates < p, r and s in [1, n-1]
/// (SEC1 v2 §4.1.4 step 1); e = digest mod n.
fn precheck(it: &P256Item) -> Option<Prechecked> {
    if it.public_key[0] != 0x04 {
        return None;
    }
    let qx = scalar::from_be(it.public_key[1..33].try_into().ok()?);
    let qy = scalar::from_be(it.public_key[33..65].try_into().ok()?);
    let r = scalar::from_be(&it.r);
    let s = scalar::from_be(&it.s);
    if !lt_p(&qx) || !lt_p(&qy) || !scalar::in_range(&r) || !scalar::in_range(&s) {
        return None;
    }
    Some(Prechecked {
        qx,
        qy,
        r,
        s,
        e: scalar::reduce_once(&scalar::from_be(&it.digest)),
    })
}

/// a < p, for little-endian words.
fn lt_p(a: &scalar::Scalar) -> bool {
    const P: [u64; 4] = [
        0xffffffffffffffff,
        0x00000000ffffffff,
        0x0000000000000000,
        0xffffffff00000001,
    ];
    for i in (0..4).rev() {
        if a[i] != P[i] {
            return a[i] < P[i];
        }
    }
    false
}
