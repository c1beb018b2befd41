//! The revocation CSV (`serial_hex,revocation_time,reason[,invalidity_date]`) read
//! straight into the columns the writer takes, with no per-row object: a million rows
//! in a fraction of a second instead of seconds of Python loop (issue 20 §1).
//!
//! The grammar is the one `porthos crl build` has always read (docs/crl-input.md):
//! * lines end with LF, CRLF or a lone CR; an empty line is skipped; a UTF-8 BOM is
//!   ignored; line 1 is a header when its first field starts with `serial`;
//! * fields are split at commas, a field that starts with `"` is quoted (`""` is one
//!   quote) and must end on its line; each field is trimmed of ASCII white space;
//! * serial: hex, optional `0x`, positive, at most 20 INTEGER octets (RFC 5280
//!   §4.1.2.2), i.e. below 2^159;
//! * times: [`parse_iso8601`] (naive = UTC); reason: an RFC 5280 §5.3.1 name (any
//!   case) or number, empty or `unspecified` = no reasonCode (SHOULD be absent);
//! * an empty or missing fourth field = no invalidityDate.
//!
//! Every bad row is counted and the first [`MAX_REPORTED`] are reported with their
//! line number; nothing is returned then. Time and memory are linear in the input:
//! one pass, chunks of about 1 MiB parsed in parallel (cut after a LF, so a row never
//! spans two), error texts capped in length whatever the line.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::crl::iso8601::parse_iso8601;
use crate::crl::{OwnedColumns, INVALIDITY_NONE, REASON_NONE};
use crate::x509::time::civil_from_unix;

/// How many bad rows are spelled out; the rest are counted.
pub const MAX_REPORTED: usize = 20;

/// RFC 5280 §5.3.1 CRLReason names (python/porthos/crl_reasons.py holds the same
/// table; a test keeps them equal).
pub const REASON_NAMES: [(&str, u8); 10] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("cACompromise", 2),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
    ("certificateHold", 6),
    ("removeFromCRL", 8),
    ("privilegeWithdrawn", 9),
    ("aACompromise", 10),
];

/// The bad rows of an input: the first [`MAX_REPORTED`] messages, each starting with
/// `line N: `, and how many rows were bad in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvErrors {
    pub first: Vec<String>,
    pub count: usize,
}

impl std::fmt::Display for CsvErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.join("; "))?;
        if self.count > self.first.len() {
            write!(f, " (and {} more)", self.count - self.first.len())?;
        }
        Ok(())
    }
}

const CHUNK: usize = 1 << 20;

/// Parse a whole revocation CSV into canonical columns (20-octet right-aligned
/// serials, input order), or report its bad rows.
pub fn read_revocations_csv(data: &[u8]) -> Result<OwnedColumns, CsvErrors> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let parts: Vec<Part> = chunks(data)
        .par_iter()
        .map(|&(a, b)| parse_chunk(&data[a..b], a == 0))
        .collect();
    let count: usize = parts.iter().map(|p| p.bad).sum();
    if count > 0 {
        let mut first = Vec::new();
        let mut line_base = 0;
        for p in &parts {
            for (line, msg) in &p.errors {
                if first.len() < MAX_REPORTED {
                    first.push(format!("line {}: {msg}", line_base + line));
                }
            }
            line_base += p.lines;
        }
        return Err(CsvErrors { first, count });
    }
    let n = parts.iter().map(|p| p.cols.len()).sum();
    let mut out = OwnedColumns::with_capacity(n);
    for p in parts {
        out.serials.extend_from_slice(&p.cols.serials);
        out.revocation_times
            .extend_from_slice(&p.cols.revocation_times);
        out.reasons.extend_from_slice(&p.cols.reasons);
        out.invalidity.extend_from_slice(&p.cols.invalidity);
    }
    Ok(out)
}

/// `[start, end)` ranges of about [`CHUNK`] bytes, each ending just after a LF (or at
/// the end), so CRLF pairs and rows stay whole.
fn chunks(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(data.len() / CHUNK + 1);
    let mut start = 0;
    while start < data.len() {
        let guess = (start + CHUNK).min(data.len());
        let end = data[guess..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| guess + p + 1);
        out.push((start, end));
        start = end;
    }
    out
}

/// One chunk's rows: columns, lines seen, and (local line, message) of the first bad
/// rows.
struct Part {
    cols: OwnedColumns,
    lines: usize,
    errors: Vec<(usize, String)>,
    bad: usize,
}

fn parse_chunk(chunk: &[u8], first_chunk: bool) -> Part {
    // ~70 bytes a row is typical; a guess, only to spare reallocations.
    let mut part = Part {
        cols: OwnedColumns::with_capacity(chunk.len() / 64),
        lines: 0,
        errors: Vec::new(),
        bad: 0,
    };
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut pos = 0;
    while pos < chunk.len() {
        let end = find2(chunk, pos, b'\n', b'\r').unwrap_or(chunk.len());
        let text = &chunk[pos..end];
        pos = match chunk.get(end) {
            Some(b'\r') if chunk.get(end + 1) == Some(&b'\n') => end + 2,
            Some(_) => end + 1,
            None => end,
        };
        part.lines += 1;
        if text.is_empty() {
            continue;
        }
        let header = first_chunk && part.lines == 1;
        if let Err(msg) = parse_row(text, header, &mut fields, &mut part.cols) {
            part.bad += 1;
            if part.errors.len() < MAX_REPORTED {
                part.errors.push((part.lines, msg));
            }
        }
    }
    part
}

/// One non-empty line → one row appended to `cols`, nothing (a header), or why not.
fn parse_row<'a>(
    line: &'a [u8],
    header_allowed: bool,
    fields: &mut Vec<Cow<'a, [u8]>>,
    cols: &mut OwnedColumns,
) -> Result<(), String> {
    fields.clear();
    split_fields(line, fields)?;
    if header_allowed && trim(&fields[0]).to_ascii_lowercase().starts_with(b"serial") {
        return Ok(());
    }
    if !(3..=4).contains(&fields.len()) {
        return Err(format!("{} fields, expected 3 or 4", fields.len()));
    }
    let serial = parse_serial(&fields[0])?;
    let time = parse_iso8601(trim(&fields[1]))
        .ok_or_else(|| format!("revocation_time {} is not ISO-8601", quoted(&fields[1])))?;
    let reason = reason_code(&fields[2])?;
    let invalidity = match fields.get(3).map(|f| trim(f)) {
        Some(t) if !t.is_empty() => parse_iso8601(t)
            .ok_or_else(|| format!("invalidity_date {} is not ISO-8601", quoted(&fields[3])))?,
        _ => INVALIDITY_NONE,
    };
    cols.serials.extend_from_slice(&serial);
    cols.revocation_times.push(time);
    cols.reasons.push(reason);
    cols.invalidity.push(invalidity);
    Ok(())
}

/// Split at commas; a field starting with `"` is quoted, `""` inside is one quote and
/// text after the closing quote is kept, as Python's csv module (excel dialect) does.
fn split_fields<'a>(line: &'a [u8], fields: &mut Vec<Cow<'a, [u8]>>) -> Result<(), String> {
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let mut buf = Vec::new();
            i += 1;
            loop {
                match line.get(i) {
                    None => return Err("a quoted field does not end on its line".into()),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        buf.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        buf.push(c);
                        i += 1;
                    }
                }
            }
            let rest = find2(line, i, b',', b',').unwrap_or(line.len());
            buf.extend_from_slice(&line[i..rest]);
            i = rest;
            fields.push(Cow::Owned(buf));
        } else {
            let end = find2(line, i, b',', b',').unwrap_or(line.len());
            fields.push(Cow::Borrowed(&line[i..end]));
            i = end;
        }
        if i >= line.len() {
            return Ok(());
        }
        i += 1; // the comma; a trailing one leaves an empty last field
        if i == line.len() {
            fields.push(Cow::Borrowed(&[]));
            return Ok(());
        }
    }
}

/// Python's `str.strip()` on the ASCII white space it knows (incl. \x1c-\x1f).
fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f);
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |p| p + 1);
    &s[start..end]
}

/// Hex digit values; 0xff marks a byte that is not one. A table rather than
/// branches: with random serials the digit/letter branch mispredicted on every other
/// character and cost half the reader's time.
pub const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Why a hex serial was refused (the codes of [`hex_serials`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SerialError {
    NotHex = 1,
    /// Zero, or more than 20 INTEGER octets (RFC 5280 §4.1.2.2).
    OutOfRange = 2,
}

/// Hex with optional `0x`, trimmed → the 20-octet right-aligned magnitude.
pub fn hex_serial(raw: &[u8]) -> Result<[u8; 20], SerialError> {
    let t = trim(raw);
    let t = match t {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => t,
    };
    let invalid = t.iter().fold(0u8, |acc, &b| acc | HEX[usize::from(b)]);
    if t.is_empty() || invalid & 0x80 != 0 {
        return Err(SerialError::NotHex);
    }
    let start = t.iter().position(|&b| b != b'0').unwrap_or(t.len());
    let sig = &t[start..];
    // Positive and at most 159 bits: 20 DER INTEGER octets with the sign bit clear.
    if sig.is_empty() || sig.len() > 40 || (sig.len() == 40 && HEX[usize::from(sig[0])] > 7) {
        return Err(SerialError::OutOfRange);
    }
    let mut out = [0u8; 20];
    let odd = sig.len() % 2;
    let at = 20 - sig.len().div_ceil(2);
    if odd == 1 {
        out[at] = HEX[usize::from(sig[0])];
    }
    for (k, pair) in sig[odd..].chunks_exact(2).enumerate() {
        out[at + odd + k] = (HEX[usize::from(pair[0])] << 4) | HEX[usize::from(pair[1])];
    }
    Ok(out)
}

fn parse_serial(raw: &[u8]) -> Result<[u8; 20], String> {
    hex_serial(raw).map_err(|e| match e {
        SerialError::NotHex => format!("serial {} is not hex", quoted(raw)),
        SerialError::OutOfRange => format!(
            "serial {} must be positive and at most 20 octets (RFC 5280 §4.1.2.2)",
            quoted(raw)
        ),
    })
}

/// A column of hex serials (an Arrow string column: `data` and `n + 1` offsets) →
/// (`n * 20` magnitudes, a status per row: 0 or a [`SerialError`] code). The Parquet
/// reader's serials, with the CSV's grammar and no Python loop.
pub fn hex_serials(data: &[u8], offsets: &[i64]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let n = offsets.len().saturating_sub(1);
    let mut serials = vec![0u8; 20 * n];
    let mut status = vec![0u8; n];
    for i in 0..n {
        let (a, b) = (offsets[i], offsets[i + 1]);
        let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
            return Err(format!("offsets[{i}]: negative"));
        };
        let Some(raw) = data.get(a..b) else {
            return Err(format!(
                "offsets[{i}]: {a}..{b} is outside the {} octets",
                data.len()
            ));
        };
        match hex_serial(raw) {
            Ok(row) => serials[20 * i..20 * (i + 1)].copy_from_slice(&row),
            Err(e) => status[i] = e as u8,
        }
    }
    Ok((serials, status))
}

/// Position of the first `a` or `b` in `s[from..]`, eight bytes at a time (a word
/// holds the byte when `(x - 0x01..) & !x & 0x80..` is non-zero for `x = w ^ b..`).
fn find2(s: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let (ma, mb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = from;
    while i + 8 <= s.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&s[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let hit = zero(w ^ ma) | zero(w ^ mb);
        if hit != 0 {
            // The lowest flagged byte is exact (borrows only run upward).
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&c| c == a || c == b).map(|p| i + p)
}

/// A reason by name (any case) or number; empty, `unspecified`/0 and 255 mean no
/// reasonCode ([`REASON_NONE`]), as `porthos.issuance.crl.reason_code` does.
pub fn reason_code(raw: &[u8]) -> Result<u8, String> {
    if raw.is_empty() {
        return Ok(REASON_NONE);
    }
    let t = trim(raw);
    let code: u64 = if !t.is_empty() && t.iter().all(u8::is_ascii_digit) {
        t.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
    } else {
        match REASON_NAMES
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(t))
        {
            Some(&(_, code)) => u64::from(code),
            None => {
                return Err(format!(
                    "unknown revocation reason {} (RFC 5280 §5.3.1 names)",
                    quoted(raw)
                ))
            }
        }
    };
    match code {
        0 | 255 => Ok(REASON_NONE),
        1..=6 | 8..=10 => Ok(code as u8),
        _ => {
            let digits = String::from_utf8_lossy(t);
            let shown = digits.trim_start_matches('0');
            Err(format!(
                "reason code {shown} is not a CRLReason (RFC 5280 §5.3.1)"
            ))
        }
    }
}

/// A field as the message shows it: quoted, escaped, at most ~100 characters (a 1 GB
/// line must not become a 1 GB message, nor 60 escaped NULs a 600-character one).
fn quoted(raw: &[u8]) -> String {
    const MAX: usize = 100;
    let mut out = String::new();
    for c in String::from_utf8_lossy(raw).chars() {
        let escaped: String = c.escape_debug().collect();
        if out.len() + escaped.len() > MAX {
            out.push('…');
            break;
        }
        out.push_str(&escaped);
    }
    format!("'{out}'")
}

/// The CSV that reads back as `cols` (header, 4 fields a row, UTC times; a time
/// outside years 1..9999 in UTC is written with a ±23:59:59 offset).
pub fn write_revocations_csv(cols: &OwnedColumns) -> Vec<u8> {
    let mut out = b"serial,revocation_time,reason,invalidity_date\n".to_vec();
    for i in 0..cols.len() {
        let row = &cols.serials[i * 20..(i + 1) * 20];
        let start = row.iter().position(|&b| b != 0).unwrap_or(19);
        for b in &row[start..] {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        out.push(b',');
        out.extend_from_slice(format_time(cols.revocation_times[i]).as_bytes());
        out.push(b',');
        if cols.reasons[i] != REASON_NONE {
            out.extend_from_slice(cols.reasons[i].to_string().as_bytes());
        }
        out.push(b',');
        if cols.invalidity[i] != INVALIDITY_NONE {
            out.extend_from_slice(format_time(cols.invalidity[i]).as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn format_time(t: i64) -> String {
    let civil = |t: i64, zone: &str| {
        let (y, mo, d, h, mi, s) = civil_from_unix(t);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
    };
    const SHIFT: i64 = 86_399;
    let (y, ..) = civil_from_unix(t);
    if y < 1 {
        civil(t + SHIFT, "+23:59:59")
    } else if y > 9999 {
        civil(t - SHIFT, "-23:59:59")
    } else {
        civil(t, "Z")
    }
}

/// The fuzz property (fuzz/fuzz_targets/revocations_csv.rs and its stable twin): no
/// panic on any bytes; an accepted input round-trips through the CSV it writes; a
/// refused one reports at least one line and at most [`MAX_REPORTED`].
pub fn assert_revocations_csv_invariants(data: &[u8]) {
    match read_revocations_csv(data) {
        Ok(cols) => {
            let n = cols.len();
            assert_eq!(cols.serials.len(), 20 * n);
            assert_eq!(cols.reasons.len(), n);
            assert_eq!(cols.invalidity.len(), n);
            let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
            assert!(n <= lines, "{n} rows from {lines} lines");
            for row in cols.serials.chunks(20) {
                assert!(
                    row.iter().any(|&b| b != 0) && row[0] < 0x80,
                    "serial {row:?}"
                );
            }
            let again = read_revocations_csv(&write_revocations_csv(&cols))
                .unwrap_or_else(|e| panic!("re-written CSV refused: {e}"));
            assert_eq!(again, cols, "round trip");
        }
        Err(e) => {
            assert!(e.count >= 1);
            assert_eq!(e.first.len(), e.count.min(MAX_REPORTED));
            assert!(e
                .first
                .iter()
                .all(|m| m.starts_with("line ") && m.len() < 400));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<OwnedColumns, CsvErrors> {
        read_revocations_csv(s.as_bytes())
    }

    #[test]
    fn rows_become_columns() {
        let c = read(
            "serial_hex,revocation_time,reason,invalidity_date\r\n\
             0x0A,2024-01-01T00:00:00Z,keyCompromise,2023-12-31\r\n\
             \r\n\
             \"ff\" , 2024-01-01 00:00:01+00:00 ,,\n\
             7fffffffffffffffffffffffffffffffffffffff,20240101,Unspecified\r\
             1,2024-01-01,6",
        )
        .unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(&c.serials[18..20], &[0, 0x0a]);
        assert_eq!(c.serials[39], 0xff);
        assert_eq!(c.serials[40], 0x7f);
        assert_eq!(c.revocation_times[..2], [1_704_067_200, 1_704_067_201]);
        assert_eq!(c.reasons, [1, REASON_NONE, REASON_NONE, 6]);
        assert_eq!(c.invalidity[0], 1_703_980_800);
        assert_eq!(c.invalidity[1], INVALIDITY_NONE);
    }

    #[test]
    fn bad_rows_are_reported_by_line() {
        let e = read(
            "serial,t,r\nzz,2024-01-01,1\n0,2024-01-01,1\n1,2024-13-01,1\n\
             1,2024-01-01,7\n1,2024-01-01,bogus\n1,2024-01-01\n1,2024-01-01,1,x\n\
             80000000000000000000000000000000000000000,2024-01-01,1\n\"1,2024-01-01,1\n",
        )
        .unwrap_err();
        assert_eq!(e.count, 9);
        let lines: Vec<&str> = e
            .first
            .iter()
            .map(|m| m.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            (2..=10).map(|n| format!("line {n}")).collect::<Vec<_>>()
        );
        assert!(e.first[3].contains("reason code 7"), "{e}");
    }

    #[test]
    fn errors_past_twenty_are_counted_and_lines_cross_chunks() {
        let mut s = String::new();
        for i in 0..200_000 {
            s.push_str(if i % 5000 == 4999 {
                "x,y,z\n"
            } else {
                "1a2b3c,2024-01-01T00:00:00Z,1\n"
            });
        }
        let e = read(&s).unwrap_err();
        assert_eq!(e.count, 40);
        assert_eq!(e.first.len(), MAX_REPORTED);
        assert!(e.first[19].starts_with("line 100000: "), "{}", e.first[19]);
        assert!(e.to_string().ends_with("(and 20 more)"));
    }

    #[test]
    fn find2_agrees_with_a_byte_loop() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for from in 0..hay.len() {
            for (a, b) in [(b'\n', b'\r'), (b',', b','), (0, 0xff), (0x80, 1)] {
                let want = hay[from..]
                    .iter()
                    .position(|&c| c == a || c == b)
                    .map(|p| from + p);
                assert_eq!(find2(&hay, from, a, b), want);
            }
        }
    }

    #[test]
    fn serials_decode_at_every_length() {
        for len in 1..=40 {
            let text: String = "123456789abcdef7"
                .chars()
                .cycle()
                .skip(40 - len)
                .take(len)
                .collect();
            let want = num_hex(&text);
            assert_eq!(
                parse_serial(text.as_bytes()).unwrap().to_vec(),
                want,
                "{text}"
            );
        }
        assert!(parse_serial(b"8000000000000000000000000000000000000000").is_err());
        assert!(parse_serial(b"0x00007fffffffffffffffffffffffffffffffffffffff").is_ok());
        assert!(parse_serial(b"12g4").is_err());
    }

    fn num_hex(text: &str) -> Vec<u8> {
        let padded = format!("{text:0>40}");
        (0..20)
            .map(|i| u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn a_column_of_serials() {
        let data = b"0a ff zz 0 0x1";
        let offsets = [0, 2, 6, 8, 11, 14];
        let (s, st) = hex_serials(data, &offsets).unwrap();
        assert_eq!(st, [0, 0, 1, 2, 0]);
        assert_eq!((s[19], s[39], s[99]), (0x0a, 0xff, 1));
        assert!(hex_serials(data, &[0, 99]).is_err());
        assert!(hex_serials(data, &[3, 2]).is_err());
        assert!(hex_serials(data, &[-1, 2]).is_err());
        assert_eq!(hex_serials(data, &[]).unwrap().0.len(), 0);
    }

    #[test]
    fn reasons_and_messages_are_bounded() {
        assert_eq!(reason_code(b" 010 "), Ok(10));
        assert_eq!(reason_code(b"AACOMPROMISE"), Ok(10));
        assert_eq!(reason_code(b"255"), Ok(REASON_NONE));
        assert!(reason_code(b" ").is_err());
        assert!(reason_code(b"99999999999999999999999").is_err());
        let huge = format!("{},2024-01-01,1", "z".repeat(1 << 20));
        let e = read(&huge).unwrap_err();
        assert!(e.first[0].len() < 200);
        // Found by the fuzzer: escapes made a 60-character cut 600 octets long.
        let nuls = format!("{},2024-01-01,1", "\u{10ffff}\0".repeat(100));
        let e = read(&nuls).unwrap_err();
        assert!(e.first[0].len() < 200, "{}", e.first[0]);
    }

    #[test]
    fn writer_round_trips_extreme_times() {
        let mut c = OwnedColumns::default();
        let key = [1u8];
        for t in [
            -62_135_683_199i64,
            -62_135_596_800,
            0,
            253_402_300_799 + 86_399,
        ] {
            c.push(&key, t, REASON_NONE, t);
        }
        assert_eq!(read_revocations_csv(&write_revocations_csv(&c)).unwrap(), c);
    }
}
