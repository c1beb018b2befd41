//! Signing: the `Signer` trait, signature AlgorithmIdentifiers, and software keys
//! through aws-lc-rs (constant-time primitives; porthos never hand-rolls signing).
//!
//! The external-signer path (HSMs) does not implement `Signer`: it takes the TBS
//! digests from [`digest_batch`] and hands finished signatures to the assembler.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{digest, rand};

use crate::der::{tag, writer};
use crate::x509::csr::SignatureAlgorithm;
use crate::x509::oids;

/// Signature algorithms porthos issues with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    EcdsaSha256,
    EcdsaSha384,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPssSha256,
    RsaPssSha384,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub const ALL: [HashAlg; 3] = [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512];

    /// "sha256" / "sha384" / "sha512": the names tbs_digests takes.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }
    pub fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        }
    }
    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }
    fn oid(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => oids::SHA256,
            HashAlg::Sha384 => oids::SHA384,
            HashAlg::Sha512 => oids::SHA512,
        }
    }
}

impl SigAlg {
    pub const ALL: [SigAlg; 6] = [
        SigAlg::EcdsaSha256,
        SigAlg::EcdsaSha384,
        SigAlg::RsaPkcs1Sha256,
        SigAlg::RsaPkcs1Sha384,
        SigAlg::RsaPssSha256,
        SigAlg::RsaPssSha384,
    ];

    /// The same algorithm on the verifying side, whose table holds the names.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            SigAlg::EcdsaSha256 => SignatureAlgorithm::EcdsaSha256,
            SigAlg::EcdsaSha384 => SignatureAlgorithm::EcdsaSha384,
            SigAlg::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            SigAlg::RsaPkcs1Sha384 => SignatureAlgorithm::RsaPkcs1Sha384,
            SigAlg::RsaPssSha256 => SignatureAlgorithm::RsaPssSha256,
            SigAlg::RsaPssSha384 => SignatureAlgorithm::RsaPssSha384,
        }
    }

    /// Stable short name, from [`crate::x509::csr::SIGNATURE_ALGORITHMS`].
    pub fn name(self) -> &'static str {
        self.signature_algorithm().name()
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn hash(self) -> HashAlg {
        match self {
            SigAlg::EcdsaSha256 | SigAlg::RsaPkcs1Sha256 | SigAlg::RsaPssSha256 => HashAlg::Sha256,
            SigAlg::EcdsaSha384 | SigAlg::RsaPkcs1Sha384 | SigAlg::RsaPssSha384 => HashAlg::Sha384,
        }
    }

    pub fn is_ecdsa(self) -> bool {
        matches!(self, SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384)
    }

    /// The AlgorithmIdentifier TLV for certificates and CRLs.
    /// ECDSA: parameters absent (RFC 5758 §3.2). PKCS#1 v1.5: NULL (RFC 4055 §5).
    /// PSS: explicit hash, MGF1 with the same hash, salt = hash length (RFC 4055 §3.1).
    pub fn algorithm_identifier(self) -> Vec<u8> {
        let oid = |o: &[u8]| writer::tlv(tag::OID, o);
        let null = [tag::NULL, 0];
        let hash_id = |h: HashAlg| writer::constructed(tag::SEQUENCE, &[&oid(h.oid()), &null]);
        match self {
            SigAlg::EcdsaSha256 => {
                writer::constructed(tag::SEQUENCE, &[&oid(oids::ECDSA_WITH_SHA256)])
            }
            SigAlg::EcdsaSha384 => {
                writer::constructed(tag::SEQUENCE, &[&oid(oids::ECDSA_WITH_SHA384)])
            }
            SigAlg::RsaPkcs1Sha256 => {
                writer::constructed(tag::SEQUENCE, &[&oid(oids::SHA256_WITH_RSA), &null])
            }
            SigAlg::RsaPkcs1Sha384 => {
                writer::constructed(tag::SEQUENCE, &[&oid(oids::SHA384_WITH_RSA), &null])
            }
            SigAlg::RsaPssSha256 | SigAlg::RsaPssSha384 => {
                let h = self.hash();
                let hash = writer::tlv(tag::context_constructed(0), &hash_id(h));
                let mgf = writer::constructed(tag::SEQUENCE, &[&oid(oids::MGF1), &hash_id(h)]);
                let mgf = writer::tlv(tag::context_constructed(1), &mgf);
                let salt = writer::tlv(
                    tag::context_constructed(2),
                    &writer::integer_u64(h.output_len() as u64),
                );
                let params = writer::constructed(tag::SEQUENCE, &[&hash, &mgf, &salt]);
                writer::constructed(tag::SEQUENCE, &[&oid(oids::RSASSA_PSS), &params])
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The key cannot produce this signature algorithm.
    AlgorithmMismatch {
        key: &'static str,
        algorithm: &'static str,
    },
    UnknownKeyType(String),
    UnknownAlgorithm(String),
    KeyRejected(String),
    /// aws-lc-rs reported a failure (it gives no detail, by design).
    Crypto,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::AlgorithmMismatch { key, algorithm } => {
                write!(f, "a {key} key cannot sign with {algorithm}")
            }
            SignError::UnknownKeyType(k) => {
                write!(
                    f,
                    "unknown key type '{k}' (ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096)"
                )
            }
            SignError::UnknownAlgorithm(a) => write!(f, "unknown signature algorithm '{a}'"),
            SignError::KeyRejected(why) => write!(f, "key rejected: {why}"),
            SignError::Crypto => write!(f, "signing failed in aws-lc"),
        }
    }
}

impl std::error::Error for SignError {}

/// Something that signs TBS bytes with one key. Implementations are shared across
/// rayon workers, hence `Send + Sync`.
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> SigAlg;
    /// SubjectPublicKeyInfo DER of the signing key.
    fn public_key_der(&self) -> &[u8];
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

enum KeyMaterial {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A private key in process memory (software mode; HSM keys never take this form).
pub struct SoftwareKey {
    material: KeyMaterial,
    key_type: &'static str,
    alg: SigAlg,
    spki: Vec<u8>,
    rng: SystemRandom,
}

fn ec_signing_alg(p384: bool) -> &'static sig::EcdsaSigningAlgorithm {
    if p384 {
        &sig::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &sig::ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

fn default_alg(key_type: &str) -> SigAlg {
    if key_type == "ec-p384" {
        SigAlg::EcdsaSha384
    } else if key_type.starts_with("ec-") {
        SigAlg::EcdsaSha256
    } else {
        SigAlg::RsaPkcs1Sha256
    }
}

/// A P-256 key signs with SHA-256 and a P-384 key with SHA-384 (the pairing of
/// RFC 5480 §4 and CA/B BR §7.1.3.2; aws-lc-rs offers only these pairs).
fn check_alg(key_type: &'static str, alg: SigAlg) -> Result<(), SignError> {
    let ok = match key_type {
        "ec-p256" => alg == SigAlg::EcdsaSha256,
        "ec-p384" => alg == SigAlg::EcdsaSha384,
        _ => !alg.is_ecdsa(),
    };
    if !ok {
        return Err(SignError::AlgorithmMismatch {
            key: key_type,
            algorithm: alg.name(),
        });
    }
    Ok(())
}

/// The aws-lc-rs padding of an RSA signature algorithm. `SoftwareKey` checks at
/// construction that an RSA key never carries an ECDSA algorithm.
fn rsa_padding(alg: SigAlg) -> &'static dyn sig::RsaEncoding {
    match alg {
        SigAlg::RsaPkcs1Sha256 => &sig::RSA_PKCS1_SHA256,
        SigAlg::RsaPkcs1Sha384 => &sig::RSA_PKCS1_SHA384,
        SigAlg::RsaPssSha256 => &sig::RSA_PSS_SHA256,
        SigAlg::RsaPssSha384 => &sig::RSA_PSS_SHA384,
        SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384 => unreachable!("checked at construction"),
    }
}

impl SoftwareKey {
    /// Generate a key inside aws-lc-rs. `alg` defaults to ECDSA with the curve's hash
    /// (SHA-256 for P-256, SHA-384 for P-384) or PKCS#1 v1.5 SHA-256 for RSA.
    pub fn generate(key_type: &str, alg: Option<SigAlg>) -> Result<Self, SignError> {
        let (kt, material): (&'static str, KeyMaterial) = match key_type {
            "ec-p256" | "ec-p384" => {
                let p384 = key_type == "ec-p384";
                let kt = if p384 { "ec-p384" } else { "ec-p256" };
                let a = alg.unwrap_or(default_alg(kt));
                check_alg(kt, a)?;
                let kp =
                    EcdsaKeyPair::generate(ec_signing_alg(p384)).map_err(|_| SignError::Crypto)?;
                (kt, KeyMaterial::Ec(kp))
            }
            "rsa-2048" | "rsa-3072" | "rsa-4096" => {
                let (kt, size) = match key_type {
                    "rsa-2048" => ("rsa-2048", KeySize::Rsa2048),
                    "rsa-3072" => ("rsa-3072", KeySize::Rsa3072),
                    _ => ("rsa-4096", KeySize::Rsa4096),
                };
                (
                    kt,
                    KeyMaterial::Rsa(RsaKeyPair::generate(size).map_err(|_| SignError::Crypto)?),
                )
            }
            other => return Err(SignError::UnknownKeyType(other.to_string())),
        };
        Self::assemble(kt, material, alg)
    }

    /// Load a PKCS#8 (RFC 5208 / 5958) private key.
    pub fn from_pkcs8(der: &[u8], alg: Option<SigAlg>) -> Result<Self, SignError> {
        for p384 in [false, true] {
            let kt = if p384 { "ec-p384" } else { "ec-p256" };
            if let Ok(kp) = EcdsaKeyPair::from_pkcs8(ec_signing_alg(p384), der) {
                return Self::assemble(kt, KeyMaterial::Ec(kp), alg);
            }
        }
        let kp = RsaKeyPair::from_pkcs8(der).map_err(|e| SignError::KeyRejected(e.to_string()))?;
        let kt = match kp.public_modulus_len() * 8 {
            2048 => "rsa-2048",
            3072 => "rsa-3072",
            4096 => "rsa-4096",
            bits => {
                return Err(SignError::KeyRejected(format!(
                    "RSA-{bits} is not a supported CA key size"
                )))
            }
        };
        Self::assemble(kt, KeyMaterial::Rsa(kp), alg)
    }

    fn assemble(
        key_type: &'static str,
        material: KeyMaterial,
        alg: Option<SigAlg>,
    ) -> Result<Self, SignError> {
        let alg = alg.unwrap_or(default_alg(key_type));
        check_alg(key_type, alg)?;
        let spki = match &material {
            KeyMaterial::Ec(kp) => kp
                .public_key()
                .as_der()
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec(),
            KeyMaterial::Rsa(kp) => {
                let der: PublicKeyX509Der<'static> =
                    kp.public_key().as_der().map_err(|_| SignError::Crypto)?;
                der.as_ref().to_vec()
            }
        };
        Ok(SoftwareKey {
            material,
            key_type,
            alg,
            spki,
            rng: SystemRandom::new(),
        })
    }

    pub fn key_type(&self) -> &'static str {
        self.key_type
    }

    /// Sign a digest computed elsewhere (the CRL writer hashes its TBS while writing
    /// it, so a 35 MB TBSCertList is hashed once, not twice). The digest must come
    /// from this key's signature hash.
    pub fn sign_digest(&self, digest: &digest::Digest) -> Result<Vec<u8>, SignError> {
        match &self.material {
            KeyMaterial::Ec(kp) => Ok(kp
                .sign_digest(digest)
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec()),
            KeyMaterial::Rsa(kp) => {
                let padding = rsa_padding(self.alg);
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign_digest(padding, digest, &mut out)
                    .map_err(|_| SignError::Crypto)?;
                Ok(out)
            }
        }
    }

    /// PKCS#8 v1 export, for the software-mode key files of a workspace.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, SignError> {
        match &self.material {
            KeyMaterial::Ec(kp) => Ok(kp
                .to_pkcs8v1()
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec()),
            KeyMaterial::Rsa(kp) => {
                let der: Pkcs8V1Der<'static> = kp.as_der().map_err(|_| SignError::Crypto)?;
                Ok(der.as_ref().to_vec())
            }
        }
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> SigAlg {
        self.alg
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.material {
            KeyMaterial::Ec(kp) => Ok(kp
                .sign(&self.rng, message)
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec()),
            KeyMaterial::Rsa(kp) => {
                let padding = rsa_padding(self.alg);
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(padding, &self.rng, message, &mut out)
                    .map_err(|_| SignError::Crypto)?;
                Ok(out)
            }
        }
    }
}

/// Hash every item of a batch (the external-signer path hands these to an HSM).
pub fn digest_batch<'a>(items: impl Iterator<Item = &'a [u8]>, hash: HashAlg) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(digest::digest(hash.algorithm(), item).as_ref());
    }
    out
}

/// PKCS#11 CKM_ECDSA returns r || s, each the curve's byte length; X.509 wants
/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 132 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = writer::tlv(tag::INTEGER, &writer::unsigned_integer_content(r));
    let s = writer::tlv(tag::INTEGER, &writer::unsigned_integer_content(s));
    Some(writer::constructed(tag::SEQUENCE, &[&r, &s]))
}

/// CSPRNG serial numbers: `n` rows of `len` octets, first octet forced into
/// 0x01..=0x7f so every serial is positive and exactly `len` octets when
/// DER-encoded (RFC 5280 §4.1.2.2; CA/B BR §7.1 asks for >= 64 random bits — a
/// 16-octet serial carries 127).
pub fn generate_serials(n: usize, len: usize) -> Result<Vec<u8>, SignError> {
    let mut out = vec![0u8; n * len];
    rand::fill(&mut out).map_err(|_| SignError::Crypto)?;
    for row in out.chunks_exact_mut(len) {
        // Rejection-free mapping into 1..=127 keeps 6.99 bits in the first octet.
        row[0] = (row[0] % 127) + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::UnparsedPublicKey;

    #[test]
    fn ec_sign_verifies() {
        for (kt, alg, verify) in [
            ("ec-p256", SigAlg::EcdsaSha256, &sig::ECDSA_P256_SHA256_ASN1),
            ("ec-p384", SigAlg::EcdsaSha384, &sig::ECDSA_P384_SHA384_ASN1),
        ] {
            let k = SoftwareKey::generate(kt, None).unwrap();
            assert_eq!(k.algorithm(), alg);
            let s = k.sign(b"tbs").unwrap();
            let kp = match &k.material {
                KeyMaterial::Ec(kp) => kp.public_key().as_ref().to_vec(),
                _ => unreachable!(),
            };
            UnparsedPublicKey::new(verify, kp)
                .verify(b"tbs", &s)
                .unwrap();
            let back = SoftwareKey::from_pkcs8(&k.to_pkcs8().unwrap(), None).unwrap();
            assert_eq!(back.public_key_der(), k.public_key_der());
        }
    }

    #[test]
    fn mismatch_rejected() {
        assert!(SoftwareKey::generate("ec-p256", Some(SigAlg::RsaPssSha256)).is_err());
        assert!(SoftwareKey::generate("dsa-1024", None).is_err());
    }

    #[test]
    fn serials_positive_and_full_length() {
        let s = generate_serials(1000, 16).unwrap();
        for row in s.chunks_exact(16) {
            assert!((1..=0x7f).contains(&row[0]));
        }
    }

    #[test]
    fn raw_to_der() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[63] = 1;
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(der[..4], [0x30, 0x26, 0x02, 0x21]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_none());
    }

    #[test]
    fn pss_identifier_shape() {
        // Known-good DER of RSASSA-PSS SHA-256/MGF1-SHA-256/salt 32 (as openssl emits it).
        let expected = "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120";
        assert_eq!(
            hex::encode(SigAlg::RsaPssSha256.algorithm_identifier()),
            expected
        );
    }
}
