//! Strict CRL parser (RFC 5280 §5): DER → metadata plus the writer's columns.
//!
//! A CRL is input from elsewhere, so the same rules as for certificates hold: DER
//! only (the reader refuses BER), every INTEGER minimal, serials positive and at most
//! 20 octets (§4.1.2.2, §5.1.2.6), no duplicate serial, times in the form §5.1.2.4 /
//! §5.1.2.6 require (UTCTime through 2049), unknown *critical* extensions refused
//! (§5.2, §5.3). With an issuer certificate the issuer name, the AKI and the signature
//! are checked too.

use std::cmp::Ordering;

use crate::crl::columns::{cmp_keys, hex, OwnedColumns, REASON_MAX};
use crate::crl::writer::{known, Idp};
use crate::crl::{CrlError, INVALIDITY_NONE, REASON_NONE};
use crate::der::reader::{Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};
use crate::verify::{verify_signature, VerifyStatus};
use crate::x509::cert::{parse_certificate, parse_time};
use crate::x509::csr::{parse_signature_algorithm, SignatureAlgorithm};

/// A parsed CRL; `columns` are in serial order.
#[derive(Debug, Clone)]
pub struct ParsedCrl<'a> {
    pub tbs: &'a [u8],
    pub signature_algorithm: SignatureAlgorithm,
    pub signature: &'a [u8],
    pub issuer_der: &'a [u8],
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// CRLNumber magnitude (no leading zeros; empty = 0).
    pub crl_number: Option<Vec<u8>>,
    pub authority_key_id: Option<&'a [u8]>,
    pub idp: Option<Idp>,
    pub delta_base: Option<Vec<u8>>,
    pub columns: OwnedColumns,
    /// True when an issuer certificate was given and everything checked out.
    pub signature_checked: bool,
}

fn invalid(what: &'static str, offset: usize, path: &str) -> CrlError {
    CrlError::Decode(DerError::new(
        DerErrorKind::InvalidValue(what),
        offset,
        path,
    ))
}

const TBS: &str = "CertificateList.tbsCertList";
const ENTRY: &str = "CertificateList.tbsCertList.revokedCertificates[]";

fn magnitude(v: &[u8]) -> Vec<u8> {
    let s = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v[s..].to_vec()
}

/// A non-negative INTEGER of at most 20 content octets (CRLNumber, §5.2.3).
fn crl_number(r: &mut Reader<'_>, path: &str) -> Result<Vec<u8>, CrlError> {
    let at = r.offset();
    let v = r.read_integer_bytes(path)?;
    if v[0] & 0x80 != 0 {
        return Err(invalid("negative CRL number", at, path));
    }
    if v.len() > 20 {
        return Err(invalid(
            "CRL number longer than 20 octets (RFC 5280 §5.2.3)",
            at,
            path,
        ));
    }
    Ok(magnitude(v))
}

/// Time per §5.1.2.4: UTCTime for 1950–2049, GeneralizedTime only from 2050.
fn crl_time(t: &Tlv<'_>, path: &str) -> Result<i64, CrlError> {
    let v = parse_time(t).map_err(|e| e.within(path))?;
    if t.tag == tag::GENERALIZED_TIME && (-631_152_000..2_524_608_000).contains(&v) {
        return Err(invalid(
            "GeneralizedTime for a date before 2050 (RFC 5280 §5.1.2.4)",
            t.offset,
            path,
        ));
    }
    Ok(v)
}

/// One Extension: (OID content, critical, extnValue content, offset).
fn read_extension<'a>(
    r: &mut Reader<'a>,
    path: &str,
) -> Result<(&'a [u8], bool, Tlv<'a>), CrlError> {
    let (_, mut e) = r.enter(tag::SEQUENCE, path)?;
    // The known OIDs are compared octet for octet; only an unknown one is decoded
    // (the full check allocates, and a 1 M-entry CRL has 1 M reasonCode OIDs).
    let oid_tlv = e.expect(tag::OID, path)?;
    let oid = oid_tlv.value;
    if ![
        known::REASON_CODE,
        known::INVALIDITY_DATE,
        known::CRL_NUMBER,
        known::DELTA_CRL_INDICATOR,
        known::ISSUING_DISTRIBUTION_POINT,
        known::AUTHORITY_KEY_IDENTIFIER,
    ]
    .contains(&oid)
    {
        crate::der::reader::check_oid(&oid_tlv).map_err(|x| x.within(path))?;
    }
    let at = e.offset();
    let critical = match e.peek_tag() {
        Some(tag::BOOLEAN) => {
            // DEFAULT FALSE: DER never encodes the default (X.690 §11.5).
            if !e.read_bool(path)? {
                return Err(invalid(
                    "critical FALSE encoded (DER omits a DEFAULT)",
                    at,
                    path,
                ));
            }
            true
        }
        _ => false,
    };
    let value = e.expect(tag::OCTET_STRING, path)?;
    e.finish(path)?;
    Ok((oid, critical, value))
}

fn parse_idp(v: &Tlv<'_>, path: &str) -> Result<Idp, CrlError> {
    let mut r = Reader::with_base(v.value, v.value_offset());
    let (_, mut s) = r.enter(tag::SEQUENCE, path)?;
    r.finish(path)?;
    let mut idp = Idp::default();
    if let Some(dp) = s.optional(tag::context_constructed(0), path)? {
        let mut dpr = s.nested(&dp)?;
        if let Some(full) = dpr.optional(tag::context_constructed(0), path)? {
            let mut names = dpr.nested(&full)?;
            while !names.is_empty() {
                let n = names.read_tlv().map_err(|e| e.within(path))?;
                if n.tag == tag::context_primitive(6) {
                    let uri = std::str::from_utf8(n.value)
                        .ok()
                        .filter(|u| u.is_ascii())
                        .ok_or_else(|| invalid("URI is not IA5String", n.offset, path))?;
                    idp.full_name_uris.push(uri.to_string());
                }
            }
        }
        dpr.finish(path)?;
    }
    for (t, field) in [(1u8, 0usize), (2, 1)] {
        if let Some(b) = s.optional(tag::context_primitive(t), path)? {
            if b.value != [0xff] {
                return Err(invalid(
                    "IDP boolean must be TRUE when present (DER)",
                    b.offset,
                    path,
                ));
            }
            if field == 0 {
                idp.only_user_certs = true;
            } else {
                idp.only_ca_certs = true;
            }
        }
    }
    if !s.is_empty() {
        // onlySomeReasons, indirectCRL, onlyContainsAttributeCerts: porthos does not
        // process partitions by reason or indirect CRLs, and a relying party that
        // cannot honour a critical extension's scope must not use the CRL.
        return Err(invalid(
            "unsupported IssuingDistributionPoint field",
            s.offset(),
            path,
        ));
    }
    Ok(idp)
}

/// The reasonCode entry extension up to its code, as the fast path expects it:
/// `crlEntryExtensions SEQUENCE { SEQUENCE { OID reasonCode, OCTET STRING {
/// ENUMERATED } } }`.
const REASON_ONLY_EXTS: [u8; 13] = [
    0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
];

/// Fast path for the common entry shape (short lengths, a minimal positive serial of
/// at most 20 octets, a UTCTime, and either no extensions or exactly one
/// reasonCode): the octets are checked in place, with no reader, no path strings and
/// no per-entry allocation. It accepts only what [`parse_entry`] accepts; anything
/// else (including every malformed entry) returns `None` and goes the slow way,
/// which produces the error with its offset and path. Returns the position after
/// the entry.
#[inline]
fn fast_entry(
    body: &[u8],
    pos: usize,
    base: usize,
    out: &mut OwnedColumns,
) -> Result<Option<usize>, CrlError> {
    let b = &body[pos..];
    if b.len() < 2 || b[0] != tag::SEQUENCE || b[1] >= 0x80 || b.len() < 2 + b[1] as usize {
        return Ok(None);
    }
    let e = &b[2..2 + b[1] as usize];
    if e.len() < 2 || e[0] != tag::INTEGER {
        return Ok(None);
    }
    let sl = e[1] as usize;
    // 1..=20 content octets, positive (top bit clear), minimal (X.690 §8.3.2).
    if sl == 0 || sl > 20 || e.len() < 2 + sl + 15 {
        return Ok(None);
    }
    let serial = &e[2..2 + sl];
    if serial[0] & 0x80 != 0 || (serial[0] == 0 && (sl == 1 || serial[1] & 0x80 == 0)) {
        return Ok(None);
    }
    let key = &serial[usize::from(serial[0] == 0)..];
    let t = &e[2 + sl..2 + sl + 15];
    if t[0] != tag::UTC_TIME || t[1] != 13 {
        return Ok(None);
    }
    let rest = &e[2 + sl + 15..];
    let reason = match rest {
        [] => REASON_NONE,
        [head @ .., c] if head == REASON_ONLY_EXTS && *c <= REASON_MAX && *c != 7 => *c,
        _ => return Ok(None),
    };
    let offset = base + pos + 4 + sl;
    let tlv = Tlv {
        tag: tag::UTC_TIME,
        value: &t[2..],
        raw: t,
        offset,
    };
    // UTCTime is always the right form (§5.1.2.6 → §5.1.2.4), so only the digits and
    // ranges need checking.
    let time = parse_time(&tlv).map_err(|x| {
        CrlError::Decode(
            x.within("CertificateList.tbsCertList.revokedCertificates[].revocationDate"),
        )
    })?;
    out.push(key, time, reason, INVALIDITY_NONE);
    Ok(Some(pos + 2 + e.len()))
}

/// Parse one revokedCertificates entry into `out`.
fn parse_entry(r: &mut Reader<'_>, out: &mut OwnedColumns) -> Result<(), CrlError> {
    let (_, mut e) = r.enter(tag::SEQUENCE, ENTRY)?;
    let at = e.offset();
    let serial =
        e.read_integer_bytes("CertificateList.tbsCertList.revokedCertificates[].userCertificate")?;
    if serial[0] & 0x80 != 0 {
        return Err(invalid(
            "negative serial number (RFC 5280 §4.1.2.2)",
            at,
            ENTRY,
        ));
    }
    if serial.len() > 20 {
        return Err(invalid(
            "serial number longer than 20 octets (RFC 5280 §4.1.2.2)",
            at,
            ENTRY,
        ));
    }
    let key = &serial[usize::from(serial[0] == 0)..];
    if key.is_empty() {
        return Err(invalid("serial number zero (RFC 5280 §4.1.2.2)", at, ENTRY));
    }
    let t = e.read_tlv().map_err(|x| x.within(ENTRY))?;
    let time = crl_time(
        &t,
        "CertificateList.tbsCertList.revokedCertificates[].revocationDate",
    )?;
    let mut reason = REASON_NONE;
    let mut invalidity = INVALIDITY_NONE;
    if let Some(exts) = e.optional(tag::SEQUENCE, ENTRY)? {
        let mut x = e.nested(&exts)?;
        if x.is_empty() {
            return Err(invalid(
                "empty crlEntryExtensions (RFC 5280 §4.1: SIZE (1..MAX))",
                exts.offset,
                ENTRY,
            ));
        }
        let (mut seen_reason, mut seen_inv) = (false, false);
        while !x.is_empty() {
            let (oid, critical, value) = read_extension(&mut x, ENTRY)?;
            let mut vr = Reader::with_base(value.value, value.value_offset());
            if oid == known::REASON_CODE {
                if seen_reason {
                    return Err(invalid("reasonCode twice", value.offset, ENTRY));
                }
                seen_reason = true;
                let en = vr.expect(0x0a, "reasonCode")?;
                vr.finish("reasonCode")?;
                match en.value {
                    [c] if *c <= REASON_MAX && *c != 7 => reason = *c,
                    _ => {
                        return Err(invalid(
                            "reasonCode is not a CRLReason (RFC 5280 §5.3.1)",
                            en.offset,
                            ENTRY,
                        ))
                    }
                }
            } else if oid == known::INVALIDITY_DATE {
                if seen_inv {
                    return Err(invalid("invalidityDate twice", value.offset, ENTRY));
                }
                seen_inv = true;
                let g = vr.expect(tag::GENERALIZED_TIME, "invalidityDate")?;
                vr.finish("invalidityDate")?;
                invalidity = parse_time(&g)?;
            } else if critical {
                // §5.3: an unrecognised critical entry extension (certificateIssuer of an
                // indirect CRL, …) makes the CRL unusable for us.
                return Err(invalid(
                    "unsupported critical CRL entry extension",
                    value.offset,
                    ENTRY,
                ));
            }
        }
    }
    e.finish(ENTRY)?;
    out.push(key, time, reason, invalidity);
    Ok(())
}

/// Parse a CRL; with `issuer_cert` (DER) check name, AKI and signature too.
pub fn parse_crl<'a>(der: &'a [u8], issuer_cert: Option<&[u8]>) -> Result<ParsedCrl<'a>, CrlError> {
    let mut outer = Reader::new(der);
    let (_, mut cl) = outer.enter(tag::SEQUENCE, "CertificateList")?;
    outer.finish("CertificateList")?;
    let (tbs_tlv, mut tbs) = cl.enter(tag::SEQUENCE, TBS)?;
    let alg_tlv = cl.expect(tag::SEQUENCE, "CertificateList.signatureAlgorithm")?;
    let signature_algorithm = parse_signature_algorithm(&cl, &alg_tlv)
        .map_err(|e| e.within("CertificateList.signatureAlgorithm"))?;
    let signature = cl.read_bit_string("CertificateList.signatureValue")?;
    cl.finish("CertificateList")?;

    let mut v2 = false;
    if tbs.peek_tag() == Some(tag::INTEGER) {
        let at = tbs.offset();
        let v = tbs.read_integer_bytes("CertificateList.tbsCertList.version")?;
        // §5.1.2.1: if present, MUST be v2 (1).
        if v != [1] {
            return Err(invalid("CRL version must be v2", at, TBS));
        }
        v2 = true;
    }
    let inner = tbs.expect(tag::SEQUENCE, "CertificateList.tbsCertList.signature")?;
    if inner.raw != alg_tlv.raw {
        // §5.1.1.2: MUST be the same algorithm identifier.
        return Err(invalid(
            "signature algorithms differ (RFC 5280 §5.1.1.2)",
            inner.offset,
            TBS,
        ));
    }
    let issuer = tbs.expect(tag::SEQUENCE, "CertificateList.tbsCertList.issuer")?;
    crate::der::reader::validate_tree(&tbs, &issuer)
        .map_err(|e| e.within("CertificateList.tbsCertList.issuer"))?;
    let tu = tbs
        .read_tlv()
        .map_err(|e| e.within("CertificateList.tbsCertList.thisUpdate"))?;
    let this_update = crl_time(&tu, "CertificateList.tbsCertList.thisUpdate")?;
    let next_update = match tbs.peek_tag() {
        Some(tag::UTC_TIME) | Some(tag::GENERALIZED_TIME) => {
            let t = tbs.read_tlv()?;
            Some(crl_time(&t, "CertificateList.tbsCertList.nextUpdate")?)
        }
        _ => None,
    };
    let mut columns = OwnedColumns::default();
    if let Some(list) = tbs.optional(
        tag::SEQUENCE,
        "CertificateList.tbsCertList.revokedCertificates",
    )? {
        let entries = tbs.nested(&list)?;
        if entries.is_empty() {
            // §5.1.2.6: when there are no revoked certificates the list MUST be absent.
            return Err(invalid(
                "empty revokedCertificates (RFC 5280 §5.1.2.6)",
                list.offset,
                TBS,
            ));
        }
        // ~35 octets per entry; a capacity guess, not a bound.
        columns = OwnedColumns::with_capacity(list.value.len() / 32);
        let (body, base) = (list.value, list.value_offset());
        let mut pos = 0;
        while pos < body.len() {
            if let Some(next) = fast_entry(body, pos, base, &mut columns)? {
                pos = next;
                continue;
            }
            let mut r = Reader::with_base(&body[pos..], base + pos);
            parse_entry(&mut r, &mut columns)?;
            pos = r.offset() - base;
        }
    }
    let mut p = ParsedCrl {
        tbs: tbs_tlv.raw,
        signature_algorithm,
        signature,
        issuer_der: issuer.raw,
        this_update,
        next_update,
        crl_number: None,
        authority_key_id: None,
        idp: None,
        delta_base: None,
        columns,
        signature_checked: false,
    };
    if let Some(x) = tbs.optional(
        tag::context_constructed(0),
        "CertificateList.tbsCertList.crlExtensions",
    )? {
        const P: &str = "CertificateList.tbsCertList.crlExtensions";
        let mut w = tbs.nested(&x)?;
        let (_, mut exts) = w.enter(tag::SEQUENCE, P)?;
        w.finish(P)?;
        let mut seen: Vec<&[u8]> = Vec::new();
        while !exts.is_empty() {
            let (oid, critical, value) = read_extension(&mut exts, P)?;
            if seen.contains(&oid) {
                return Err(invalid(
                    "extension appears twice (RFC 5280 §4.2)",
                    value.offset,
                    P,
                ));
            }
            seen.push(oid);
            let mut vr = Reader::with_base(value.value, value.value_offset());
            if oid == known::CRL_NUMBER {
                p.crl_number = Some(crl_number(&mut vr, "crlNumber")?);
                vr.finish("crlNumber")?;
            } else if oid == known::DELTA_CRL_INDICATOR {
                p.delta_base = Some(crl_number(&mut vr, "deltaCRLIndicator")?);
                vr.finish("deltaCRLIndicator")?;
            } else if oid == known::AUTHORITY_KEY_IDENTIFIER {
                let (_, mut a) = vr.enter(tag::SEQUENCE, "authorityKeyIdentifier")?;
                if let Some(k) = a.optional(tag::context_primitive(0), "authorityKeyIdentifier")? {
                    p.authority_key_id = Some(k.value);
                }
            } else if oid == known::ISSUING_DISTRIBUTION_POINT {
                p.idp = Some(parse_idp(&value, "issuingDistributionPoint")?);
            } else if critical {
                return Err(invalid(
                    "unsupported critical CRL extension",
                    value.offset,
                    P,
                ));
            }
        }
        if !v2 {
            return Err(invalid(
                "crlExtensions in a v1 CRL (RFC 5280 §5.1.2.1)",
                x.offset,
                TBS,
            ));
        }
    }
    tbs.finish(TBS)?;

    sort_and_check(&mut p.columns)?;

    if let Some(cert) = issuer_cert {
        let info = parse_certificate(cert).map_err(|e| e.within("issuer certificate"))?;
        if info.subject_der != p.issuer_der {
            return Err(CrlError::BadSignature(
                "CRL issuer differs from the issuer certificate's subject".into(),
            ));
        }
        if let (Some(a), Some(s)) = (p.authority_key_id, info.subject_key_id) {
            if a != s {
                return Err(CrlError::BadSignature(
                    "CRL authorityKeyIdentifier differs from the issuer's SKI".into(),
                ));
            }
        }
        match verify_signature(p.signature_algorithm, &info.spki, p.tbs, p.signature) {
            VerifyStatus::Ok => p.signature_checked = true,
            other => {
                return Err(CrlError::BadSignature(format!(
                    "CRL signature does not verify with the issuer certificate ({other:?})"
                )))
            }
        }
    }
    Ok(p)
}

/// Bring rows into serial order (CRLs porthos writes already are) and refuse
/// duplicates: one serial listed twice is ambiguous (which reason holds?).
fn sort_and_check(c: &mut OwnedColumns) -> Result<(), CrlError> {
    let n = c.len();
    let v = c.view();
    // Rows are right-aligned 20-octet magnitudes: octet order is numeric order.
    let sorted = c.serials.windows(40).step_by(20).all(|w| w[..20] < w[20..]);
    if sorted {
        return Ok(());
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| v.cmp_serials(a as usize, b as usize));
    for k in 1..n {
        if cmp_keys(v.key(order[k - 1] as usize), v.key(order[k] as usize)) == Ordering::Equal {
            return Err(CrlError::Duplicate {
                serial_hex: hex(v.key(order[k] as usize)),
                rows: (
                    order[k - 1].min(order[k]) as usize,
                    order[k - 1].max(order[k]) as usize,
                ),
            });
        }
    }
    let mut out = OwnedColumns::with_capacity(n);
    for &i in &order {
        out.push_from(c, i as usize);
    }
    *c = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the slow path makes of `entry` (Ok(row) or Err).
    fn slow(entry: &[u8]) -> Result<(OwnedColumns, usize), CrlError> {
        let mut out = OwnedColumns::default();
        let mut r = Reader::with_base(entry, 0);
        parse_entry(&mut r, &mut out)?;
        Ok((out, r.offset()))
    }

    proptest::proptest! {
        // The fast path never accepts what the strict path refuses, and reads the same
        // row when both accept: mutate a valid entry's octets and compare.
        #[test]
        fn fast_path_agrees_with_strict_path(
            serial in proptest::collection::vec(0u8..=255, 1..22),
            reason in proptest::option::of(0u8..12),
            flips in proptest::collection::vec((0usize..64, 0u8..=255), 0..3),
        ) {
            let mut e = vec![0x02, serial.len() as u8];
            e.extend(&serial);
            e.extend([0x17, 13]);
            e.extend(b"240229235959Z");
            if let Some(c) = reason {
                e.extend(REASON_ONLY_EXTS);
                e.push(c);
            }
            let mut entry = vec![0x30, e.len() as u8];
            entry.extend(e);
            for (at, v) in flips {
                if at < entry.len() {
                    entry[at] = v;
                }
            }
            let mut fast = OwnedColumns::default();
            match fast_entry(&entry, 0, 0, &mut fast) {
                Ok(Some(end)) => {
                    let (row, slow_end) = slow(&entry).expect("fast path accepted what the strict path refuses");
                    proptest::prop_assert_eq!(end, slow_end);
                    proptest::prop_assert_eq!(fast, row);
                }
                Ok(None) => {}
                Err(e) => proptest::prop_assert_eq!(Err(e), slow(&entry).map(|_| ())),
            }
        }
    }
}
