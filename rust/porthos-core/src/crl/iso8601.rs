//! ISO-8601 times as the revocation CSV has always taken them (Python's
//! `datetime.fromisoformat` after `Z` → `+00:00`, naive = UTC, then `int(timestamp)`),
//! parsed from bytes with no allocation, so a million rows cost no Python object.
//!
//! Grammar (the forms `fromisoformat` documents; its undocumented quirks — a fraction
//! after the hour or minute, a date-only string with an offset, a space before the
//! offset, non-ASCII digits — are refused, see docs/crl-input.md):
//!
//! ```text
//! datetime := date [SEP time [zone]]         SEP: any one character
//! date     := YYYY-MM-DD | YYYYMMDD | YYYY-Www[-D] | YYYYWww[D]    year 0001..9999
//! time     := HH[:MM[:SS[frac]]] | HH[MM[SS[frac]]]
//! frac     := ("." | ",") DIGIT+             (digits past the sixth are ignored)
//! zone     := "Z" | ("+" | "-") time          (|offset| < 24 h)
//! ```
//!
//! The result is Unix seconds of the exact instant truncated toward zero, as Python's
//! `int(dt.timestamp())` (which also truncates; its float can round x.999999 up past
//! year ~2200, which the exact arithmetic here does not).

use crate::x509::cert::days_from_civil;

/// Unix seconds of `s` (already trimmed), or `None` when it is not in the grammar.
pub fn parse_iso8601(s: &[u8]) -> Option<i64> {
    let (days, mut pos) = date(s)?;
    // i64 microseconds hold years 1..9999 (2.5e17 < 9.2e18) with room for offsets.
    let mut micros: i64 = 0;
    let mut offset: i64 = 0;
    if pos < s.len() {
        pos += utf8_len(&s[pos..])?;
        let (t, used) = clock(&s[pos..])?;
        pos += used;
        micros = t;
        if pos < s.len() {
            offset = zone(&s[pos..])?;
        }
    }
    let total = days * 86_400_000_000 + micros - offset;
    // Integer division truncates toward zero, as Python's int() of the timestamp.
    Some(total / 1_000_000)
}

/// Days since 1970-01-01 and the number of bytes the date used.
fn date(s: &[u8]) -> Option<(i64, usize)> {
    let year = digits(s, 0, 4)?;
    if year == 0 {
        return None;
    }
    match s.get(4) {
        Some(b'-') if s.get(5) == Some(&b'W') => week_date(s, year, 6, true),
        Some(b'W') => week_date(s, year, 5, false),
        Some(b'-') => {
            if s.get(7) != Some(&b'-') {
                return None;
            }
            Some((calendar(year, digits(s, 5, 2)?, digits(s, 8, 2)?)?, 10))
        }
        _ => Some((calendar(year, digits(s, 4, 2)?, digits(s, 6, 2)?)?, 8)),
    }
}

fn calendar(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
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

/// `Www[-D]` (extended) or `Www[D]` (basic) starting at `at`, the `W` already seen.
fn week_date(s: &[u8], year: i64, at: usize, extended: bool) -> Option<(i64, usize)> {
    let week = digits(s, at, 2)?;
    let mut pos = at + 2;
    let mut weekday = 1;
    if extended {
        if s.get(pos) == Some(&b'-') && s.get(pos + 1).is_some_and(u8::is_ascii_digit) {
            weekday = digits(s, pos + 1, 1)?;
            pos += 2;
        }
    } else if s.get(pos).is_some_and(u8::is_ascii_digit) {
        weekday = digits(s, pos, 1)?;
        pos += 1;
    }
    // Monday = 0; 1970-01-01 was a Thursday.
    let weekday_of = |days: i64| (days + 3).rem_euclid(7);
    let jan1 = days_from_civil(year, 1, 1);
    let long_year = weekday_of(jan1) == 3 || (weekday_of(jan1) == 2 && is_leap(year));
    let weeks = if long_year { 53 } else { 52 };
    if !(1..=weeks).contains(&week) || !(1..=7).contains(&weekday) {
        return None;
    }
    // Week 1 is the week holding January 4th (ISO 8601).
    let jan4 = jan1 + 3;
    let monday = jan4 - weekday_of(jan4);
    Some((monday + (week - 1) * 7 + weekday - 1, pos))
}

/// `HH[:MM[:SS[frac]]]` or `HH[MM[SS[frac]]]` → (microseconds, bytes used).
fn clock(s: &[u8]) -> Option<(i64, usize)> {
    let hour = digits(s, 0, 2)?;
    let mut pos = 2;
    let (mut minute, mut second, mut micros) = (0, 0, 0);
    let extended = s.get(pos) == Some(&b':');
    let sep = usize::from(extended);
    let next = |pos: usize| {
        if extended {
            s.get(pos) == Some(&b':')
        } else {
            s.get(pos).is_some_and(u8::is_ascii_digit)
        }
    };
    if next(pos) {
        minute = digits(s, pos + sep, 2)?;
        pos += sep + 2;
        if next(pos) {
            second = digits(s, pos + sep, 2)?;
            pos += sep + 2;
            if matches!(s.get(pos), Some(b'.' | b',')) {
                let (f, used) = fraction(&s[pos + 1..])?;
                micros = f;
                pos += 1 + used;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((
        ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros,
        pos,
    ))
}

/// One or more digits → microseconds (the first six digits count).
fn fraction(s: &[u8]) -> Option<(i64, usize)> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut micros = 0;
    for i in 0..6 {
        micros = micros * 10
            + s.get(i)
                .filter(|_| i < n)
                .map_or(0, |b| i64::from(b - b'0'));
    }
    Some((micros, n))
}

/// `Z` or a signed offset (a clock) that ends the string → offset in microseconds.
fn zone(s: &[u8]) -> Option<i64> {
    if s == b"Z" {
        return Some(0);
    }
    let sign = match s.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (t, used) = clock(&s[1..])?;
    if used + 1 != s.len() {
        return None;
    }
    Some(sign * t)
}

/// `n` ASCII digits at `at` as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Length of the one UTF-8 character at the start of `s` (the separator).
fn utf8_len(s: &[u8]) -> Option<usize> {
    let n = match s.first()? {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    std::str::from_utf8(s.get(..n)?).ok().map(|_| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<i64> {
        parse_iso8601(s.as_bytes())
    }

    #[test]
    fn documented_forms() {
        let base = 1_704_067_200; // 2024-01-01T00:00:00Z
        assert_eq!(t("2024-01-01"), Some(base));
        assert_eq!(t("20240101"), Some(base));
        assert_eq!(t("2024-W01"), Some(base));
        assert_eq!(t("2024-W01-2"), Some(base + 86_400));
        assert_eq!(t("2024W012"), Some(base + 86_400));
        assert_eq!(t("2020-W53"), Some(1_609_113_600)); // 2020-12-28
        assert_eq!(t("2024-01-01T12"), Some(base + 43_200));
        assert_eq!(t("2024-01-01T1230"), Some(base + 45_000));
        assert_eq!(t("2024-01-01 12:30:45"), Some(base + 45_045));
        assert_eq!(t("2024-01-01x12:30:45.999999"), Some(base + 45_045));
        assert_eq!(t("2024-01-01T12:30:45,5Z"), Some(base + 45_045));
        assert_eq!(t("2024-01-01T12:30+01"), Some(base + 45_000 - 3600));
        assert_eq!(t("2024-01-01T12:30-0130"), Some(base + 45_000 + 5400));
        assert_eq!(t("2024-01-01T00:00+00:00:01.5"), Some(base - 2));
        // Before 1970 the fraction truncates toward zero, as int() does.
        assert_eq!(t("1969-12-31T23:59:59.5"), Some(0));
        assert_eq!(t("0001-01-01"), Some(-62_135_596_800));
    }

    #[test]
    fn refused_forms() {
        for s in [
            "",
            "2024",
            "2024-01",
            "2024-1-01",
            "2024-0101",
            "202401-01",
            "0000-01-01",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-W53",
            "2024-W00",
            "2024-W01-8",
            "2024-01-01T",
            "2024-01-01T1",
            "2024-01-01T12:3",
            "2024-01-01T12:3045",
            "2024-01-01T1230:45",
            "2024-01-01T24:00",
            "2024-01-01T12:30:60",
            "2024-01-01T12:30:45.",
            "2024-01-01T12.5",
            "2024-01-01T12:30+24:00",
            "2024-01-01T12:30 +01:00",
            "2024-01-01T12:30+1",
            "2024-01-01T12:30Zx",
            "2024-01-01T12:30z",
        ] {
            assert_eq!(t(s), None, "{s:?}");
        }
        assert_eq!(parse_iso8601(b"2024-01-01\xff12:30"), None);
    }
}
