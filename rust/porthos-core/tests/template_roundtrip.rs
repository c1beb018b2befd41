//! parse(render(request)) round-trips: every hole of a filled template reads back
//! through the strict certificate parser, and issued certificates verify under the
//! issuer's key. (The byte-for-byte comparison with a reference encoder is the
//! hypothesis suite in tests/test_template_property.py.)

use porthos_core::sign::{SigAlg, Signer, SoftwareKey};
use porthos_core::template::{key_identifier, Spread, TbsInput, Template};
use porthos_core::verify::{verify_signature, VerifyStatus};
use porthos_core::x509::cert::parse_certificate;
use porthos_core::x509::csr::SignatureAlgorithm;
use porthos_core::x509::ext::general_names;
use porthos_core::x509::name_encode::encode_name;
use porthos_core::x509::name_parse::parse_name;
use porthos_core::x509::spki::parse_spki;
use proptest::prelude::*;
use std::sync::OnceLock;

const SPEC: &str = r#"{"extensions": [
  {"type": "authority_key_identifier"},
  {"type": "subject_key_identifier"},
  {"type": "crl_distribution_points", "uris": ["http://crl.example/ca.crl"]},
  {"type": "key_usage", "usages": ["digital_signature", "key_agreement"]},
  {"type": "subject_alt_name"},
  {"type": "basic_constraints", "ca": false}
]}"#;

struct Fixture {
    issuer: SoftwareKey,
    template: Template,
    subject_keys: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let issuer = SoftwareKey::generate("ec-p256", None).unwrap();
        let name = encode_name(&[("C", "CH"), ("CN", "Test CA")]).unwrap();
        let kid = key_identifier(issuer.public_key_der()).unwrap();
        let template = Template::compile(SPEC, &name, Some(&kid), SigAlg::EcdsaSha256).unwrap();
        let subject_keys = ["ec-p256", "ec-p384", "rsa-2048"]
            .iter()
            .map(|k| {
                SoftwareKey::generate(k, None)
                    .unwrap()
                    .public_key_der()
                    .to_vec()
            })
            .collect();
        Fixture {
            issuer,
            template,
            subject_keys,
        }
    })
}

/// Serial 1, valid 0..1, the first subject key, no SAN.
fn plain_input<'a>(f: &'a Fixture, subject: &'a [u8]) -> TbsInput<'a> {
    TbsInput {
        serial: &[1],
        not_before: 0,
        not_after: 1,
        subject,
        spki: &f.subject_keys[0],
        san: None,
        ..Default::default()
    }
}

fn value_strategy() -> impl Strategy<Value = String> {
    "[\\PC]{1,40}".prop_filter("non-empty", |s| !s.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn filled_fields_read_back(
        serial in proptest::collection::vec(any::<u8>(), 1..=19)
            .prop_filter("non-zero", |s| s.iter().any(|&b| b != 0)),
        not_before in -631_152_000i64..4_102_444_800,
        span in 0i64..4_000_000_000,
        cn in value_strategy(),
        ou in proptest::option::of(value_strategy()),
        key in 0usize..3,
        dns in proptest::option::of("[a-z]{1,10}\\.example"),
    ) {
        let f = fixture();
        let mut attrs = vec![("O".to_string(), "porthos".to_string())];
        if let Some(ou) = ou { attrs.push(("OU".into(), ou)); }
        attrs.push(("CN".into(), cn));
        let subject = encode_name(&attrs).unwrap();
        let san = dns.map(|d| general_names(&[("dns", d.as_str())], "san").unwrap());
        let input = TbsInput {
            serial: &serial,
            not_before,
            not_after: not_before + span,
            subject: &subject,
            spki: &f.subject_keys[key],
            san: san.as_deref(),
            ..Default::default()
        };
        let (data, offsets) = f.template.issue_batch(&f.issuer, &[input]).unwrap();
        prop_assert_eq!(offsets.len(), 2);
        let cert = parse_certificate(&data).unwrap();
        // serial: the magnitude, without leading zeros, behind an optional sign octet.
        let first = serial.iter().position(|&b| b != 0).unwrap();
        let got = cert.serial.strip_prefix(&[0]).filter(|_| cert.serial[0] == 0).unwrap_or(cert.serial);
        prop_assert_eq!(got, &serial[first..]);
        prop_assert_eq!(cert.not_before, not_before);
        prop_assert_eq!(cert.not_after, not_before + span);
        prop_assert_eq!(cert.subject_der, &subject[..]);
        let names = parse_name(cert.subject_der).unwrap();
        prop_assert_eq!(names.last().unwrap().value.as_str(), attrs.last().unwrap().1.as_str());
        prop_assert_eq!(cert.spki.der, &f.subject_keys[key][..]);
        let ski = key_identifier(&f.subject_keys[key]).unwrap();
        prop_assert_eq!(cert.subject_key_id, Some(&ski[..]));
        // The TBS the parser sees is exactly what fill produces for the same input.
        let (tbs, _) = f.template.fill_batch(&[input]).unwrap();
        prop_assert_eq!(cert.tbs, &tbs[..]);
        let issuer_key = parse_spki(f.issuer.public_key_der()).unwrap();
        prop_assert_eq!(
            verify_signature(SignatureAlgorithm::EcdsaSha256, &issuer_key, cert.tbs, cert.signature),
            VerifyStatus::Ok
        );
    }
}

#[test]
fn per_item_errors_name_the_item() {
    let f = fixture();
    let subject = encode_name(&[("CN", "x")]).unwrap();
    let ok = plain_input(f, &subject);
    let too_long = [0x80u8; 20]; // 21 octets once the sign octet is added (RFC 5280 §4.1.2.2)
    let bad = TbsInput {
        serial: &too_long,
        ..ok
    };
    let backwards = TbsInput {
        not_before: 10,
        not_after: 5,
        ..ok
    };
    let mut inputs = vec![ok; 100];
    inputs[70] = bad;
    let (index, err) = f.template.fill_batch(&inputs).unwrap_err();
    assert_eq!(index, 70);
    assert!(err.to_string().contains("20 octets"), "{err}");
    inputs[70] = backwards;
    assert_eq!(f.template.fill_batch(&inputs).unwrap_err().0, 70);
    inputs[70] = TbsInput {
        spki: &[0x30, 0x00],
        ..ok
    };
    let (index, err) = f.template.fill_batch(&inputs).unwrap_err();
    assert_eq!(index, 70);
    assert!(err.path.starts_with("subjectPublicKeyInfo"), "{err}");
}

#[test]
fn signer_algorithm_must_match() {
    let f = fixture();
    let p384 = SoftwareKey::generate("ec-p384", None).unwrap();
    let subject = encode_name(&[("CN", "x")]).unwrap();
    let input = plain_input(f, &subject);
    assert!(f.template.issue_batch(&p384, &[input]).is_err());
}

#[test]
fn sign_filled_signs_what_fill_wrote_and_refuses_other_bytes() {
    let f = fixture();
    let subject = encode_name(&[("CN", "x")]).unwrap();
    let input = plain_input(f, &subject);
    // Distinct serials, so an item out of place would show.
    let serials: Vec<[u8; 2]> = (0..70u8).map(|i| [1, i]).collect();
    let inputs: Vec<TbsInput<'_>> = serials
        .iter()
        .map(|s| TbsInput { serial: s, ..input })
        .collect();
    let (data, offsets) = f.template.fill_batch(&inputs).unwrap();
    // On the calling thread (a one-thread caller, no rayon): the same TBS bytes, and
    // certificates over exactly them, in order.
    let here = f
        .template
        .fill_batch_spread(&inputs, Spread::CallingThread)
        .unwrap();
    assert_eq!(here, (data.clone(), offsets.clone()));
    for spread in [Spread::Pool, Spread::CallingThread] {
        let (certs, cert_offsets) = f
            .template
            .sign_filled_spread(&f.issuer, &data, &offsets, spread)
            .unwrap();
        check_signed_over(f, &data, &offsets, &certs, &cert_offsets);
    }
    let (certs, cert_offsets) = f.template.sign_filled(&f.issuer, &data, &offsets).unwrap();
    check_signed_over(f, &data, &offsets, &certs, &cert_offsets);
    // Item 65 (in the second 64-item run) with a trailing octet, then not a SEQUENCE,
    // then cut short: refused with its index, nothing signed, wherever it runs.
    let end = offsets[66] as usize;
    let mut trailing = data[..end].to_vec();
    trailing.push(0);
    let mut bumped = offsets[..67].to_vec();
    bumped[66] += 1;
    let mut not_seq = data.clone();
    not_seq[offsets[65] as usize] = 0x04;
    let bad: [(&[u8], &[u64]); 3] = [
        (&trailing, &bumped),
        (&not_seq, &offsets),
        (&data[..end - 1], &offsets[..67]),
    ];
    for spread in [Spread::Pool, Spread::CallingThread] {
        for (bytes, offs) in bad {
            let refused = f
                .template
                .sign_filled_spread(&f.issuer, bytes, offs, spread)
                .unwrap_err();
            assert_eq!(refused.0, 65);
        }
    }
    let p384 = SoftwareKey::generate("ec-p384", None).unwrap();
    assert!(f.template.sign_filled(&p384, &data, &offsets).is_err());
}

/// Certificate i of `certs` is TBS i of `data`, signed by the fixture's issuer.
fn check_signed_over(
    f: &Fixture,
    data: &[u8],
    offsets: &[u64],
    certs: &[u8],
    cert_offsets: &[u64],
) {
    assert_eq!(cert_offsets.len(), offsets.len());
    let issuer_key = parse_spki(f.issuer.public_key_der()).unwrap();
    for i in 0..offsets.len() - 1 {
        let der = &certs[cert_offsets[i] as usize..cert_offsets[i + 1] as usize];
        let cert = parse_certificate(der).unwrap();
        assert_eq!(
            cert.tbs,
            &data[offsets[i] as usize..offsets[i + 1] as usize]
        );
        let status = verify_signature(
            SignatureAlgorithm::EcdsaSha256,
            &issuer_key,
            cert.tbs,
            cert.signature,
        );
        assert_eq!(status, VerifyStatus::Ok);
    }
}

#[test]
fn bad_specs_fail_at_compile_with_their_path() {
    let name = encode_name(&[("CN", "x")]).unwrap();
    let cases = [
        (
            r#"{"extensions": [{"type": "key_usage", "usages": ["crl_sgn"]}]}"#,
            "extensions[0].usages[0]",
        ),
        (
            r#"{"extensions": [{"type": "basic_constraints", "ca": false, "path_len": 0}]}"#,
            "extensions[0].path_len",
        ),
        (
            r#"{"extensions": [{"type": "subject_key_identifier", "critical": true}]}"#,
            "extensions[0].critical",
        ),
        (
            r#"{"extensions": [{"type": "subject_key_identifier"}, {"type": "subject_key_identifier"}]}"#,
            "extensions[1]",
        ),
        (
            r#"{"extensions": [{"type": "raw", "oid": "2.5.29.19", "value_hex": "3000"}]}"#,
            "extensions[0].oid",
        ),
        (
            r#"{"extensions": [{"type": "raw", "oid": "1.2.3", "value_hex": "30"}]}"#,
            "extensions[0]",
        ),
        (
            r#"{"extensions": [{"type": "authority_key_identifier"}]}"#,
            "extensions[0]",
        ),
        (
            r#"{"extensions": [{"type": "subject_key_identifier", "key_id_hex": "zz"}]}"#,
            "extensions[0].key_id_hex",
        ),
        (
            r#"{"extensions": [{"type": "subject_key_identifier", "key_id_hex": ""}]}"#,
            "extensions[0].key_id_hex",
        ),
        (r#"{"extensions": [{"type": "bogus"}]}"#, "extensions[0]"),
        (r#"{"extensions": [], "extra": 1}"#, ""),
    ];
    for (spec, path) in cases {
        let err = Template::compile(spec, &name, None, SigAlg::EcdsaSha256).unwrap_err();
        assert!(err.path.starts_with(path), "{spec}: {err}");
    }
}

#[test]
fn a_fixed_key_id_replaces_the_computed_one() {
    // A cross certificate repeats the SKI its subject CA asked for (RFC 5280 §4.2.1.2).
    let f = fixture();
    let name = encode_name(&[("CN", "Test CA")]).unwrap();
    let spec = r#"{"extensions": [{"type": "subject_key_identifier", "key_id_hex": "0a0b0c"}]}"#;
    let tpl = Template::compile(spec, &name, None, SigAlg::EcdsaSha256).unwrap();
    let subject = encode_name(&[("CN", "Sub")]).unwrap();
    let input = plain_input(f, &subject);
    let (data, _) = tpl.issue_batch(&f.issuer, &[input]).unwrap();
    let cert = parse_certificate(&data).unwrap();
    assert_eq!(cert.subject_key_id, Some(&[0x0a, 0x0b, 0x0c][..]));
}
