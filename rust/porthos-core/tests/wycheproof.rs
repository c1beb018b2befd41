//! Wycheproof signature-verification vectors through porthos' own SPKI parser and
//! `verify_signature` (the path every CSR takes).
//!
//! Vectors: /work/shared/vectors/wycheproof (the repository sits beside `shared/`).
//! Every vector in each file is run; the totals are asserted so a vector cannot be
//! skipped silently.

use porthos_core::verify::{verify_signature, VerifyStatus};
use porthos_core::x509::csr::SignatureAlgorithm;
use porthos_core::x509::spki::{parse_spki, KeyType};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))).unwrap()
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

/// Run one file. `acceptable` decides what an "acceptable" vector must give.
fn run(
    file: &str,
    alg: SignatureAlgorithm,
    key_type: KeyType,
    acceptable: fn(&Value, VerifyStatus),
) -> Tally {
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        // Both ECDSA and RSA files carry the SubjectPublicKeyInfo as `publicKeyDer`.
        let spki_der = hex_field(group, "publicKeyDer");
        let key = parse_spki(&spki_der).unwrap_or_else(|e| panic!("{file}: SPKI rejected: {e}"));
        assert_eq!(key.key_type, key_type, "{file}");
        for t in group["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let status = verify_signature(alg, &key, &hex_field(t, "msg"), &hex_field(t, "sig"));
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(
                        status,
                        VerifyStatus::Ok,
                        "{file} tcId {id}: {}",
                        t["comment"]
                    );
                    tally.valid += 1;
                }
                "invalid" => {
                    // Invalid signatures must be BadSignature: the key is good, so
                    // any other status would misreport the cause.
                    assert_eq!(
                        status,
                        VerifyStatus::BadSignature,
                        "{file} tcId {id}: {}",
                        t["comment"]
                    );
                    tally.invalid += 1;
                }
                "acceptable" => {
                    acceptable(t, status);
                    tally.acceptable += 1;
                }
                other => panic!("{file} tcId {id}: unknown result {other}"),
            }
        }
    }
    let total = doc["numberOfTests"].as_u64().unwrap() as usize;
    assert_eq!(
        tally.valid + tally.invalid + tally.acceptable,
        total,
        "{file}: every vector must run"
    );
    tally
}

fn no_acceptable(t: &Value, _: VerifyStatus) {
    panic!("unexpected acceptable vector {}", t["tcId"]);
}

#[test]
fn ecdsa_p256_sha256() {
    let t = run(
        "ecdsa_secp256r1_sha256_test.json",
        SignatureAlgorithm::EcdsaSha256,
        KeyType::EcP256,
        no_acceptable,
    );
    assert_eq!(
        t,
        Tally {
            valid: 174,
            invalid: 310,
            acceptable: 0
        }
    );
}

#[test]
fn ecdsa_p384_sha384() {
    let t = run(
        "ecdsa_secp384r1_sha384_test.json",
        SignatureAlgorithm::EcdsaSha384,
        KeyType::EcP384,
        no_acceptable,
    );
    assert_eq!(
        t,
        Tally {
            valid: 194,
            invalid: 310,
            acceptable: 0
        }
    );
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    // Policy for "acceptable": the only one here is flagged MissingNull, a DigestInfo
    // whose AlgorithmIdentifier omits the NULL parameters. RFC 8017 §9.2 Note 1 lets a
    // verifier accept it, but a CA has no need of that leniency: a PKCS#1 v1.5
    // signature must match the one canonical encoding, so it must be rejected.
    let t = run(
        "rsa_signature_2048_sha256_test.json",
        SignatureAlgorithm::RsaPkcs1Sha256,
        KeyType::Rsa,
        |t, status| {
            let flags: Vec<_> = t["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(flags, ["MissingNull"], "tcId {}", t["tcId"]);
            assert_eq!(status, VerifyStatus::BadSignature, "tcId {}", t["tcId"]);
        },
    );
    assert_eq!(
        t,
        Tally {
            valid: 9,
            invalid: 249,
            acceptable: 1
        }
    );
}

#[test]
fn rsa_pss_2048_sha256_mgf1_32() {
    let doc = load("rsa_pss_2048_sha256_mgf1_32_test.json");
    // The file's parameters are exactly what RsaPssSha256 means (RFC 4055 §3.1 with
    // the hash length as salt length); check them rather than assume.
    for g in doc["testGroups"].as_array().unwrap() {
        assert_eq!(
            (g["sha"].as_str(), g["mgfSha"].as_str(), g["sLen"].as_u64()),
            (Some("SHA-256"), Some("SHA-256"), Some(32))
        );
    }
    let t = run(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        SignatureAlgorithm::RsaPssSha256,
        KeyType::Rsa,
        no_acceptable,
    );
    assert_eq!(
        t,
        Tally {
            valid: 63,
            invalid: 45,
            acceptable: 0
        }
    );
}
