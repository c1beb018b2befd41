//! The CRL parser on arbitrary bytes: no panic; a CRL that parses has ordered unique
//! serials, and what the writer makes of its fields parses back to the same
//! (`porthos_core::fuzz_props::assert_crl_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = porthos_core::fuzz_props::assert_crl_invariants(data);
});
