//! RFC 6488 signed objects end to end in Rust: a TA certificate with resource holes,
//! EE certificates from a template with SIA/IP/AS holes, N objects with one-time
//! keys; the crate's own CMS verifier accepts each, and the SignedData has exactly
//! the RFC 6488 shape (versions, sid, sorted signed attributes).

use porthos_core::cms::{parse_signed_data, verify_signed_data, CmsStatus, Digest, SignerId};
use porthos_core::der::{reader::Reader, tag};
use porthos_core::rpki::batch::{generate_ee_keys, issue_signed_objects, ObjectItem};
use porthos_core::rpki::rfc3779::{encode_as_identifiers, encode_ip_addr_blocks, Choice};
use porthos_core::rpki::roa::{encode_roa, parse_roa, RoaPrefix};
use porthos_core::rpki::sia::{encode_sia, AccessMethod};
use porthos_core::rpki::signed_object::ID_CT_ROA;
use porthos_core::rpki::{Afi, IntervalSet};
use porthos_core::sign::{SigAlg, SoftwareKey};
use porthos_core::template::{assemble_certificate, key_identifier, TbsInput, Template};
use porthos_core::x509::cert::parse_certificate;
use porthos_core::x509::name_encode::encode_name;

const T0: i64 = 1_767_225_600;

fn ta() -> (SoftwareKey, Vec<u8>) {
    let key = SoftwareKey::generate("rsa-2048", Some(SigAlg::RsaPkcs1Sha256)).unwrap();
    let spki = porthos_core::sign::Signer::public_key_der(&key).to_vec();
    let name = encode_name(&[("CN", "ta")]).unwrap();
    let spec = r#"{"extensions": [
        {"type": "basic_constraints", "ca": true},
        {"type": "subject_key_identifier"},
        {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]},
        {"type": "subject_info_access", "ca_repository": ["rsync://h/r/"],
         "rpki_manifest": ["rsync://h/r/ta.mft"]},
        {"type": "ip_addr_blocks"}, {"type": "as_identifiers"}]}"#;
    let kid = key_identifier(&spki).unwrap();
    let t = Template::compile(spec, &name, Some(&kid), SigAlg::RsaPkcs1Sha256).unwrap();
    let v4 = Choice::Set(IntervalSet::from_intervals(vec![(0xc000_0200, 0xc000_02ff)]).unwrap());
    let ip = encode_ip_addr_blocks(Some(&v4), None).unwrap();
    let asn = encode_as_identifiers(&Choice::Set(
        IntervalSet::from_intervals(vec![(64496, 64511)]).unwrap(),
    ))
    .unwrap();
    let input = TbsInput {
        serial: &[1],
        not_before: T0,
        not_after: T0 + 86400,
        subject: &name,
        spki: &spki,
        ip_addr_blocks: Some(&ip),
        as_identifiers: Some(&asn),
        ..Default::default()
    };
    let mut tbs = Vec::new();
    t.write_tbs(&input, &mut tbs).unwrap();
    let sig = porthos_core::sign::Signer::sign(&key, &tbs).unwrap();
    let mut cert = Vec::new();
    assemble_certificate(&tbs, t.algorithm_identifier(), &sig, &mut cert);
    (key, cert)
}

#[test]
fn roas_verify_and_have_the_rfc6488_shape() {
    let (ca_key, ca_cert) = ta();
    parse_certificate(&ca_cert).unwrap();
    let ee_spec = r#"{"extensions": [
        {"type": "subject_key_identifier"}, {"type": "authority_key_identifier"},
        {"type": "key_usage", "usages": ["digital_signature"]},
        {"type": "subject_info_access"}, {"type": "ip_addr_blocks"}]}"#;
    let t = Template::for_issuer(ee_spec, &ca_cert, SigAlg::RsaPkcs1Sha256).unwrap();
    let prefix = RoaPrefix {
        afi: Afi::Ipv4,
        address: 0xc000_0200,
        length: 24,
        max_length: Some(26),
    };
    let content = encode_roa(64496, &[prefix]).unwrap();
    let v4 = Choice::Set(IntervalSet::from_intervals(vec![(0xc000_0200, 0xc000_02ff)]).unwrap());
    let ip = encode_ip_addr_blocks(Some(&v4), None).unwrap();
    let sias: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            encode_sia(&[(AccessMethod::SignedObject, &format!("rsync://h/r/{i}.roa"))]).unwrap()
        })
        .collect();
    let subject = encode_name(&[("CN", "ee")]).unwrap();
    let serials: Vec<[u8; 1]> = (0..3).map(|i| [10 + i as u8]).collect();
    let items: Vec<ObjectItem<'_>> = (0..3)
        .map(|i| ObjectItem {
            serial: &serials[i],
            not_before: T0,
            not_after: T0 + 3600,
            subject: &subject,
            sia: Some(&sias[i]),
            ip_addr_blocks: Some(&ip),
            as_identifiers: None,
            content: &content,
        })
        .collect();
    let keys = generate_ee_keys(3).unwrap();
    let out = issue_signed_objects(&t, &ca_key, &keys, ID_CT_ROA, T0 + 60, &items).unwrap();
    let (data, offsets) = &out.objects;
    assert_eq!(offsets.len(), 4);
    for i in 0..3 {
        let obj = &data[offsets[i] as usize..offsets[i + 1] as usize];
        let v = verify_signed_data(obj, &[]).unwrap();
        assert_eq!(v.status, CmsStatus::Ok, "{}", v.detail);
        let sd = parse_signed_data(obj).unwrap();
        assert_eq!(sd.version, 3);
        assert_eq!(sd.content_type, ID_CT_ROA);
        assert_eq!(
            parse_roa(sd.content.unwrap()).unwrap().prefixes,
            vec![prefix]
        );
        assert_eq!(sd.certificates.len(), 1);
        let si = &sd.signer_infos[0];
        assert_eq!((si.version, si.digest_algorithm), (3, Digest::Sha256));
        assert_eq!(
            si.sid,
            SignerId::KeyId(sd.certificates[0].subject_key_id.unwrap())
        );
        // Signed attributes: exactly three, in DER SET OF order (X.690 §11.6).
        let raw = si.signed_attrs.unwrap();
        let mut r = Reader::new(raw);
        let (_, mut attrs) = r.enter(tag::context_constructed(0), "attrs").unwrap();
        let mut seen = Vec::new();
        while !attrs.is_empty() {
            seen.push(attrs.read_tlv().unwrap().raw.to_vec());
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "attributes sorted");
    }
    // Each object has its own key: three distinct EE certificates and SKIs.
    let (cdata, coff) = &out.certificates;
    let skis: std::collections::HashSet<Vec<u8>> = (0..3)
        .map(|i| {
            let c = parse_certificate(&cdata[coff[i] as usize..coff[i + 1] as usize]).unwrap();
            c.subject_key_id.unwrap().to_vec()
        })
        .collect();
    assert_eq!(skis.len(), 3);
    // One key per object, or nothing.
    assert!(issue_signed_objects(&t, &ca_key, &keys[..2], ID_CT_ROA, T0, &items).is_err());
}
