//! Stable twins of the parser fuzz targets (fuzz/fuzz_targets/{crl_parse,cms_parse,
//! revocations_csv,ocsp_request}.rs, issues 20 §4 and 17): the same property functions
//! (`porthos_core::fuzz_props`) over the seed corpora (fuzz/corpus/<target>, made by
//! fuzz/make_seeds.py with pyca/cryptography and openssl), every truncation and
//! single-byte change of each seed, and proptest-generated random and mutated inputs.
//! Seconds in all: `make test` runs them.

use porthos_core::cms::{verify_signed_data, CmsStatus};
use porthos_core::crl::parse_crl;
use porthos_core::crl::revocations_csv::read_revocations_csv;
use porthos_core::fuzz_props::{
    assert_cms_invariants, assert_crl_invariants, assert_manifest_invariants,
    assert_ocsp_request_invariants, assert_revocations_csv_invariants, assert_rfc3779_invariants,
    assert_roa_invariants,
};
use porthos_core::ocsp::request::{parse_request, Limits, RequestError};
use proptest::prelude::*;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "corpus {target} went missing");
    out
}

/// Every truncation, three flips of every byte, and one byte more.
fn mutations(seed: &[u8], check: impl Fn(&[u8])) {
    for len in 0..seed.len() {
        check(&seed[..len]);
    }
    let mut m = seed.to_vec();
    for i in 0..seed.len() {
        for x in [0x01, 0x80, 0xff] {
            m[i] ^= x;
            check(&m);
            m[i] ^= x;
        }
    }
    m.push(0);
    check(&m);
}

#[test]
fn crl_seeds_parse_and_hold_the_invariants() {
    let mut round_trips = Vec::new();
    for (name, der) in corpus("crl_parse") {
        let p = parse_crl(&der, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = if name.contains("entries") {
            // pyca: every reason but unspecified, plus one without a reason and the
            // largest serial.
            11
        } else if name.contains("delta") || name.contains("openssl") {
            2
        } else {
            0
        };
        assert_eq!(p.columns.len(), want, "{name}");
        if assert_crl_invariants(&der) {
            round_trips.push(name.clone());
        }
        mutations(&der, |d| {
            assert_crl_invariants(d);
        });
    }
    // The writer refuses removeFromCRL outside a delta CRL, so the pyca seeds with
    // every reason do not reach the round trip; the others must.
    for name in ["openssl-gencrl.der", "p256-delta-idp.der", "p256-empty.der"] {
        assert!(
            round_trips.iter().any(|n| n == name),
            "{name}: {round_trips:?}"
        );
    }
}

#[test]
fn cms_seeds_have_the_expected_status_and_hold_the_invariants() {
    for (name, der) in corpus("cms_parse") {
        let v = verify_signed_data(&der, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = match name.as_str() {
            "pyca-nocerts.der" => CmsStatus::SignerNotFound,
            "pyca-detached.der" => CmsStatus::NoContent,
            _ => CmsStatus::Ok,
        };
        assert_eq!(v.status, want, "{name}: {}", v.detail);
        mutations(&der, assert_cms_invariants);
    }
}

#[test]
fn csv_seeds_read_as_expected_and_hold_the_invariants() {
    for (name, data) in corpus("revocations_csv") {
        let got = read_revocations_csv(&data);
        match name.as_str() {
            // Inputs the fuzzer found (fixed since): only the invariants below.
            n if n.starts_with("regression-") => {}
            "bad-rows.csv" => assert_eq!(got.unwrap_err().count, 7, "{name}"),
            "forms.csv" => assert_eq!(got.unwrap().len(), 4, "{name}"),
            _ => assert_eq!(got.unwrap().len(), 2, "{name}"),
        }
        mutations(&data, assert_revocations_csv_invariants);
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    /// Copy a slice of the input over another place (duplicated TLVs, lengths, rows).
    Splice(prop::sample::Index, prop::sample::Index, usize),
}

#[test]
fn ocsp_request_seeds_parse_and_hold_the_invariants() {
    for (name, der) in corpus("ocsp_request") {
        let parsed = parse_request(&der, Limits::default());
        if name.contains("refused") {
            assert!(
                matches!(parsed, Err(RequestError::UnsupportedHash { .. })),
                "{name}"
            );
        } else {
            let r = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                r.nonce.is_some(),
                name.contains("nonce") || name.contains("signed"),
                "{name}"
            );
            assert_eq!(r.signed, name.contains("signed"), "{name}");
            assert_eq!(
                r.cert_ids.len(),
                if name.contains("two") { 2 } else { 1 },
                "{name}"
            );
            assert!(assert_ocsp_request_invariants(&der), "{name}");
        }
        mutations(&der, |m| {
            assert_ocsp_request_invariants(m);
        });
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        (
            any::<prop::sample::Index>(),
            proptest::collection::vec(any::<u8>(), 1..8)
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            1usize..32
        )
            .prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
    ]
}

fn apply(data: &mut Vec<u8>, e: &Edit) {
    if data.is_empty() {
        return;
    }
    match e {
        Edit::Flip(i, x) => {
            let i = i.index(data.len());
            data[i] ^= x;
        }
        Edit::Insert(i, b) => {
            let i = i.index(data.len() + 1);
            data.splice(i..i, b.iter().copied());
        }
        Edit::Delete(i, n) => {
            let i = i.index(data.len());
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
        Edit::Splice(a, b, n) => {
            let a = a.index(data.len());
            let b = b.index(data.len());
            let n = (*n).min(data.len() - a).min(data.len() - b);
            let src = data[a..a + n].to_vec();
            data[b..b + n].copy_from_slice(&src);
        }
    }
}

fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, d)| d).collect();
    (
        prop::sample::select(seeds),
        proptest::collection::vec(edit(), 1..6),
    )
        .prop_map(|(mut d, edits)| {
            for e in &edits {
                apply(&mut d, e);
            }
            d
        })
}

/// CSV-ish bytes: mostly the characters the grammar cares about.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> = b"0123456789abcdefxXWTZ:-+.,\" \r\n\t\x00\xff".to_vec();
    proptest::collection::vec(prop::sample::select(alphabet), 0..300)
}

#[test]
fn rpki_seeds_are_accepted_and_re_encode_exactly() {
    // openssl's RFC 3779 encodings (an independent canonicaliser) and porthos' own:
    // every extension seed is accepted by one parser and re-encodes byte for byte.
    for (name, der) in corpus("rfc3779_parse") {
        let accepted = assert_rfc3779_invariants(&der);
        let want = usize::from(!name.contains("sia"));
        assert_eq!(accepted, want, "{name}");
        mutations(&der, |m| {
            let _ = assert_rfc3779_invariants(m);
        });
    }
    for (name, der) in corpus("roa_parse") {
        assert!(assert_roa_invariants(&der), "{name}");
        mutations(&der, |m| {
            let _ = assert_roa_invariants(m);
        });
    }
    for (name, der) in corpus("manifest_parse") {
        // regression-*: inputs the fuzzer found; they must be refused, not panic.
        assert_eq!(
            assert_manifest_invariants(&der),
            !name.starts_with("regression"),
            "{name}"
        );
        mutations(&der, |m| {
            let _ = assert_manifest_invariants(m);
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_rpki(ip in mutated("rfc3779_parse"), roa in mutated("roa_parse"), mft in mutated("manifest_parse")) {
        let _ = assert_rfc3779_invariants(&ip);
        let _ = assert_roa_invariants(&roa);
        let _ = assert_manifest_invariants(&mft);
    }

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = assert_crl_invariants(&data);
        assert_cms_invariants(&data);
        assert_revocations_csv_invariants(&data);
        let _ = assert_rfc3779_invariants(&data);
        let _ = assert_roa_invariants(&data);
        let _ = assert_manifest_invariants(&data);
        assert_ocsp_request_invariants(&data);
    }

    #[test]
    fn mutated_ocsp_requests(data in mutated("ocsp_request")) {
        assert_ocsp_request_invariants(&data);
    }

    #[test]
    fn mutated_crls(data in mutated("crl_parse")) {
        let _ = assert_crl_invariants(&data);
    }

    #[test]
    fn mutated_cms(data in mutated("cms_parse")) {
        assert_cms_invariants(&data);
    }

    #[test]
    fn mutated_csvs(data in mutated("revocations_csv")) {
        assert_revocations_csv_invariants(&data);
    }

    #[test]
    fn csv_alphabet(data in csvish()) {
        assert_revocations_csv_invariants(&data);
    }
}
