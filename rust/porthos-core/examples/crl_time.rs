//! Rough single-process timing of the CRL writer and parser on N random serials
//! (`cargo run --release -p porthos-core --example crl_time -- 1000000`), for
//! profiling; the comparative benchmark is `porthos bench crl`.

use std::time::Instant;

use porthos_core::crl::{build_signed, no_progress, parse_crl, Columns, CrlParams};
use porthos_core::sign::{SigAlg, SoftwareKey};

fn cpu() -> f64 {
    // CPU time of this process (user + system), so the numbers mean something on a
    // loaded machine.
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // xorshift: deterministic random 16-octet serials in random order.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut serials = vec![0u8; n * 20];
    let mut times = vec![0i64; n];
    let mut reasons = vec![0u8; n];
    for i in 0..n {
        let row = &mut serials[i * 20 + 4..i * 20 + 20];
        row[..8].copy_from_slice(&next().to_be_bytes());
        row[8..].copy_from_slice(&next().to_be_bytes());
        row[0] = (row[0] & 0x7f) | 1;
        times[i] = 1_700_000_000 - (next() % 31_536_000) as i64;
        reasons[i] = 1 + (next() % 6) as u8;
    }
    let cols = Columns {
        serials: &serials,
        width: 20,
        serial_lengths: None,
        revocation_times: &times,
        reasons: &reasons,
        invalidity: None,
    };
    let key = SoftwareKey::generate("ec-p256", None).unwrap();
    let p = CrlParams {
        issuer_der: vec![
            0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'T',
            b'e', b's', b't',
        ],
        authority_key_id: Some(vec![7; 20]),
        this_update: 1_700_000_000,
        next_update: Some(1_700_000_000 + 28 * 86400),
        crl_number: vec![1],
        idp: None,
        delta_base: None,
        hold_instruction: None,
        alg: SigAlg::EcdsaSha256,
    };
    for _ in 0..3 {
        let (c0, t0) = (cpu(), Instant::now());
        let (buf, start) = build_signed(&p, &cols, &key, &no_progress).unwrap();
        let (c1, t1) = (cpu(), Instant::now());
        let parsed = parse_crl(&buf[start..], None).unwrap();
        let (c2, t2) = (cpu(), Instant::now());
        assert_eq!(parsed.columns.len(), n);
        println!(
            "build {:.3}s wall {:.2}s cpu | parse {:.3}s wall {:.2}s cpu | {} octets",
            (t1 - t0).as_secs_f64(),
            c1 - c0,
            (t2 - t1).as_secs_f64(),
            c2 - c1,
            buf.len() - start
        );
    }
}
