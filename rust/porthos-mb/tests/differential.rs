//! Differential tests: IFMA kernel, portable kernel and aws-lc-rs must agree on
//! every input, valid or not, including the edge cases of ECDSA verification.
//!
//! `PORTHOS_MB_CASES=N` scales the random-case count (default 256 cases of 8–24
//! signatures each; the "millions" of the issue are a long run of the same test,
//! e.g. `PORTHOS_MB_CASES=100000 cargo test --release -p porthos-mb --test differential`).

use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use num_bigint::BigUint;
use porthos_mb::{
    verify_p256_batch, verify_p256_batch_ifma, verify_p256_batch_portable, verify_p256_fallback,
    P256Item,
};
use proptest::prelude::*;

// ---- textbook big-integer P-256 (affine), for constructing edge cases ----

fn hexn(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 16).unwrap()
}
fn p() -> BigUint {
    hexn("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")
}
fn n() -> BigUint {
    hexn("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
}
fn b() -> BigUint {
    hexn("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b")
}
type Pt = Option<(BigUint, BigUint)>;
fn g() -> Pt {
    Some((
        hexn("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
        hexn("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
    ))
}
fn inv(x: &BigUint, m: &BigUint) -> BigUint {
    x.modpow(&(m - 2u8), m)
}
fn neg(a: &Pt) -> Pt {
    a.as_ref().map(|(x, y)| (x.clone(), (p() - y) % p()))
}
fn add(a: &Pt, c: &Pt) -> Pt {
    let p = p();
    let (Some((x1, y1)), Some((x2, y2))) = (a, c) else {
        return a.clone().or_else(|| c.clone());
    };
    let l = if x1 == x2 {
        if (y1 + y2) % &p == BigUint::from(0u8) {
            return None;
        }
        (BigUint::from(3u8) * x1 * x1 + &p * 3u8 - 3u8) * inv(&(y1 * 2u8), &p) % &p
    } else {
        ((y2 + &p - y1) % &p) * inv(&((x2 + &p - x1) % &p), &p) % &p
    };
    let x3 = (&l * &l + &p * 2u8 - x1 - x2) % &p;
    let y3 = (&l * ((x1 + &p - &x3) % &p) + &p - y1) % &p;
    Some((x3, y3))
}
fn mul(k: &BigUint, a: &Pt) -> Pt {
    let mut r = None;
    for i in (0..k.bits()).rev() {
        r = add(&r, &r);
        if k.bit(i) {
            r = add(&r, a);
        }
    }
    r
}
fn be32(x: &BigUint) -> [u8; 32] {
    let v = x.to_bytes_be();
    let mut o = [0u8; 32];
    o[32 - v.len()..].copy_from_slice(&v);
    o
}
fn key_bytes(q: &Pt) -> [u8; 65] {
    let (x, y) = q.as_ref().unwrap();
    let mut k = [4u8; 65];
    k[1..33].copy_from_slice(&be32(x));
    k[33..].copy_from_slice(&be32(y));
    k
}
/// Sign digest e with private key d and nonce k (textbook, FIPS 186-5 §6.4.1).
fn sign(d: &BigUint, k: &BigUint, e: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let n = n();
    let r = mul(k, &g()).unwrap().0 % &n;
    let e = BigUint::from_bytes_be(e) % &n;
    let s = inv(k, &n) * (e + &r * d) % &n;
    (be32(&r), be32(&s))
}

// ---- comparison harness ----

fn check(items: &[P256Item]) -> Vec<bool> {
    let want: Vec<bool> = items.iter().map(verify_p256_fallback).collect();
    assert_eq!(
        verify_p256_batch_portable(items),
        want,
        "portable kernel differs"
    );
    if let Some(got) = verify_p256_batch_ifma(items) {
        assert_eq!(got, want, "IFMA kernel differs");
    }
    assert_eq!(verify_p256_batch(items), want);
    want
}

struct Key {
    kp: EcdsaKeyPair,
    public: [u8; 65],
}
fn keys() -> &'static [Key] {
    static K: OnceLock<Vec<Key>> = OnceLock::new();
    K.get_or_init(|| {
        let rng = SystemRandom::new();
        (0..16)
            .map(|_| {
                let pk8 =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref())
                    .unwrap();
                let public = kp.public_key().as_ref().try_into().unwrap();
                Key { kp, public }
            })
            .collect()
    })
}

fn signed(key: usize, msg: &[u8]) -> P256Item {
    let k = &keys()[key % 16];
    let sig = k.kp.sign(&SystemRandom::new(), msg).unwrap();
    P256Item {
        public_key: k.public,
        digest: digest(&SHA256, msg).as_ref().try_into().unwrap(),
        r: sig.as_ref()[..32].try_into().unwrap(),
        s: sig.as_ref()[32..].try_into().unwrap(),
    }
}

/// How a case corrupts a valid signature.
fn corrupt(mut it: P256Item, mode: u8, pos: usize, other: &P256Item) -> P256Item {
    let bit = 1u8 << (pos % 8);
    match mode {
        0 => {}
        1 => it.digest[pos % 32] ^= bit,
        2 => it.r[pos % 32] ^= bit,
        3 => it.s[pos % 32] ^= bit,
        4 => it.public_key[1 + pos % 64] ^= bit, // usually off the curve
        5 => it.public_key = other.public_key,
        // High s: n - s is the other valid signature (X.509 accepts both).
        6 => it.s = be32(&(n() - BigUint::from_bytes_be(&it.s))),
        7 => std::mem::swap(&mut it.r, &mut it.s),
        8 => it.r = [0xff; 32],                                  // r >= n
        9 => it.s = be32(&n()),                                  // s = n
        10 => it.r = [0; 32],                                    // r = 0
        11 => it.public_key[0] = 0x02,                           // not uncompressed
        12 => it.public_key[1..33].copy_from_slice(&be32(&p())), // x = p
        _ => it.r = other.r,
    }
    it
}

fn case_count() -> u32 {
    std::env::var("PORTHOS_MB_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(case_count()))]
    #[test]
    fn kernel_agrees_with_aws_lc_rs(
        spec in proptest::collection::vec((any::<u8>(), 0u8..16, any::<usize>(), any::<[u8; 12]>()), 8..24)
    ) {
        let items: Vec<P256Item> = spec
            .iter()
            .map(|(key, mode, pos, msg)| {
                let it = signed(usize::from(*key), msg);
                let other = signed(usize::from(*key) + 1, &msg[..6]);
                corrupt(it, *mode, *pos, &other)
            })
            .collect();
        let want = check(&items);
        for ((_, mode, _, _), ok) in spec.iter().zip(&want) {
            if *mode == 0 || *mode == 6 {
                prop_assert!(ok, "valid signature rejected");
            }
        }
    }
}

#[test]
fn keys_g_and_minus_g() {
    let n = n();
    let mut items = Vec::new();
    for (d, q) in [(BigUint::from(1u8), g()), (&n - 1u8, neg(&g()))] {
        for i in 1u32..12 {
            let e: [u8; 32] = digest(&SHA256, &i.to_be_bytes())
                .as_ref()
                .try_into()
                .unwrap();
            let k = BigUint::from(0x1234_5678u64 * u64::from(i)) + &d;
            let (r, s) = sign(&d, &k, &e);
            let it = P256Item {
                public_key: key_bytes(&q),
                digest: e,
                r,
                s,
            };
            items.push(it);
            let mut bad = it;
            bad.digest[0] ^= 1;
            items.push(bad);
        }
    }
    let v = check(&items);
    assert!(v.iter().step_by(2).all(|x| *x) && !v.iter().skip(1).step_by(2).any(|x| *x));
}

#[test]
fn u1g_equals_plus_minus_u2q() {
    let n = n();
    let mut items = Vec::new();
    for i in 1u64..10 {
        let d = BigUint::from(0xdead_beef_u64 * i + 7);
        let q = mul(&d, &g());
        let k = BigUint::from(0x5eed_u64 * i + 3);
        let r = mul(&k, &g()).unwrap().0 % &n;
        // e = r·d: u1·G = u2·Q, R = 2·u2·Q (the doubling case); valid.
        let e = be32(&(&r * &d % &n));
        let (r_b, s_b) = sign(&d, &k, &e);
        items.push(P256Item {
            public_key: key_bytes(&q),
            digest: e,
            r: r_b,
            s: s_b,
        });
        // e = -r·d: u1·G = -u2·Q, R = identity; must be rejected for any s.
        let e = be32(&((&n - &r * &d % &n) % &n));
        let s = BigUint::from(1000u64 + i);
        items.push(P256Item {
            public_key: key_bytes(&q),
            digest: e,
            r: be32(&r),
            s: be32(&s),
        });
    }
    let v = check(&items);
    for (i, ok) in v.iter().enumerate() {
        assert_eq!(*ok, i % 2 == 0, "item {i}");
    }
}

#[test]
fn e_zero_means_u1_zero() {
    // digest ≡ 0 (mod n): u1 = 0, the G part is the identity.
    let n = n();
    let d = BigUint::from(99u8);
    let q = mul(&d, &g());
    let mut items = Vec::new();
    for e in [BigUint::from(0u8), n.clone()] {
        let (r, s) = sign(&d, &BigUint::from(12345u32), &be32(&e));
        items.push(P256Item {
            public_key: key_bytes(&q),
            digest: be32(&e),
            r,
            s,
        });
    }
    assert_eq!(check(&items), vec![true, true]);
}

#[test]
fn point_with_x_at_least_n() {
    // Pick R with n <= x(R) < p, then a key Q = u2^-1·(R - u1·G) so that the
    // verification equation lands exactly on R; r = x(R) - n.
    let (p, n) = (p(), n());
    let mut x = n.clone();
    let rpt = loop {
        let rhs = (&x * &x * &x + &p * 3u8 - &x * 3u8 + b()) % &p;
        let y = rhs.modpow(&((&p + 1u8) >> 2u32), &p);
        if &y * &y % &p == rhs {
            break Some((x.clone(), y));
        }
        x += 1u8;
    };
    let xr = rpt.as_ref().unwrap().0.clone();
    assert!(xr >= n);
    let r = &xr - &n;
    let mut items = Vec::new();
    for i in 1u32..6 {
        let s = BigUint::from(777u32 * i) + (&n >> 1u32); // also high s
        let e: [u8; 32] = digest(&SHA256, &i.to_be_bytes())
            .as_ref()
            .try_into()
            .unwrap();
        let w = inv(&s, &n);
        let u1 = BigUint::from_bytes_be(&e) % &n * &w % &n;
        let u2 = &r * &w % &n;
        let q = mul(&inv(&u2, &n), &add(&rpt, &neg(&mul(&u1, &g()))));
        let it = P256Item {
            public_key: key_bytes(&q),
            digest: e,
            r: be32(&r),
            s: be32(&s),
        };
        items.push(it);
        // The same point with r = x(R) itself is out of range; and -R must fail.
        let mut bad = it;
        bad.r = be32(&(&r + 1u8));
        items.push(bad);
    }
    let v = check(&items);
    for (i, ok) in v.iter().enumerate() {
        assert_eq!(*ok, i % 2 == 0, "item {i}");
    }
}

#[test]
fn partial_batches_and_empty() {
    assert!(verify_p256_batch(&[]).is_empty());
    for len in [1usize, 7, 8, 9, 15, 17] {
        let items: Vec<P256Item> = (0..len).map(|i| signed(i, &[i as u8; 3])).collect();
        assert!(check(&items).iter().all(|x| *x));
    }
}

/// Minimal strict DER ECDSA-Sig-Value parse for the Wycheproof vectors: (r, s)
/// when both fit 32 bytes, else None (such signatures are invalid anyway).
fn der_sig(sig: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    let (&[0x30, len], rest) = sig.split_first_chunk::<2>()? else {
        return None;
    };
    if usize::from(len) != rest.len() || len >= 0x80 {
        return None;
    }
    let mut rest = rest;
    let mut int = || -> Option<[u8; 32]> {
        let (&[0x02, l], r) = rest.split_first_chunk::<2>()? else {
            return None;
        };
        let l = usize::from(l);
        if l == 0 || l >= 0x80 || r.len() < l {
            return None;
        }
        let v = &r[..l];
        if v[0] & 0x80 != 0 || (l > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        rest = &r[l..];
        let v = if v[0] == 0 && l > 1 { &v[1..] } else { v };
        if v.len() > 32 {
            return None;
        }
        let mut o = [0u8; 32];
        o[32 - v.len()..].copy_from_slice(v);
        Some(o)
    };
    let r = int()?;
    let s = int()?;
    rest.is_empty().then_some((r, s))
}

#[test]
fn wycheproof_p256_sha256() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_test.json"
    );
    let text = std::fs::read_to_string(path).expect("Wycheproof vectors beside the worktree");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut items = Vec::new();
    let mut expect = Vec::new();
    let mut unparsed = 0;
    for group in doc["testGroups"].as_array().unwrap() {
        let key = hex::decode(group["publicKey"]["uncompressed"].as_str().unwrap()).unwrap();
        let key: [u8; 65] = key.try_into().unwrap();
        for t in group["tests"].as_array().unwrap() {
            let msg = hex::decode(t["msg"].as_str().unwrap()).unwrap();
            let sig = hex::decode(t["sig"].as_str().unwrap()).unwrap();
            let valid = t["result"] == "valid";
            match der_sig(&sig) {
                Some((r, s)) => {
                    items.push(P256Item {
                        public_key: key,
                        digest: digest(&SHA256, &msg).as_ref().try_into().unwrap(),
                        r,
                        s,
                    });
                    expect.push((valid, t["tcId"].as_u64().unwrap()));
                }
                None => {
                    unparsed += 1;
                    assert!(!valid, "tcId {} valid but not parsed", t["tcId"]);
                }
            }
        }
    }
    assert!(items.len() > 200, "{} parsed", items.len());
    let got = check(&items);
    for (ok, (valid, id)) in got.iter().zip(&expect) {
        assert_eq!(ok, valid, "tcId {id}");
    }
    eprintln!(
        "wycheproof: {} through the kernel, {unparsed} rejected by DER",
        items.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(case_count()))]
    /// Stable-toolchain twin of `fuzz/fuzz_targets/kernel_vs_fallback.rs`: raw
    /// random items, plus a real key with random digest/r/s (random bytes are
    /// almost never a point on the curve, so the kernel's arithmetic would
    /// otherwise be skipped).
    #[test]
    fn random_inputs_agree(
        raw in proptest::collection::vec((any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u8>()), 1..20)
    ) {
        let items: Vec<P256Item> = raw
            .iter()
            .map(|(a, d, r, s, k)| {
                let mut public_key = keys()[usize::from(*k) % 16].public;
                if k & 0x80 != 0 {
                    public_key[1..33].copy_from_slice(a);
                }
                // Small r/s sometimes, so the range checks pass.
                let mut r = *r;
                let mut s = *s;
                if k & 1 == 1 { r[0] &= 0x7f; }
                if k & 2 == 2 { s[0] &= 0x7f; }
                P256Item { public_key, digest: *d, r, s }
            })
            .collect();
        check(&items);
    }
}
