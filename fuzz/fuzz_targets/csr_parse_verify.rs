//! CSR parsing plus proof-of-possession verification on arbitrary bytes: no panic,
//! and the invariants of `porthos_core::verify::assert_csr_invariants` hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    porthos_core::verify::assert_csr_invariants(data);
});
