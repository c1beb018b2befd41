//! The RPKI signed object (RFC 6488 §2.1): a CMS SignedData (RFC 5652) in the one
//! shape relying parties accept, signed by the one-time key of its EE certificate.
//!
//! ```text
//! ContentInfo { id-signedData, [0] SignedData {
//!   version 3,                                   -- RFC 6488 §2.1.1
//!   digestAlgorithms SET { sha256 },             -- §2.1.2, RFC 7935 §2 (params absent)
//!   encapContentInfo { eContentType, [0] OCTET STRING eContent },  -- §2.1.3
//!   certificates [0] { the EE certificate },     -- §2.1.4; crls absent (§2.1.5)
//!   signerInfos SET { SignerInfo {
//!     version 3, sid [0] subjectKeyIdentifier,   -- §2.1.6.1, §2.1.6.2
//!     digestAlgorithm sha256,                    -- §2.1.6.3
//!     signedAttrs [0] { contentType, messageDigest, signingTime },  -- §2.1.6.4
//!     signatureAlgorithm rsaEncryption,          -- §2.1.6.5, RFC 7935 §2
//!     signature }}}}                             -- unsignedAttrs absent (§2.1.6.7)
//! ```
//! signingTime is a Time: UTCTime through 2049, GeneralizedTime after (RFC 5652
//! §11.3, which RFC 6488 §2.1.6.4.3 refers to). The signed attributes are a DER SET
//! OF, so they are written in ascending order of their encodings (X.690 §11.6).

use aws_lc_rs::digest;

use crate::cms::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::sign::{SigAlg, SignError, Signer};
use crate::template::ItemError;
use crate::x509::{cert, time};

/// id-signingTime 1.2.840.113549.1.9.5 (RFC 5652 §11.3).
pub const ID_SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
/// id-ct-routeOriginAuthz 1.2.840.113549.1.9.16.1.24 (RFC 9582 §3).
pub const ID_CT_ROA: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x18,
];
/// id-ct-rpkiManifest 1.2.840.113549.1.9.16.1.26 (RFC 9286 §4.1).
pub const ID_CT_MANIFEST: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x1a,
];

/// AlgorithmIdentifier { id-sha256 } with parameters absent (RFC 7935 §2; RFC 5754
/// §2: absent is what implementations SHOULD generate).
const SHA256_ALG_ID: [u8; 13] = [
    0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];
/// AlgorithmIdentifier { rsaEncryption, NULL } (RFC 7935 §2, RFC 4055 §1.2).
const RSA_ENCRYPTION_ALG_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// CMSVersion 3 (RFC 6488 §2.1.1, §2.1.6.1).
const VERSION_3: [u8; 3] = [0x02, 0x01, 0x03];

fn encode_err(what: &'static str, path: &'static str) -> ItemError {
    ItemError::Encode(DerError::new(DerErrorKind::Unencodable(what), 0, path))
}

/// One attribute `SEQUENCE { attrType, attrValues SET { value } }`.
fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = writer::tlv(tag::OID, oid);
    writer::push_tlv(&mut body, tag::SET, value);
    writer::tlv(tag::SEQUENCE, &body)
}

/// The content of SignedAttributes (without its tag): contentType, messageDigest and
/// signingTime, sorted as DER orders a SET OF.
pub fn signed_attributes(
    content_type: &[u8],
    content: &[u8],
    signing_time: i64,
) -> Result<Vec<u8>, DerError> {
    let md = digest::digest(&digest::SHA256, content);
    let mut t = Vec::with_capacity(17);
    time::push_time(&mut t, signing_time, "signingTime")?;
    let mut attrs = [
        attribute(ID_CONTENT_TYPE, &writer::tlv(tag::OID, content_type)),
        attribute(
            ID_MESSAGE_DIGEST,
            &writer::tlv(tag::OCTET_STRING, md.as_ref()),
        ),
        attribute(ID_SIGNING_TIME, &t),
    ];
    // X.690 §11.6: ascending as octet strings, the shorter padded with zeros. No
    // encoding here is a prefix of another (each is one whole TLV), so plain
    // lexicographic order is the same thing.
    attrs.sort();
    Ok(attrs.concat())
}

/// The parts of one signed object.
#[derive(Debug, Clone, Copy)]
pub struct SignedObjectInput<'a> {
    /// eContentType OID content octets ([`ID_CT_ROA`], [`ID_CT_MANIFEST`], ...).
    pub content_type: &'a [u8],
    /// The eContent (a DER ROA, manifest, ...).
    pub content: &'a [u8],
    /// The EE certificate whose key signs (its SKI becomes the sid).
    pub ee_certificate: &'a [u8],
    /// signingTime, Unix seconds.
    pub signing_time: i64,
}

/// Write one signed object. `signer` holds the EE certificate's key and signs with
/// RSA PKCS#1 v1.5 SHA-256 (RFC 7935 §2); the certificate must carry an SKI.
pub fn write_signed_object(
    input: &SignedObjectInput<'_>,
    signer: &dyn Signer,
) -> Result<Vec<u8>, ItemError> {
    if signer.algorithm() != SigAlg::RsaPkcs1Sha256 {
        return Err(ItemError::Sign(SignError::AlgorithmMismatch {
            key: "EE",
            algorithm: signer.algorithm().name(),
        }));
    }
    let ee = cert::parse_certificate(input.ee_certificate)
        .map_err(|e| ItemError::Encode(e.within("eeCertificate")))?;
    let ski = ee
        .subject_key_id
        .ok_or_else(|| encode_err("the EE certificate has no subjectKeyIdentifier", "sid"))?;
    if ee.spki.der != signer.public_key_der() {
        return Err(encode_err(
            "the signing key is not the EE certificate's key",
            "eeCertificate",
        ));
    }
    let attrs = signed_attributes(input.content_type, input.content, input.signing_time)
        .map_err(ItemError::Encode)?;
    // RFC 5652 §5.4: the signature covers the attributes as an EXPLICIT SET OF.
    let signature = signer
        .sign(&writer::tlv(tag::SET, &attrs))
        .map_err(ItemError::Sign)?;
    Ok(assemble(input, ski, &attrs, &signature))
}

/// ContentInfo/SignedData around already-signed attributes.
fn assemble(input: &SignedObjectInput<'_>, ski: &[u8], attrs: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut si = Vec::with_capacity(attrs.len() + signature.len() + 96);
    si.extend_from_slice(&VERSION_3);
    writer::push_tlv(&mut si, tag::context_primitive(0), ski);
    si.extend_from_slice(&SHA256_ALG_ID);
    writer::push_tlv(&mut si, tag::context_constructed(0), attrs);
    si.extend_from_slice(&RSA_ENCRYPTION_ALG_ID);
    writer::push_tlv(&mut si, tag::OCTET_STRING, signature);
    let signer_info = writer::tlv(tag::SEQUENCE, &si);

    let mut eci = writer::tlv(tag::OID, input.content_type);
    let octets = writer::tlv(tag::OCTET_STRING, input.content);
    writer::push_tlv(&mut eci, tag::context_constructed(0), &octets);

    let digest_algs = writer::tlv(tag::SET, &SHA256_ALG_ID);
    let encap = writer::tlv(tag::SEQUENCE, &eci);
    let certs = writer::tlv(tag::context_constructed(0), input.ee_certificate);
    let infos = writer::tlv(tag::SET, &signer_info);
    let sd = writer::constructed(
        tag::SEQUENCE,
        &[&VERSION_3, &digest_algs, &encap, &certs, &infos],
    );
    let explicit = writer::tlv(tag::context_constructed(0), &sd);
    writer::constructed(
        tag::SEQUENCE,
        &[&writer::tlv(tag::OID, ID_SIGNED_DATA), &explicit],
    )
}

/// SHA-256 of `data`, as manifests list files (RFC 9286 §4.2.1).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_sorted_and_times_by_year() {
        let attrs = signed_attributes(ID_CT_ROA, b"x", 1_767_225_600).unwrap();
        let mut r = crate::der::Reader::new(&attrs);
        let mut seen = Vec::new();
        while !r.is_empty() {
            seen.push(r.read_tlv().unwrap().raw.to_vec());
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        // signingTime 2026: UTCTime; 2050: GeneralizedTime (RFC 5652 §11.3).
        let utc = [0x31, 0x0f, 0x17, 0x0d];
        assert!(attrs.windows(4).any(|w| w == utc));
        let later = signed_attributes(ID_CT_ROA, b"x", 2_524_608_000).unwrap();
        let gen = [0x31, 0x11, 0x18, 0x0f];
        assert!(later.windows(4).any(|w| w == gen));
        // messageDigest is SHA-256 of the content.
        assert!(attrs.windows(32).any(|w| w == sha256(b"x")));
    }
}
