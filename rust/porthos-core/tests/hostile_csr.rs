//! Hostile-input tests for CSR parsing and proof-of-possession checking.
//!
//! A valid P-256 CSR is built here from scratch (a fresh aws-lc-rs key, DER written by
//! the small local helpers below, so this file depends on nothing but the parser it
//! tests), then broken in every way a hostile applicant might try. Real OpenSSL output
//! at the end checks that the strict parser still accepts what a mainstream encoder
//! produces.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use porthos_core::verify::{check_csr, check_csrs, verify_signature, VerifyStatus};
use porthos_core::x509::cert::parse_certificate;
use porthos_core::x509::csr::{parse_csr, SignatureAlgorithm};
use porthos_core::x509::oids;
use porthos_core::x509::spki::{parse_spki, KeyType};
use proptest::prelude::*;
use std::sync::OnceLock;

// ---- local DER helpers (deliberately independent of porthos' writer) ----

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let b = len.to_be_bytes();
        let skip = b.iter().take_while(|&&x| x == 0).count();
        out.push(0x80 | (b.len() - skip) as u8);
        out.extend(&b[skip..]);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    push_len(&mut v, content.len());
    v.extend_from_slice(content);
    v
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// Minimal DER INTEGER from unsigned big-endian magnitude.
fn uint(mag: &[u8]) -> Vec<u8> {
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    let mut m = mag[start..].to_vec();
    if m.is_empty() || m[0] & 0x80 != 0 {
        m.insert(0, 0);
    }
    tlv(0x02, &m)
}

fn from_hex(parts: &[&str]) -> Vec<u8> {
    hex::decode(parts.concat()).unwrap()
}

fn alg_id(oid: &[u8], params: &[u8]) -> Vec<u8> {
    seq(&[&tlv(0x06, oid), params])
}

fn ec_spki(point: &[u8]) -> Vec<u8> {
    seq(&[
        &alg_id(oids::EC_PUBLIC_KEY, &tlv(0x06, oids::SECP256R1)),
        &tlv(0x03, &[&[0u8][..], point].concat()),
    ])
}

fn subject() -> Vec<u8> {
    let rdn = |oid: &[u8], t: u8, v: &[u8]| tlv(0x31, &seq(&[&tlv(0x06, oid), &tlv(t, v)]));
    seq(&[
        &rdn(oids::AT_COUNTRY, 0x13, b"CH"),
        &rdn(oids::AT_COMMON_NAME, 0x0c, b"reader 7"),
    ])
}

/// attributes [0] with one extensionRequest holding a SAN.
fn attributes() -> Vec<u8> {
    let san = seq(&[
        &tlv(0x06, oids::SUBJECT_ALT_NAME),
        &tlv(0x04, &seq(&[&tlv(0x82, b"r7.example")])),
    ]);
    let ext_req = seq(&[
        &tlv(0x06, oids::EXTENSION_REQUEST),
        &tlv(0x31, &seq(&[&san])),
    ]);
    tlv(0xa0, &ext_req)
}

fn info(version: &[u8], spki: &[u8]) -> Vec<u8> {
    seq(&[version, &subject(), spki, &attributes()])
}

fn csr(info: &[u8], sig_alg: &[u8], sig: &[u8]) -> Vec<u8> {
    seq(&[info, sig_alg, &tlv(0x03, &[&[0u8][..], sig].concat())])
}

fn ecdsa_sha256() -> Vec<u8> {
    alg_id(oids::ECDSA_WITH_SHA256, &[])
}

struct Fixture {
    key: EcdsaKeyPair,
    info: Vec<u8>,
    sig: Vec<u8>,
    der: Vec<u8>,
}

fn sign(key: &EcdsaKeyPair, msg: &[u8]) -> Vec<u8> {
    key.sign(&SystemRandom::new(), msg)
        .unwrap()
        .as_ref()
        .to_vec()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let info = info(&uint(&[0]), &ec_spki(key.public_key().as_ref()));
        let sig = sign(&key, &info);
        let der = csr(&info, &ecdsa_sha256(), &sig);
        Fixture {
            key,
            info,
            sig,
            der,
        }
    })
}

/// (r, s) magnitudes of a DER ECDSA-Sig-Value (P-256 sizes: short lengths only).
fn split_sig(sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(sig[0], 0x30);
    let rl = usize::from(sig[3]);
    let r = sig[4..4 + rl].to_vec();
    let sl = usize::from(sig[5 + rl]);
    let s = sig[6 + rl..6 + rl + sl].to_vec();
    (r, s)
}

fn ecdsa_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    seq(&[&uint(r), &uint(s)])
}

/// P-256 group order n (SEC 2 §2.4.2).
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// a - b for 32-byte big-endian numbers with a >= b.
fn sub(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut bb = [0u8; 32];
    let mag = &b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..];
    bb[32 - mag.len()..].copy_from_slice(mag);
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(bb[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

fn status(der: &[u8]) -> VerifyStatus {
    check_csr(der, true).status
}

// ---- tests ----

#[test]
fn valid_csr_is_ok_and_fully_parsed() {
    let f = fixture();
    let out = check_csr(&f.der, true);
    assert_eq!(out.status, VerifyStatus::Ok, "{}", out.detail);
    assert_eq!(out.detail, "");
    let c = out.csr.unwrap();
    assert_eq!(c.info, &f.info[..]);
    assert_eq!(c.signature, &f.sig[..]);
    assert_eq!(c.signature_algorithm, SignatureAlgorithm::EcdsaSha256);
    assert_eq!((c.spki.key_type, c.spki.key_bits), (KeyType::EcP256, 256));
    assert_eq!(c.subject_der, &subject()[..]);
    let names: Vec<_> = c
        .subject
        .iter()
        .map(|a| (a.oid.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(names, [("2.5.4.6", "CH"), ("2.5.4.3", "reader 7")]);
    assert_eq!(c.extensions.len(), 1);
    assert_eq!(c.extensions[0].oid, "2.5.29.17");
    assert!(!c.extensions[0].critical);
    assert_eq!(
        c.extensions[0].value,
        &seq(&[&tlv(0x82, b"r7.example")])[..]
    );
}

#[test]
fn every_truncation_is_malformed() {
    let f = fixture();
    for len in 0..f.der.len() {
        let out = check_csr(&f.der[..len], true);
        assert_eq!(out.status, VerifyStatus::Malformed, "truncated to {len}");
        assert!(out.csr.is_none() && !out.detail.is_empty());
    }
}

#[test]
fn trailing_byte_is_malformed() {
    let mut der = fixture().der.clone();
    der.push(0);
    let out = check_csr(&der, true);
    assert_eq!(out.status, VerifyStatus::Malformed);
    assert!(out.detail.contains("trailing"), "{}", out.detail);
}

#[test]
fn validly_signed_ber_is_still_malformed() {
    let f = fixture();
    let spki = ec_spki(f.key.public_key().as_ref());
    // Long-form length for a 1-octet INTEGER (X.690 §10.1 forbids it).
    let ber_info = info(&[0x02, 0x81, 0x01, 0x00], &spki);
    let der = csr(&ber_info, &ecdsa_sha256(), &sign(&f.key, &ber_info));
    let out = check_csr(&der, true);
    assert_eq!(out.status, VerifyStatus::Malformed);
    assert!(
        out.detail.contains("non-minimal length") && out.detail.contains("version"),
        "{}",
        out.detail
    );

    // Indefinite length on the outer SEQUENCE, with end-of-contents.
    let body = [
        &f.info[..],
        &ecdsa_sha256(),
        &tlv(0x03, &[&[0u8][..], &f.sig].concat()),
    ]
    .concat();
    let indefinite = [&[0x30, 0x80][..], &body, &[0, 0]].concat();
    assert_eq!(status(&indefinite), VerifyStatus::Malformed);

    // Non-minimal length on the outer SEQUENCE (leading zero length octet).
    let mut padded = vec![0x30, 0x83, 0x00];
    padded.extend(&f.der[2..]);
    assert_eq!(f.der[1], 0x82, "fixture uses a 2-octet length");
    assert_eq!(status(&padded), VerifyStatus::Malformed);

    // Version 1 (v2) does not exist for PKCS#10.
    let v1 = info(&uint(&[1]), &spki);
    assert_eq!(
        status(&csr(&v1, &ecdsa_sha256(), &sign(&f.key, &v1))),
        VerifyStatus::Malformed
    );
}

#[test]
fn tampered_signatures_are_bad() {
    let f = fixture();
    let (r, s) = split_sig(&f.sig);
    let bad = |sig: &[u8]| status(&csr(&f.info, &ecdsa_sha256(), sig));

    let mut flipped = ecdsa_sig(&r, &s);
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    assert_eq!(bad(&flipped), VerifyStatus::BadSignature);
    assert_eq!(
        bad(&ecdsa_sig(&[0], &s)),
        VerifyStatus::BadSignature,
        "r = 0"
    );
    assert_eq!(
        bad(&ecdsa_sig(&r, &[0])),
        VerifyStatus::BadSignature,
        "s = 0"
    );
    assert_eq!(bad(&ecdsa_sig(&N, &s)), VerifyStatus::BadSignature, "r = n");
    assert_eq!(bad(&ecdsa_sig(&r, &N)), VerifyStatus::BadSignature, "s = n");
    let mut n_plus_1 = N;
    n_plus_1[31] += 1;
    assert_eq!(
        bad(&ecdsa_sig(&r, &n_plus_1)),
        VerifyStatus::BadSignature,
        "s = n + 1"
    );
    // Non-DER signature encodings: trailing byte, and a padded INTEGER.
    assert_eq!(
        bad(&[&f.sig[..], &[0]].concat()),
        VerifyStatus::BadSignature
    );
    let padded_r = seq(&[&tlv(0x02, &[&[0u8, 0][..], &r].concat()), &uint(&s)]);
    assert_eq!(bad(&padded_r), VerifyStatus::BadSignature);
    // High s is *valid*: X.509 has no low-s rule (that is a Bitcoin/Ethereum
    // convention), so (r, n - s) must verify.
    let high = ecdsa_sig(&r, &sub(&N, &s));
    assert_eq!(bad(&high), VerifyStatus::Ok);
    assert_eq!(
        bad(&ecdsa_sig(&r, &s)),
        VerifyStatus::Ok,
        "re-encoding the same (r, s) is identical"
    );
    // A message changed after signing.
    let mut changed = f.der.clone();
    let pos = changed.windows(8).position(|w| w == b"reader 7").unwrap();
    changed[pos + 7] = b'8';
    assert_eq!(status(&changed), VerifyStatus::BadSignature);
}

#[test]
fn weak_and_mismatched_keys() {
    let f = fixture();
    let point = f.key.public_key().as_ref().to_vec();
    let with_point = |p: &[u8]| {
        let i = info(&uint(&[0]), &ec_spki(p));
        let d = csr(&i, &ecdsa_sha256(), &sign(&f.key, &i));
        status(&d)
    };
    // Off the curve: the last byte of Y changed.
    let mut off = point.clone();
    *off.last_mut().unwrap() ^= 0x01;
    assert_eq!(with_point(&off), VerifyStatus::WeakKey);
    // Policy: every problem *inside* the EC point octets (identity 0x00, wrong
    // length, compressed or hybrid form) is WeakKey; only broken DER is Malformed.
    assert_eq!(with_point(&[0x00]), VerifyStatus::WeakKey, "identity");
    assert_eq!(
        with_point(&point[1..]),
        VerifyStatus::WeakKey,
        "64 bytes, no 0x04"
    );
    assert_eq!(with_point(&point[..64]), VerifyStatus::WeakKey, "short");
    assert_eq!(with_point(&[]), VerifyStatus::WeakKey, "empty");
    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend(&point[1..33]);
    assert_eq!(with_point(&compressed), VerifyStatus::WeakKey, "compressed");

    // RSA-1024: weak even before looking at the signature.
    let rsa1024 = from_hex(RSA1024_SPKI);
    assert_eq!(parse_spki(&rsa1024).unwrap().key_bits, 1024);
    let i = info(&uint(&[0]), &rsa1024);
    let d = csr(
        &i,
        &alg_id(oids::SHA256_WITH_RSA, &tlv(0x05, &[])),
        &[0x5a; 128],
    );
    assert_eq!(status(&d), VerifyStatus::WeakKey);
    // Without verification the key check still applies.
    assert_eq!(check_csr(&d, false).status, VerifyStatus::WeakKey);

    // ECDSA signature OID with an RSA-2048 key: UnsupportedAlgorithm.
    let pss = from_hex(OPENSSL_PSS256_CSR);
    let rsa2048 = parse_csr(&pss).unwrap().spki.der.to_vec();
    let i = info(&uint(&[0]), &rsa2048);
    assert_eq!(
        status(&csr(&i, &ecdsa_sha256(), &f.sig)),
        VerifyStatus::UnsupportedAlgorithm
    );

    // Unknown signature OID (1.2.3.4), and ECDSA with (forbidden) NULL parameters.
    let unknown = csr(&f.info, &alg_id(&[0x2a, 0x03, 0x04], &[]), &f.sig);
    assert_eq!(status(&unknown), VerifyStatus::UnsupportedAlgorithm);
    let null_params = csr(
        &f.info,
        &alg_id(oids::ECDSA_WITH_SHA256, &tlv(0x05, &[])),
        &f.sig,
    );
    assert_eq!(status(&null_params), VerifyStatus::UnsupportedAlgorithm);
    // A right-family, wrong-hash algorithm simply does not verify.
    let sha384 = csr(&f.info, &alg_id(oids::ECDSA_WITH_SHA384, &[]), &f.sig);
    assert_eq!(status(&sha384), VerifyStatus::BadSignature);
}

#[test]
fn verify_false_skips_only_the_signature() {
    let f = fixture();
    let junk = csr(&f.info, &ecdsa_sha256(), &[0x30, 0x00]);
    assert_eq!(check_csr(&junk, true).status, VerifyStatus::BadSignature);
    assert_eq!(check_csr(&junk, false).status, VerifyStatus::Ok);
}

#[test]
fn batch_preserves_order_for_every_thread_setting() {
    let f = fixture();
    let mut flipped = f.der.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let items: Vec<&[u8]> = vec![&f.der, &f.der[..10], &flipped, &f.der];
    let want = [
        VerifyStatus::Ok,
        VerifyStatus::Malformed,
        VerifyStatus::BadSignature,
        VerifyStatus::Ok,
    ];
    for threads in [None, Some(0), Some(1), Some(3)] {
        let got: Vec<_> = check_csrs(&items, true, threads)
            .into_iter()
            .map(|o| o.status)
            .collect();
        assert_eq!(got, want, "{threads:?}");
    }
    assert!(check_csrs(&[], true, Some(2)).is_empty());
}

#[test]
fn openssl_requests_are_accepted() {
    let ec = from_hex(OPENSSL_P256_CSR);
    let out = check_csr(&ec, true);
    assert_eq!(out.status, VerifyStatus::Ok, "{}", out.detail);
    let c = out.csr.unwrap();
    let exts: Vec<_> = c
        .extensions
        .iter()
        .map(|e| (e.oid.as_str(), e.critical))
        .collect();
    assert_eq!(exts, [("2.5.29.17", false), ("2.5.29.15", true)]);
    assert_eq!(c.subject[1].value, "device 1");

    for (hexs, alg) in [
        (OPENSSL_PSS256_CSR, SignatureAlgorithm::RsaPssSha256),
        (OPENSSL_PSS384_CSR, SignatureAlgorithm::RsaPssSha384),
    ] {
        let der = from_hex(hexs);
        let out = check_csr(&der, true);
        assert_eq!(out.status, VerifyStatus::Ok, "{}", out.detail);
        let c = out.csr.unwrap();
        assert_eq!(c.signature_algorithm, alg);
        assert_eq!((c.spki.key_type, c.spki.key_bits), (KeyType::Rsa, 2048));
    }
}

#[test]
fn openssl_certificate_fields() {
    let der = from_hex(OPENSSL_P256_CA);
    let c = parse_certificate(&der).unwrap();
    assert_eq!(c.serial, [0x12, 0x34]);
    assert_eq!((c.not_before, c.not_after), (1_795_349_673, 2_110_709_673));
    assert_eq!(c.issuer_der, c.subject_der);
    assert_eq!(c.signature_algorithm, SignatureAlgorithm::EcdsaSha256);
    assert_eq!(c.spki.key_type, KeyType::EcP256);
    assert_eq!(
        c.subject_key_id.unwrap(),
        from_hex(&["da0effc585e82a855828066d74dfc7b76a81f92d"])
    );
    assert_eq!(
        verify_signature(c.signature_algorithm, &c.spki, c.tbs, c.signature),
        VerifyStatus::Ok
    );
    for len in 0..der.len() {
        assert!(parse_certificate(&der[..len]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random byte edits never panic, and never yield Ok unless the bytes are the
    /// original ones: strict DER + strict ECDSA-Sig-Value leave no room for an
    /// equivalent re-encoding of a signed request.
    #[test]
    fn mutations_never_panic_or_forge(edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
                                      cut in proptest::option::of(any::<prop::sample::Index>())) {
        let f = fixture();
        let mut der = f.der.clone();
        for (at, x) in &edits {
            let i = at.index(der.len());
            der[i] ^= x;
        }
        if let Some(c) = cut {
            der.truncate(c.index(der.len()));
        }
        let out = check_csr(&der, true);
        if out.status == VerifyStatus::Ok {
            prop_assert!(out.csr.is_some());
            prop_assert_eq!(&der, &f.der);
        }
        if out.status != VerifyStatus::Malformed {
            prop_assert!(parse_csr(&der).is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The issuer-certificate parser survives random edits: no panic, and whatever
    /// it accepts still has the fields it promises inside the input.
    #[test]
    fn certificate_mutations_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let mut der = from_hex(OPENSSL_P256_CA);
        for (at, x) in &edits {
            let i = at.index(der.len());
            der[i] ^= x;
        }
        if let Ok(c) = parse_certificate(&der) {
            prop_assert_eq!(c.der.len(), der.len());
            prop_assert!(c.tbs.len() < der.len() && c.not_before <= 253_402_300_799);
        }
    }
}

// ---- fixtures generated with OpenSSL 3.0.19 ----

/// `openssl genrsa 1024 | openssl rsa -pubout -outform DER`
const RSA1024_SPKI: &[&str] = &[
    "30819f300d06092a864886f70d010101050003818d0030818902818100d9d488ae2308320308b8252d1e7c3d005a4945",
    "4f9b60e58e836917833b03ae5e95e29b82f2b4da4fe29aafdaf3c1e0ebfed48473d96cac349c1e1342db5153e68e2dc0",
    "9aded64e1bda9d4770dd71b096f704005daafebdd3913fedab916a3ba6236d247dddaf014c2d2ecd3ef4db30c57056fc",
    "b32a14b5696497b813a67c639d0203010001",
];

/// OpenSSL 3.0 P-256 CSR: /C=CH/CN=device 1, SAN DNS:a.example, critical keyUsage digitalSignature.
const OPENSSL_P256_CSR: &[&str] = &[
    "308201123081b90201003020310b30090603550406130243483111300f06035504030c08646576696365203130593013",
    "06072a8648ce3d020106082a8648ce3d030107034200048f009a62f6152f8b5ca7a362021805c19d0d95ef3a11835799",
    "8c62af645d24e28b9081424ddedd7e3fa5b454a09d3b5aa087617cacb1b8cebb4084e2a1280512a037303506092a8648",
    "86f70d01090e3128302630140603551d11040d300b8209612e6578616d706c65300e0603551d0f0101ff040403020780",
    "300a06082a8648ce3d0403020348003045022035ae341a0f20e57ccc780171f8e5cbe40c59e3c877da5feaa8774d11bb",
    "532725022100d02fcda0f32df1fb2db8a7311ccf4c58cd98c8acc033ea48033b1f3698a91103",
];

/// OpenSSL 3.0 RSA-2048 CSR signed RSASSA-PSS SHA-256, MGF1-SHA-256, salt 32.
const OPENSSL_PSS256_CSR: &[&str] = &[
    "308202873082013b020100300e310c300a06035504030c0370737330820122300d06092a864886f70d01010105000382",
    "010f003082010a0282010100c1a9f23a7a911c2345f7f3c2643ec803e17147ed2e67d9f5fd5ea4a84a9f2d525dac9539",
    "a688de238e83e6abdb1a506aa1952fa924ba59155b866f4eaa2a5bd28af3972eda6b32b11b51c14f7a10586239d7c722",
    "85a03d7786ff67f499cac9a7f07f091e542d192c10b356eb392a72ed5b166677ac045e57b9ce44564caca652da650de0",
    "19353d7ef37204427f6a83b1887f3d181e90c2dd9d4093e553f7db29709e549c0ef68ddebd4c5ac77f975c2c6f5f2c3e",
    "5c12aff8f6cd2a42d9274b0ff48df707fcf1d1e6de10b6795e4f1c5cb90eaccbcf6e3b18be1fa279ba581a924a047b6a",
    "3b0d647f0d9e381b0964fc4d972ac7c46cb4b372c3e892791cce23ef0203010001a000304106092a864886f70d01010a",
    "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d060960864801650304020105",
    "00a2030201200382010100818c23f2936ed4dc7b907bbd4724519cbbe80dc30fe147258e3b9e658a555ce1b18cdf33ba",
    "85e1e4bdd4e403b8f3b75831624d3de56708192b4ab03d8ce785800c9aec675affd554767db04c3fb9984af830d3f679",
    "5e6b999d867ae10c12b8a6a1a6a71870b2c95b0934faf727a68439f1b90559d258bf3a1f1596e24b16d7c83d4c267d60",
    "bcb829e9ca66ae562d9083dfc97ffe775c03140e05aea46598f7ed0296db0c0aeca653467049b5023e371456992777fa",
    "ea930b32fa6cedd6a40157fb6c2ef9b1bc6ffcb84c7f6533abe86eb258344ace8fc205cbce24588315519b79ac32d87e",
    "c05746aac22d88bbb3df86c6dcc403c0b51899a250fb70f79c798e",
];

/// OpenSSL 3.0 RSA-2048 CSR signed RSASSA-PSS SHA-384, MGF1-SHA-384, salt 48.
const OPENSSL_PSS384_CSR: &[&str] = &[
    "308202873082013b020100300e310c300a06035504030c0370737330820122300d06092a864886f70d01010105000382",
    "010f003082010a0282010100c1a9f23a7a911c2345f7f3c2643ec803e17147ed2e67d9f5fd5ea4a84a9f2d525dac9539",
    "a688de238e83e6abdb1a506aa1952fa924ba59155b866f4eaa2a5bd28af3972eda6b32b11b51c14f7a10586239d7c722",
    "85a03d7786ff67f499cac9a7f07f091e542d192c10b356eb392a72ed5b166677ac045e57b9ce44564caca652da650de0",
    "19353d7ef37204427f6a83b1887f3d181e90c2dd9d4093e553f7db29709e549c0ef68ddebd4c5ac77f975c2c6f5f2c3e",
    "5c12aff8f6cd2a42d9274b0ff48df707fcf1d1e6de10b6795e4f1c5cb90eaccbcf6e3b18be1fa279ba581a924a047b6a",
    "3b0d647f0d9e381b0964fc4d972ac7c46cb4b372c3e892791cce23ef0203010001a000304106092a864886f70d01010a",
    "3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d060960864801650304020205",
    "00a2030201300382010100a13d4106c2650d670450c505077f4f1f0b5a5cca2624429f5ddad41635d6e71d3ef6278112",
    "8b9062fd921a5c8f392025cbad8383f682c0439aeea226027992ca4ea9a6df47554eec6884420a65d7c20ea04df4f0bf",
    "0dffead5cc374025c01c2257ef7d577b91cac47ea5442731af5dcc1a454c0605e08fc04140f89a1c9fe9b96881576685",
    "c4c341c14343b845056805244413b7504b3eac4d373a8f0be53a54c0bc0873d15d2eb24035e6817bd69ebb474d93fbad",
    "f4b64321748bad740b3f64928b85002e4ff385383875a2eebbed41c53442e634c2fc711cb885d061e6dc718289559c41",
    "114cbe12d8a4ff1c6b50939af73b4294b3716dc895b97dfb95daab",
];

/// OpenSSL 3.0 self-signed P-256 CA, serial 0x1234, 2026-11-22T12:14:33Z .. 2036-11-19T12:14:33Z.
const OPENSSL_P256_CA: &[&str] = &[
    "308201d130820177a00302010202021234300a06082a8648ce3d0403023047310b3009060355040613024348311e301c",
    "060355040a0c154c45474943204964656e7473797374656d732041473118301606035504030c0f506f7274686f732054",
    "657374204341301e170d3236313132323132313433335a170d3336313131393132313433335a3047310b300906035504",
    "0613024348311e301c060355040a0c154c45474943204964656e7473797374656d732041473118301606035504030c0f",
    "506f7274686f7320546573742043413059301306072a8648ce3d020106082a8648ce3d030107034200048f009a62f615",
    "2f8b5ca7a362021805c19d0d95ef3a118357998c62af645d24e28b9081424ddedd7e3fa5b454a09d3b5aa087617cacb1",
    "b8cebb4084e2a1280512a3533051301f0603551d23041830168014da0effc585e82a855828066d74dfc7b76a81f92d30",
    "0f0603551d130101ff040530030101ff301d0603551d0e04160414da0effc585e82a855828066d74dfc7b76a81f92d30",
    "0a06082a8648ce3d0403020348003045022046982778ea611975d472005afce0832f107f477feac2a9c7b01abaa20764",
    "6a310221008126f032ea7d0894af52bab149aaa235252d2b05e8ad6a155c83e7421cdf232c",
];
