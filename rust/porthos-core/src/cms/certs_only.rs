//! The certs-only SignedData ("degenerate" PKCS#7, RFC 5652 §5): a bag of
//! certificates with no signer, the `.p7c` file an AIA caIssuers URL may name
//! (RFC 5280 §4.2.2.1: "certs-only CMS message ... DER encoded").
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!     version 1,                          -- RFC 5652 §5.1: no attribute certs, id-data
//!     digestAlgorithms SET {},            -- no signer, so no digest
//!     encapContentInfo SEQUENCE { id-data },   -- no eContent
//!     certificates [0] IMPLICIT SET OF Certificate,   -- DER order (X.690 §11.6)
//!     signerInfos SET {} }
//! ```
//! The full SignedData writer (with signers) is the RPKI's; this one only bundles.

use crate::der::tag;
use crate::der::writer::{constructed, tlv, write_header};
use crate::error::DerError;
use crate::x509::cert::parse_certificate;

use super::{ID_DATA, ID_SIGNED_DATA};

/// CMSVersion 1 (RFC 5652 §5.1).
const VERSION_1: [u8; 3] = [tag::INTEGER, 0x01, 0x01];

/// X.690 §11.6: a SET OF is in ascending order of its components' encodings,
/// compared as octet strings with the shorter one padded at its end with zeros.
fn der_set_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let pad = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| pad(a, i).cmp(&pad(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// A DER ContentInfo holding a SignedData with `certs` and no signer. Each input must
/// be one strict-DER Certificate (else the error names its index); duplicates are
/// written once; the order of `certs` does not matter (DER sorts the SET OF). With no
/// certificate the `certificates` field is omitted.
pub fn cms_certs_only(certs: &[&[u8]]) -> Result<Vec<u8>, DerError> {
    for (i, c) in certs.iter().enumerate() {
        parse_certificate(c).map_err(|e| e.within(&format!("certificates[{i}]")))?;
    }
    let mut sorted: Vec<&[u8]> = certs.to_vec();
    sorted.sort_by(|a, b| der_set_cmp(a, b).then(a.len().cmp(&b.len())));
    sorted.dedup();
    let certs_len: usize = sorted.iter().map(|c| c.len()).sum();
    let mut cert_set = Vec::new();
    if !sorted.is_empty() {
        write_header(&mut cert_set, tag::context_constructed(0), certs_len);
        for c in &sorted {
            cert_set.extend_from_slice(c);
        }
    }
    let empty_set = tlv(tag::SET, &[]);
    let encap = constructed(tag::SEQUENCE, &[&tlv(tag::OID, ID_DATA)]);
    let signed_data = constructed(
        tag::SEQUENCE,
        &[&VERSION_1, &empty_set, &encap, &cert_set, &empty_set],
    );
    let content = constructed(tag::context_constructed(0), &[&signed_data]);
    Ok(constructed(
        tag::SEQUENCE,
        &[&tlv(tag::OID, ID_SIGNED_DATA), &content],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cms::parse_signed_data;

    // Two minimal-but-valid certificates come from the sibling tests module's helper
    // through the public parser: here the writer is checked against the crate's own
    // reader; pyca and openssl read it in tests/test_cross.py.

    #[test]
    fn set_order_pads_the_shorter_with_zeros() {
        use std::cmp::Ordering::*;
        assert_eq!(der_set_cmp(&[0x30, 0x01], &[0x30, 0x02]), Less);
        assert_eq!(der_set_cmp(&[0x30, 0x82, 0x01], &[0x30, 0x81]), Greater);
        assert_eq!(der_set_cmp(&[0x30], &[0x30, 0x00]), Equal);
    }

    #[test]
    fn empty_bundle_has_no_certificates_field() {
        let der = cms_certs_only(&[]).unwrap();
        let sd = parse_signed_data(&der).unwrap();
        assert!(sd.certificates.is_empty());
        assert!(sd.signer_infos.is_empty());
        assert_eq!(sd.version, 1);
        assert_eq!(sd.content_type, ID_DATA);
        assert!(sd.content.is_none());
    }

    #[test]
    fn not_a_certificate_is_refused_with_its_index() {
        let e = cms_certs_only(&[&[0x30, 0x00]]).unwrap_err();
        assert!(e.path.starts_with("certificates[0]"), "{}", e.path);
    }

    #[test]
    fn certificates_come_back_sorted_and_once() {
        let certs = super::super::tests::two_certificates();
        let (a, b) = (certs[0].as_slice(), certs[1].as_slice());
        let one = cms_certs_only(&[a, b, a]).unwrap();
        let two = cms_certs_only(&[b, a]).unwrap();
        assert_eq!(one, two, "input order and duplicates do not change the DER");
        let sd = parse_signed_data(&one).unwrap();
        assert_eq!(sd.certificates.len(), 2);
        let got: Vec<&[u8]> = sd.certificates.iter().map(|c| c.der).collect();
        assert!(der_set_cmp(got[0], got[1]).is_lt());
        assert!(got.contains(&a) && got.contains(&b));
    }
}
