//! The strict RPKI parser behind `manifest_parse` on arbitrary bytes: no panic, and whatever
//! it accepts re-encodes to exactly the input (`porthos_core::fuzz_props::assert_manifest_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = porthos_core::fuzz_props::assert_manifest_invariants(data);
});
