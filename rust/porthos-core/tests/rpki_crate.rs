//! Issue 18 §5: the `rpki` crate (NLnet Labs, the library under Routinator and Krill)
//! decodes and validates what the engine writes, in strict mode: a trust anchor, a
//! child CA certificate made from it, the child's CRL (the engine's CRL writer), its
//! manifest and ROAs (the engine's signed-object batch with one-time EE keys). Then
//! the opposite cases: a ROA over resources its CA does not hold, a tampered ROA, a
//! manifest hash that no longer matches its file, all rejected by the crate.
//!
//! The RRDP files are the Python writer's (python/porthos/workspace/rrdp.py); the ones
//! under tests/data/rrdp/ were written by it (tools/make_rrdp_fixture.py, checked to
//! still match the writer by tests/test_rrdp.py) and are parsed here with the crate's
//! RRDP reader.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use porthos_core::crl::columns::Columns;
use porthos_core::crl::no_progress;
use porthos_core::crl::writer::{build_signed, CrlParams};
use porthos_core::rpki::batch::{generate_ee_keys, issue_signed_objects, ObjectItem};
use porthos_core::rpki::manifest::encode_manifest;
use porthos_core::rpki::rfc3779::{encode_as_identifiers, encode_ip_addr_blocks, Choice};
use porthos_core::rpki::roa::{encode_roa, RoaPrefix};
use porthos_core::rpki::sia::{encode_sia, AccessMethod};
use porthos_core::rpki::signed_object::{ID_CT_MANIFEST, ID_CT_ROA};
use porthos_core::rpki::{Afi, IntervalSet};
use porthos_core::sign::{SigAlg, Signer, SoftwareKey};
use porthos_core::template::{assemble_certificate, key_identifier, TbsInput, Template};
use porthos_core::x509::name_encode::{encode_name_with, NameStrings};
use rpki::repository::cert::{Cert, ResourceCert};
use rpki::repository::crl::Crl;
use rpki::repository::manifest::{Manifest, ManifestHash};
use rpki::repository::roa::Roa;
use rpki::repository::tal::TalInfo;

const HOST: &str = "rsync://rpki.example.net/repo";
const POLICY: &str = r#"{"type": "certificate_policies", "critical": true, "policies": [{"oid": "1.3.6.1.5.5.7.14.2"}]}"#;

/// RFC 6487 §4.4/§4.5: names are one CommonName (optionally a serialNumber), encoded as
/// PrintableString; the crate checks it in strict mode. The engine's default string
/// type for CN is UTF8String, so RPKI names ask for PrintableString explicitly.
fn encode_name(attrs: &[(&str, &str)]) -> Result<Vec<u8>, porthos_core::DerError> {
    encode_name_with(attrs, &NameStrings::new(&[("CN", "printable")]).unwrap())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 3600
}

fn v4(lo: u32, hi: u32) -> Choice {
    Choice::Set(IntervalSet::from_intervals(vec![(lo as u128, hi as u128)]).unwrap())
}

fn asns(lo: u32, hi: u32) -> Choice {
    Choice::Set(IntervalSet::from_intervals(vec![(lo as u128, hi as u128)]).unwrap())
}

/// A CA certificate (RFC 6487 §4) by the engine's template, signed by `issuer`.
#[allow(clippy::too_many_arguments)]
fn ca_cert(
    issuer: &SoftwareKey,
    issuer_name: &[u8],
    subject_key: &SoftwareKey,
    cn: &str,
    repo: &str,
    issuer_uris: Option<(&str, &str)>, // (CRL URI, issuer certificate URI); None: a TA
    ip: &Choice,
    asn: &Choice,
    t0: i64,
) -> Vec<u8> {
    let spki = subject_key.public_key_der().to_vec();
    let issuer_kid = key_identifier(issuer.public_key_der()).unwrap();
    let mut ext = vec![
        r#"{"type": "basic_constraints", "ca": true}"#.to_string(),
        r#"{"type": "subject_key_identifier"}"#.to_string(),
    ];
    if let Some((crl, aia)) = issuer_uris {
        ext.push(r#"{"type": "authority_key_identifier"}"#.into());
        ext.push(format!(
            r#"{{"type": "crl_distribution_points", "uris": ["{crl}"]}}"#
        ));
        ext.push(format!(
            r#"{{"type": "authority_info_access", "ca_issuers": ["{aia}"]}}"#
        ));
    }
    ext.push(r#"{"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]}"#.into());
    ext.push(POLICY.into());
    ext.push(format!(
        r#"{{"type": "subject_info_access", "ca_repository": ["{repo}/"],
            "rpki_manifest": ["{repo}/{cn}.mft"]}}"#
    ));
    ext.push(r#"{"type": "ip_addr_blocks"}, {"type": "as_identifiers"}"#.into());
    let spec = format!(r#"{{"extensions": [{}]}}"#, ext.join(","));
    let t = Template::compile(
        &spec,
        issuer_name,
        Some(&issuer_kid),
        SigAlg::RsaPkcs1Sha256,
    )
    .unwrap();
    let name = encode_name(&[("CN", cn)]).unwrap();
    let ip = encode_ip_addr_blocks(Some(ip), None).unwrap();
    let asn = encode_as_identifiers(asn).unwrap();
    let input = TbsInput {
        serial: &[1],
        not_before: t0,
        not_after: t0 + 365 * 86400,
        subject: &name,
        spki: &spki,
        ip_addr_blocks: Some(&ip),
        as_identifiers: Some(&asn),
        ..Default::default()
    };
    let mut tbs = Vec::new();
    t.write_tbs(&input, &mut tbs).unwrap();
    let sig = issuer.sign(&tbs).unwrap();
    let mut cert = Vec::new();
    assemble_certificate(&tbs, t.algorithm_identifier(), &sig, &mut cert);
    cert
}

fn rsa() -> SoftwareKey {
    SoftwareKey::generate("rsa-2048", Some(SigAlg::RsaPkcs1Sha256)).unwrap()
}

struct Point {
    ta: Vec<u8>,
    ca: Vec<u8>,
    crl: Vec<u8>,
    mft: Vec<u8>,
    roas: Vec<(String, Vec<u8>)>,
    ee_certs: Vec<Vec<u8>>,
}

/// TA (192.0.2.0/24, AS64496-64511) -> child CA (192.0.2.0/25, AS64496-64500) -> CRL,
/// two ROAs and a manifest listing CRL + ROAs. `roa_prefix` lets a test make a ROA
/// outside the child's resources.
fn point(roa_prefix: RoaPrefix) -> Point {
    let t0 = now();
    let ta_key = rsa();
    let ta_name = encode_name(&[("CN", "ta")]).unwrap();
    let ta = ca_cert(
        &ta_key,
        &ta_name,
        &ta_key,
        "ta",
        &format!("{HOST}/ta"),
        None,
        &v4(0xc000_0200, 0xc000_02ff),
        &asns(64496, 64511),
        t0,
    );
    let ca_key = rsa();
    let ca_repo = format!("{HOST}/child");
    let ca = ca_cert(
        &ta_key,
        &ta_name,
        &ca_key,
        "child",
        &ca_repo,
        Some((&format!("{HOST}/ta/ta.crl"), &format!("{HOST}/ta.cer"))),
        &v4(0xc000_0200, 0xc000_027f),
        &asns(64496, 64500),
        t0,
    );

    // The child's CRL: the engine's writer, no entries (RFC 6487 §5: AKI + CRLNumber).
    let ca_name = encode_name(&[("CN", "child")]).unwrap();
    let ca_kid = key_identifier(ca_key.public_key_der()).unwrap();
    let params = CrlParams {
        issuer_der: ca_name.clone(),
        authority_key_id: Some(ca_kid.to_vec()),
        this_update: t0,
        next_update: Some(t0 + 2 * 86400),
        crl_number: vec![1],
        idp: None,
        delta_base: None,
        hold_instruction: None,
        alg: SigAlg::RsaPkcs1Sha256,
    };
    let cols = Columns {
        serials: &[],
        width: 20,
        serial_lengths: None,
        revocation_times: &[],
        reasons: &[],
        invalidity: None,
    };
    let (buf, start) = build_signed(&params, &cols, &ca_key, &no_progress).unwrap();
    let crl = buf[start..].to_vec();

    let ee_spec = format!(
        r#"{{"extensions": [
        {{"type": "subject_key_identifier"}}, {{"type": "authority_key_identifier"}},
        {{"type": "key_usage", "usages": ["digital_signature"]}},
        {{"type": "crl_distribution_points", "uris": ["{ca_repo}/child.crl"]}},
        {{"type": "authority_info_access", "ca_issuers": ["{HOST}/ta/child.cer"]}},
        {POLICY},
        {{"type": "subject_info_access"}}, {{"type": "ip_addr_blocks"}},
        {{"type": "as_identifiers"}}]}}"#
    );
    let t = Template::for_issuer(&ee_spec, &ca, SigAlg::RsaPkcs1Sha256).unwrap();
    let subject = encode_name(&[("CN", "ee")]).unwrap();

    // Two ROAs, each EE certificate carrying exactly its ROA's prefixes.
    let prefixes = [
        RoaPrefix {
            afi: Afi::Ipv4,
            address: 0xc000_0200,
            length: 26,
            max_length: Some(28),
        },
        roa_prefix,
    ];
    let names = ["r1.roa", "r2.roa"];
    let contents: Vec<Vec<u8>> = [(64496, prefixes[0]), (64497, prefixes[1])]
        .iter()
        .map(|(a, p)| encode_roa(*a, &[*p]).unwrap())
        .collect();
    let ips: Vec<Vec<u8>> = prefixes
        .iter()
        .map(|p| {
            let size = 1u32 << (32 - p.length);
            let lo = p.address as u32;
            encode_ip_addr_blocks(Some(&v4(lo, lo + size - 1)), None).unwrap()
        })
        .collect();
    let sias: Vec<Vec<u8>> = names
        .iter()
        .map(|n| encode_sia(&[(AccessMethod::SignedObject, &format!("{ca_repo}/{n}"))]).unwrap())
        .collect();
    let serials = [[10u8], [11u8], [12u8]];
    let items: Vec<ObjectItem<'_>> = (0..2)
        .map(|i| ObjectItem {
            serial: &serials[i],
            not_before: t0,
            not_after: t0 + 2 * 86400,
            subject: &subject,
            sia: Some(&sias[i]),
            ip_addr_blocks: Some(&ips[i]),
            as_identifiers: None,
            content: &contents[i],
        })
        .collect();
    let keys = generate_ee_keys(2).unwrap();
    let out = issue_signed_objects(&t, &ca_key, &keys, ID_CT_ROA, t0, &items).unwrap();
    let split = |(data, off): &(Vec<u8>, Vec<u64>)| -> Vec<Vec<u8>> {
        (0..off.len() - 1)
            .map(|i| data[off[i] as usize..off[i + 1] as usize].to_vec())
            .collect()
    };
    let roa_bytes = split(&out.objects);
    let ee_certs = split(&out.certificates);
    let roas: Vec<(String, Vec<u8>)> = names.iter().map(|n| n.to_string()).zip(roa_bytes).collect();

    // The manifest: inherited resources (RFC 9286 §4.3 allows it, RFC 6487 §4.8.10).
    let sha = |b: &[u8]| {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
            .as_ref()
            .to_vec()
    };
    let mut files: Vec<(&str, Vec<u8>)> = vec![("child.crl", sha(&crl))];
    for (n, b) in &roas {
        files.push((n, sha(b)));
    }
    let file_refs: Vec<(&str, &[u8])> = files.iter().map(|(n, h)| (*n, h.as_slice())).collect();
    let content = encode_manifest(&[1], t0, t0 + 2 * 86400, &file_refs).unwrap();
    let inherit_ip = encode_ip_addr_blocks(Some(&Choice::Inherit), None).unwrap();
    let inherit_as = encode_as_identifiers(&Choice::Inherit).unwrap();
    let mft_sia =
        encode_sia(&[(AccessMethod::SignedObject, &format!("{ca_repo}/child.mft"))]).unwrap();
    let mft_item = ObjectItem {
        serial: &serials[2],
        not_before: t0,
        not_after: t0 + 2 * 86400,
        subject: &subject,
        sia: Some(&mft_sia),
        ip_addr_blocks: Some(&inherit_ip),
        as_identifiers: Some(&inherit_as),
        content: &content,
    };
    let key = generate_ee_keys(1).unwrap();
    let m = issue_signed_objects(&t, &ca_key, &key, ID_CT_MANIFEST, t0, &[mft_item]).unwrap();
    let mft = m.objects.0[m.objects.1[0] as usize..m.objects.1[1] as usize].to_vec();
    Point {
        ta,
        ca,
        crl,
        mft,
        roas,
        ee_certs,
    }
}

fn good_prefix() -> RoaPrefix {
    RoaPrefix {
        afi: Afi::Ipv4,
        address: 0xc000_0240,
        length: 26,
        max_length: None,
    }
}

fn chain(p: &Point) -> (ResourceCert, ResourceCert) {
    let ta = Cert::decode(Bytes::from(p.ta.clone()))
        .expect("TA decodes")
        .validate_ta(TalInfo::from_name("ta".into()).into_arc(), true)
        .expect("TA validates (RFC 6487, RFC 8630 §3)");
    let ca = Cert::decode(Bytes::from(p.ca.clone()))
        .expect("CA decodes")
        .validate_ca(&ta, true)
        .expect("child CA validates under the TA");
    (ta, ca)
}

#[test]
fn the_crate_validates_ta_ca_crl_manifest_roas() {
    let p = point(good_prefix());
    let (_ta, ca) = chain(&p);

    let crl = Crl::decode(Bytes::from(p.crl.clone())).expect("CRL decodes");
    crl.verify_signature(ca.subject_public_key_info())
        .expect("CRL signed by the CA");
    assert!(crl.next_update() > crl.this_update());

    let (_ee, content) = Manifest::decode(Bytes::from(p.mft.clone()), true)
        .expect("manifest decodes")
        .validate(&ca, true)
        .expect("manifest validates under the CA");
    let number: [u8; 20] = content.manifest_number().into();
    assert_eq!(number, {
        let mut n = [0u8; 20];
        n[19] = 1;
        n
    });
    let listed: Vec<(String, Bytes)> = content
        .iter()
        .map(|fh| {
            let (f, h) = fh.into_pair();
            (String::from_utf8(f.to_vec()).unwrap(), h)
        })
        .collect();
    let mut files = vec![("child.crl".to_string(), p.crl.clone())];
    files.extend(p.roas.iter().cloned());
    assert_eq!(listed.len(), files.len());
    for ((name, hash), (fname, body)) in listed.iter().zip(&files) {
        assert_eq!(name, fname);
        ManifestHash::new(hash.clone(), content.file_hash_alg())
            .verify(body)
            .expect("hash matches");
    }

    let mut vrps = Vec::new();
    for (name, der) in &p.roas {
        let roa =
            Roa::decode(Bytes::from(der.clone()), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (_ee, att) = roa
            .process(&ca, true, |cert| {
                // The CRL check a relying party does (RFC 6487 §5): not revoked.
                assert!(!crl.contains(cert.serial_number()));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for a in att.iter() {
            vrps.push((
                att.as_id().into_u32(),
                format!("{}/{}", a.address(), a.address_length()),
                a.max_length(),
            ));
        }
    }
    assert_eq!(
        vrps,
        vec![
            (64496, "192.0.2.0/26".to_string(), 28),
            (64497, "192.0.2.64/26".to_string(), 26)
        ]
    );

    // The EE certificates on their own, as the crate's EE profile (RFC 6487 §4).
    for ee in &p.ee_certs {
        Cert::decode(Bytes::from(ee.clone()))
            .unwrap()
            .validate_ee(&ca, true)
            .expect("EE validates");
    }
}

#[test]
fn the_crate_rejects_overclaiming_and_tampered_objects() {
    // 192.0.2.128/26 is the TA's but not the child's: the EE certificate over-claims.
    let p = point(RoaPrefix {
        afi: Afi::Ipv4,
        address: 0xc000_0280,
        length: 26,
        max_length: None,
    });
    let (_ta, ca) = chain(&p);
    let roa = Roa::decode(Bytes::from(p.roas[1].1.clone()), true).unwrap();
    assert!(
        roa.process(&ca, true, |_| Ok(())).is_err(),
        "over-claiming ROA accepted"
    );
    // r1 is fine; one flipped bit in its signature (the last octet) and it is not.
    let mut bad = p.roas[0].1.clone();
    *bad.last_mut().unwrap() ^= 1;
    let rejected = match Roa::decode(Bytes::from(bad.clone()), true) {
        Err(_) => true,
        Ok(r) => r.process(&ca, true, |_| Ok(())).is_err(),
    };
    assert!(rejected, "tampered ROA accepted");
    // The manifest's hash of r1.roa does not match the tampered file.
    let (_ee, content) = Manifest::decode(Bytes::from(p.mft.clone()), true)
        .unwrap()
        .validate(&ca, true)
        .unwrap();
    let (_, hash) = content.iter().nth(1).unwrap().into_pair();
    assert!(ManifestHash::new(hash, content.file_hash_alg())
        .verify(&bad)
        .is_err());
    // A CA certificate signed by another key is not the TA's child.
    let other = point(good_prefix());
    let ta = Cert::decode(Bytes::from(p.ta.clone()))
        .unwrap()
        .validate_ta(TalInfo::from_name("ta".into()).into_arc(), true)
        .unwrap();
    assert!(Cert::decode(Bytes::from(other.ca.clone()))
        .unwrap()
        .validate_ca(&ta, true)
        .is_err());
}

/// The crate's RRDP reader (RFC 8182) over the Python writer's files
/// (tests/data/rrdp/, see the module comment): the notification's hashes match the
/// files, the deltas are contiguous, and delta 3 applied to snapshot 2 (the previous
/// snapshot, which the writer keeps one serial longer) gives snapshot 3, each replace
/// and withdraw naming the hash of the object it replaces.
#[test]
fn the_crate_reads_the_rrdp_files_of_the_writer() {
    use rpki::rrdp::{Delta, DeltaElement, Hash, NotificationFile, Snapshot};
    use std::collections::BTreeMap;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rrdp");
    let base = "https://rrdp.example.net/rrdp/";
    let file = |uri: &str| std::fs::read(dir.join(uri.strip_prefix(base).unwrap())).unwrap();
    let raw = std::fs::read(dir.join("notification.xml")).unwrap();
    let mut n = NotificationFile::parse(&raw[..]).expect("notification parses");
    assert_eq!(n.serial(), 3);
    assert!(n.sort_and_verify_deltas(None), "deltas contiguous");
    let serials: Vec<u64> = n.deltas().iter().map(|d| d.serial()).collect();
    assert_eq!(serials, vec![2, 3]);

    let objects = |s: &Snapshot| -> BTreeMap<String, Bytes> {
        s.elements()
            .iter()
            .map(|p| (p.uri().as_str().to_string(), p.data().clone()))
            .collect()
    };
    let snap3_raw = file(n.snapshot().uri().as_str());
    assert!(n.snapshot().hash().matches(&snap3_raw), "snapshot hash");
    let snap3 = Snapshot::parse(&snap3_raw[..]).expect("snapshot parses");
    assert_eq!((snap3.session_id(), snap3.serial()), (n.session_id(), 3));
    assert_eq!(snap3.elements().len(), 7);

    let d2_uri = n.deltas()[0].uri().as_str().to_string();
    let snap2 = Snapshot::parse(&file(&d2_uri.replace("delta.xml", "snapshot.xml"))[..]).unwrap();
    assert_eq!(snap2.serial(), 2);
    let mut current = objects(&snap2);
    let mut kinds = Vec::new();
    for info in n.deltas() {
        let raw = file(info.uri().as_str());
        assert!(info.hash().matches(&raw), "delta {} hash", info.serial());
        let delta = Delta::parse(&raw[..]).expect("delta parses");
        assert_eq!(
            (delta.session_id(), delta.serial()),
            (n.session_id(), info.serial())
        );
        for el in delta.elements() {
            kinds.push((
                info.serial(),
                match el {
                    DeltaElement::Publish(_) => "publish",
                    DeltaElement::Update(_) => "update",
                    DeltaElement::Withdraw(_) => "withdraw",
                },
            ));
            if info.serial() != 3 {
                continue; // delta 2 applies to snapshot 1, no longer published
            }
            match el {
                DeltaElement::Publish(p) => {
                    assert!(current
                        .insert(p.uri().as_str().into(), p.data().clone())
                        .is_none())
                }
                DeltaElement::Update(u) => {
                    let old = current
                        .insert(u.uri().as_str().into(), u.data().clone())
                        .unwrap();
                    assert_eq!(Hash::from_data(&old), *u.hash());
                }
                DeltaElement::Withdraw(w) => {
                    let old = current.remove(w.uri().as_str()).unwrap();
                    assert_eq!(Hash::from_data(&old), *w.hash());
                }
            }
        }
    }
    assert_eq!(current, objects(&snap3));
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            (2, "publish"),
            (2, "update"),
            (2, "withdraw"),
            (3, "publish"),
            (3, "update")
        ]
    );
}
