//! SignedData built here with the crate's own writer and aws-lc-rs keys; the
//! independent encoders (pyca/cryptography, `openssl cms`) are exercised from
//! tests/test_cms.py.

use super::*;
use crate::der::writer::{constructed, tlv};
use crate::sign::{SigAlg, Signer, SoftwareKey};
use crate::x509::name_encode::encode_name;
use proptest::prelude::*;

const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

fn oid(content: &[u8]) -> Vec<u8> {
    tlv(tag::OID, content)
}

fn alg(o: &[u8]) -> Vec<u8> {
    constructed(tag::SEQUENCE, &[&oid(o)])
}

fn name(cn: &str) -> Vec<u8> {
    encode_name(&[("CN".to_string(), cn.to_string())]).unwrap()
}

/// UTCTime 2024-01-01 / 2049-12-31.
fn validity() -> Vec<u8> {
    constructed(
        tag::SEQUENCE,
        &[
            &tlv(tag::UTC_TIME, b"240101000000Z"),
            &tlv(tag::UTC_TIME, b"491231000000Z"),
        ],
    )
}

/// A v3 certificate for `key`, issued (and signed) by `issuer_key` under `issuer`,
/// with a subjectKeyIdentifier.
fn cert(
    subject: &str,
    issuer: &str,
    serial: u8,
    key: &dyn Signer,
    issuer_key: &dyn Signer,
) -> Vec<u8> {
    let sig_alg = issuer_key.algorithm().algorithm_identifier();
    let ski = tlv(tag::OCTET_STRING, &tlv(tag::OCTET_STRING, &[serial; 20]));
    let ext = constructed(tag::SEQUENCE, &[&oid(&[0x55, 0x1d, 0x0e]), &ski]);
    let exts = constructed(0xa3, &[&constructed(tag::SEQUENCE, &[&ext])]);
    let tbs = constructed(
        tag::SEQUENCE,
        &[
            &constructed(0xa0, &[&tlv(tag::INTEGER, &[2])]),
            &tlv(tag::INTEGER, &[serial]),
            &sig_alg,
            &name(issuer),
            &validity(),
            &name(subject),
            key.public_key_der(),
            &exts,
        ],
    );
    let sig = issuer_key.sign(&tbs).unwrap();
    let mut bits = vec![0u8];
    bits.extend(sig);
    constructed(
        tag::SEQUENCE,
        &[&tbs, &sig_alg, &tlv(tag::BIT_STRING, &bits)],
    )
}

struct Build<'a> {
    content: &'a [u8],
    certs: Vec<Vec<u8>>,
    signer: &'a dyn Signer,
    sid: Vec<u8>,
    version: u8,
    attrs: bool,
    attr_digest: Option<Vec<u8>>,
    attr_ct: &'a [u8],
    sig_alg: Vec<u8>,
    unsorted: bool,
}

impl<'a> Build<'a> {
    fn new(
        content: &'a [u8],
        signer: &'a dyn Signer,
        cert_der: Vec<u8>,
        issuer: &str,
        serial: u8,
    ) -> Self {
        let sid = constructed(
            tag::SEQUENCE,
            &[&name(issuer), &tlv(tag::INTEGER, &[serial])],
        );
        Build {
            content,
            certs: vec![cert_der],
            signer,
            sid,
            version: 1,
            attrs: true,
            attr_digest: None,
            attr_ct: ID_DATA,
            sig_alg: alg(ECDSA_SHA256),
            unsorted: false,
        }
    }

    fn der(&self) -> Vec<u8> {
        let sha256 = alg(oids::SHA256);
        let md = self.attr_digest.clone().unwrap_or_else(|| {
            digest::digest(&digest::SHA256, self.content)
                .as_ref()
                .to_vec()
        });
        let a_ct = constructed(
            tag::SEQUENCE,
            &[
                &oid(ID_CONTENT_TYPE),
                &constructed(tag::SET, &[&oid(self.attr_ct)]),
            ],
        );
        let a_md = constructed(
            tag::SEQUENCE,
            &[
                &oid(ID_MESSAGE_DIGEST),
                &constructed(tag::SET, &[&tlv(tag::OCTET_STRING, &md)]),
            ],
        );
        // DER order: the contentType attribute (…09 03) sorts before messageDigest (…09 04).
        let set: Vec<&[u8]> = if self.unsorted {
            vec![&a_md, &a_ct]
        } else {
            vec![&a_ct, &a_md]
        };
        let signed_set = constructed(tag::SET, &set);
        let (attrs_field, message) = if self.attrs {
            let mut implicit = signed_set.clone();
            implicit[0] = 0xa0;
            (implicit, signed_set)
        } else {
            (Vec::new(), self.content.to_vec())
        };
        let signature = self.signer.sign(&message).unwrap();
        let si = constructed(
            tag::SEQUENCE,
            &[
                &tlv(tag::INTEGER, &[self.version]),
                &self.sid,
                &sha256,
                &attrs_field,
                &self.sig_alg,
                &tlv(tag::OCTET_STRING, &signature),
            ],
        );
        let cert_refs: Vec<&[u8]> = self.certs.iter().map(|c| c.as_slice()).collect();
        let certs = if cert_refs.is_empty() {
            Vec::new()
        } else {
            constructed(0xa0, &cert_refs)
        };
        let sd = constructed(
            tag::SEQUENCE,
            &[
                &tlv(tag::INTEGER, &[1]),
                &constructed(tag::SET, &[&sha256]),
                &constructed(
                    tag::SEQUENCE,
                    &[
                        &oid(ID_DATA),
                        &constructed(0xa0, &[&tlv(tag::OCTET_STRING, self.content)]),
                    ],
                ),
                &certs,
                &constructed(tag::SET, &[&si]),
            ],
        );
        constructed(
            tag::SEQUENCE,
            &[&oid(ID_SIGNED_DATA), &constructed(0xa0, &[&sd])],
        )
    }
}

/// Two certificates (a root and one it issued) for the certs-only writer's tests.
pub(super) fn two_certificates() -> Vec<Vec<u8>> {
    let (ca, ee) = keys();
    vec![
        cert("Root", "Root", 1, &ca, &ca),
        cert("Leaf", "Root", 2, &ee, &ca),
    ]
}

fn keys() -> (SoftwareKey, SoftwareKey) {
    (
        SoftwareKey::generate("ec-p256", None).unwrap(),
        SoftwareKey::generate("ec-p256", None).unwrap(),
    )
}

const CONTENT: &[u8] = b"0\x03\x02\x01\x00 pretend this is a CSR";

#[test]
fn accepts_issuer_serial_with_signed_attributes() {
    let (ca, dmc) = keys();
    let c = cert("DMC 1", "Maker CA", 7, &dmc, &ca);
    let der = Build::new(CONTENT, &dmc, c.clone(), "Maker CA", 7).der();
    let v = verify_signed_data(&der, &[]).unwrap();
    assert_eq!(v.status, CmsStatus::Ok, "{}", v.detail);
    assert_eq!(v.signer_index, Some(0));
    assert_eq!(v.signed.content, Some(CONTENT));
    assert_eq!(v.signed.certificates[0].der, &c[..]);
    assert_eq!(v.signed.content_type, ID_DATA);
}

#[test]
fn accepts_subject_key_identifier_and_no_signed_attributes() {
    let (ca, dmc) = keys();
    let c = cert("DMC 1", "Maker CA", 9, &dmc, &ca);
    let mut b = Build::new(CONTENT, &dmc, c, "Maker CA", 9);
    b.sid = tlv(0x80, &[9u8; 20]);
    b.version = 3;
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::Ok
    );
    b.attrs = false;
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::Ok
    );
    // version 1 with a key identifier contradicts RFC 5652 §5.3.
    b.version = 1;
    let e = verify_signed_data(&b.der(), &[]).unwrap_err();
    assert!(e.path.ends_with("signerInfos[0].version"), "{e}");
}

#[test]
fn rsa_encryption_oid_takes_the_digest_algorithm() {
    let ca = SoftwareKey::generate("ec-p256", None).unwrap();
    let rsa = SoftwareKey::generate("rsa-2048", Some(SigAlg::RsaPkcs1Sha256)).unwrap();
    let c = cert("RSA signer", "Maker CA", 3, &rsa, &ca);
    let mut b = Build::new(CONTENT, &rsa, c, "Maker CA", 3);
    b.sig_alg = constructed(
        tag::SEQUENCE,
        &[&oid(oids::RSA_ENCRYPTION), &tlv(tag::NULL, &[])],
    );
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::Ok
    );
    b.sig_alg = constructed(
        tag::SEQUENCE,
        &[&oid(oids::SHA256_WITH_RSA), &tlv(tag::NULL, &[])],
    );
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::Ok
    );
    // An ECDSA algorithm with an RSA signer key can never verify.
    b.sig_alg = alg(ECDSA_SHA256);
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::UnsupportedAlgorithm
    );
}

#[test]
fn refuses_digest_and_content_type_mismatch() {
    let (ca, dmc) = keys();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let mut b = Build::new(CONTENT, &dmc, c, "Maker CA", 1);
    b.attr_digest = Some(vec![0u8; 32]);
    let der = b.der();
    let v = verify_signed_data(&der, &[]).unwrap();
    assert_eq!(v.status, CmsStatus::DigestMismatch);
    assert!(v.detail.contains("messageDigest"));
    b.attr_digest = None;
    b.attr_ct = ID_SIGNED_DATA;
    assert_eq!(
        verify_signed_data(&b.der(), &[]).unwrap().status,
        CmsStatus::ContentTypeMismatch
    );
}

#[test]
fn refuses_signature_from_another_key() {
    let (ca, dmc) = keys();
    let other = SoftwareKey::generate("ec-p256", None).unwrap();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let b = Build::new(CONTENT, &other, c, "Maker CA", 1);
    let der = b.der();
    let v = verify_signed_data(&der, &[]).unwrap();
    assert_eq!(v.status, CmsStatus::BadSignature);
    assert_eq!(v.signer_index, Some(0));
}

#[test]
fn signer_found_among_supplied_certificates() {
    let (ca, subscriber) = keys();
    let c = cert("device", "Issuing CA", 5, &subscriber, &ca);
    let mut b = Build::new(CONTENT, &subscriber, c.clone(), "Issuing CA", 5);
    b.certs.clear();
    let der = b.der();
    let v = verify_signed_data(&der, &[]).unwrap();
    assert_eq!(v.status, CmsStatus::SignerNotFound);
    let v = verify_signed_data(&der, &[&c]).unwrap();
    assert_eq!((v.status, v.signer_index), (CmsStatus::Ok, Some(0)));
    // Another serial from the same issuer does not match.
    let other = cert("device", "Issuing CA", 6, &subscriber, &ca);
    assert_eq!(
        verify_signed_data(&der, &[&other]).unwrap().status,
        CmsStatus::SignerNotFound
    );
}

#[test]
fn refuses_unsorted_signed_attributes() {
    let (ca, dmc) = keys();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let mut b = Build::new(CONTENT, &dmc, c, "Maker CA", 1);
    b.unsorted = true;
    let e = verify_signed_data(&b.der(), &[]).unwrap_err();
    assert!(e.to_string().contains("DER SET OF order"), "{e}");
}

#[test]
fn refuses_other_content_types_with_offset_and_path() {
    let (ca, dmc) = keys();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let mut der = Build::new(CONTENT, &dmc, c, "Maker CA", 1).der();
    // The outer contentType's last arc: signedData (2) -> envelopedData (3).
    let at = der
        .windows(ID_SIGNED_DATA.len())
        .position(|w| w == ID_SIGNED_DATA)
        .unwrap();
    der[at + ID_SIGNED_DATA.len() - 1] = 3;
    let e = verify_signed_data(&der, &[]).unwrap_err();
    assert_eq!(e.path, "ContentInfo.contentType");
    assert_eq!(e.offset, at - 2);
}

#[test]
fn every_truncation_is_an_error_with_an_offset_inside_the_input() {
    let (ca, dmc) = keys();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let der = Build::new(CONTENT, &dmc, c, "Maker CA", 1).der();
    for n in 0..der.len() {
        let e = verify_signed_data(&der[..n], &[]).unwrap_err();
        assert!(e.offset <= n, "cut at {n}: {e}");
    }
    let mut longer = der.clone();
    longer.push(0);
    assert_eq!(
        verify_signed_data(&longer, &[]).unwrap_err().kind,
        DerErrorKind::TrailingBytes
    );
}

#[test]
fn bad_certificate_errors_point_into_the_certificate() {
    let (ca, dmc) = keys();
    let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
    let mut der = Build::new(CONTENT, &dmc, c.clone(), "Maker CA", 1).der();
    let at = der.windows(c.len()).position(|w| w == &c[..]).unwrap();
    // The certificate's version [0] INTEGER 2 -> 7: invalid, inside certificates[0].
    let v_at = at
        + c.windows(5)
            .position(|w| w == [0xa0, 0x03, 0x02, 0x01, 0x02])
            .unwrap();
    der[v_at + 4] = 7;
    let e = verify_signed_data(&der, &[]).unwrap_err();
    assert!(e.path.contains("certificates[0]"), "{e}");
    assert!(e.offset >= at && e.offset < at + c.len(), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn corrupted_signed_data_never_panics_and_never_verifies_foreign_bytes(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)
    ) {
        let (ca, dmc) = (
            SoftwareKey::generate("ec-p256", None).unwrap(),
            SoftwareKey::generate("ec-p256", None).unwrap(),
        );
        let c = cert("DMC", "Maker CA", 1, &dmc, &ca);
        let der = Build::new(CONTENT, &dmc, c, "Maker CA", 1).der();
        let mut bad = der.clone();
        for (pos, x) in &flips {
            let p = pos % bad.len();
            bad[p] ^= x;
        }
        if let Ok(v) = verify_signed_data(&bad, &[]) {
            if v.status == CmsStatus::Ok {
                // Only bytes outside what is signed may change (certificate
                // signature, unsigned parts); the content must be the original.
                prop_assert_eq!(v.signed.content, Some(CONTENT));
            }
        }
    }
}
