//! Just enough of an X.509 Certificate (RFC 5280 §4.1) for the issuer side: the
//! issuer certificate's subject, key, validity and subjectKeyIdentifier.

use crate::der::reader::{validate_tree, Reader, Tlv};
use crate::der::tag;
use crate::error::{DerError, DerErrorKind};
use crate::x509::csr::{parse_extensions, parse_signature_algorithm, SignatureAlgorithm};
use crate::x509::spki::{parse_spki_in, PublicKeyInfo};

/// The parts of a certificate porthos needs from an issuer certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo<'a> {
    /// The whole Certificate.
    pub der: &'a [u8],
    /// The tbsCertificate TLV.
    pub tbs: &'a [u8],
    /// serialNumber INTEGER content octets.
    pub serial: &'a [u8],
    /// The issuer Name TLV.
    pub issuer_der: &'a [u8],
    /// The subject Name TLV.
    pub subject_der: &'a [u8],
    /// notBefore in Unix seconds.
    pub not_before: i64,
    /// notAfter in Unix seconds.
    pub not_after: i64,
    /// subjectPublicKeyInfo.
    pub spki: PublicKeyInfo<'a>,
    /// The KeyIdentifier of the subjectKeyIdentifier extension (RFC 5280 §4.2.1.2).
    pub subject_key_id: Option<&'a [u8]>,
    /// The outer signatureAlgorithm.
    pub signature_algorithm: SignatureAlgorithm,
    /// The signatureValue BIT STRING payload.
    pub signature: &'a [u8],
}

const TBS: &str = "Certificate.tbsCertificate";

/// Parse a DER Certificate that spans exactly `der`.
pub fn parse_certificate(der: &[u8]) -> Result<CertificateInfo<'_>, DerError> {
    let mut outer = Reader::new(der);
    let (_, mut cert) = outer.enter(tag::SEQUENCE, "Certificate")?;
    outer.finish("Certificate")?;
    let (tbs_tlv, mut tbs) = cert.enter(tag::SEQUENCE, TBS)?;
    let alg_tlv = cert.expect(tag::SEQUENCE, "Certificate.signatureAlgorithm")?;
    let signature_algorithm = parse_signature_algorithm(&cert, &alg_tlv)
        .map_err(|e| e.within("Certificate.signatureAlgorithm"))?;
    let signature = cert.read_bit_string("Certificate.signatureValue")?;
    cert.finish("Certificate")?;

    let p = |field: &str| format!("{TBS}.{field}");
    // version [0] EXPLICIT Version DEFAULT v1: DER omits v1 (X.690 §11.5), so an
    // encoded version must be v2(1) or v3(2).
    if let Some(v) = tbs.optional(tag::context_constructed(0), &p("version"))? {
        let mut vr = tbs.nested(&v)?;
        let version = vr.read_integer_bytes(&p("version"))?;
        vr.finish(&p("version"))?;
        if version != [1] && version != [2] {
            return Err(DerError::new(
                DerErrorKind::InvalidValue("version must be v2 or v3"),
                v.offset,
                p("version"),
            ));
        }
    }
    let serial = tbs.read_integer_bytes(&p("serialNumber"))?;
    let inner_alg = tbs.expect(tag::SEQUENCE, &p("signature"))?;
    // RFC 5280 §4.1.1.2: signatureAlgorithm MUST equal tbsCertificate.signature.
    if inner_alg.raw != alg_tlv.raw {
        let kind = DerErrorKind::InvalidValue("signature algorithms differ");
        return Err(DerError::new(kind, inner_alg.offset, p("signature")));
    }
    let issuer = tbs.expect(tag::SEQUENCE, &p("issuer"))?;
    validate_tree(&tbs, &issuer).map_err(|e| e.within(&p("issuer")))?;
    let (_, mut validity) = tbs.enter(tag::SEQUENCE, &p("validity"))?;
    let not_before = parse_time(
        &validity
            .read_tlv()
            .map_err(|e| e.within(&p("validity.notBefore")))?,
    )
    .map_err(|e| e.within(&p("validity.notBefore")))?;
    let not_after = parse_time(
        &validity
            .read_tlv()
            .map_err(|e| e.within(&p("validity.notAfter")))?,
    )
    .map_err(|e| e.within(&p("validity.notAfter")))?;
    validity.finish(&p("validity"))?;
    let subject = tbs.expect(tag::SEQUENCE, &p("subject"))?;
    validate_tree(&tbs, &subject).map_err(|e| e.within(&p("subject")))?;
    let spki_tlv = tbs.expect(tag::SEQUENCE, &p("subjectPublicKeyInfo"))?;
    let spki = parse_spki_in(&tbs, &spki_tlv).map_err(|e| e.within(&p("subjectPublicKeyInfo")))?;
    // issuerUniqueID [1] / subjectUniqueID [2] IMPLICIT BIT STRING: skipped.
    tbs.optional(tag::context_primitive(1), &p("issuerUniqueID"))?;
    tbs.optional(tag::context_primitive(2), &p("subjectUniqueID"))?;
    let mut subject_key_id = None;
    if let Some(ext_tlv) = tbs.optional(tag::context_constructed(3), &p("extensions"))? {
        let mut wrapper = tbs.nested(&ext_tlv)?;
        let (_, mut exts) = wrapper.enter(tag::SEQUENCE, &p("extensions"))?;
        wrapper.finish(&p("extensions"))?;
        for ext in parse_extensions(&mut exts).map_err(|e| e.within(&p("extensions")))? {
            if ext.oid == "2.5.29.14" {
                // SubjectKeyIdentifier ::= KeyIdentifier ::= OCTET STRING.
                let base =
                    tbs_tlv.offset + (ext.value.as_ptr() as usize - tbs_tlv.raw.as_ptr() as usize);
                let mut r = Reader::with_base(ext.value, base);
                let id = r.expect(tag::OCTET_STRING, &p("extensions.subjectKeyIdentifier"))?;
                r.finish(&p("extensions.subjectKeyIdentifier"))?;
                subject_key_id = Some(id.value);
            }
        }
    }
    tbs.finish(TBS)?;

    Ok(CertificateInfo {
        der,
        tbs: tbs_tlv.raw,
        serial,
        issuer_der: issuer.raw,
        subject_der: subject.raw,
        not_before,
        not_after,
        spki,
        subject_key_id,
        signature_algorithm,
        signature,
    })
}

/// Parse a Time (RFC 5280 §4.1.2.5) into Unix seconds: UTCTime `YYMMDDHHMMSSZ`
/// (YY >= 50 means 19YY, else 20YY; §4.1.2.5.1) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ` without fractions (§4.1.2.5.2).
pub fn parse_time(tlv: &Tlv<'_>) -> Result<i64, DerError> {
    let bad = |what| DerError::new(DerErrorKind::InvalidValue(what), tlv.offset, "");
    let v = tlv.value;
    let (year, rest) = match tlv.tag {
        tag::UTC_TIME if v.len() == 13 => {
            let yy = digits(&v[..2]).ok_or_else(|| bad("UTCTime digits"))?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        tag::GENERALIZED_TIME if v.len() == 15 => (
            digits(&v[..4]).ok_or_else(|| bad("GeneralizedTime digits"))?,
            &v[4..],
        ),
        tag::UTC_TIME | tag::GENERALIZED_TIME => {
            return Err(bad("time must be seconds precision, Zulu"))
        }
        found => {
            let kind = DerErrorKind::UnexpectedTag {
                expected: tag::UTC_TIME,
                found,
            };
            return Err(DerError::new(kind, tlv.offset, ""));
        }
    };
    if rest[10] != b'Z' {
        return Err(bad("time must end in Z"));
    }
    let field = |i: usize| digits(&rest[i..i + 2]).ok_or_else(|| bad("time digits"));
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("date out of range"));
    }
    // No leap seconds: RFC 5280 times are UTC "seconds" 00-59.
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("time of day out of range"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date: count whole 400-year eras
/// from 0000-03-01 (putting the leap day at the end of each shifted year).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tagv: u8, s: &str) -> Result<i64, DerError> {
        let mut enc = vec![tagv, s.len() as u8];
        enc.extend(s.as_bytes());
        parse_time(&Reader::new(&enc).read_tlv().unwrap())
    }

    #[test]
    fn utc_time_century_window() {
        assert_eq!(t(tag::UTC_TIME, "700101000000Z").unwrap(), 0);
        assert_eq!(t(tag::UTC_TIME, "500101000000Z").unwrap(), -631_152_000); // 1950
        assert_eq!(t(tag::UTC_TIME, "491231235959Z").unwrap(), 2_524_607_999); // 2049
        assert_eq!(
            t(tag::GENERALIZED_TIME, "20500101000000Z").unwrap(),
            2_524_608_000
        );
        assert_eq!(t(tag::UTC_TIME, "000229120000Z").unwrap(), 951_825_600); // 2000 is leap
        assert_eq!(
            t(tag::GENERALIZED_TIME, "99991231235959Z").unwrap(),
            253_402_300_799
        );
    }

    #[test]
    fn rejects_bad_times() {
        for s in [
            "010229000000Z",
            "001301000000Z",
            "000100000000Z",
            "000101240000Z",
            "000101006000Z",
            "000101000060Z",
            "0001010000Z",
            "000101000000+0100",
            "00010100000aZ",
            "000101000000z",
        ] {
            assert!(t(tag::UTC_TIME, s).is_err(), "{s}");
        }
        assert!(
            t(tag::GENERALIZED_TIME, "21000229000000Z").is_err(),
            "2100 not leap"
        );
        assert_eq!(
            t(tag::GENERALIZED_TIME, "20000229000000Z").unwrap(),
            951_782_400
        );
        assert!(t(tag::GENERALIZED_TIME, "20000101000000.5Z").is_err());
        assert!(t(tag::OCTET_STRING, "700101000000Z").is_err());
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(2023, 3, 1) - days_from_civil(2023, 2, 28),
            1
        );
    }
}
