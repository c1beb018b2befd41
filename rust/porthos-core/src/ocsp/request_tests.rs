use super::encode::{cert_id, request, CertIdSpec};
use super::*;
use crate::der::writer::{constructed, tlv};
use proptest::prelude::*;

fn spec(hash: HashAlg, serial: &[u8]) -> CertIdSpec {
    CertIdSpec {
        hash,
        null_params: true,
        issuer_name_hash: vec![0x11; hash.output_len()],
        issuer_key_hash: vec![0x22; hash.output_len()],
        serial: serial.to_vec(),
    }
}

fn parse(der: &[u8]) -> Result<OcspRequest<'_>, RequestError> {
    parse_request(der, Limits::default())
}

/// An OCSPRequest around hand-made TBSRequest parts.
fn wrap(tbs_parts: &[&[u8]], after_tbs: &[&[u8]]) -> Vec<u8> {
    let tbs = constructed(tag::SEQUENCE, tbs_parts);
    let mut parts: Vec<&[u8]> = vec![&tbs];
    parts.extend_from_slice(after_tbs);
    constructed(tag::SEQUENCE, &parts)
}

fn list_of(ids: &[Vec<u8>]) -> Vec<u8> {
    let reqs: Vec<Vec<u8>> = ids
        .iter()
        .map(|c| constructed(tag::SEQUENCE, &[c]))
        .collect();
    let refs: Vec<&[u8]> = reqs.iter().map(Vec::as_slice).collect();
    constructed(tag::SEQUENCE, &refs)
}

fn ext(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let o = tlv(tag::OID, oid);
    let v = tlv(tag::OCTET_STRING, value);
    if critical {
        constructed(tag::SEQUENCE, &[&o, &[0x01, 0x01, 0xff], &v])
    } else {
        constructed(tag::SEQUENCE, &[&o, &v])
    }
}

fn exts2(e: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
    constructed(
        tag::context_constructed(2),
        &[&constructed(tag::SEQUENCE, &refs)],
    )
}

fn decode_what(e: RequestError) -> String {
    match e {
        RequestError::Decode(d) => d.to_string(),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn reads_one_cert_id_with_nonce() {
    let der = request(&[spec(HashAlg::Sha1, &[0x80, 0x01])], Some(&[7; 16]));
    let r = parse(&der).unwrap();
    assert_eq!(r.cert_ids.len(), 1);
    let c = r.cert_ids[0];
    assert_eq!(c.hash, HashAlg::Sha1);
    // The 0x00 that keeps 0x80.. positive is not part of the magnitude.
    assert_eq!(c.serial, [0x80, 0x01]);
    assert_eq!(c.issuer_name_hash, [0x11; 20]);
    assert_eq!(r.nonce, Some(&[7u8; 16][..]));
    assert!(!r.signed && r.requestor_name.is_none());
    assert_eq!(c.raw, &cert_id(&spec(HashAlg::Sha1, &[0x80, 0x01]))[..]);
}

#[test]
fn hash_params_absent_or_null_and_nothing_else() {
    let mut s = spec(HashAlg::Sha256, &[5]);
    s.null_params = false;
    assert_eq!(
        parse(&request(&[s.clone()], None)).unwrap().cert_ids[0].hash,
        HashAlg::Sha256
    );
    // Parameters that are not NULL.
    let alg = constructed(
        tag::SEQUENCE,
        &[&tlv(tag::OID, OID_SHA256), &[0x02, 0x01, 0x01]],
    );
    let id = constructed(
        tag::SEQUENCE,
        &[&alg, &tlv(4, &[0; 32]), &tlv(4, &[0; 32]), &[2, 1, 5]],
    );
    let der = wrap(&[&list_of(&[id])], &[]);
    assert!(decode_what(parse(&der).unwrap_err()).contains("hashAlgorithm"));
}

#[test]
fn hash_lengths_must_match_the_algorithm() {
    let mut s = spec(HashAlg::Sha256, &[5]);
    s.issuer_key_hash = vec![0; 20];
    assert!(decode_what(parse(&request(&[s], None)).unwrap_err()).contains("length"));
    let mut s = spec(HashAlg::Sha1, &[5]);
    s.issuer_name_hash = vec![0; 32];
    assert!(parse(&request(&[s], None)).is_err());
}

#[test]
fn unknown_hash_oid_is_its_own_error() {
    // SHA-384, 2.16.840.1.101.3.4.2.2.
    let alg = constructed(
        tag::SEQUENCE,
        &[&tlv(
            tag::OID,
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
        )],
    );
    let id = constructed(
        tag::SEQUENCE,
        &[&alg, &tlv(4, &[0; 48]), &tlv(4, &[0; 48]), &[2, 1, 5]],
    );
    let e = parse(&wrap(&[&list_of(&[id])], &[])).unwrap_err();
    assert_eq!(
        e,
        RequestError::UnsupportedHash {
            oid: "2.16.840.1.101.3.4.2.2".into()
        }
    );
    assert_eq!(e.code(), "unsupported-hash");
}

#[test]
fn serial_rules() {
    let id_with = |int: &[u8]| {
        let alg = constructed(tag::SEQUENCE, &[&tlv(tag::OID, OID_SHA1)]);
        constructed(
            tag::SEQUENCE,
            &[&alg, &tlv(4, &[0; 20]), &tlv(4, &[0; 20]), &tlv(2, int)],
        )
    };
    for (int, want) in [
        (&[0x80][..], "negative"),
        (&[0x00][..], "zero"),
        (&[0x01; 21][..], "20 octets"),
        (&[0x00, 0x01][..], "non-minimal"),
    ] {
        let e = decode_what(parse(&wrap(&[&list_of(&[id_with(int)])], &[])).unwrap_err());
        assert!(e.contains(want), "{int:02x?}: {e}");
    }
    // 20 octets of content with a leading 0x00: a 19-octet... no, 20-octet magnitude
    // with the top bit set needs 21 octets and is refused; 20 octets with 0x7f fit.
    let mut twenty = vec![0x7f];
    twenty.extend([0xff; 19]);
    let der = wrap(&[&list_of(&[id_with(&twenty)])], &[]);
    assert_eq!(parse(&der).unwrap().cert_ids[0].serial, &twenty[..]);
}

#[test]
fn cert_id_cap_stops_early() {
    let one = cert_id(&spec(HashAlg::Sha1, &[1]));
    let ids: Vec<Vec<u8>> = (0..10_000).map(|_| one.clone()).collect();
    let der = wrap(&[&list_of(&ids)], &[]);
    let e = parse_request(&der, Limits { max_cert_ids: 1 }).unwrap_err();
    assert_eq!(e, RequestError::TooManyCertIds { limit: 1 });
    assert_eq!(
        parse_request(
            &der,
            Limits {
                max_cert_ids: 10_000
            }
        )
        .unwrap()
        .cert_ids
        .len(),
        10_000
    );
    assert!(
        parse(&wrap(&[&list_of(&[])], &[])).is_err(),
        "empty requestList"
    );
}

#[test]
fn nonce_lengths_per_rfc_8954() {
    let id = spec(HashAlg::Sha1, &[1]);
    assert_eq!(
        parse(&request(std::slice::from_ref(&id), Some(&[1])))
            .unwrap()
            .nonce,
        Some(&[1u8][..])
    );
    assert!(parse(&request(std::slice::from_ref(&id), Some(&[1; 32]))).is_ok());
    for len in [0usize, 33, 1024] {
        let e = parse(&request(std::slice::from_ref(&id), Some(&vec![9; len]))).unwrap_err();
        assert_eq!(e, RequestError::NonceLength { len });
    }
    // A nonce whose extnValue is not an OCTET STRING.
    let list = list_of(&[cert_id(&id)]);
    let bad = exts2(&[ext(OID_NONCE, false, &[0x02, 0x01, 0x01])]);
    assert!(matches!(
        parse(&wrap(&[&list, &bad], &[])),
        Err(RequestError::Decode(_))
    ));
}

#[test]
fn request_extensions_rules() {
    let list = list_of(&[cert_id(&spec(HashAlg::Sha1, &[1]))]);
    let other = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x04]; // id-pkix-ocsp-response
    let fine = exts2(&[ext(&other, false, &[0x30, 0x00])]);
    assert_eq!(parse(&wrap(&[&list, &fine], &[])).unwrap().nonce, None);
    let crit = exts2(&[ext(&other, true, &[0x30, 0x00])]);
    assert!(decode_what(parse(&wrap(&[&list, &crit], &[])).unwrap_err()).contains("critical"));
    let n = tlv(4, &[1; 8]);
    let twice = exts2(&[ext(OID_NONCE, false, &n), ext(OID_NONCE, false, &n)]);
    assert!(decode_what(parse(&wrap(&[&list, &twice], &[])).unwrap_err()).contains("twice"));
    let empty = constructed(tag::context_constructed(2), &[&[0x30, 0x00]]);
    assert!(parse(&wrap(&[&list, &empty], &[])).is_err());
}

#[test]
fn version_requestor_and_signature() {
    let list = list_of(&[cert_id(&spec(HashAlg::Sha1, &[1]))]);
    let v1 = constructed(tag::context_constructed(0), &[&[0x02, 0x01, 0x00]]);
    assert!(decode_what(parse(&wrap(&[&v1, &list], &[])).unwrap_err()).contains("version"));
    // requestorName [1] EXPLICIT GeneralName (dNSName "a").
    let name = constructed(tag::context_constructed(1), &[&[0x82, 0x01, b'a']]);
    let with_name = wrap(&[&name, &list], &[]);
    let r = parse(&with_name).unwrap().requestor_name;
    assert_eq!(r, Some(&[0x82, 0x01, b'a'][..]));
    // optionalSignature: accepted (checked as DER) but not verified.
    let alg = constructed(
        tag::SEQUENCE,
        &[&tlv(tag::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])],
    );
    let sig = constructed(tag::SEQUENCE, &[&alg, &[0x03, 0x02, 0x00, 0x01]]);
    let signed = constructed(tag::context_constructed(0), &[&sig]);
    assert!(parse(&wrap(&[&list], &[&signed])).unwrap().signed);
    let bad_sig = constructed(tag::context_constructed(0), &[&[0x02, 0x02, 0x00, 0x01]]);
    assert!(parse(&wrap(&[&list], &[&bad_sig])).is_err());
}

#[test]
fn ber_and_trailing_bytes_are_refused() {
    let der = request(&[spec(HashAlg::Sha1, &[1])], None);
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(parse(&trailing).is_err());
    for cut in 0..der.len() {
        assert!(parse(&der[..cut]).is_err(), "truncated at {cut}");
    }
    // The same request with an indefinite outer length (BER).
    let mut ber = vec![0x30, 0x80];
    ber.extend_from_slice(&der[2..]);
    ber.extend_from_slice(&[0, 0]);
    assert!(matches!(
        parse(&ber),
        Err(RequestError::Decode(DerError {
            kind: DerErrorKind::IndefiniteLength,
            ..
        }))
    ));
}

fn hash_strategy() -> impl Strategy<Value = HashAlg> {
    prop_oneof![Just(HashAlg::Sha1), Just(HashAlg::Sha256)]
}

fn cert_id_strategy() -> impl Strategy<Value = CertIdSpec> {
    (
        hash_strategy(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 1..=20),
        any::<[u8; 64]>(),
    )
        .prop_filter_map(
            "positive serial of at most 20 octets",
            |(hash, null, serial, fill)| {
                let start = serial.iter().position(|&b| b != 0)?;
                let magnitude = serial[start..].to_vec();
                if magnitude.len() == 20 && magnitude[0] & 0x80 != 0 {
                    return None;
                }
                Some(CertIdSpec {
                    hash,
                    null_params: null,
                    issuer_name_hash: fill[..hash.output_len()].to_vec(),
                    issuer_key_hash: fill[32..32 + hash.output_len()].to_vec(),
                    serial: magnitude,
                })
            },
        )
}

proptest! {
    #[test]
    fn encoder_round_trip(
        ids in proptest::collection::vec(cert_id_strategy(), 1..6),
        nonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=32)),
    ) {
        let der = request(&ids, nonce.as_deref());
        let r = parse(&der).unwrap();
        prop_assert_eq!(r.cert_ids.len(), ids.len());
        for (got, want) in r.cert_ids.iter().zip(&ids) {
            prop_assert_eq!(got.hash, want.hash);
            prop_assert_eq!(got.serial, &want.serial[..]);
            prop_assert_eq!(got.issuer_name_hash, &want.issuer_name_hash[..]);
            prop_assert_eq!(got.issuer_key_hash, &want.issuer_key_hash[..]);
            prop_assert_eq!(got.raw, &cert_id(want)[..]);
        }
        prop_assert_eq!(r.nonce, nonce.as_deref());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn mutated_requests_never_panic(
        ids in proptest::collection::vec(cert_id_strategy(), 1..3),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut der = request(&ids, Some(&[3; 8]));
        let i = at.index(der.len());
        der[i] = byte;
        if let Ok(r) = parse(&der) {
            prop_assert!(!r.cert_ids.is_empty());
        }
    }
}
