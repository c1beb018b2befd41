//! Where the time of one P-256 verification goes (issue 3 performance investigation).
//!
//! `cargo run --release -p porthos-core --example verify_paths [N]` prints verifications
//! per second, single thread, on N distinct (key, 300-byte message, signature) triples,
//! for each layer we could call:
//!
//! - `porthos`: `verify_signature` on SPKI DER (what verify_signatures does per item:
//!   SPKI parse + ParsedPublicKey::new + verify_sig);
//! - `parsed_key`: pre-parsed `ParsedPublicKey`, `verify_sig` (EVP_DigestVerify:
//!   one EVP_MD_CTX + EVP_PKEY_CTX per call, then hash, then ECDSA);
//! - `digest_first`: pre-parsed key, SHA-256 computed outside, `verify_digest_sig`;
//! - `raw_ecdsa_verify`: aws-lc's `ECDSA_verify` on a pre-built EC_KEY and a precomputed
//!   digest: no EVP layer at all, only the DER signature parse and the ECDSA math;
//! - `key_parse`: `ParsedPublicKey::new` alone (point decode + on-curve check).
//!
//! The spread between `porthos` and `raw_ecdsa_verify` is all the overhead any wrapper
//! could remove; what remains is aws-lc's P-256 double-scalar multiplication.

use std::time::Instant;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
};
use porthos_core::verify::{verify_signature, VerifyStatus};
use porthos_core::x509::csr::SignatureAlgorithm;
use porthos_core::x509::spki::parse_spki;

fn spki(point: &[u8]) -> Vec<u8> {
    let mut v = hex_prefix();
    v.extend_from_slice(point);
    v
}

/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 octets) }
fn hex_prefix() -> Vec<u8> {
    vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat), so a loaded, shared
/// machine does not inflate the figures; `openssl speed` likewise divides by user CPU
/// time. None elsewhere (then wall time is used).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn rate(name: &str, n: usize, mut f: impl FnMut(usize) -> bool) {
    // Three rounds, best one: the machine is shared.
    let (mut best_wall, mut best_cpu) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        let c = thread_cpu_ns();
        let mut ok = 0usize;
        for i in 0..n {
            ok += usize::from(f(i));
        }
        best_wall = best_wall.min(t.elapsed().as_secs_f64());
        if let (Some(c0), Some(c1)) = (c, thread_cpu_ns()) {
            best_cpu = best_cpu.min((c1 - c0) as f64 * 1e-9);
        }
        assert_eq!(ok, n, "{name}: every signature must verify");
    }
    let cpu = if best_cpu < f64::MAX {
        best_cpu
    } else {
        best_wall
    };
    println!(
        "{name:>18}: {:>9.0} /CPU-s ({:.2} µs each)  wall {:>9.0} /s",
        n as f64 / cpu,
        cpu * 1e6 / n as f64,
        n as f64 / best_wall
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let rng = SystemRandom::new();
    let mut keys = Vec::new();
    let mut msgs = Vec::new();
    let mut sigs = Vec::new();
    for i in 0..n {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let msg: Vec<u8> = (0..300).map(|j| (i * 7 + j) as u8).collect();
        sigs.push(kp.sign(&rng, &msg).unwrap().as_ref().to_vec());
        keys.push(kp.public_key().as_ref().to_vec());
        msgs.push(msg);
    }
    let spkis: Vec<Vec<u8>> = keys.iter().map(|k| spki(k)).collect();
    let parsed: Vec<ParsedPublicKey> = keys
        .iter()
        .map(|k| ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, k).unwrap())
        .collect();
    let digests: Vec<_> = msgs.iter().map(|m| digest(&SHA256, m)).collect();
    let raw = raw::keys(&keys);

    println!("P-256/SHA-256 verify, one thread, n = {n}");
    rate("porthos", n, |i| {
        let k = parse_spki(&spkis[i]).unwrap();
        verify_signature(SignatureAlgorithm::EcdsaSha256, &k, &msgs[i], &sigs[i])
            == VerifyStatus::Ok
    });
    rate("parsed_key", n, |i| {
        parsed[i].verify_sig(&msgs[i], &sigs[i]).is_ok()
    });
    rate("digest_first", n, |i| {
        parsed[i]
            .verify_digest_sig(&digest(&SHA256, &msgs[i]), &sigs[i])
            .is_ok()
    });
    rate("raw_ecdsa_verify", n, |i| {
        raw.verify(i, digests[i].as_ref(), &sigs[i])
    });
    rate("key_parse", n, |i| {
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &keys[i]).is_ok()
    });
}

/// The one unsafe corner: direct aws-lc calls, for measurement only (never in the
/// library, which stays on the safe aws-lc-rs API).
mod raw {
    use aws_lc_sys::*;

    pub struct Keys(Vec<*mut EC_KEY>);

    pub fn keys(points: &[Vec<u8>]) -> Keys {
        Keys(
            points
                .iter()
                .map(|p| unsafe {
                    let key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
                    let group = EC_KEY_get0_group(key);
                    let point = EC_POINT_new(group);
                    assert_eq!(
                        EC_POINT_oct2point(group, point, p.as_ptr(), p.len(), std::ptr::null_mut()),
                        1
                    );
                    assert_eq!(EC_KEY_set_public_key(key, point), 1);
                    EC_POINT_free(point);
                    key
                })
                .collect(),
        )
    }

    impl Keys {
        pub fn verify(&self, i: usize, digest: &[u8], sig: &[u8]) -> bool {
            // SAFETY: the key was built above and lives as long as self; the slices
            // are valid for their lengths.
            unsafe {
                ECDSA_verify(
                    0,
                    digest.as_ptr(),
                    digest.len(),
                    sig.as_ptr(),
                    sig.len(),
                    self.0[i],
                ) == 1
            }
        }
    }

    impl Drop for Keys {
        fn drop(&mut self) {
            for &k in &self.0 {
                // SAFETY: each key is freed once.
                unsafe { EC_KEY_free(k) };
            }
        }
    }
}
