//! The CMS SignedData reader (device-supplied DMC signatures) on arbitrary bytes: no
//! panic; parse and verify agree on well-formedness, borrowed fields lie in the input,
//! `Ok` means one signer with content (`porthos_core::fuzz_props::assert_cms_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    porthos_core::fuzz_props::assert_cms_invariants(data);
});
