//! The IFMA kernel (or, without IFMA, the portable kernel) must give the same
//! verdict as aws-lc-rs on any input: the fuzzer picks keys, digests, r and s
//! freely (mostly invalid) and may copy a valid-looking key between items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use porthos_mb::{
    verify_p256_batch_ifma, verify_p256_batch_portable, verify_p256_fallback, P256Item,
};

const ITEM: usize = 65 + 32 + 32 + 32;

fuzz_target!(|data: &[u8]| {
    let items: Vec<P256Item> = data
        .chunks_exact(ITEM)
        .take(24)
        .map(|c| P256Item {
            public_key: c[..65].try_into().unwrap(),
            digest: c[65..97].try_into().unwrap(),
            r: c[97..129].try_into().unwrap(),
            s: c[129..161].try_into().unwrap(),
        })
        .collect();
    let want: Vec<bool> = items.iter().map(verify_p256_fallback).collect();
    match verify_p256_batch_ifma(&items) {
        Some(got) => assert_eq!(got, want),
        None => assert_eq!(verify_p256_batch_portable(&items), want),
    }
});
