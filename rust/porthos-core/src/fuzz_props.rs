//! Properties of the parsers of outside input, shared by the cargo-fuzz targets
//! (fuzz/fuzz_targets/) and their stable twins in `cargo test`
//! (tests/fuzz_parsers.rs), so both check the same thing (issue 20 §4).
//!
//! Each function must not panic on any bytes except when a property fails.

use crate::cms::{parse_signed_data, verify_signed_data, CmsStatus};
use crate::crl::writer::{write_tbs, CrlParams};
use crate::crl::{no_progress, parse_crl};
use crate::sign::SigAlg;

pub use crate::crl::revocations_csv::assert_revocations_csv_invariants;
pub use crate::ocsp::request::assert_ocsp_request_invariants;

/// True when `part` lies inside `whole` (zero-copy parsers return borrowed slices).
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

/// A CRL that parses has strictly ascending, unique serials; its borrowed fields lie
/// in the input; and when the writer accepts its metadata and columns, the CRL the
/// writer makes of them parses back to the same metadata and columns. Returns
/// whether that round trip was checked (the twin test asserts the seeds reach it).
pub fn assert_crl_invariants(data: &[u8]) -> bool {
    let Ok(p) = parse_crl(data, None) else {
        return false;
    };
    assert!(within(data, p.tbs) && within(data, p.issuer_der) && within(data, p.signature));
    let c = &p.columns;
    assert_eq!(c.serials.len(), 20 * c.len());
    assert_eq!((c.reasons.len(), c.invalidity.len()), (c.len(), c.len()));
    for w in c.serials.chunks(20).collect::<Vec<_>>().windows(2) {
        assert!(w[0] < w[1], "serials not strictly ascending");
    }
    for i in 0..c.len() {
        assert_eq!(c.find(&c.serials[i * 20..(i + 1) * 20]), Some(i));
    }
    let params = CrlParams {
        issuer_der: p.issuer_der.to_vec(),
        authority_key_id: p.authority_key_id.map(<[u8]>::to_vec),
        this_update: p.this_update,
        next_update: p.next_update,
        crl_number: p.crl_number.clone().unwrap_or_default(),
        idp: p.idp.clone(),
        delta_base: p.delta_base.clone(),
        // The parser does not report a holdInstructionCode; without one the entries
        // and their reasons still round-trip.
        hold_instruction: None,
        alg: SigAlg::EcdsaSha256,
    };
    let Ok(draft) = write_tbs(&params, &c.view(), &no_progress) else {
        return false;
    };
    let (buf, start) = draft.finish(&[0x30, 0x00]).expect("finish");
    let again = parse_crl(&buf[start..], None).expect("a CRL the writer made must parse");
    assert_eq!(&again.columns, c, "columns after re-writing");
    assert_eq!(again.issuer_der, p.issuer_der);
    assert_eq!(
        (again.this_update, again.next_update),
        (p.this_update, p.next_update)
    );
    assert_eq!(again.authority_key_id, p.authority_key_id);
    assert_eq!((&again.idp, &again.delta_base), (&p.idp, &p.delta_base));
    if p.crl_number.is_some() {
        assert_eq!(again.crl_number, p.crl_number);
    }
    true
}

/// A SignedData that parses also verifies to a status (no DER error once parsed);
/// its borrowed fields lie in the input; `Ok` means one signer, content present and a
/// carried signer certificate.
pub fn assert_cms_invariants(data: &[u8]) {
    let parsed = parse_signed_data(data);
    let verified = verify_signed_data(data, &[]);
    let (Ok(sd), Ok(v)) = (&parsed, &verified) else {
        assert!(
            parsed.is_err() && verified.is_err(),
            "parse and verify disagree on well-formedness"
        );
        return;
    };
    assert!(within(data, sd.content_type));
    if let Some(content) = sd.content {
        assert!(within(data, content));
    }
    for si in &sd.signer_infos {
        assert!(within(data, si.signature));
        if let Some(a) = si.signed_attrs {
            assert!(within(data, a));
        }
    }
    assert_eq!(v.signed.signer_infos.len(), sd.signer_infos.len());
    assert_eq!(v.signed.certificates.len(), sd.certificates.len());
    if v.status == CmsStatus::Ok {
        assert!(v.detail.is_empty());
        assert_eq!(sd.signer_infos.len(), 1);
        assert!(sd.content.is_some());
        assert!(v.signer_index.is_some_and(|i| i < sd.certificates.len()));
    }
}

/// RFC 3779 extnValues (rfc3779_parse): whatever the strict parsers accept is in
/// canonical form, so the encoders give back exactly the input bytes. Returns how
/// many of the two parsers accepted `data`.
pub fn assert_rfc3779_invariants(data: &[u8]) -> usize {
    use crate::rpki::rfc3779::{
        encode_as_identifiers, encode_ip_addr_blocks, parse_as_identifiers, parse_ip_addr_blocks,
    };
    let mut accepted = 0;
    if let Ok((v4, v6)) = parse_ip_addr_blocks(data) {
        let again = encode_ip_addr_blocks(v4.as_ref(), v6.as_ref()).expect("parsed sets encode");
        assert_eq!(again, data, "IPAddrBlocks accepted in a non-canonical form");
        accepted += 1;
    }
    if let Ok(asn) = parse_as_identifiers(data) {
        let again = encode_as_identifiers(&asn).expect("parsed sets encode");
        assert_eq!(
            again, data,
            "ASIdentifiers accepted in a non-canonical form"
        );
        accepted += 1;
    }
    if let Ok(entries) = crate::rpki::sia::parse_sia(data) {
        for (_, uri) in &entries {
            assert!(uri.is_ascii());
        }
    }
    accepted
}

/// ROA eContent (roa_parse): an accepted ROA re-encodes to the same bytes (the
/// encoder canonicalises, so acceptance means canonical input).
pub fn assert_roa_invariants(data: &[u8]) -> bool {
    let Ok(roa) = crate::rpki::roa::parse_roa(data) else {
        return false;
    };
    let again = crate::rpki::roa::encode_roa(roa.asn, &roa.prefixes).expect("parsed ROA encodes");
    assert_eq!(again, data, "ROA accepted in a non-canonical form");
    true
}

/// Manifest eContent (manifest_parse): an accepted manifest re-encodes to the same
/// bytes.
pub fn assert_manifest_invariants(data: &[u8]) -> bool {
    let Ok(m) = crate::rpki::manifest::parse_manifest(data) else {
        return false;
    };
    let files: Vec<(&str, &[u8])> = m.files.iter().map(|(n, h)| (n.as_str(), &h[..])).collect();
    let again =
        crate::rpki::manifest::encode_manifest(&m.number, m.this_update, m.next_update, &files)
            .expect("parsed manifest encodes");
    assert_eq!(again, data, "manifest accepted in a non-canonical form");
    true
}
