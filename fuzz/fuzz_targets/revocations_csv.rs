//! The revocation CSV reader on arbitrary bytes: no panic; accepted rows round-trip
//! through the CSV written from them; refused input names 1..=20 lines
//! (`porthos_core::fuzz_props::assert_revocations_csv_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    porthos_core::fuzz_props::assert_revocations_csv_invariants(data);
});
