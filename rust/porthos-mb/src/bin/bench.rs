//! Single-thread verify throughput: aws-lc-rs fallback vs the IFMA kernel at
//! several batch sizes. Prints one JSON object (self-describing) on stdout.
//!
//! Usage: porthos-mb-bench [--batches 8,64,1024,100000] [--repeats 5] [--seconds 1.0]

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use porthos_mb::{verify_p256_batch_ifma, verify_p256_fallback, P256Item};

fn items(count: usize) -> Vec<P256Item> {
    let rng = SystemRandom::new();
    // 64 distinct keys, reused round-robin: per-item key parsing cost is part of
    // both paths, so key reuse does not favour either.
    let keys: Vec<EcdsaKeyPair> = (0..64)
        .map(|_| {
            let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref()).unwrap()
        })
        .collect();
    (0..count)
        .map(|i| {
            let kp = &keys[i % keys.len()];
            let msg = (i as u64).to_le_bytes();
            let sig = kp.sign(&rng, &msg).unwrap();
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &msg);
            P256Item {
                public_key: kp.public_key().as_ref().try_into().unwrap(),
                digest: d.as_ref().try_into().unwrap(),
                r: sig.as_ref()[..32].try_into().unwrap(),
                s: sig.as_ref()[32..].try_into().unwrap(),
            }
        })
        .collect()
}

/// Run `f` over `items` until `min` has passed; verifications per second.
fn rate(items: &[P256Item], min: Duration, f: &dyn Fn(&[P256Item]) -> usize) -> f64 {
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed() < min {
        let ok = f(items);
        assert_eq!(ok, items.len(), "a valid signature failed to verify");
        done += items.len();
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let batches: Vec<usize> = get("--batches", "8,64,1024,100000")
        .split(',')
        .map(|s| s.parse().expect("batch size"))
        .collect();
    let repeats: usize = get("--repeats", "5").parse().expect("repeats");
    let secs: f64 = get("--seconds", "1.0").parse().expect("seconds");
    let min = Duration::from_secs_f64(secs);
    let pool = items(*batches.iter().max().unwrap_or(&8));
    let have_ifma = verify_p256_batch_ifma(&pool[..1]).is_some();

    let fallback = |it: &[P256Item]| it.iter().filter(|x| verify_p256_fallback(x)).count();
    let ifma = |it: &[P256Item]| {
        verify_p256_batch_ifma(it)
            .expect("IFMA kernel unavailable")
            .iter()
            .filter(|x| **x)
            .count()
    };
    let fb = median(
        (0..repeats)
            .map(|_| rate(&pool[..1024.min(pool.len())], min, &fallback))
            .collect(),
    );
    // aws-lc-rs verify alone, keys parsed once up front (what the raw library does
    // per signature; porthos's fallback also parses and checks each key).
    let parsed: Vec<(aws_lc_rs::signature::ParsedPublicKey, [u8; 64])> = pool
        [..1024.min(pool.len())]
        .iter()
        .map(|it| {
            let k = aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                it.public_key,
            )
            .unwrap();
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&it.r);
            sig[32..].copy_from_slice(&it.s);
            (k, sig)
        })
        .collect();
    let fb_pre = median(
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                let mut done = 0usize;
                while start.elapsed() < min {
                    for ((k, sig), it) in parsed.iter().zip(&pool) {
                        let d = aws_lc_rs::digest::Digest::import_less_safe(
                            &it.digest,
                            &aws_lc_rs::digest::SHA256,
                        )
                        .unwrap();
                        assert!(k.verify_digest_sig(&d, sig).is_ok());
                    }
                    done += parsed.len();
                }
                done as f64 / start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let mut rows = Vec::new();
    for &b in &batches {
        let r = if have_ifma {
            Some(median(
                (0..repeats).map(|_| rate(&pool[..b], min, &ifma)).collect(),
            ))
        } else {
            None
        };
        rows.push(format!(
            "{{\"batch\": {b}, \"ifma_per_s\": {}, \"ratio_vs_fallback\": {}}}",
            r.map_or("null".into(), |r| format!("{r:.1}")),
            r.map_or("null".into(), |r| format!("{:.3}", r / fb))
        ));
    }
    let prof = porthos_mb::profile::primitive_costs_ns(200_000).map_or("null".into(), |c| {
        format!(
            "{{\"ns_per_8lane\": {{\"field_mul\": {:.1}, \"field_add\": {:.1}, \"field_sub\": {:.1}, \"double\": {:.1}, \"add_jacobian\": {:.1}, \"add_affine\": {:.1}}}, \"ops_per_8_verifications\": {{\"double\": 256, \"add_jacobian\": 52, \"add_affine\": 65, \"field_mul_total\": 3620}}}}",
            c[0], c[1], c[2], c[3], c[4], c[5]
        )
    });
    println!(
        "{{\"bench\": \"porthos-mb verify p256 single-thread\", \"repeats\": {repeats}, \"seconds_per_repeat\": {secs}, \"ifma_detected\": {have_ifma}, \"fallback_aws_lc_rs_per_s\": {fb:.1}, \"aws_lc_rs_preparsed_keys_per_s\": {fb_pre:.1}, \"ifma\": [{}], \"profile\": {}, \"peak_rss_kib\": {}}}",
        rows.join(", "),
        prof,
        peak_rss_kib().map_or("null".into(), |v| v.to_string())
    );
}
