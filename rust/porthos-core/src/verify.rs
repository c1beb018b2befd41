//! Signature verification: one signature, one CSR, or a batch of CSRs in parallel.
//!
//! The status codes are the contract with Python (a `uint8` array per batch), so
//! their numeric values are fixed.

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use rayon::prelude::*;

use crate::x509::csr::{parse_csr, Csr, SignatureAlgorithm};
use crate::x509::spki::{KeyType, PublicKeyInfo};

/// Outcome of checking one signature or CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum VerifyStatus {
    /// Parsed, key acceptable, signature valid (or not asked to verify).
    Ok = 0,
    /// The DER did not parse.
    Malformed = 1,
    /// Unknown algorithm, unsupported key, or a signature algorithm that does not
    /// match the key type.
    UnsupportedAlgorithm = 2,
    /// The signature does not verify (including non-DER ECDSA signatures and
    /// r or s outside [1, n-1]).
    BadSignature = 3,
    /// The key is unusable: EC point not on the curve / not uncompressed / identity,
    /// RSA modulus under 2048 bits, Ed25519 key rejected by the backend.
    WeakKey = 4,
}

/// Smallest RSA modulus accepted (CA/B BR §6.1.5; NIST SP 800-131A).
pub const RSA_MIN_BITS: u32 = 2048;
/// Largest RSA modulus accepted (issue 3: RSA 2048-4096). aws-lc-rs's
/// `*_2048_8192_*` verifiers would go to 8192, but an 8192-bit key costs ~4x a
/// 4096-bit one per verification and no profile of the CP/CPS uses one, so a hostile
/// batch of them is refused as UnsupportedAlgorithm instead of slowing the batch.
pub const RSA_MAX_BITS: u32 = 4096;

/// Pick the aws-lc-rs verifier for `alg` on `key`, or say why not.
fn verifier(
    alg: SignatureAlgorithm,
    key: &PublicKeyInfo<'_>,
) -> Result<&'static dyn VerificationAlgorithm, VerifyStatus> {
    use KeyType as K;
    use SignatureAlgorithm as S;
    // A signature algorithm of another family than the key (ECDSA with an RSA key,
    // PSS with an EC key, …) cannot be verified at all: UnsupportedAlgorithm, not
    // BadSignature, because no signature bytes could ever make it valid.
    Ok(match (alg, key.key_type) {
        (S::EcdsaSha256, K::EcP256) => &signature::ECDSA_P256_SHA256_ASN1,
        (S::EcdsaSha384, K::EcP256) => &signature::ECDSA_P256_SHA384_ASN1,
        (S::EcdsaSha512, K::EcP256) => &signature::ECDSA_P256_SHA512_ASN1,
        (S::EcdsaSha256, K::EcP384) => &signature::ECDSA_P384_SHA256_ASN1,
        (S::EcdsaSha384, K::EcP384) => &signature::ECDSA_P384_SHA384_ASN1,
        (S::EcdsaSha512, K::EcP384) => &signature::ECDSA_P384_SHA512_ASN1,
        (S::RsaPkcs1Sha256, K::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (S::RsaPkcs1Sha384, K::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (S::RsaPkcs1Sha512, K::Rsa) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (S::RsaPssSha256, K::Rsa) => &signature::RSA_PSS_2048_8192_SHA256,
        (S::RsaPssSha384, K::Rsa) => &signature::RSA_PSS_2048_8192_SHA384,
        (S::RsaPssSha512, K::Rsa) => &signature::RSA_PSS_2048_8192_SHA512,
        (S::Ed25519, K::Ed25519) => &signature::ED25519,
        _ => return Err(VerifyStatus::UnsupportedAlgorithm),
    })
}

/// Why a key cannot be used, kept as data so the batch path never formats a message:
/// the text is built only when a caller asks for the detail of one item.
#[derive(Debug, Clone, Copy)]
enum KeyProblem {
    Mismatch(SignatureAlgorithm, KeyType),
    NotUncompressed,
    RsaTooSmall(u32),
    RsaTooLarge(u32),
    Rejected(&'static str),
}

impl KeyProblem {
    fn status(self) -> VerifyStatus {
        match self {
            KeyProblem::Mismatch(..) | KeyProblem::RsaTooLarge(_) => {
                VerifyStatus::UnsupportedAlgorithm
            }
            _ => VerifyStatus::WeakKey,
        }
    }

    fn detail(self) -> String {
        match self {
            KeyProblem::Mismatch(alg, kt) => {
                format!("signature algorithm {alg:?} cannot be used with a {kt:?} key")
            }
            KeyProblem::NotUncompressed => "EC public key is not an uncompressed point".into(),
            KeyProblem::RsaTooSmall(bits) => {
                format!("RSA modulus of {bits} bits is under {RSA_MIN_BITS}")
            }
            KeyProblem::RsaTooLarge(bits) => {
                format!("RSA modulus of {bits} bits is over {RSA_MAX_BITS}")
            }
            KeyProblem::Rejected(why) => format!("public key rejected: {why}"),
        }
    }
}

/// Check that `key` is usable with `alg` and return the parsed backend key.
///
/// Method for EC keys: we first require the SEC1 *uncompressed* form (0x04 || X || Y
/// of the curve's length; RFC 5480 §2.2 says compressed MAY be used but CAs and the
/// CA/B BR §7.1.3.1 expect uncompressed), which also rules out the identity (its SEC1
/// encoding is the single octet 0x00). Then `ParsedPublicKey::new` hands the point to
/// aws-lc's `EC_POINT_oct2point` + `EC_KEY_check_key`, which rejects points off the
/// curve. Doing it here, before any signature work, is what lets us say WeakKey
/// instead of the BadSignature that a failing `verify` would suggest.
fn checked_key(
    alg: SignatureAlgorithm,
    key: &PublicKeyInfo<'_>,
) -> Result<ParsedPublicKey, KeyProblem> {
    let algorithm = verifier(alg, key).map_err(|_| KeyProblem::Mismatch(alg, key.key_type))?;
    match key.key_type {
        KeyType::EcP256 | KeyType::EcP384 => {
            let coord = if key.key_type == KeyType::EcP256 {
                32
            } else {
                48
            };
            let pk = key.subject_public_key;
            if pk.len() != 1 + 2 * coord || pk[0] != 0x04 {
                return Err(KeyProblem::NotUncompressed);
            }
        }
        KeyType::Rsa if key.key_bits < RSA_MIN_BITS => {
            return Err(KeyProblem::RsaTooSmall(key.key_bits));
        }
        KeyType::Rsa if key.key_bits > RSA_MAX_BITS => {
            return Err(KeyProblem::RsaTooLarge(key.key_bits));
        }
        _ => {}
    }
    // For RSA the BIT STRING payload is the PKCS#1 RSAPublicKey, for Ed25519 the 32
    // raw octets: both are what ParsedPublicKey::new expects.
    ParsedPublicKey::new(algorithm, key.subject_public_key)
        .map_err(|e| KeyProblem::Rejected(e.description_()))
}

/// Check the key against `alg` without verifying anything.
pub fn check_key(alg: SignatureAlgorithm, key: &PublicKeyInfo<'_>) -> VerifyStatus {
    match checked_key(alg, key) {
        Ok(_) => VerifyStatus::Ok,
        Err(p) => p.status(),
    }
}

/// Outcome of one verification, with the reason kept as data (no allocation).
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Key(KeyProblem),
    BadSignature(SignatureAlgorithm),
}

impl Outcome {
    fn status(self) -> VerifyStatus {
        match self {
            Outcome::Ok => VerifyStatus::Ok,
            Outcome::Key(p) => p.status(),
            Outcome::BadSignature(_) => VerifyStatus::BadSignature,
        }
    }

    fn detail(self) -> String {
        match self {
            Outcome::Ok => String::new(),
            Outcome::Key(p) => p.detail(),
            Outcome::BadSignature(alg) => format!("{} signature does not verify", alg.name()),
        }
    }
}

/// Verify `signature` over `message` with `key` under `alg`.
pub fn verify_signature(
    alg: SignatureAlgorithm,
    key: &PublicKeyInfo<'_>,
    message: &[u8],
    signature: &[u8],
) -> VerifyStatus {
    verify_outcome(alg, key, message, signature).status()
}

fn verify_outcome(
    alg: SignatureAlgorithm,
    key: &PublicKeyInfo<'_>,
    message: &[u8],
    sig: &[u8],
) -> Outcome {
    match checked_key(alg, key) {
        Err(p) => Outcome::Key(p),
        // aws-lc parses ECDSA-Sig-Value strictly (DER, no trailing bytes) and
        // rejects r, s outside [1, n-1]; high s is accepted, as X.509 requires.
        Ok(parsed) => match parsed.verify_sig(message, sig) {
            Ok(()) => Outcome::Ok,
            Err(_) => Outcome::BadSignature(alg),
        },
    }
}

/// The result of checking one CSR.
#[derive(Debug, Clone)]
pub struct CsrOutcome<'a> {
    /// What happened.
    pub status: VerifyStatus,
    /// The parsed request whenever parsing succeeded (also for WeakKey etc., so the
    /// caller can report on it); `None` only when `status` is Malformed.
    pub csr: Option<Csr<'a>>,
    /// `""` when Ok; otherwise what went wrong and where.
    pub detail: String,
}

/// Parse one CSR, check its key against its signature algorithm and, if `verify`,
/// check the proof of possession (RFC 2986 §3: the signature over
/// certificationRequestInfo).
pub fn check_csr(der: &[u8], verify: bool) -> CsrOutcome<'_> {
    let csr = match parse_csr(der) {
        Ok(c) => c,
        Err(e) => {
            return CsrOutcome {
                status: VerifyStatus::Malformed,
                csr: None,
                detail: e.to_string(),
            }
        }
    };
    let outcome = if verify {
        verify_outcome(csr.signature_algorithm, &csr.spki, csr.info, csr.signature)
    } else {
        match checked_key(csr.signature_algorithm, &csr.spki) {
            Ok(_) => Outcome::Ok,
            Err(p) => Outcome::Key(p),
        }
    };
    let (status, detail) = (outcome.status(), outcome.detail());
    CsrOutcome {
        status,
        csr: Some(csr),
        detail,
    }
}

/// The status of one CSR (parse + key check + proof of possession) without building
/// the reason: what a batch computes per item; `check_csr` gives the reason on demand.
pub fn csr_status(der: &[u8]) -> VerifyStatus {
    match parse_csr(der) {
        Ok(csr) => {
            verify_outcome(csr.signature_algorithm, &csr.spki, csr.info, csr.signature).status()
        }
        Err(_) => VerifyStatus::Malformed,
    }
}

/// Check many CSRs in parallel. `threads`: `Some(n)` runs on a private pool of `n`
/// threads (`Some(1)` is sequential and deterministic for benchmarks), `None` or
/// `Some(0)` uses rayon's global pool. Output order equals input order.
pub fn check_csrs<'a>(
    items: &[&'a [u8]],
    verify: bool,
    threads: Option<usize>,
) -> Vec<CsrOutcome<'a>> {
    let run = || {
        items
            .par_iter()
            .map(|der| check_csr(der, verify))
            .collect::<Vec<_>>()
    };
    match threads {
        Some(1) => items.iter().map(|der| check_csr(der, verify)).collect(),
        Some(n) if n > 1 => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
            Ok(pool) => pool.install(run),
            // Could not spawn threads (resource limits): the answer is the same
            // sequentially, only slower.
            Err(_) => items.iter().map(|der| check_csr(der, verify)).collect(),
        },
        _ => run(),
    }
}

/// The properties every input must satisfy, asserted (panics on violation). Shared by
/// the `cargo fuzz` target (fuzz/fuzz_targets/csr_parse_verify.rs) and the stable
/// corpus harness (tests/fuzz_corpus.rs), so both run exactly the same function.
///
/// - checking never panics, with and without signature verification;
/// - `Ok` means the parse is complete and the reason is empty; any other status
///   has a reason;
/// - the status-only batch path (`csr_status`) equals `check_csr`;
/// - only `Malformed` means the parser refused the input;
/// - skipping verification changes nothing but `BadSignature` -> `Ok`.
#[doc(hidden)]
pub fn assert_csr_invariants(data: &[u8]) {
    let full = check_csr(data, true);
    assert_eq!(csr_status(data), full.status);
    assert_eq!(
        full.status == VerifyStatus::Ok,
        full.detail.is_empty(),
        "{}",
        full.detail
    );
    match &full.csr {
        Some(c) => {
            assert_ne!(full.status, VerifyStatus::Malformed);
            assert_eq!(c.der.len(), data.len());
        }
        None => assert_eq!(full.status, VerifyStatus::Malformed),
    }
    let key_only = check_csr(data, false).status;
    match full.status {
        VerifyStatus::BadSignature => assert_eq!(key_only, VerifyStatus::Ok),
        s => assert_eq!(key_only, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    fn ec_spki(point: &[u8]) -> Vec<u8> {
        // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }
        let mut alg = vec![0x30, 0x13, 0x06, 0x07];
        alg.extend(crate::x509::oids::EC_PUBLIC_KEY);
        alg.extend([0x06, 0x08]);
        alg.extend(crate::x509::oids::SECP256R1);
        let mut bits = vec![0x03, (point.len() + 1) as u8, 0x00];
        bits.extend(point);
        let body = [alg, bits].concat();
        [vec![0x30, body.len() as u8], body].concat()
    }

    #[test]
    fn p256_sign_verify_and_key_checks() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .unwrap();
        let sig = kp.sign(&rng, b"msg").unwrap();
        let der = ec_spki(kp.public_key().as_ref());
        let key = crate::x509::spki::parse_spki(&der).unwrap();
        let alg = SignatureAlgorithm::EcdsaSha256;
        assert_eq!(
            verify_signature(alg, &key, b"msg", sig.as_ref()),
            VerifyStatus::Ok
        );
        assert_eq!(
            verify_signature(alg, &key, b"msh", sig.as_ref()),
            VerifyStatus::BadSignature
        );
        assert_eq!(
            verify_signature(SignatureAlgorithm::EcdsaSha384, &key, b"msg", sig.as_ref()),
            VerifyStatus::BadSignature
        );
        assert_eq!(
            verify_signature(
                SignatureAlgorithm::RsaPkcs1Sha256,
                &key,
                b"msg",
                sig.as_ref()
            ),
            VerifyStatus::UnsupportedAlgorithm
        );
        assert_eq!(
            verify_signature(SignatureAlgorithm::Unknown, &key, b"msg", sig.as_ref()),
            VerifyStatus::UnsupportedAlgorithm
        );

        let mut off_curve = kp.public_key().as_ref().to_vec();
        *off_curve.last_mut().unwrap() ^= 1;
        let der = ec_spki(&off_curve);
        assert_eq!(
            check_key(alg, &crate::x509::spki::parse_spki(&der).unwrap()),
            VerifyStatus::WeakKey
        );
        let der = ec_spki(&[0x00]);
        assert_eq!(
            check_key(alg, &crate::x509::spki::parse_spki(&der).unwrap()),
            VerifyStatus::WeakKey
        );
        // Compressed form of a valid point: refused by policy, WeakKey.
        let pt = kp.public_key().as_ref();
        let mut compressed = vec![0x02 | (pt[64] & 1)];
        compressed.extend(&pt[1..33]);
        let der = ec_spki(&compressed);
        assert_eq!(
            check_key(alg, &crate::x509::spki::parse_spki(&der).unwrap()),
            VerifyStatus::WeakKey
        );
    }

    #[test]
    fn ed25519() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let sig = kp.sign(b"m");
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend(kp.public_key().as_ref());
        let key = crate::x509::spki::parse_spki(&der).unwrap();
        assert_eq!(
            verify_signature(SignatureAlgorithm::Ed25519, &key, b"m", sig.as_ref()),
            VerifyStatus::Ok
        );
        assert_eq!(
            verify_signature(SignatureAlgorithm::Ed25519, &key, b"n", sig.as_ref()),
            VerifyStatus::BadSignature
        );
        assert_eq!(
            verify_signature(SignatureAlgorithm::EcdsaSha256, &key, b"m", sig.as_ref()),
            VerifyStatus::UnsupportedAlgorithm
        );
    }

    #[test]
    fn batch_keeps_order_and_reports_malformed() {
        let items: Vec<&[u8]> = vec![&[0x30, 0x00], &[], &[0x30, 0x80, 0, 0]];
        for threads in [None, Some(1), Some(2)] {
            let out = check_csrs(&items, true, threads);
            assert_eq!(out.len(), 3);
            assert!(out.iter().all(|o| o.status == VerifyStatus::Malformed
                && o.csr.is_none()
                && !o.detail.is_empty()));
            assert!(out[2].detail.contains("indefinite"), "{}", out[2].detail);
        }
    }
}
