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

impl VerifyStatus {
    /// Every status, in code order (porthos.status.CsrStatus; exported to Python as
    /// `_native.CSR_STATUS`, and a test holds the two equal).
    pub const ALL: [VerifyStatus; 5] = [
        VerifyStatus::Ok,
        VerifyStatus::Malformed,
        VerifyStatus::UnsupportedAlgorithm,
        VerifyStatus::BadSignature,
        VerifyStatus::WeakKey,
    ];

    /// The name of the member of porthos.status.CsrStatus with this code.
    pub fn name(self) -> &'static str {
        match self {
            VerifyStatus::Ok => "OK",
            VerifyStatus::Malformed => "MALFORMED",
            VerifyStatus::UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM",
            VerifyStatus::BadSignature => "BAD_SIGNATURE",
            VerifyStatus::WeakKey => "WEAK_KEY",
        }
    }
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
    let algorithm = key_shape(alg, key)?;
    // For RSA the BIT STRING payload is the PKCS#1 RSAPublicKey, for Ed25519 the 32
    // raw octets: both are what ParsedPublicKey::new expects.
    ParsedPublicKey::new(algorithm, key.subject_public_key)
        .map_err(|e| KeyProblem::Rejected(e.description_()))
}

/// The checks of [`checked_key`] that need no arithmetic: the algorithm fits the key,
/// an EC point is uncompressed, an RSA modulus is in range.
fn key_shape(
    alg: SignatureAlgorithm,
    key: &PublicKeyInfo<'_>,
) -> Result<&'static dyn VerificationAlgorithm, KeyProblem> {
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
    Ok(algorithm)
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
            .par_chunks(RUN_LEN)
            .flat_map_iter(|run| check_csr_run(run, verify))
            .collect::<Vec<_>>()
    };
    let sequential = || {
        items
            .chunks(RUN_LEN)
            .flat_map(|run| check_csr_run(run, verify))
            .collect()
    };
    match threads {
        Some(1) => sequential(),
        Some(n) if n > 1 => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
            Ok(pool) => pool.install(run),
            // Could not spawn threads (resource limits): the answer is the same
            // sequentially, only slower.
            Err(_) => sequential(),
        },
        _ => run(),
    }
}

/// Items per run handed to [`check_csr_run`] / [`verify_signature_run`]: large enough
/// that the IFMA kernel's batch inversion of s and its 8-lane groups amortise, small
/// enough to spread a batch over threads.
pub const RUN_LEN: usize = 256;

/// `check_csr` for each item of a run, in order. With `verify` and the AVX-512 IFMA
/// kernel enabled, the ECDSA P-256/SHA-256 proofs of possession of the run go through
/// the kernel eight at a time (issue 7); statuses and details equal `check_csr`'s.
pub fn check_csr_run<'a>(items: &[&'a [u8]], verify: bool) -> Vec<CsrOutcome<'a>> {
    if verify && porthos_mb::ifma_enabled() {
        check_csrs_ifma(items)
    } else {
        items.iter().map(|der| check_csr(der, verify)).collect()
    }
}

/// `verify_signature` for each `(key, message, signature)` of a run, in order; ECDSA
/// P-256/SHA-256 items go through the IFMA kernel when it is enabled.
pub fn verify_signature_run(
    alg: SignatureAlgorithm,
    items: &[(&PublicKeyInfo<'_>, &[u8], &[u8])],
) -> Vec<VerifyStatus> {
    if alg != SignatureAlgorithm::EcdsaSha256 || !porthos_mb::ifma_enabled() {
        return items
            .iter()
            .map(|(k, m, s)| verify_signature(alg, k, m, s))
            .collect();
    }
    // Only P-256 keys fit the kernel; a P-384 key with SHA-256 takes the single path.
    let (p256, at): (Vec<_>, Vec<usize>) = items
        .iter()
        .enumerate()
        .filter(|(_, (k, _, _))| k.key_type == KeyType::EcP256)
        .map(|(i, item)| (*item, i))
        .unzip();
    let mut out: Vec<VerifyStatus> = items
        .iter()
        .map(|(k, m, s)| {
            if k.key_type == KeyType::EcP256 {
                VerifyStatus::Ok // replaced below
            } else {
                verify_signature(alg, k, m, s)
            }
        })
        .collect();
    for (i, (status, _)) in at.into_iter().zip(verify_p256_sha256_batch(&p256)) {
        out[i] = status;
    }
    out
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

/// `check_csr(_, true)` for each of `items`, with the ECDSA P-256/SHA-256 ones
/// verified by [`verify_p256_sha256_batch`].
fn check_csrs_ifma<'a>(items: &[&'a [u8]]) -> Vec<CsrOutcome<'a>> {
    let mut out: Vec<CsrOutcome<'a>> = Vec::with_capacity(items.len());
    let mut batch = Vec::new();
    for der in items {
        match parse_csr(der) {
            Err(e) => out.push(CsrOutcome {
                status: VerifyStatus::Malformed,
                csr: None,
                detail: e.to_string(),
            }),
            Ok(csr) => {
                if csr.signature_algorithm == SignatureAlgorithm::EcdsaSha256
                    && csr.spki.key_type == KeyType::EcP256
                {
                    batch.push(out.len());
                    out.push(CsrOutcome {
                        status: VerifyStatus::Ok,
                        csr: Some(csr),
                        detail: String::new(),
                    });
                } else {
                    let o =
                        verify_outcome(csr.signature_algorithm, &csr.spki, csr.info, csr.signature);
                    let (status, detail) = (o.status(), o.detail());
                    out.push(CsrOutcome {
                        status,
                        csr: Some(csr),
                        detail,
                    });
                }
            }
        }
    }
    let args: Vec<(&PublicKeyInfo<'_>, &[u8], &[u8])> = batch
        .iter()
        .filter_map(|&i| out[i].csr.as_ref())
        .map(|c| (&c.spki, c.info, c.signature))
        .collect();
    let results = verify_p256_sha256_batch(&args);
    drop(args);
    for (i, (status, detail)) in batch.into_iter().zip(results) {
        out[i].status = status;
        out[i].detail = detail;
    }
    out
}

/// Verify many ECDSA P-256 / SHA-256 signatures (`(key, message, DER signature)`),
/// giving exactly what [`verify_signature`] gives for each, status and detail:
/// keys are checked with the same code first (WeakKey etc.), the
/// ECDSA-Sig-Value is parsed as strictly as aws-lc does, and only well-formed
/// items reach the IFMA kernel. Without the kernel (CPU or
/// `PORTHOS_DISABLE_IFMA=1`), each item goes through `verify_signature`.
pub fn verify_p256_sha256_batch(
    items: &[(&PublicKeyInfo<'_>, &[u8], &[u8])],
) -> Vec<(VerifyStatus, String)> {
    let alg = SignatureAlgorithm::EcdsaSha256;
    let bad = || {
        (
            VerifyStatus::BadSignature,
            format!("{} signature does not verify", alg.name()),
        )
    };
    // A refused item gets the key's problem if it has one (WeakKey before
    // BadSignature, as in verify_signature), else BadSignature.
    let refused = |key: &PublicKeyInfo<'_>| match checked_key(alg, key) {
        Err(p) => (p.status(), p.detail()),
        Ok(_) => bad(),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut kernel_items = Vec::new();
    let mut kernel_at = Vec::new();
    for (key, message, sig) in items {
        // aws-lc's decoding of the point (ParsedPublicKey::new, ~1.6 µs, ~10 % of a
        // kernel verification) runs only for items the kernel refuses: a key it
        // accepts is uncompressed with both coordinates < p and on the curve (lib.rs
        // `precheck`, kernel.rs `on_curve_mask`), which is every check aws-lc makes
        // of a P-256 public point (cofactor 1: no subgroup check to add).
        if let Err(p) = key_shape(alg, key) {
            out.push((p.status(), p.detail()));
            continue;
        }
        let Some((r, s)) = ecdsa_sig_rs(sig) else {
            out.push(refused(key));
            continue;
        };
        let Ok(public_key) = <[u8; 65]>::try_from(key.subject_public_key) else {
            out.push(bad()); // unreachable: checked_key required 65 octets
            continue;
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        let Ok(digest) = <[u8; 32]>::try_from(digest.as_ref()) else {
            out.push(bad());
            continue;
        };
        kernel_at.push(out.len());
        out.push((VerifyStatus::Ok, String::new()));
        kernel_items.push(porthos_mb::P256Item {
            public_key,
            digest,
            r,
            s,
        });
    }
    let verdicts = porthos_mb::verify_p256_batch_ifma(&kernel_items).unwrap_or_else(|| {
        kernel_at
            .iter()
            .map(|&i| {
                let (key, message, sig) = items[i];
                verify_signature(alg, key, message, sig) == VerifyStatus::Ok
            })
            .collect()
    });
    for (i, ok) in kernel_at.into_iter().zip(verdicts) {
        if !ok {
            out[i] = refused(items[i].0);
        }
    }
    out
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2.3 /
/// RFC 3279 §2.2.3), strict DER, no trailing bytes, both positive and at most 32
/// octets once the sign octet is dropped. Anything else is rejected here exactly
/// as aws-lc's `ECDSA_SIG_from_bytes` + range check reject it; r, s ∈ [1, n-1] is
/// left to the kernel.
fn ecdsa_sig_rs(sig: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    use crate::der::{tag, Reader};
    let mut outer = Reader::new(sig);
    let (_, mut seq) = outer.enter(tag::SEQUENCE, "ECDSA-Sig-Value").ok()?;
    outer.finish("ECDSA-Sig-Value").ok()?;
    let mut int = || -> Option<[u8; 32]> {
        let v = seq.read_integer_bytes("r/s").ok()?;
        if v[0] & 0x80 != 0 {
            return None; // negative
        }
        let v = if v[0] == 0 { &v[1..] } else { v };
        let mut o = [0u8; 32];
        o.get_mut(32usize.checked_sub(v.len())?..)?
            .copy_from_slice(v);
        Some(o)
    };
    let r = int()?;
    let s = int()?;
    seq.finish("ECDSA-Sig-Value").ok()?;
    Some((r, s))
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

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        match body.len() {
            n if n < 0x80 => v.push(n as u8),
            n if n < 0x100 => v.extend([0x81, n as u8]),
            n => v.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        v.extend(body);
        v
    }

    /// A minimal PKCS#10 request (empty subject, no attributes) signed with `kp`.
    fn p256_csr(kp: &EcdsaKeyPair, corrupt: bool) -> Vec<u8> {
        p256_csr_for(kp, kp.public_key().as_ref(), corrupt, false)
    }

    /// The same with `point` as the request's key (signed with `kp` all the same),
    /// the signature's last octet flipped (`corrupt`) or a stray octet after the
    /// ECDSA-Sig-Value inside the BIT STRING (`trailing`).
    fn p256_csr_for(kp: &EcdsaKeyPair, point: &[u8], corrupt: bool, trailing: bool) -> Vec<u8> {
        let rng = SystemRandom::new();
        let spki = ec_spki(point);
        let info = tlv(
            0x30,
            &[&[0x02, 0x01, 0x00][..], &[0x30, 0x00], &spki, &[0xa0, 0x00]].concat(),
        );
        let mut sig = kp.sign(&rng, &info).unwrap().as_ref().to_vec();
        if corrupt {
            let last = sig.len() - 1;
            sig[last] ^= 1;
        }
        let alg = tlv(
            0x30,
            &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        );
        if trailing {
            sig.push(0);
        }
        let bits = tlv(0x03, &[&[0u8][..], &sig].concat());
        tlv(0x30, &[info, alg, bits].concat())
    }

    #[test]
    fn batch_path_matches_single_path() {
        // On an IFMA machine check_csrs takes the kernel path and check_csr the
        // aws-lc-rs one: statuses and details must be identical.
        let rng = SystemRandom::new();
        let keys: Vec<EcdsaKeyPair> = (0..5)
            .map(|_| {
                let pkcs8 =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                        .unwrap();
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                    .unwrap()
            })
            .collect();
        let mut ders: Vec<Vec<u8>> = (0..37)
            .map(|i| p256_csr(&keys[i % 5], i % 4 == 3))
            .collect();
        ders.push(vec![0x30, 0x00]);
        // Signature with trailing garbage inside the BIT STRING: BadSignature.
        let mut d = p256_csr(&keys[0], false);
        d.push(0);
        ders.push(d);
        // Unusable keys (WeakKey before BadSignature, whatever the signature): the
        // kernel path decodes the point with aws-lc only for refused items.
        let pt = keys[1].public_key().as_ref();
        let mut off_curve = pt.to_vec();
        off_curve[64] ^= 1;
        let mut x_not_below_p = pt.to_vec();
        x_not_below_p[1..33].fill(0xff);
        for point in [&off_curve, &x_not_below_p] {
            for (corrupt, trailing) in [(false, false), (true, false), (false, true)] {
                ders.push(p256_csr_for(&keys[1], point, corrupt, trailing));
            }
        }
        // A valid key with a stray octet after its ECDSA-Sig-Value: BadSignature.
        ders.push(p256_csr_for(
            &keys[2],
            keys[2].public_key().as_ref(),
            false,
            true,
        ));
        let items: Vec<&[u8]> = ders.iter().map(|d| d.as_slice()).collect();
        let single: Vec<_> = items.iter().map(|d| check_csr(d, true)).collect();
        assert!(
            single[..37].iter().all(|o| o.csr.is_some()),
            "{:?}",
            single[0].detail
        );
        for threads in [Some(1), Some(2), None] {
            let batch = check_csrs(&items, true, threads);
            for (i, (a, b)) in single.iter().zip(&batch).enumerate() {
                assert_eq!((a.status, &a.detail), (b.status, &b.detail), "item {i}");
            }
        }
        assert_eq!(
            single[..37]
                .iter()
                .filter(|o| o.status == VerifyStatus::Ok)
                .count(),
            28
        );
        let tail: Vec<_> = single[39..].iter().map(|o| o.status).collect();
        assert_eq!(
            tail,
            [
                [VerifyStatus::WeakKey; 6].as_slice(),
                &[VerifyStatus::BadSignature]
            ]
            .concat()
        );
    }

    #[test]
    fn wycheproof_p256_sha256_batch_equals_single() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/wycheproof/ecdsa_secp256r1_sha256_test.json"
        );
        let text = std::fs::read_to_string(path).expect("Wycheproof vectors beside the worktree");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut owned = Vec::new();
        for group in doc["testGroups"].as_array().unwrap() {
            let spki = hex::decode(group["publicKeyDer"].as_str().unwrap()).unwrap();
            for t in group["tests"].as_array().unwrap() {
                owned.push((
                    spki.clone(),
                    hex::decode(t["msg"].as_str().unwrap()).unwrap(),
                    hex::decode(t["sig"].as_str().unwrap()).unwrap(),
                    t["result"] == "valid",
                    t["tcId"].as_u64().unwrap(),
                ));
            }
        }
        let keys: Vec<_> = owned
            .iter()
            .map(|(k, ..)| crate::x509::spki::parse_spki(k).unwrap())
            .collect();
        let args: Vec<(&PublicKeyInfo<'_>, &[u8], &[u8])> = owned
            .iter()
            .zip(&keys)
            .map(|((_, m, s, ..), k)| (k, m.as_slice(), s.as_slice()))
            .collect();
        let batch = verify_p256_sha256_batch(&args);
        assert_eq!(batch.len(), owned.len());
        for (((k, m, s), got), (_, _, _, valid, id)) in args.iter().zip(&batch).zip(&owned) {
            let o = verify_outcome(SignatureAlgorithm::EcdsaSha256, k, m, s);
            let single = (o.status(), o.detail());
            assert_eq!(got, &single, "tcId {id}");
            assert_eq!(got.0 == VerifyStatus::Ok, *valid, "tcId {id}");
        }
    }

    /// A run mixing P-256 and P-384 keys under ecdsa-sha256: the P-256 items may go
    /// through the kernel, the P-384 ones may not, and every verdict equals the
    /// single-item path, in order.
    #[test]
    fn signature_run_mixes_curves() {
        use crate::sign::{Signer, SoftwareKey};
        let p256 = SoftwareKey::generate("ec-p256", None).unwrap();
        let p384 = SoftwareKey::generate("ec-p384", None).unwrap();
        let mut owned = Vec::new();
        for i in 0..40u8 {
            let msg = vec![i; 100];
            let (key, mut sig) = if i % 3 == 0 {
                (p384.public_key_der().to_vec(), p384.sign(&msg).unwrap())
            } else {
                (p256.public_key_der().to_vec(), p256.sign(&msg).unwrap())
            };
            if i % 5 == 0 {
                let last = sig.len() - 1;
                sig[last] ^= 1;
            }
            owned.push((key, msg, sig));
        }
        let keys: Vec<_> = owned
            .iter()
            .map(|(k, ..)| crate::x509::spki::parse_spki(k).unwrap())
            .collect();
        let items: Vec<(&PublicKeyInfo<'_>, &[u8], &[u8])> = owned
            .iter()
            .zip(&keys)
            .map(|((_, m, s), k)| (k, m.as_slice(), s.as_slice()))
            .collect();
        let run = verify_signature_run(SignatureAlgorithm::EcdsaSha256, &items);
        for (i, ((k, m, s), got)) in items.iter().zip(&run).enumerate() {
            assert_eq!(
                *got,
                verify_signature(SignatureAlgorithm::EcdsaSha256, k, m, s),
                "item {i}"
            );
        }
        // P-256 items that were not corrupted verify; P-384 keys signed SHA-384, so
        // under ecdsa-sha256 they never do.
        for (i, got) in run.iter().enumerate() {
            let i = i as u8;
            let expect_ok = !i.is_multiple_of(3) && !i.is_multiple_of(5);
            assert_eq!(*got == VerifyStatus::Ok, expect_ok, "item {i}");
        }
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
