//! The streaming CRL writer (RFC 5280 §5.1).
//!
//! Phase 1 computes the exact size of every part: per chunk of entries (in serial
//! order) the sum of entry lengths, which is enough to place each chunk in the output.
//! Phase 2 allocates ONE buffer for the whole CertificateList, writes the chunks
//! (a group of chunks in parallel) and feeds each finished group to the digest while it
//! is still in cache, so the TBSCertList is hashed exactly once, as it is written.
//! Memory beyond the output: the 4-octet-per-entry sort index and a few chunk sizes.
//!
//! Layout of the buffer: `[pad][CertificateList header][TBSCertList][signatureAlgorithm]
//! [signatureValue]`. The outer header's size depends on the signature's size (an
//! ECDSA signature is 70–72 octets), so the TBS starts at [`TBS_AT`] and the header is
//! written right before it once the signature is known; the CRL is `buf[start..]`
//! and nothing is moved.

use aws_lc_rs::digest;
use rayon::prelude::*;

use crate::crl::columns::Columns;
use crate::crl::{CrlError, Progress, INVALIDITY_NONE, REASON_NONE};
use crate::der::{tag, writer};
use crate::sign::{SigAlg, SignError, SoftwareKey};
use crate::x509::ext;
use crate::x509::time::{civil_from_unix, push_time, time_tlv_len, MAX_TIME, MIN_TIME};

/// Room for the outer header: tag + up to 5 length octets.
pub const TBS_AT: usize = 6;
/// Entries per chunk: about 600 KB of output, small enough to still be in cache when
/// the digest reads it.
pub const CHUNK: usize = 16 * 1024;

const OID_CRL_NUMBER: [u8; 3] = [0x55, 0x1d, 0x14];
const OID_REASON_CODE: [u8; 3] = [0x55, 0x1d, 0x15];
const OID_INVALIDITY_DATE: [u8; 3] = [0x55, 0x1d, 0x18];
const OID_DELTA_CRL_INDICATOR: [u8; 3] = [0x55, 0x1d, 0x1b];
const OID_ISSUING_DISTRIBUTION_POINT: [u8; 3] = [0x55, 0x1d, 0x1c];

/// reasonCode entry extension (RFC 5280 §5.3.1), the last octet is the code:
/// `SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED } }`.
const REASON_EXT: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x00,
];
/// invalidityDate entry extension (§5.3.2) up to the GeneralizedTime value (always
/// GeneralizedTime: "MUST be expressed as GeneralizedTime").
const INVALIDITY_EXT_HEAD: [u8; 11] = [
    0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11, 0x18, 0x0f,
];
const INVALIDITY_EXT_LEN: usize = 26;
/// holdInstructionCode entry extension (RFC 3280 §5.3.2, X.509; RFC 5280 dropped the
/// section but not the OIDs), non-critical, on certificateHold entries only; the last
/// octet is the arc of id-holdinstruction (1.2.840.10040.2.x):
/// `SEQUENCE { OID 2.5.29.23, OCTET STRING { OID 1.2.840.10040.2.x } }`.
const HOLD_EXT: [u8; 18] = [
    0x30, 0x10, 0x06, 0x03, 0x55, 0x1d, 0x17, 0x04, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38,
    0x02, 0x00,
];
/// reasonCode value certificateHold (RFC 5280 §5.3.1).
pub const REASON_CERTIFICATE_HOLD: u8 = 6;

/// The hold instruction a CRL gives with its certificateHold entries (RFC 3280 §5.3.2):
/// the arc under id-holdinstruction (1.2.840.10040.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldInstruction {
    /// id-holdinstruction-none (.1): deprecated, equivalent to no extension.
    None = 1,
    /// id-holdinstruction-callissuer (.2): call the issuer or reject.
    CallIssuer = 2,
    /// id-holdinstruction-reject (.3): reject the certificate.
    Reject = 3,
}

impl HoldInstruction {
    /// By its RFC 3280 name: "none", "callissuer" or "reject".
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "callissuer" => Some(Self::CallIssuer),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

/// IssuingDistributionPoint (RFC 5280 §5.2.5) as porthos emits it for shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Idp {
    /// distributionPoint fullName URIs (one per way to fetch the same CRL).
    pub full_name_uris: Vec<String>,
    pub only_user_certs: bool,
    pub only_ca_certs: bool,
}

/// Everything of a CRL except its entries.
#[derive(Debug, Clone)]
pub struct CrlParams {
    /// The issuer Name TLV: the issuer certificate's subject, octet for octet.
    pub issuer_der: Vec<u8>,
    /// keyIdentifier for the AuthorityKeyIdentifier (the issuer's SKI, §5.2.1).
    pub authority_key_id: Option<Vec<u8>>,
    pub this_update: i64,
    /// Optional in the ASN.1 but required by RFC 5280 §5.1.2.5 for conforming CAs.
    pub next_update: Option<i64>,
    /// CRLNumber magnitude, big-endian (§5.2.3: at most 20 octets).
    pub crl_number: Vec<u8>,
    pub idp: Option<Idp>,
    /// BaseCRLNumber magnitude for a delta CRL (§5.2.4).
    pub delta_base: Option<Vec<u8>>,
    /// The holdInstructionCode every certificateHold entry carries (None: the
    /// extension is absent). Costs nothing per entry when no entry is on hold.
    pub hold_instruction: Option<HoldInstruction>,
    pub alg: SigAlg,
}

fn param_err(what: String) -> CrlError {
    CrlError::Argument(what)
}

/// CRLNumber / BaseCRLNumber INTEGER TLV: non-negative, ≤ 20 content octets (§5.2.3).
fn crl_number_tlv(magnitude: &[u8], name: &str) -> Result<Vec<u8>, CrlError> {
    let content = writer::unsigned_integer_content(magnitude);
    if content.len() > 20 {
        return Err(param_err(format!(
            "{name}: more than 20 octets (RFC 5280 §5.2.3)"
        )));
    }
    Ok(writer::tlv(tag::INTEGER, &content))
}

fn idp_extension(idp: &Idp) -> Result<Vec<u8>, CrlError> {
    if idp.only_user_certs && idp.only_ca_certs {
        return Err(param_err(
            "IDP: onlyContainsUserCerts and onlyContainsCACerts are exclusive (RFC 5280 §5.2.5)"
                .into(),
        ));
    }
    let mut body = Vec::new();
    if !idp.full_name_uris.is_empty() {
        let mut names = Vec::new();
        for (i, uri) in idp.full_name_uris.iter().enumerate() {
            names.extend(ext::general_name(
                "uri",
                uri,
                false,
                &format!("idp.uris[{i}]"),
            )?);
        }
        // distributionPoint [0] { fullName [0] GeneralNames } (implicit tags, §5.2.5).
        body.extend(writer::tlv(
            tag::context_constructed(0),
            &writer::tlv(tag::context_constructed(0), &names),
        ));
    }
    // BOOLEAN DEFAULT FALSE fields appear only when TRUE (X.690 §11.5).
    if idp.only_user_certs {
        body.extend([tag::context_primitive(1), 1, 0xff]);
    }
    if idp.only_ca_certs {
        body.extend([tag::context_primitive(2), 1, 0xff]);
    }
    if body.is_empty() {
        return Err(param_err(
            "IDP: empty IssuingDistributionPoint (RFC 5280 §5.2.5)".into(),
        ));
    }
    // §5.2.5: "this extension MUST be critical".
    Ok(ext::extension(
        &OID_ISSUING_DISTRIBUTION_POINT,
        true,
        &writer::tlv(tag::SEQUENCE, &body),
    ))
}

/// The crlExtensions field: `[0] EXPLICIT SEQUENCE OF Extension`.
fn crl_extensions(p: &CrlParams) -> Result<Vec<u8>, CrlError> {
    let mut exts = Vec::new();
    if let Some(kid) = &p.authority_key_id {
        exts.extend(ext::authority_key_identifier(kid));
    }
    // §5.2.3: CRLNumber is non-critical and MUST be present.
    exts.extend(ext::extension(
        &OID_CRL_NUMBER,
        false,
        &crl_number_tlv(&p.crl_number, "crl_number")?,
    ));
    if let Some(idp) = &p.idp {
        exts.extend(idp_extension(idp)?);
    }
    if let Some(base) = &p.delta_base {
        // §5.2.4: DeltaCRLIndicator MUST be critical.
        exts.extend(ext::extension(
            &OID_DELTA_CRL_INDICATOR,
            true,
            &crl_number_tlv(base, "delta_base")?,
        ));
    }
    Ok(writer::tlv(
        tag::context_constructed(0),
        &writer::tlv(tag::SEQUENCE, &exts),
    ))
}

fn time_tlv(t: i64, name: &'static str) -> Result<Vec<u8>, CrlError> {
    let mut v = Vec::with_capacity(17);
    push_time(&mut v, t, name)
        .map_err(|_| param_err(format!("{name}: {t} is outside years 1..9999")))?;
    Ok(v)
}

/// Size of entry `i`'s extensions content (0 = no crlEntryExtensions field).
/// `hold`: the CRL gives a hold instruction with its certificateHold entries.
#[inline]
fn entry_ext_len(cols: &Columns<'_>, i: usize, hold: bool) -> usize {
    let mut n = 0;
    let r = cols.reasons[i];
    if r != REASON_NONE {
        n += REASON_EXT.len();
        if hold && r == REASON_CERTIFICATE_HOLD {
            n += HOLD_EXT.len();
        }
    }
    if cols.invalidity_at(i) != INVALIDITY_NONE {
        n += INVALIDITY_EXT_LEN;
    }
    n
}

/// Whole TLV size of entry `i` (always < 128 content octets: 22 + 17 + 2 + 12 + 18 + 26).
#[inline]
fn entry_len(cols: &Columns<'_>, i: usize, hold: bool) -> usize {
    let e = entry_ext_len(cols, i, hold);
    2 + 2
        + cols.serial_content_len(i)
        + time_tlv_len(cols.revocation_times[i])
        + if e > 0 { 2 + e } else { 0 }
}

#[inline]
fn two(out: &mut [u8], at: usize, v: u32) {
    out[at] = b'0' + (v / 10) as u8;
    out[at + 1] = b'0' + (v % 10) as u8;
}

/// Write a Time TLV at `at` (UTCTime 1950–2049, GeneralizedTime otherwise, or always
/// GeneralizedTime); returns the new position. Range was checked by validation.
#[inline]
fn put_time(out: &mut [u8], mut at: usize, t: i64, always_generalized: bool) -> usize {
    let (y, mo, d, h, mi, s) = civil_from_unix(t);
    if !always_generalized && (1950..2050).contains(&y) {
        out[at] = tag::UTC_TIME;
        out[at + 1] = 13;
        two(out, at + 2, (y % 100) as u32);
        at += 4;
    } else {
        if !always_generalized {
            out[at] = tag::GENERALIZED_TIME;
            out[at + 1] = 15;
            at += 2;
        }
        two(out, at, (y / 100) as u32);
        two(out, at + 2, (y % 100) as u32);
        at += 4;
    }
    for v in [mo, d, h, mi, s] {
        two(out, at, v);
        at += 2;
    }
    out[at] = b'Z';
    at + 1
}

/// Rows gathered per block before encoding them (see [`write_rows`]).
const GATHER: usize = 64;

/// Encode `rows` (input row indices in serial order) into `out`.
///
/// The rows are scattered over the input, so encoding them one by one waits for a
/// cache miss per column per row. Instead each block of [`GATHER`] rows is first
/// copied into a small staging copy of the columns by a tight loop whose loads are
/// all independent (the CPU keeps many misses in flight at once), then encoded
/// from the staging copy, which is in cache. (`unsafe` prefetch intrinsics would do
/// the same; the crate forbids unsafe code.)
fn write_rows(out: &mut [u8], cols: &Columns<'_>, rows: &[u32], hold: Option<u8>) -> usize {
    let w = cols.width;
    let mut serials = vec![0u8; GATHER * w];
    let mut lengths = [0u8; GATHER];
    let mut times = [0i64; GATHER];
    let mut reasons = [0u8; GATHER];
    let mut invalidity = [0i64; GATHER];
    let mut pos = 0;
    for block in rows.chunks(GATHER) {
        let m = block.len();
        for (j, &i) in block.iter().enumerate() {
            let i = i as usize;
            if w == 20 {
                // Fixed-size copy: a variable-length one is a memmove call per row.
                let src: &[u8; 20] = cols.serials[i * 20..i * 20 + 20].try_into().unwrap();
                let dst: &mut [u8; 20] = (&mut serials[j * 20..j * 20 + 20]).try_into().unwrap();
                *dst = *src;
            } else {
                serials[j * w..(j + 1) * w].copy_from_slice(&cols.serials[i * w..(i + 1) * w]);
            }
            times[j] = cols.revocation_times[i];
            reasons[j] = cols.reasons[i];
            if let Some(l) = cols.serial_lengths {
                lengths[j] = l[i];
            }
            if let Some(d) = cols.invalidity {
                invalidity[j] = d[i];
            }
        }
        let stage = Columns {
            serials: &serials[..m * w],
            width: w,
            serial_lengths: cols.serial_lengths.map(|_| &lengths[..m]),
            revocation_times: &times[..m],
            reasons: &reasons[..m],
            invalidity: cols.invalidity.map(|_| &invalidity[..m]),
        };
        for j in 0..m {
            pos = put_entry(out, pos, &stage, j, hold);
        }
    }
    pos
}

/// Encode entry `i` at `at`; returns the new position. `hold`: the arc of the hold
/// instruction certificateHold entries carry.
/// `SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions }`.
#[inline]
fn put_entry(out: &mut [u8], at: usize, cols: &Columns<'_>, i: usize, hold: Option<u8>) -> usize {
    let key = cols.key(i);
    let pad = usize::from(key[0] & 0x80 != 0);
    let sl = key.len() + pad;
    let t = cols.revocation_times[i];
    let el = entry_ext_len(cols, i, hold.is_some());
    let content = 2 + sl + time_tlv_len(t) + if el > 0 { 2 + el } else { 0 };
    out[at] = tag::SEQUENCE;
    out[at + 1] = content as u8;
    out[at + 2] = tag::INTEGER;
    out[at + 3] = sl as u8;
    let mut p = at + 4;
    if pad == 1 {
        out[p] = 0;
        p += 1;
    }
    if key.len() <= 16 && p + 16 <= out.len() {
        // Fixed 16-octet copy (the tail is overwritten by what follows; the bound
        // check keeps it inside this entry's chunk): no memmove call per entry.
        let mut k16 = [0u8; 16];
        k16[..key.len()].copy_from_slice(key);
        let dst: &mut [u8; 16] = (&mut out[p..p + 16]).try_into().unwrap();
        *dst = k16;
    } else {
        out[p..p + key.len()].copy_from_slice(key);
    }
    p += key.len();
    p = put_time(out, p, t, false);
    if el > 0 {
        out[p] = tag::SEQUENCE;
        out[p + 1] = el as u8;
        p += 2;
        let r = cols.reasons[i];
        if r != REASON_NONE {
            out[p..p + 12].copy_from_slice(&REASON_EXT);
            out[p + 11] = r;
            p += 12;
            if let (Some(arc), REASON_CERTIFICATE_HOLD) = (hold, r) {
                out[p..p + 18].copy_from_slice(&HOLD_EXT);
                out[p + 17] = arc;
                p += 18;
            }
        }
        let d = cols.invalidity_at(i);
        if d != INVALIDITY_NONE {
            out[p..p + 11].copy_from_slice(&INVALIDITY_EXT_HEAD);
            p = put_time(out, p + 11, d, true);
        }
    }
    debug_assert_eq!(p - at, 2 + content);
    p
}

/// A TBSCertList written and hashed, waiting for its signature (the external-signer
/// path hands [`Draft::digest`] to the HSM and calls [`Draft::finish`]).
pub struct Draft {
    buf: Vec<u8>,
    tbs_len: usize,
    alg_id: Vec<u8>,
    digest: digest::Digest,
    entries: usize,
    alg: SigAlg,
}

impl Draft {
    pub fn digest(&self) -> &[u8] {
        self.digest.as_ref()
    }

    pub fn tbs(&self) -> &[u8] {
        &self.buf[TBS_AT..TBS_AT + self.tbs_len]
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Sign the digest with a software key and finish.
    pub fn sign(self, key: &SoftwareKey) -> Result<(Vec<u8>, usize), CrlError> {
        use crate::sign::Signer;
        if key.algorithm() != self.alg {
            return Err(CrlError::Sign(SignError::AlgorithmMismatch {
                key: key.key_type(),
                algorithm: self.alg.name(),
            }));
        }
        let sig = key.sign_digest(&self.digest).map_err(CrlError::Sign)?;
        self.finish(&sig)
    }

    /// Append signatureAlgorithm and signatureValue and write the outer header.
    /// Returns the buffer and the offset where the CertificateList starts.
    pub fn finish(mut self, signature: &[u8]) -> Result<(Vec<u8>, usize), CrlError> {
        if signature.is_empty() || signature.len() > 1024 {
            return Err(param_err(format!(
                "signature of {} octets",
                signature.len()
            )));
        }
        let bits = writer::tlv_len(signature.len() + 1);
        let content = self.tbs_len + self.alg_id.len() + bits;
        let total_end = TBS_AT + self.tbs_len + self.alg_id.len() + bits;
        self.buf.truncate(TBS_AT + self.tbs_len);
        self.buf.extend_from_slice(&self.alg_id);
        writer::write_header(&mut self.buf, tag::BIT_STRING, signature.len() + 1);
        self.buf.push(0);
        self.buf.extend_from_slice(signature);
        debug_assert_eq!(self.buf.len(), total_end);
        let hdr = 1 + writer::length_octets(content);
        let start = TBS_AT - hdr;
        let mut head = Vec::with_capacity(hdr);
        writer::write_header(&mut head, tag::SEQUENCE, content);
        self.buf[start..TBS_AT].copy_from_slice(&head);
        Ok((self.buf, start))
    }
}

/// Largest signature the buffer reserves room for (RSA-4096 = 512 octets).
const MAX_SIGNATURE: usize = 512;

/// Phase 1 + 2: validate, sort, size, write and hash the TBSCertList.
pub fn write_tbs(
    p: &CrlParams,
    cols: &Columns<'_>,
    progress: Progress<'_>,
) -> Result<Draft, CrlError> {
    cols.validate(p.delta_base.is_some())?;
    if p.issuer_der.first() != Some(&tag::SEQUENCE) {
        return Err(param_err("issuer: not a Name (SEQUENCE)".into()));
    }
    if !(MIN_TIME..=MAX_TIME).contains(&p.this_update) {
        return Err(param_err(format!(
            "this_update {} is outside years 1..9999",
            p.this_update
        )));
    }
    if let Some(nu) = p.next_update {
        if nu <= p.this_update {
            return Err(param_err(
                "next_update must be later than this_update (RFC 5280 §5.1.2.5)".into(),
            ));
        }
    }
    // Phase 1: order and sizes (computed in input order, see `sorted_order_sized`).
    let hold = p.hold_instruction.map(|h| h as u8);
    let (order, chunk_sizes) =
        cols.sorted_order_sized(&|i| entry_len(cols, i, hold.is_some()), CHUNK)?;
    let n = order.len();
    let entries_len: usize = chunk_sizes.iter().sum();

    let alg_id = p.alg.algorithm_identifier();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(&[tag::INTEGER, 1, 1]); // version v2 (§5.1.2.1: extensions present)
    head.extend_from_slice(&alg_id);
    head.extend_from_slice(&p.issuer_der);
    head.extend(time_tlv(p.this_update, "this_update")?);
    if let Some(nu) = p.next_update {
        head.extend(time_tlv(nu, "next_update")?);
    }
    // §5.1.2.6: with no entries the revokedCertificates field is absent.
    let revoked_hdr = if n > 0 {
        1 + writer::length_octets(entries_len)
    } else {
        0
    };
    let tail = crl_extensions(p)?;
    let tbs_content = head.len() + revoked_hdr + if n > 0 { entries_len } else { 0 } + tail.len();
    let tbs_len = writer::tlv_len(tbs_content);

    // Phase 2: one buffer (zeroed lazily by the allocator: untouched pages cost nothing).
    let cap = TBS_AT + tbs_len + alg_id.len() + writer::tlv_len(MAX_SIGNATURE + 1);
    let mut buf = vec![0u8; cap];
    let mut ctx = digest::Context::new(p.alg.hash().algorithm());
    let mut at = TBS_AT;
    {
        let mut prefix = Vec::with_capacity(16 + head.len());
        writer::write_header(&mut prefix, tag::SEQUENCE, tbs_content);
        prefix.extend_from_slice(&head);
        if n > 0 {
            writer::write_header(&mut prefix, tag::SEQUENCE, entries_len);
        }
        buf[at..at + prefix.len()].copy_from_slice(&prefix);
        ctx.update(&prefix);
        at += prefix.len();
    }
    // Chunks are written in groups (in parallel when the pool has threads), each group
    // hashed right after it is written.
    let group = (rayon::current_num_threads() * 2).max(1);
    let mut rest = &mut buf[at..at + entries_len];
    let mut done = 0usize;
    for (g, sizes) in chunk_sizes.chunks(group).enumerate() {
        let mut slices = Vec::with_capacity(sizes.len());
        for &s in sizes {
            let (head_part, tail_part) = std::mem::take(&mut rest).split_at_mut(s);
            slices.push(head_part);
            rest = tail_part;
        }
        let first_chunk = g * group;
        slices.par_iter_mut().enumerate().for_each(|(k, out)| {
            let c = first_chunk + k;
            let rows = &order[c * CHUNK..((c + 1) * CHUNK).min(n)];
            let pos = write_rows(out, cols, rows, hold);
            debug_assert_eq!(pos, out.len());
        });
        for s in &slices {
            ctx.update(s);
        }
        done = ((first_chunk + sizes.len()) * CHUNK).min(n);
        if !progress(done, n) {
            return Err(CrlError::Cancelled);
        }
    }
    debug_assert_eq!(done, n);
    at += entries_len;
    buf[at..at + tail.len()].copy_from_slice(&tail);
    ctx.update(&tail);
    at += tail.len();
    debug_assert_eq!(at, TBS_AT + tbs_len);
    if n == 0 {
        progress(0, 0);
    }
    Ok(Draft {
        buf,
        tbs_len,
        alg_id,
        digest: ctx.finish(),
        entries: n,
        alg: p.alg,
    })
}

/// Build and sign with a software key: the CertificateList is `buf[start..]`.
pub fn build_signed(
    p: &CrlParams,
    cols: &Columns<'_>,
    key: &SoftwareKey,
    progress: Progress<'_>,
) -> Result<(Vec<u8>, usize), CrlError> {
    use crate::sign::Signer;
    if key.algorithm() != p.alg {
        return Err(CrlError::Sign(SignError::AlgorithmMismatch {
            key: key.key_type(),
            algorithm: p.alg.name(),
        }));
    }
    write_tbs(p, cols, progress)?.sign(key)
}

/// The extension OIDs the parser recognises (shared so both sides agree).
pub(crate) mod known {
    pub const CRL_NUMBER: &[u8] = &super::OID_CRL_NUMBER;
    pub const REASON_CODE: &[u8] = &super::OID_REASON_CODE;
    pub const INVALIDITY_DATE: &[u8] = &super::OID_INVALIDITY_DATE;
    pub const DELTA_CRL_INDICATOR: &[u8] = &super::OID_DELTA_CRL_INDICATOR;
    pub const ISSUING_DISTRIBUTION_POINT: &[u8] = &super::OID_ISSUING_DISTRIBUTION_POINT;
    pub const AUTHORITY_KEY_IDENTIFIER: &[u8] = crate::x509::oids::AUTHORITY_KEY_IDENTIFIER;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crl::no_progress;

    pub(crate) fn params() -> CrlParams {
        CrlParams {
            issuer_der: crate::x509::name_encode::encode_name(&[(
                "CN".to_string(),
                "Test CA".to_string(),
            )])
            .unwrap(),
            authority_key_id: Some(vec![7; 20]),
            this_update: 1_700_000_000,
            next_update: Some(1_700_000_000 + 28 * 86400),
            crl_number: vec![1],
            idp: None,
            delta_base: None,
            hold_instruction: None,
            alg: SigAlg::EcdsaSha256,
        }
    }

    #[test]
    fn empty_list_omits_revoked_certificates() {
        let key = SoftwareKey::generate("ec-p256", None).unwrap();
        let cols = Columns {
            serials: &[],
            width: 20,
            serial_lengths: None,
            revocation_times: &[],
            reasons: &[],
            invalidity: None,
        };
        let (buf, start) = build_signed(&params(), &cols, &key, &no_progress).unwrap();
        let parsed = crate::crl::parse_crl(&buf[start..], None).unwrap();
        assert_eq!(parsed.columns.len(), 0);
    }

    #[test]
    fn entry_encoding_known_bytes() {
        // serial 0x80 (needs a sign octet), 2024-01-01, keyCompromise, invalidity 2023-12-31.
        let s = [0x80u8];
        let cols = Columns {
            serials: &s,
            width: 1,
            serial_lengths: None,
            revocation_times: &[1_704_067_200],
            reasons: &[1],
            invalidity: Some(&[1_703_980_800]),
        };
        let mut out = vec![0u8; entry_len(&cols, 0, false)];
        assert_eq!(put_entry(&mut out, 0, &cols, 0, None), out.len());
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        // SEQUENCE { INTEGER 00 80, UTCTime 240101000000Z, SEQUENCE { reasonCode 1,
        //   invalidityDate GeneralizedTime 20231231000000Z } }
        let expect = concat!(
            "303b",
            "02020080",
            "170d3234303130313030303030305a",
            "3026",
            "300a0603551d1504030a0101",
            "30180603551d180411180f32303233313233313030303030305a"
        );
        assert_eq!(hex, expect);
    }

    #[test]
    fn hold_entry_known_bytes() {
        // serial 0x05, 2024-01-01, certificateHold with id-holdinstruction-reject; a
        // keyCompromise entry of the same CRL gets no hold instruction.
        let s = [0x05u8, 0x06];
        let cols = Columns {
            serials: &s,
            width: 1,
            serial_lengths: None,
            revocation_times: &[1_704_067_200, 1_704_067_200],
            reasons: &[REASON_CERTIFICATE_HOLD, 1],
            invalidity: None,
        };
        let arc = Some(HoldInstruction::Reject as u8);
        let mut out = vec![0u8; entry_len(&cols, 0, true)];
        assert_eq!(put_entry(&mut out, 0, &cols, 0, arc), out.len());
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        // SEQUENCE { INTEGER 05, UTCTime 240101000000Z, SEQUENCE { reasonCode 6,
        //   holdInstructionCode 1.2.840.10040.2.3 } }
        let expect = concat!(
            "3032",
            "020105",
            "170d3234303130313030303030305a",
            "301e",
            "300a0603551d1504030a0106",
            "30100603551d17040906072a8648ce38020 3"
        );
        assert_eq!(hex, expect.replace(' ', ""));
        let mut other = vec![0u8; entry_len(&cols, 1, true)];
        assert_eq!(put_entry(&mut other, 0, &cols, 1, arc), other.len());
        assert_eq!(other.len(), 2 + 3 + 15 + 2 + 12);
        // Without a hold instruction the hold entry carries its reasonCode alone.
        assert_eq!(entry_len(&cols, 0, false), out.len() - 18);
    }

    proptest::proptest! {
        // The writer's sizes are exact: the buffer ends exactly where phase 1 said.
        #[test]
        fn writer_length_is_exact(
            rows in proptest::collection::vec((proptest::collection::vec(0u8..=255, 1..20), -2_000_000_000i64..4_000_000_000i64, 0u8..12, proptest::option::of(0i64..4_000_000_000i64)), 0..200)
        ) {
            let mut serials = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            let (mut times, mut reasons, mut inv) = (Vec::new(), Vec::new(), Vec::new());
            for (mut s, t, r, d) in rows {
                s[0] = s[0].max(1) & 0x7f | 1;
                let mut row = vec![0u8; 20 - s.len()];
                row.extend(&s);
                if !seen.insert(row.clone()) { continue; }
                serials.extend(row);
                times.push(t);
                reasons.push(if r == 0 || r == 7 || r == 8 || r == 11 { REASON_NONE } else { r });
                inv.push(d.unwrap_or(INVALIDITY_NONE));
            }
            let cols = Columns { serials: &serials, width: 20, serial_lengths: None, revocation_times: &times, reasons: &reasons, invalidity: Some(&inv) };
            // Every other case gives certificateHold entries a hold instruction.
            let mut p = params();
            if times.len() % 2 == 0 {
                p.hold_instruction = Some(HoldInstruction::Reject);
            }
            let draft = write_tbs(&p, &cols, &no_progress).unwrap();
            let tbs = draft.tbs();
            // The outer TLV's declared length equals what was written.
            let mut r = crate::der::Reader::new(tbs);
            let t = r.read_tlv().unwrap();
            proptest::prop_assert_eq!(t.raw.len(), tbs.len());
            let key = SoftwareKey::generate("ec-p256", None).unwrap();
            let sig = key.sign_digest(&digest::digest(&digest::SHA256, tbs)).unwrap();
            let (buf, start) = draft.finish(&sig).unwrap();
            let back = crate::crl::parse_crl(&buf[start..], None).unwrap();
            proptest::prop_assert_eq!(back.columns.len(), times.len());
        }
    }
}
