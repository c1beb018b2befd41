//! The OCSP request parser (anyone on the network sends these to `porthos ocsp serve`)
//! on arbitrary bytes: no panic, and a request that parses holds the invariants of
//! `porthos_core::fuzz_props::assert_ocsp_request_invariants` (fields in the input,
//! lengths, CertIDs that re-encode to their own bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    porthos_core::fuzz_props::assert_ocsp_request_invariants(data);
});
