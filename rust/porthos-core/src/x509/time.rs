//! Certificate times (RFC 5280 §4.1.2.5): UTCTime for 1950 through 2049,
//! GeneralizedTime otherwise, always in UTC with seconds and no fractions.

use crate::error::{DerError, DerErrorKind};

/// Earliest and latest instants porthos encodes: 0000-01-01 is not representable in
/// X.509 practice, and GeneralizedTime stops at year 9999.
pub const MIN_TIME: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
pub const MAX_TIME: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// (year, month, day, hour, minute, second) of a Unix time, proleptic Gregorian.
pub fn civil_from_unix(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse (public domain algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = if m <= 2 { y + 1 } else { y };
    (
        year,
        m,
        d,
        (secs / 3600) as u32,
        ((secs % 3600) / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Encoded size of the Time TLV for `t` (15 for UTCTime, 17 for GeneralizedTime).
pub fn time_tlv_len(t: i64) -> usize {
    let (y, ..) = civil_from_unix(t);
    if (1950..2050).contains(&y) {
        15
    } else {
        17
    }
}

/// Append the Time TLV for `t`.
pub fn push_time(out: &mut Vec<u8>, t: i64, path: &'static str) -> Result<(), DerError> {
    if !(MIN_TIME..=MAX_TIME).contains(&t) {
        return Err(DerError::new(
            DerErrorKind::Unencodable("time outside years 1..9999"),
            0,
            path,
        ));
    }
    let (y, mo, d, h, mi, s) = civil_from_unix(t);
    let two = |out: &mut Vec<u8>, v: u32| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    if (1950..2050).contains(&y) {
        out.extend_from_slice(&[0x17, 13]);
        two(out, (y % 100) as u32);
    } else {
        out.extend_from_slice(&[0x18, 15]);
        two(out, (y / 100) as u32);
        two(out, (y % 100) as u32);
    }
    for v in [mo, d, h, mi, s] {
        two(out, v);
    }
    out.push(b'Z');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(t: i64) -> String {
        let mut v = Vec::new();
        push_time(&mut v, t, "t").unwrap();
        assert_eq!(v.len(), time_tlv_len(t));
        String::from_utf8(v[2..].to_vec()).unwrap()
    }

    #[test]
    fn utc_and_generalized_edges() {
        assert_eq!(enc(0), "700101000000Z");
        assert_eq!(enc(2_524_607_999), "491231235959Z"); // last UTCTime second
        assert_eq!(enc(2_524_608_000), "20500101000000Z"); // first GeneralizedTime
        assert_eq!(enc(-631_152_000), "500101000000Z"); // 1950-01-01
        assert_eq!(enc(-631_152_001), "19491231235959Z");
        assert_eq!(enc(951_782_400), "000229000000Z"); // leap day 2000
        assert_eq!(enc(MAX_TIME), "99991231235959Z");
    }

    #[test]
    fn out_of_range() {
        let mut v = Vec::new();
        assert!(push_time(&mut v, MAX_TIME + 1, "t").is_err());
        assert!(push_time(&mut v, MIN_TIME - 1, "t").is_err());
    }
}
