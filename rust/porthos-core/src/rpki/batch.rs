//! N signed objects in one call: each with its own one-time RSA-2048 key (RFC 6487
//! §3: an EE key signs exactly one object), its EE certificate filled from the
//! template and signed by the CA, and its CMS signed by the one-time key.
//!
//! Key generation dominates (prime search, ~tens of ms per key), so it is a separate
//! phase: [`generate_ee_keys`] can run ahead of need (a key pool) and its cost is
//! measured apart from the signing phase.

use rayon::prelude::*;

use super::signed_object::{write_signed_object, SignedObjectInput};
use crate::sign::{SigAlg, SignError, SoftwareKey};
use crate::template::{assemble_certificate, DerItems, ItemError, TbsInput, Template};

/// The per-object values of one batch.
#[derive(Debug, Clone, Copy)]
pub struct ObjectItem<'a> {
    /// Big-endian magnitude of the EE certificate's serial.
    pub serial: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
    /// The EE certificate's subject Name DER.
    pub subject: &'a [u8],
    /// SubjectInfoAccessSyntax DER (signedObject URI) for the template's SIA hole.
    pub sia: Option<&'a [u8]>,
    /// IPAddrBlocks DER for the template's hole (a ROA's prefixes, or inherit).
    pub ip_addr_blocks: Option<&'a [u8]>,
    /// ASIdentifiers DER for the template's hole (inherit, for a manifest).
    pub as_identifiers: Option<&'a [u8]>,
    /// The eContent.
    pub content: &'a [u8],
}

/// `n` fresh RSA-2048 keys signing with PKCS#1 v1.5 SHA-256 (RFC 7935 §3), in
/// parallel on the current rayon pool.
pub fn generate_ee_keys(n: usize) -> Result<Vec<SoftwareKey>, SignError> {
    (0..n)
        .into_par_iter()
        .map(|_| SoftwareKey::generate("rsa-2048", Some(SigAlg::RsaPkcs1Sha256)))
        .collect()
}

/// Objects and their EE certificates, each as one buffer plus offsets.
pub struct SignedObjects {
    pub objects: DerItems,
    pub certificates: DerItems,
}

/// Issue one EE certificate per item (template + CA signer) for `keys[i]`, then sign
/// item i's content with `keys[i]`. Needs exactly one key per item.
pub fn issue_signed_objects(
    template: &Template,
    ca: &dyn crate::sign::Signer,
    keys: &[SoftwareKey],
    content_type: &[u8],
    signing_time: i64,
    items: &[ObjectItem<'_>],
) -> Result<SignedObjects, (usize, ItemError)> {
    if keys.len() != items.len() {
        return Err((
            0,
            ItemError::Encode(crate::DerError::new(
                crate::DerErrorKind::Unencodable("one key per object"),
                0,
                "keys",
            )),
        ));
    }
    if ca.algorithm() != template.algorithm() {
        return Err((
            0,
            ItemError::Sign(SignError::AlgorithmMismatch {
                key: "CA",
                algorithm: template.algorithm().name(),
            }),
        ));
    }
    type Two = ((Vec<u8>, Vec<u64>), (Vec<u8>, Vec<u64>));
    let parts: Vec<Result<Two, (usize, ItemError)>> = items
        .par_chunks(CHUNK)
        .zip(keys.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (chunk, kchunk))| {
            let mut objs = (Vec::with_capacity(chunk.len() * 2048), Vec::new());
            let mut certs = (Vec::with_capacity(chunk.len() * 1200), Vec::new());
            let mut tbs = Vec::with_capacity(1024);
            for (j, (item, key)) in chunk.iter().zip(kchunk).enumerate() {
                let idx = c * CHUNK + j;
                let e = |e| (idx, e);
                tbs.clear();
                let input = TbsInput {
                    serial: item.serial,
                    not_before: item.not_before,
                    not_after: item.not_after,
                    subject: item.subject,
                    spki: crate::sign::Signer::public_key_der(key),
                    san: None,
                    sia: item.sia,
                    ip_addr_blocks: item.ip_addr_blocks,
                    as_identifiers: item.as_identifiers,
                };
                template
                    .write_tbs(&input, &mut tbs)
                    .map_err(|d| e(ItemError::Encode(d)))?;
                let sig = ca.sign(&tbs).map_err(|s| e(ItemError::Sign(s)))?;
                let before = certs.0.len();
                assemble_certificate(&tbs, template.algorithm_identifier(), &sig, &mut certs.0);
                certs.1.push((certs.0.len() - before) as u64);
                let obj = write_signed_object(
                    &SignedObjectInput {
                        content_type,
                        content: item.content,
                        ee_certificate: &certs.0[before..],
                        signing_time,
                    },
                    key,
                )
                .map_err(e)?;
                objs.0.extend_from_slice(&obj);
                objs.1.push(obj.len() as u64);
            }
            Ok((objs, certs))
        })
        .collect();
    let mut objects = (Vec::new(), vec![0u64]);
    let mut certificates = (Vec::new(), vec![0u64]);
    for p in parts {
        let (o, c) = p?;
        for (dst, (buf, lens)) in [(&mut objects, o), (&mut certificates, c)] {
            dst.0.extend_from_slice(&buf);
            for l in lens {
                let last = *dst.1.last().unwrap_or(&0);
                dst.1.push(last + l);
            }
        }
    }
    Ok(SignedObjects {
        objects,
        certificates,
    })
}

/// Objects per parallel work unit (each costs ~1 ms of RSA signing).
const CHUNK: usize = 16;
