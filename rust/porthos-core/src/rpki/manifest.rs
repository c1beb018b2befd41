//! Manifest eContent (RFC 9286 §4.2): the list of every file at a publication
//! point with its SHA-256, re-issued with manifestNumber + 1 on every change.
//!
//! ```text
//! Manifest ::= SEQUENCE {
//!   version [0] INTEGER DEFAULT 0,          -- §4.2.1: 0, omitted in DER
//!   manifestNumber INTEGER (0..MAX),        -- at most 20 octets
//!   thisUpdate GeneralizedTime,
//!   nextUpdate GeneralizedTime,             -- later than thisUpdate
//!   fileHashAlg OBJECT IDENTIFIER,          -- id-sha256 (RFC 7935 §2)
//!   fileList SEQUENCE SIZE (0..MAX) OF FileAndHash }
//! FileAndHash ::= SEQUENCE { file IA5String, hash BIT STRING }
//! ```
//! File names (§4.2.2): one or more of `a-z A-Z 0-9 - _`, a dot, and a three-letter
//! extension; the list is written in the order given (the RFC sets none) but a name
//! may appear only once.

use crate::der::reader::Reader;
use crate::der::{tag, writer};
use crate::error::{DerError, DerErrorKind};
use crate::x509::{cert, oids};

/// Longest manifestNumber in content octets (RFC 9286 §4.2.1).
pub const MAX_NUMBER_OCTETS: usize = 20;

/// A manifest's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Big-endian magnitude of manifestNumber (no leading zeros; `[]` is 0).
    pub number: Vec<u8>,
    pub this_update: i64,
    pub next_update: i64,
    /// (file name, SHA-256) in list order.
    pub files: Vec<(String, [u8; 32])>,
}

/// RFC 9286 §4.2.2 file name syntax.
pub fn valid_file_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && ext.len() == 3
        && ext.bytes().all(|b| b.is_ascii_lowercase())
}

fn unencodable(what: &'static str, path: impl Into<String>) -> DerError {
    DerError::new(DerErrorKind::Unencodable(what), 0, path)
}

/// GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 9286 §4.2.1 uses it for every year).
fn push_generalized(out: &mut Vec<u8>, t: i64, path: &'static str) -> Result<(), DerError> {
    let mut tmp = Vec::with_capacity(17);
    crate::x509::time::push_time(&mut tmp, t, path)?;
    let (y, ..) = crate::x509::time::civil_from_unix(t);
    out.extend_from_slice(&[tag::GENERALIZED_TIME, 15]);
    if tmp[0] == tag::UTC_TIME {
        out.extend_from_slice(format!("{:02}", y / 100).as_bytes());
    }
    out.extend_from_slice(&tmp[2..]);
    Ok(())
}

/// Encode a Manifest. `number` is a big-endian magnitude; the file list is written
/// in the order given.
pub fn encode_manifest(
    number: &[u8],
    this_update: i64,
    next_update: i64,
    files: &[(&str, &[u8])],
) -> Result<Vec<u8>, DerError> {
    let num = writer::unsigned_integer_content(number);
    if num.len() > MAX_NUMBER_OCTETS {
        return Err(unencodable(
            "manifestNumber longer than 20 octets (RFC 9286 §4.2.1)",
            "manifestNumber",
        ));
    }
    if next_update <= this_update {
        return Err(unencodable(
            "nextUpdate must be later than thisUpdate (RFC 9286 §4.2.1)",
            "nextUpdate",
        ));
    }
    let mut body = writer::tlv(tag::INTEGER, &num);
    push_generalized(&mut body, this_update, "thisUpdate")?;
    push_generalized(&mut body, next_update, "nextUpdate")?;
    writer::push_tlv(&mut body, tag::OID, oids::SHA256);
    let mut list = Vec::with_capacity(files.len() * 64);
    let mut seen = std::collections::HashSet::with_capacity(files.len());
    for (i, &(name, hash)) in files.iter().enumerate() {
        let path = format!("fileList[{i}]");
        if !valid_file_name(name) {
            return Err(unencodable(
                "file name outside the RFC 9286 §4.2.2 syntax",
                path,
            ));
        }
        if hash.len() != 32 {
            return Err(unencodable("hash must be 32 octets (SHA-256)", path));
        }
        if !seen.insert(name) {
            return Err(unencodable("file listed twice", path));
        }
        let mut fh = writer::tlv(tag::IA5_STRING, name.as_bytes());
        fh.extend(writer::bit_string(hash));
        writer::push_tlv(&mut list, tag::SEQUENCE, &fh);
    }
    writer::push_tlv(&mut body, tag::SEQUENCE, &list);
    Ok(writer::tlv(tag::SEQUENCE, &body))
}

fn invalid(what: &'static str, offset: usize, path: impl Into<String>) -> DerError {
    DerError::new(DerErrorKind::InvalidValue(what), offset, path)
}

fn read_generalized(r: &mut Reader<'_>, path: &str) -> Result<i64, DerError> {
    let t = r.expect(tag::GENERALIZED_TIME, path)?;
    let secs = cert::parse_time(&t).map_err(|e| e.within(path))?;
    // Year 0000 is a valid GeneralizedTime shape but no time porthos writes (years
    // 1..9999): refused, so what parses always re-encodes (found by manifest_parse).
    crate::x509::time::push_time(&mut Vec::new(), secs, "time")
        .map_err(|_| invalid("time outside years 1..9999", t.offset, path))?;
    Ok(secs)
}

/// Parse a Manifest strictly (version absent, GeneralizedTime, SHA-256, valid and
/// unique file names, 32-octet hashes).
pub fn parse_manifest(der: &[u8]) -> Result<Manifest, DerError> {
    const P: &str = "Manifest";
    let mut top = Reader::new(der);
    let (_, mut seq) = top.enter(tag::SEQUENCE, P)?;
    top.finish(P)?;
    if seq.peek_tag() == Some(tag::context_constructed(0)) {
        return Err(invalid(
            "version present: DER omits the DEFAULT 0",
            seq.offset(),
            P,
        ));
    }
    let at = seq.offset();
    let num = seq.read_integer_bytes("Manifest.manifestNumber")?;
    if num[0] & 0x80 != 0 || num.len() > MAX_NUMBER_OCTETS {
        return Err(invalid(
            "manifestNumber negative or longer than 20 octets",
            at,
            "Manifest.manifestNumber",
        ));
    }
    let number: Vec<u8> = num.iter().copied().skip_while(|&b| b == 0).collect();
    let this_update = read_generalized(&mut seq, "Manifest.thisUpdate")?;
    let next_update = read_generalized(&mut seq, "Manifest.nextUpdate")?;
    if next_update <= this_update {
        return Err(invalid(
            "nextUpdate not later than thisUpdate",
            at,
            "Manifest.nextUpdate",
        ));
    }
    let alg_at = seq.offset();
    if seq.read_oid("Manifest.fileHashAlg")? != oids::SHA256 {
        return Err(invalid(
            "fileHashAlg is not SHA-256 (RFC 7935 §2)",
            alg_at,
            "Manifest.fileHashAlg",
        ));
    }
    let (_, mut list) = seq.enter(tag::SEQUENCE, "Manifest.fileList")?;
    seq.finish(P)?;
    let mut files: Vec<(String, [u8; 32])> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while !list.is_empty() {
        let path = format!("Manifest.fileList[{}]", files.len());
        let at = list.offset();
        let (_, mut fh) = list.enter(tag::SEQUENCE, &path)?;
        let name = fh.expect(tag::IA5_STRING, &path)?;
        let hash = fh.read_bit_string(&path)?;
        fh.finish(&path)?;
        let name = std::str::from_utf8(name.value)
            .ok()
            .filter(|n| valid_file_name(n))
            .ok_or_else(|| invalid("file name outside the RFC 9286 §4.2.2 syntax", at, &path))?;
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| invalid("hash is not 32 octets", at, &path))?;
        if !seen.insert(name.to_string()) {
            return Err(invalid("file listed twice", at, &path));
        }
        files.push((name.to_string(), hash));
    }
    Ok(Manifest {
        number,
        this_update,
        next_update,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bytes() {
        let h = [7u8; 32];
        let der = encode_manifest(
            &[0, 0, 5],
            1_767_225_600,
            1_767_312_000,
            &[("a.roa", &h), ("ca-1.crl", &h)],
        )
        .unwrap();
        let m = parse_manifest(&der).unwrap();
        assert_eq!(m.number, vec![5]);
        assert_eq!(
            (m.this_update, m.next_update),
            (1_767_225_600, 1_767_312_000)
        );
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[1].0, "ca-1.crl");
        // manifestNumber 5, thisUpdate 2026-01-01 as GeneralizedTime.
        assert_eq!(&der[..3], &[0x30, 0x81, 0x8d]);
        assert_eq!(&der[3..6], &[0x02, 0x01, 0x05]);
        assert_eq!(&der[6..8], &[0x18, 0x0f]);
        assert_eq!(&der[8..23], b"20260101000000Z");
    }

    #[test]
    fn names_and_numbers() {
        for ok in ["a.roa", "A-b_9.cer", "x.mft"] {
            assert!(valid_file_name(ok), "{ok}");
        }
        for bad in [
            "a", ".roa", "a.ROA", "a.roaa", "a b.roa", "a.b.roa", "é.roa", "a/b.roa",
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
        let h = [0u8; 32];
        assert!(
            encode_manifest(&[0xff; 20], 0, 1, &[]).is_err(),
            "21 octets with the sign"
        );
        assert!(encode_manifest(&[0x7f; 20], 0, 1, &[]).is_ok());
        assert!(encode_manifest(&[1], 5, 5, &[]).is_err());
        assert!(encode_manifest(&[1], 0, 1, &[("a.roa", &h), ("a.roa", &h)]).is_err());
        assert!(encode_manifest(&[1], 0, 1, &[("a.roa", &h[..31])]).is_err());
        assert_eq!(
            parse_manifest(&encode_manifest(&[], 0, 1, &[]).unwrap())
                .unwrap()
                .number,
            Vec::<u8>::new()
        );
    }
}
