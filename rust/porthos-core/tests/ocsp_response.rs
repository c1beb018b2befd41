//! The OCSP response template against a straightforward nested encoding of the same
//! response (proptest over every hole), plus signature and argument checks. pyca's
//! OCSPResponseBuilder is the second reference, in tests/test_ocsp_engine.py.

use porthos_core::der::{tag, writer};
use porthos_core::ocsp::response::{
    CertIdHash, Items, OcspError, ResponseTemplate, Times, REASON_NONE,
};
use porthos_core::sign::{SigAlg, Signer, SoftwareKey};
use porthos_core::template::{key_identifier, TbsInput, Template};
use porthos_core::verify::{verify_signature, VerifyStatus};
use porthos_core::x509::cert::parse_certificate;
use porthos_core::x509::name_encode::encode_name;
use porthos_core::x509::spki::parse_spki;
use proptest::prelude::*;
use std::sync::OnceLock;

const CA_SPEC: &str = r#"{"extensions": [{"type": "subject_key_identifier"},
  {"type": "basic_constraints", "ca": true}, {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]}]}"#;
const RESPONDER_SPEC: &str = r#"{"extensions": [{"type": "authority_key_identifier"},
  {"type": "key_usage", "usages": ["digital_signature"]},
  {"type": "extended_key_usage", "purposes": ["1.3.6.1.5.5.7.3.9"]}]}"#;

struct Fixture {
    ca_cert: Vec<u8>,
    responder_key: SoftwareKey,
    responder_cert: Vec<u8>,
}

fn issue(
    spec: &str,
    issuer_name: &[u8],
    issuer_key: &SoftwareKey,
    subject: &[u8],
    spki: &[u8],
) -> Vec<u8> {
    let kid = key_identifier(issuer_key.public_key_der()).unwrap();
    let t = Template::compile(spec, issuer_name, Some(&kid), SigAlg::EcdsaSha256).unwrap();
    let input = TbsInput {
        serial: &[0x11, 0x22],
        not_before: 1_700_000_000,
        not_after: 1_900_000_000,
        subject,
        spki,
        san: None,
        ..Default::default()
    };
    t.issue_batch(issuer_key, &[input]).unwrap().0
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ca_key = SoftwareKey::generate("ec-p256", None).unwrap();
        let ca_name = encode_name(&[("C", "CH"), ("CN", "OCSP Test CA")]).unwrap();
        let ca_cert = issue(
            CA_SPEC,
            &ca_name,
            &ca_key,
            &ca_name,
            ca_key.public_key_der(),
        );
        let responder_key = SoftwareKey::generate("ec-p256", None).unwrap();
        let r_name = encode_name(&[("C", "CH"), ("CN", "OCSP Responder")]).unwrap();
        let responder_cert = issue(
            RESPONDER_SPEC,
            &ca_name,
            &ca_key,
            &r_name,
            responder_key.public_key_der(),
        );
        Fixture {
            ca_cert,
            responder_key,
            responder_cert,
        }
    })
}

fn template(hash: CertIdHash) -> ResponseTemplate {
    let f = fixture();
    ResponseTemplate::new(&f.responder_cert, &f.ca_cert, SigAlg::EcdsaSha256, hash).unwrap()
}

fn seq(children: &[&[u8]]) -> Vec<u8> {
    writer::constructed(tag::SEQUENCE, children)
}

fn gt(t: i64) -> Vec<u8> {
    let (y, mo, d, h, mi, s) = porthos_core::x509::time::civil_from_unix(t);
    writer::tlv(
        tag::GENERALIZED_TIME,
        format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
    )
}

/// The same tbsResponseData, encoded the obvious way: nested values built inside out.
fn reference_tbs(
    hash: CertIdHash,
    serial: &[u8],
    status: u8,
    rev: i64,
    reason: u8,
    times: &Times,
    nonce: Option<&[u8]>,
) -> Vec<u8> {
    let f = fixture();
    let ca = parse_certificate(&f.ca_cert).unwrap();
    let responder = parse_certificate(&f.responder_cert).unwrap();
    let ca_key = parse_spki(ca.spki.der).unwrap().subject_public_key;
    let (oid, h): (&[u8], &aws_lc_rs::digest::Algorithm) = match hash {
        CertIdHash::Sha1 => (
            &[0x2b, 0x0e, 0x03, 0x02, 0x1a],
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        ),
        CertIdHash::Sha256 => (
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            &aws_lc_rs::digest::SHA256,
        ),
    };
    let d = |x: &[u8]| aws_lc_rs::digest::digest(h, x).as_ref().to_vec();
    let cert_id = seq(&[
        &seq(&[&writer::tlv(tag::OID, oid), &[5, 0]]),
        &writer::tlv(tag::OCTET_STRING, &d(ca.subject_der)),
        &writer::tlv(tag::OCTET_STRING, &d(ca_key)),
        &writer::serial_integer(serial).unwrap(),
    ]);
    let cert_status = match status {
        0 => vec![0x80, 0],
        1 => {
            let mut inner = gt(rev);
            if reason != REASON_NONE {
                inner.extend(writer::tlv(0xa0, &writer::tlv(0x0a, &[reason])));
            }
            writer::tlv(0xa1, &inner)
        }
        _ => vec![0x82, 0],
    };
    let mut single = vec![cert_id, cert_status, gt(times.this_update)];
    if let Some(nu) = times.next_update {
        single.push(writer::tlv(0xa0, &gt(nu)));
    }
    let single_refs: Vec<&[u8]> = single.iter().map(|v| v.as_slice()).collect();
    let responses = seq(&[&seq(&single_refs)]);
    let rid = writer::tlv(
        0xa2,
        &writer::tlv(
            tag::OCTET_STRING,
            &key_identifier(responder.spki.der).unwrap(),
        ),
    );
    let mut parts = vec![rid, gt(times.produced_at), responses];
    if let Some(n) = nonce {
        let ext = seq(&[
            &writer::oid("1.3.6.1.5.5.7.48.1.2").unwrap(),
            &writer::tlv(tag::OCTET_STRING, &writer::tlv(tag::OCTET_STRING, n)),
        ]);
        parts.push(writer::tlv(0xa1, &seq(&[&ext])));
    }
    let refs: Vec<&[u8]> = parts.iter().map(|v| v.as_slice()).collect();
    seq(&refs)
}

fn right_aligned(serial: &[u8], width: usize) -> Vec<u8> {
    let mut row = vec![0u8; width - serial.len()];
    row.extend_from_slice(serial);
    row
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn template_equals_reference(
        serial in proptest::collection::vec(any::<u8>(), 1..=20)
            .prop_filter("positive, fits 20 octets", |s| {
                let t: Vec<u8> = s.iter().copied().skip_while(|&b| b == 0).collect();
                !(t.is_empty() || (t.len() == 20 && t[0] & 0x80 != 0))
            }),
        status in 0u8..3,
        rev in -62_135_596_800i64..253_402_300_799,
        reason in prop_oneof![Just(REASON_NONE), 0u8..7, 9u8..=10],
        this_update in 0i64..4_102_444_800,
        validity in proptest::option::of(0i64..10_000_000),
        produced in -62_135_596_800i64..253_402_300_799,
        nonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=32)),
        sha256 in any::<bool>(),
    ) {
        let hash = if sha256 { CertIdHash::Sha256 } else { CertIdHash::Sha1 };
        let t = template(hash);
        let times = Times { this_update, next_update: validity.map(|v| this_update + v), produced_at: produced };
        let row = right_aligned(&serial, 20);
        let items = Items { serials: &row, width: 20, status: &[status], revocation_times: &[rev], reasons: &[reason] };
        let (tbs, offsets) = t.fill_batch(&items, &times, nonce.as_deref()).unwrap();
        prop_assert_eq!(offsets, vec![0, tbs.len() as u64]);
        let want = reference_tbs(hash, &serial, status, rev, reason, &times, nonce.as_deref());
        prop_assert_eq!(tbs, want);
    }
}

fn sample_items(n: usize) -> (Vec<u8>, Vec<u8>, Vec<i64>, Vec<u8>) {
    let serials: Vec<u8> = (0..n)
        .flat_map(|i| right_aligned(&(i as u64 + 1).to_be_bytes(), 16))
        .collect();
    let status = (0..n).map(|i| (i % 3) as u8).collect();
    let times = vec![1_750_000_000i64; n];
    let reasons = (0..n)
        .map(|i| if i % 2 == 0 { 1 } else { REASON_NONE })
        .collect();
    (serials, status, times, reasons)
}

#[test]
fn signed_batch_contains_fill_and_verifies() {
    let f = fixture();
    let t = template(CertIdHash::Sha1);
    let (serials, status, rev, reasons) = sample_items(200);
    let items = Items {
        serials: &serials,
        width: 16,
        status: &status,
        revocation_times: &rev,
        reasons: &reasons,
    };
    let times = Times {
        this_update: 1_760_000_000,
        next_update: Some(1_760_604_800),
        produced_at: 1_760_000_100,
    };
    let (tbs, toff) = t.fill_batch(&items, &times, None).unwrap();
    let (out, off) = t
        .sign_batch(&items, &times, None, &f.responder_key)
        .unwrap();
    assert_eq!(off.len(), 201);
    let key = parse_spki(f.responder_key.public_key_der()).unwrap();
    for i in 0..200 {
        let resp = &out[off[i] as usize..off[i + 1] as usize];
        let want_tbs = &tbs[toff[i] as usize..toff[i + 1] as usize];
        let at = resp
            .windows(want_tbs.len())
            .position(|w| w == want_tbs)
            .expect("tbs inside");
        // Behind the tbs: the algorithm identifier, then BIT STRING 00 || signature.
        let alg_id = SigAlg::EcdsaSha256.algorithm_identifier();
        let rest = &resp[at + want_tbs.len()..];
        assert_eq!(&rest[..alg_id.len()], alg_id.as_slice());
        let bits = &rest[alg_id.len()..];
        assert_eq!(bits[0], tag::BIT_STRING);
        let len = bits[1] as usize;
        let sig = &bits[3..2 + len];
        let st = verify_signature(
            SigAlg::EcdsaSha256.signature_algorithm(),
            &key,
            want_tbs,
            sig,
        );
        assert_eq!(st, VerifyStatus::Ok);
        assert!(resp.ends_with(&f.responder_cert));
    }
}

#[test]
fn bad_arguments_name_the_row() {
    let f = fixture();
    let t = template(CertIdHash::Sha1);
    let times = Times {
        this_update: 10,
        next_update: Some(20),
        produced_at: 10,
    };
    let zero = [0u8; 8];
    let err = |items: Items<'_>, times: &Times, nonce: Option<&[u8]>| match t
        .fill_batch(&items, times, nonce)
    {
        Err(OcspError::Argument(m)) => m,
        other => panic!("expected an argument error, got {other:?}"),
    };
    let one = [1u8; 8];
    let ok = Items {
        serials: &one,
        width: 8,
        status: &[0],
        revocation_times: &[0],
        reasons: &[REASON_NONE],
    };
    assert!(err(
        Items {
            serials: &zero,
            ..ok
        },
        &times,
        None
    )
    .contains("row 0"));
    assert!(err(Items { status: &[3], ..ok }, &times, None).contains("status"));
    assert!(err(
        Items {
            status: &[1],
            reasons: &[7],
            ..ok
        },
        &times,
        None
    )
    .contains("reasons"));
    assert!(err(
        Items {
            status: &[1],
            reasons: &[8],
            ..ok
        },
        &times,
        None
    )
    .contains("reasons"));
    assert!(err(ok, &times, Some(&[0u8; 33])).contains("nonce"));
    assert!(err(ok, &times, Some(&[])).contains("nonce"));
    assert!(err(
        ok,
        &Times {
            next_update: Some(5),
            ..times
        },
        None
    )
    .contains("next_update"));
    assert!(err(
        ok,
        &Times {
            produced_at: i64::MAX,
            ..times
        },
        None
    )
    .contains("produced_at"));
    assert!(err(Items { reasons: &[], ..ok }, &times, None).contains("reasons"));
    // A key that is not the responder certificate's is refused before signing.
    let other = SoftwareKey::generate("ec-p256", None).unwrap();
    assert!(matches!(
        t.sign_batch(&ok, &times, None, &other),
        Err(OcspError::Argument(_))
    ));
    assert!(t.sign_batch(&ok, &times, None, &f.responder_key).is_ok());
    // A responder certificate from another issuer is refused at compile time.
    assert!(matches!(
        ResponseTemplate::new(
            &f.ca_cert,
            &f.responder_cert,
            SigAlg::EcdsaSha256,
            CertIdHash::Sha1
        ),
        Err(OcspError::Argument(_))
    ));
    assert!(matches!(
        ResponseTemplate::new(b"junk", &f.ca_cert, SigAlg::EcdsaSha256, CertIdHash::Sha1),
        Err(OcspError::Decode(_))
    ));
}
