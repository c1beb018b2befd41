//! The stable-toolchain twin of the `cargo fuzz` target (fuzz/fuzz_targets/
//! csr_parse_verify.rs): the same property function, `assert_csr_invariants`, over
//! the fuzz corpus (fuzz/corpus/csr_parse_verify: requests made by `openssl req`,
//! one per supported and unsupported key type), every truncation and single-byte
//! change of each seed, and proptest-generated random and mutated inputs.

use porthos_core::verify::{assert_csr_invariants, csr_status, VerifyStatus};
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

fn corpus() -> &'static Vec<(String, Vec<u8>)> {
    static CORPUS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/csr_parse_verify");
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
        assert!(out.len() >= 10, "corpus went missing");
        out
    })
}

#[test]
fn seeds_have_the_expected_status() {
    use VerifyStatus::*;
    for (name, der) in corpus() {
        let want = match name.as_str() {
            "ec-secp521r1-sha512.der" => UnsupportedAlgorithm,
            // An id-RSASSA-PSS *key* (RFC 4055 §1.2): CA/B BR §7.1.3.1.1 allows only
            // rsaEncryption subject keys, so porthos does not verify with one. A PSS
            // *signature* by an rsaEncryption key (rsa-2048-pss-sha256.der) is Ok.
            "pss-spki-2048-sha256.der" => UnsupportedAlgorithm,
            "rsa-1024-sha256.der" => WeakKey,
            "empty-seq.der" | "indefinite.der" => Malformed,
            _ => Ok,
        };
        assert_eq!(csr_status(der), want, "{name}");
    }
}

#[test]
fn every_truncation_and_byte_change_of_every_seed() {
    for (_, der) in corpus() {
        for len in 0..der.len() {
            assert_csr_invariants(&der[..len]);
        }
        let mut m = der.clone();
        for i in 0..der.len() {
            for x in [0x01, 0x80, 0xff] {
                m[i] ^= x;
                assert_csr_invariants(&m);
                m[i] ^= x;
            }
        }
        let mut longer = der.clone();
        longer.push(0);
        assert_csr_invariants(&longer);
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    /// Copy a slice of the input over another place (duplicated TLVs, lengths).
    Splice(prop::sample::Index, prop::sample::Index, usize),
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

fn apply(der: &mut Vec<u8>, e: &Edit) {
    if der.is_empty() {
        return;
    }
    match e {
        Edit::Flip(i, x) => {
            let i = i.index(der.len());
            der[i] ^= x;
        }
        Edit::Insert(i, b) => {
            let i = i.index(der.len() + 1);
            der.splice(i..i, b.iter().copied());
        }
        Edit::Delete(i, n) => {
            let i = i.index(der.len());
            let end = (i + n).min(der.len());
            der.drain(i..end);
        }
        Edit::Splice(a, b, n) => {
            let a = a.index(der.len());
            let b = b.index(der.len());
            let n = (*n).min(der.len() - a).min(der.len() - b);
            let src = der[a..a + n].to_vec();
            der[b..b + n].copy_from_slice(&src);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes, with and without a SEQUENCE header in front.
    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..700), wrap in any::<bool>()) {
        let data = if wrap {
            let mut v = vec![0x30, 0x82, (data.len() >> 8) as u8, data.len() as u8];
            v.extend(&data);
            v
        } else {
            data
        };
        assert_csr_invariants(&data);
    }

    /// Every seed under a few random edits; an edited request never verifies unless
    /// the edits cancelled out (strict DER leaves no second encoding to forge).
    #[test]
    fn mutated_seeds(seed in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..5)) {
        let (_, original) = &corpus()[seed.index(corpus().len())];
        let mut der = original.clone();
        for e in &edits {
            apply(&mut der, e);
        }
        assert_csr_invariants(&der);
        if csr_status(&der) == VerifyStatus::Ok {
            prop_assert_eq!(&der, original);
        }
    }
}
