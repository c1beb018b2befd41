//! Filling a compiled template: per item, sum the hole lengths, write the outer
//! headers, copy the fixed runs. Signing and assembly live here too, so a software
//! key issues a whole batch in one parallel pass.

use rayon::prelude::*;

use super::compile::{sha1, ExtPiece, Hole, Template};
use crate::der::{reader::Reader, tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::sign::{SignError, Signer};
use crate::x509::{ext, oids, spki, time};

/// `[0] EXPLICIT Version ::= v3(2)` — the same in every certificate porthos issues.
const VERSION_V3: [u8; 5] = [0xa0, 0x03, 0x02, 0x01, 0x02];
/// Size of a SubjectKeyIdentifier extension holding a 20-octet key id.
const SKI_EXT_LEN: usize = 31;

/// Where a batch function runs its chunks.
///
/// Why a choice: a one-thread caller (a streamed one-thread issuance: one thread fills,
/// another signs; issues 16 §5 and 21 §8) gains nothing from a pool of one worker but
/// a handoff per call, the worker's idle spinning, and a second runnable thread that
/// the scheduler may put on the signer's core. On the calling thread the work is the
/// same, in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// Over the current rayon pool, in parallel.
    Pool,
    /// In order, on the calling thread (no rayon at all).
    CallingThread,
}

impl Spread {
    /// `f(i, item_i)` for each item, results in order.
    pub fn map<T: Sync, R: Send>(
        self,
        items: &[T],
        f: impl Fn(usize, &T) -> R + Sync + Send,
    ) -> Vec<R> {
        match self {
            Spread::Pool => items.par_iter().enumerate().map(|(i, t)| f(i, t)).collect(),
            Spread::CallingThread => items.iter().enumerate().map(|(i, t)| f(i, t)).collect(),
        }
    }

    /// Items 0..n, each appended to one buffer by `write(i, buf)`, as (buffer, N + 1
    /// offsets); the first error stops the batch. In the pool: `CHUNK` items a job,
    /// each job its own buffer, joined at the end. On the calling thread: one buffer,
    /// written once (no second copy: the joined buffers are a copy of every item).
    fn write_items<E: Send>(
        self,
        n: usize,
        item_size: usize,
        write: impl Fn(usize, &mut Vec<u8>) -> Result<(), E> + Sync + Send,
    ) -> Result<DerItems, E> {
        let run = |range: std::ops::Range<usize>, buf: &mut Vec<u8>, ends: &mut Vec<u64>| {
            for i in range {
                write(i, buf)?;
                ends.push(buf.len() as u64);
            }
            Ok(())
        };
        match self {
            Spread::CallingThread => {
                let mut buf = Vec::with_capacity(n * item_size);
                let mut offsets = Vec::with_capacity(n + 1);
                offsets.push(0);
                run(0..n, &mut buf, &mut offsets)?;
                Ok((buf, offsets))
            }
            Spread::Pool => {
                let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
                let parts: Vec<Result<DerItems, E>> = starts
                    .par_iter()
                    .map(|&a| {
                        let range = a..n.min(a + CHUNK);
                        let mut buf = Vec::with_capacity(range.len() * item_size);
                        let mut ends = Vec::with_capacity(range.len());
                        run(range, &mut buf, &mut ends)?;
                        Ok((buf, ends))
                    })
                    .collect();
                concat(parts)
            }
        }
    }
}

/// The per-certificate values of one fill.
#[derive(Debug, Clone, Copy, Default)]
pub struct TbsInput<'a> {
    /// Big-endian magnitude of the (positive) serial number.
    pub serial: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
    /// Name DER.
    pub subject: &'a [u8],
    /// SubjectPublicKeyInfo DER.
    pub spki: &'a [u8],
    /// GeneralNames DER (a SEQUENCE), or None to omit subjectAltName.
    pub san: Option<&'a [u8]>,
    /// SubjectInfoAccessSyntax DER for the `subject_info_access` hole, or None.
    pub sia: Option<&'a [u8]>,
    /// IPAddrBlocks DER (RFC 3779 §2.2.3) for the `ip_addr_blocks` hole, or None.
    pub ip_addr_blocks: Option<&'a [u8]>,
    /// ASIdentifiers DER (RFC 3779 §3.2.3) for the `as_identifiers` hole, or None.
    pub as_identifiers: Option<&'a [u8]>,
}

impl<'a> TbsInput<'a> {
    fn blob(&self, hole: Hole) -> Option<&'a [u8]> {
        match hole {
            Hole::Sia => self.sia,
            Hole::IpAddrBlocks => self.ip_addr_blocks,
            Hole::AsIdentifiers => self.as_identifiers,
        }
    }
}

/// N DER items as one buffer plus N + 1 offsets into it.
pub type DerItems = (Vec<u8>, Vec<u64>);

/// Why one item of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemError {
    Encode(DerError),
    Sign(SignError),
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemError::Encode(e) => write!(f, "{e}"),
            ItemError::Sign(e) => write!(f, "{e}"),
        }
    }
}

fn single_tlv(der: &[u8], want: u8, path: &'static str) -> Result<(), DerError> {
    let mut r = Reader::new(der);
    r.expect(want, path)?;
    r.finish(path)
}

impl Template {
    /// Append one TBSCertificate to `out`.
    pub fn write_tbs(&self, input: &TbsInput<'_>, out: &mut Vec<u8>) -> Result<(), DerError> {
        let serial = writer::serial_integer(input.serial)?;
        if input.not_after < input.not_before {
            return Err(DerError::new(
                DerErrorKind::Unencodable("notAfter before notBefore"),
                0,
                "validity",
            ));
        }
        let validity_len =
            time::time_tlv_len(input.not_before) + time::time_tlv_len(input.not_after);
        single_tlv(input.subject, tag::SEQUENCE, "subject")?;
        let key = spki::parse_spki(input.spki).map_err(|e| e.within("subjectPublicKeyInfo"))?;
        let has_ski = self.ext_pieces.iter().any(|p| matches!(p, ExtPiece::Ski));
        let ski = if has_ski {
            ext::subject_key_identifier(&sha1(key.subject_public_key))
        } else {
            Vec::new()
        };
        debug_assert!(!has_ski || ski.len() == SKI_EXT_LEN);
        let san_ext = match (input.san, self.san_critical()) {
            (Some(names), Some(critical)) if names.len() > 2 => {
                single_tlv(names, tag::SEQUENCE, "subjectAltName")?;
                Some(ext::extension(oids::SUBJECT_ALT_NAME, critical, names))
            }
            _ => None,
        };
        // Blob holes: each item's extnValue, checked to be one SEQUENCE (the deep
        // check is the caller's: the rpki encoders write only canonical DER).
        let mut blobs: Vec<Vec<u8>> = Vec::new();
        for piece in &self.ext_pieces {
            if let ExtPiece::Blob {
                hole,
                oid,
                critical,
            } = piece
            {
                match input.blob(*hole) {
                    Some(v) => {
                        single_tlv(v, tag::SEQUENCE, hole.name())?;
                        blobs.push(ext::extension(oid, *critical, v));
                    }
                    None => blobs.push(Vec::new()),
                }
            }
        }
        let ext_content = self.fixed_ext_len
            + ski.len()
            + san_ext.as_ref().map_or(0, Vec::len)
            + blobs.iter().map(Vec::len).sum::<usize>();
        // RFC 5280 §4.1.2.9: when present, extensions holds at least one extension.
        let ext_total = if ext_content > 0 {
            writer::tlv_len(writer::tlv_len(ext_content))
        } else {
            0
        };
        let content = VERSION_V3.len()
            + serial.len()
            + self.sig_and_issuer.len()
            + writer::tlv_len(validity_len)
            + input.subject.len()
            + input.spki.len()
            + ext_total;

        out.reserve(writer::tlv_len(content));
        let start = out.len();
        writer::write_header(out, tag::SEQUENCE, content);
        out.extend_from_slice(&VERSION_V3);
        out.extend_from_slice(&serial);
        out.extend_from_slice(&self.sig_and_issuer);
        writer::write_header(out, tag::SEQUENCE, validity_len);
        time::push_time(out, input.not_before, "validity.notBefore")?;
        time::push_time(out, input.not_after, "validity.notAfter")?;
        out.extend_from_slice(input.subject);
        out.extend_from_slice(input.spki);
        if ext_content > 0 {
            writer::write_header(
                out,
                tag::context_constructed(3),
                writer::tlv_len(ext_content),
            );
            writer::write_header(out, tag::SEQUENCE, ext_content);
            let mut next_blob = blobs.iter();
            for piece in &self.ext_pieces {
                match piece {
                    ExtPiece::Blob { .. } => {
                        if let Some(b) = next_blob.next() {
                            out.extend_from_slice(b)
                        }
                    }
                    ExtPiece::Fixed(run) => out.extend_from_slice(run),
                    ExtPiece::Ski => out.extend_from_slice(&ski),
                    ExtPiece::San { .. } => {
                        if let Some(s) = &san_ext {
                            out.extend_from_slice(s)
                        }
                    }
                }
            }
        }
        debug_assert_eq!(
            out.len() - start,
            writer::tlv_len(content),
            "length computation is exact"
        );
        Ok(())
    }

    fn san_critical(&self) -> Option<bool> {
        self.ext_pieces.iter().find_map(|p| {
            if let ExtPiece::San { critical } = p {
                Some(*critical)
            } else {
                None
            }
        })
    }

    /// TBSCertificates for a batch, in parallel, as one buffer plus offsets (N + 1).
    pub fn fill_batch(&self, inputs: &[TbsInput<'_>]) -> Result<DerItems, (usize, DerError)> {
        self.fill_batch_spread(inputs, Spread::Pool)
    }

    /// [`Template::fill_batch`], run where `spread` says.
    pub fn fill_batch_spread(
        &self,
        inputs: &[TbsInput<'_>],
        spread: Spread,
    ) -> Result<DerItems, (usize, DerError)> {
        spread.write_items(inputs.len(), 512, |i, buf| {
            self.write_tbs(&inputs[i], buf).map_err(|e| (i, e))
        })
    }

    /// The signer signs with this template's algorithm (else item 0 fails, nothing is
    /// signed).
    fn check_signer(&self, signer: &dyn Signer) -> Result<(), (usize, ItemError)> {
        if signer.algorithm() == self.alg {
            return Ok(());
        }
        Err((
            0,
            ItemError::Sign(SignError::AlgorithmMismatch {
                key: "signer",
                algorithm: self.alg.name(),
            }),
        ))
    }

    /// Fill, sign and assemble complete certificates for a batch, in parallel.
    pub fn issue_batch(
        &self,
        signer: &dyn Signer,
        inputs: &[TbsInput<'_>],
    ) -> Result<DerItems, (usize, ItemError)> {
        self.check_signer(signer)?;
        let parts: Vec<Result<DerItems, (usize, ItemError)>> = inputs
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut buf = Vec::with_capacity(chunk.len() * 640);
                let mut ends = Vec::with_capacity(chunk.len());
                let mut tbs = Vec::with_capacity(640);
                for (j, item) in chunk.iter().enumerate() {
                    let idx = c * CHUNK + j;
                    tbs.clear();
                    self.write_tbs(item, &mut tbs)
                        .map_err(|e| (idx, ItemError::Encode(e)))?;
                    let sig = signer.sign(&tbs).map_err(|e| (idx, ItemError::Sign(e)))?;
                    assemble_certificate(&tbs, &self.alg_id, &sig, &mut buf);
                    ends.push(buf.len() as u64);
                }
                Ok((buf, ends))
            })
            .collect();
        concat(parts)
    }
}

impl Template {
    /// Sign and assemble TBSCertificates written by [`Template::fill_batch`] (item i is
    /// `data[offsets[i]..offsets[i + 1]]`), in parallel in the current rayon pool.
    ///
    /// Why apart from `issue_batch`: a streamed one-thread batch fills each piece on
    /// the thread that screens it, so the signer's thread only signs (issues 16 §5 and
    /// 21 §8: filling, ~3 µs a certificate, was on the signer's critical path). Each
    /// item must be one DER SEQUENCE filling its slot: a slice cut at the wrong place
    /// or bytes that are no DER are refused. It does not prove the bytes came from
    /// `fill_batch` (another SEQUENCE would be signed), as the external-signer
    /// assembler does not either: the caller hands in what `fill` returned.
    pub fn sign_filled(
        &self,
        signer: &dyn Signer,
        data: &[u8],
        offsets: &[u64],
    ) -> Result<DerItems, (usize, ItemError)> {
        self.sign_filled_spread(signer, data, offsets, Spread::Pool)
    }

    /// [`Template::sign_filled`], run where `spread` says.
    pub fn sign_filled_spread(
        &self,
        signer: &dyn Signer,
        data: &[u8],
        offsets: &[u64],
        spread: Spread,
    ) -> Result<DerItems, (usize, ItemError)> {
        self.check_signer(signer)?;
        let n = offsets.len().saturating_sub(1);
        let item = |i: usize| -> Result<&[u8], (usize, ItemError)> {
            let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
            let tbs = data.get(a..b).ok_or_else(|| {
                (
                    i,
                    ItemError::Encode(DerError::new(DerErrorKind::Truncated, a, "tbs")),
                )
            })?;
            let mut r = Reader::new(tbs);
            r.expect(tag::SEQUENCE, "tbsCertificate")
                .and_then(|_| r.finish("tbsCertificate"))
                .map_err(|e| (i, ItemError::Encode(e)))?;
            Ok(tbs)
        };
        spread.write_items(n, 900, |i, buf| {
            let tbs = item(i)?;
            let sig = signer.sign(tbs).map_err(|e| (i, ItemError::Sign(e)))?;
            assemble_certificate(tbs, &self.alg_id, &sig, buf);
            Ok(())
        })
    }
}

/// Items per parallel work unit: large enough to amortise scheduling, small enough
/// to spread a few thousand certificates over all cores.
const CHUNK: usize = 64;

/// One buffer and N + 1 offsets from parts that each hold their items' bytes and, per
/// item, where it ends in that part.
fn concat<E>(parts: Vec<Result<DerItems, E>>) -> Result<DerItems, E> {
    let mut total = 0usize;
    let mut ok = Vec::with_capacity(parts.len());
    for p in parts {
        let p = p?;
        total += p.0.len();
        ok.push(p);
    }
    let mut data = Vec::with_capacity(total);
    let mut offsets = vec![0u64];
    for (buf, ends) in ok {
        let base = data.len() as u64;
        data.extend_from_slice(&buf);
        offsets.extend(ends.iter().map(|end| base + end));
    }
    Ok((data, offsets))
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// (RFC 5280 §4.1), appended to `out`.
pub fn assemble_certificate(tbs: &[u8], alg_id: &[u8], signature: &[u8], out: &mut Vec<u8>) {
    let content = tbs.len() + alg_id.len() + writer::tlv_len(signature.len() + 1);
    writer::write_header(out, tag::SEQUENCE, content);
    out.extend_from_slice(tbs);
    out.extend_from_slice(alg_id);
    writer::write_header(out, tag::BIT_STRING, signature.len() + 1);
    out.push(0);
    out.extend_from_slice(signature);
}
