//! Revocation entries as columns (one array per field, no per-entry object).
//!
//! Serial forms accepted (both borrowed, never copied):
//! * **fixed**: rows of `width` octets, an unsigned big-endian magnitude, left
//!   zero-padded (NumPy `S20` or an N×20 `uint8` array without lengths);
//! * **content**: rows of `width` octets plus a length per row; `row[..len]` are the
//!   INTEGER content octets as DER carries them (two's complement), so negative and
//!   over-long serials are expressible and can be refused.
//!
//! Either way a serial's *key* is its magnitude with leading zero octets stripped;
//! comparing (key length, key octets) orders serials numerically.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::crl::{CrlError, INVALIDITY_NONE, REASON_NONE};
use crate::x509::time::{MAX_TIME, MIN_TIME};

/// RFC 5280 §5.3.1 CRLReason values; 7 is unassigned.
pub const REASON_UNSPECIFIED: u8 = 0;
pub const REASON_REMOVE_FROM_CRL: u8 = 8;
pub const REASON_MAX: u8 = 10;

/// Borrowed input columns; `n` rows each.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// `n * width` octets.
    pub serials: &'a [u8],
    pub width: usize,
    /// Content lengths (content form) or `None` (fixed form).
    pub serial_lengths: Option<&'a [u8]>,
    /// Unix seconds.
    pub revocation_times: &'a [i64],
    /// RFC 5280 §5.3.1 codes, or [`REASON_NONE`].
    pub reasons: &'a [u8],
    /// Unix seconds or [`INVALIDITY_NONE`]; `None` = no column at all.
    pub invalidity: Option<&'a [i64]>,
}

impl<'a> Columns<'a> {
    pub fn len(&self) -> usize {
        self.revocation_times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Check that every column has `n` rows (a malformed *argument*, not a bad row).
    pub fn check_shape(&self) -> Result<(), CrlError> {
        let n = self.len();
        if self.width == 0 {
            return Err(CrlError::Argument("serials: rows of zero octets".into()));
        }
        if self.serials.len() != n * self.width {
            return Err(CrlError::Argument(format!(
                "serials: {} rows of {} octets, expected {n} rows (one per revocation time)",
                self.serials.len() / self.width,
                self.width
            )));
        }
        let check = |name: &str, got: usize| {
            if got != n {
                Err(CrlError::Argument(format!(
                    "{name}: {got} rows, expected {n}"
                )))
            } else {
                Ok(())
            }
        };
        if let Some(l) = self.serial_lengths {
            check("serial_lengths", l.len())?;
        }
        check("reasons", self.reasons.len())?;
        if let Some(d) = self.invalidity {
            check("invalidity_dates", d.len())?;
        }
        Ok(())
    }

    fn row(&self, i: usize) -> &'a [u8] {
        &self.serials[i * self.width..(i + 1) * self.width]
    }

    /// The serial's magnitude without leading zero octets (unchecked form).
    #[inline]
    pub fn key(&self, i: usize) -> &'a [u8] {
        let raw = match self.serial_lengths {
            Some(l) => &self.row(i)[..usize::from(l[i]).min(self.width)],
            None => self.row(i),
        };
        let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
        &raw[start..]
    }

    /// DER INTEGER content length of serial `i` (after [`Columns::validate`]).
    #[inline]
    pub fn serial_content_len(&self, i: usize) -> usize {
        let k = self.key(i);
        k.len() + usize::from(k[0] & 0x80 != 0)
    }

    pub fn invalidity_at(&self, i: usize) -> i64 {
        self.invalidity.map_or(INVALIDITY_NONE, |d| d[i])
    }

    /// Check one row: serial positive and at most 20 content octets (RFC 5280
    /// §4.1.2.2), times encodable, reason a defined CRLReason.
    fn validate_row(&self, i: usize, delta: bool) -> Result<(), CrlError> {
        let row_err = |what: String| CrlError::Row { index: i, what };
        if let Some(l) = self.serial_lengths {
            let len = usize::from(l[i]);
            if len > self.width {
                return Err(row_err(format!(
                    "serial length {len} is more than the {} octets of a row",
                    self.width
                )));
            }
            if len > 20 {
                return Err(row_err(format!(
                    "serial of {len} octets: RFC 5280 §4.1.2.2 allows at most 20"
                )));
            }
            let content = &self.row(i)[..len];
            if content.first().is_some_and(|&b| b & 0x80 != 0) {
                return Err(row_err(format!(
                    "serial {} is negative (RFC 5280 §4.1.2.2)",
                    hex(content)
                )));
            }
        }
        let key = self.key(i);
        if key.is_empty() {
            return Err(row_err(
                "serial is zero (RFC 5280 §4.1.2.2: positive)".into(),
            ));
        }
        if key.len() + usize::from(key[0] & 0x80 != 0) > 20 {
            return Err(row_err(format!(
                "serial {} needs {} content octets; RFC 5280 §4.1.2.2 allows at most 20",
                hex(key),
                key.len() + 1
            )));
        }
        let t = self.revocation_times[i];
        if !(MIN_TIME..=MAX_TIME).contains(&t) {
            return Err(row_err(format!(
                "revocation time {t} is outside years 1..9999"
            )));
        }
        let r = self.reasons[i];
        if r != REASON_NONE {
            if r > REASON_MAX || r == 7 {
                return Err(row_err(format!(
                    "reason code {r} is not a CRLReason (RFC 5280 §5.3.1)"
                )));
            }
            if r == REASON_UNSPECIFIED {
                return Err(row_err(format!(
                    "reason code 0 (unspecified): RFC 5280 §5.3.1 says the extension SHOULD be absent; pass {REASON_NONE}"
                )));
            }
            if r == REASON_REMOVE_FROM_CRL && !delta {
                return Err(row_err(
                    "removeFromCRL (8) belongs in delta CRLs only (RFC 5280 §5.3.1)".into(),
                ));
            }
        }
        let d = self.invalidity_at(i);
        if d != INVALIDITY_NONE && !(MIN_TIME..=MAX_TIME).contains(&d) {
            return Err(row_err(format!(
                "invalidity date {d} is outside years 1..9999"
            )));
        }
        Ok(())
    }

    /// Validate every row (in parallel) and report the lowest bad row index.
    pub fn validate(&self, delta: bool) -> Result<(), CrlError> {
        self.check_shape()?;
        let bad = (0..self.len())
            .into_par_iter()
            .with_min_len(4096)
            .find_first(|&i| self.validate_row(i, delta).is_err());
        match bad {
            Some(i) => self.validate_row(i, delta),
            None => Ok(()),
        }
    }

    /// Sort prefix of a serial: key length, then its first 7 octets.
    #[inline]
    fn prefix(&self, i: usize) -> u64 {
        let k = self.key(i);
        let mut p = (k.len() as u64) << 56;
        for (j, &b) in k.iter().take(7).enumerate() {
            p |= u64::from(b) << (48 - 8 * j);
        }
        p
    }

    /// Numeric order of two serials.
    #[inline]
    pub fn cmp_serials(&self, a: usize, b: usize) -> Ordering {
        cmp_keys(self.key(a), self.key(b))
    }

    /// Row indices in serial order; a duplicate serial is an error naming it.
    /// Sorting an index array (4 octets per row) keeps the input untouched.
    pub fn sorted_order(&self) -> Result<Vec<u32>, CrlError> {
        Ok(self.sorted_order_sized(&|_| 0, usize::MAX)?.0)
    }

    /// [`Columns::sorted_order`], plus the sum of `size(row)` over each run of
    /// `chunk` consecutive rows in serial order (the writer's per-chunk byte counts).
    ///
    /// Why this shape: on unsorted input every pass that visits rows in serial order
    /// is a random gather across the columns (a cache miss per column per row).
    /// So `size` and the sort prefix are computed in ONE sequential pass over the
    /// input and carried in the sort records; duplicates can only sit inside runs of
    /// equal prefixes, so the duplicate check touches rows only there. What is left
    /// for the caller is one gather (the write), which it can prefetch.
    pub fn sorted_order_sized(
        &self,
        size: &(dyn Fn(usize) -> usize + Sync),
        chunk: usize,
    ) -> Result<(Vec<u32>, Vec<usize>), CrlError> {
        let n = self.len();
        if n > u32::MAX as usize {
            return Err(CrlError::Argument(format!(
                "{n} rows: at most {} per CRL",
                u32::MAX
            )));
        }
        let chunk = chunk.max(1);
        let sorted_already = (1..n)
            .into_par_iter()
            .with_min_len(4096)
            .all(|i| self.cmp_serials(i - 1, i) == Ordering::Less);
        if sorted_already {
            let sizes = (0..n.div_ceil(chunk))
                .into_par_iter()
                .map(|c| {
                    (c * chunk..n.min(c.saturating_add(1).saturating_mul(chunk)))
                        .map(size)
                        .sum()
                })
                .collect();
            return Ok(((0..n as u32).collect(), sizes));
        }
        // Records: (prefix: key length then the first 7 key octets) << 64 |
        // size << 32 | row. The prefix orders almost every pair without touching the
        // serial rows; equal prefixes are finished with the full comparison below.
        // The records are freed before the caller allocates its output.
        let mut recs: Vec<u128> = (0..n)
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| {
                (u128::from(self.prefix(i)) << 64)
                    | ((size(i) as u128 & 0xffff_ffff) << 32)
                    | i as u128
            })
            .collect();
        recs.par_sort_unstable();
        let mut order: Vec<u32> = recs.iter().map(|&r| r as u32).collect();
        let sizes: Vec<usize> = recs
            .par_chunks(chunk)
            .map(|c| c.iter().map(|&r| ((r >> 32) as u32) as usize).sum())
            .collect();
        // Runs of equal prefixes: full comparison, and the only place a duplicate
        // can be.
        let mut k = 0;
        while k < n {
            let mut e = k + 1;
            while e < n && recs[e] >> 64 == recs[k] >> 64 {
                e += 1;
            }
            if e - k > 1 {
                let run = &mut order[k..e];
                run.sort_unstable_by(|&a, &b| self.cmp_serials(a as usize, b as usize));
                for w in run.windows(2) {
                    let (a, b) = (w[0] as usize, w[1] as usize);
                    if self.cmp_serials(a, b) == Ordering::Equal {
                        return Err(CrlError::Duplicate {
                            serial_hex: hex(self.key(a)),
                            rows: (a.min(b), a.max(b)),
                        });
                    }
                }
            }
            k = e;
        }
        Ok((order, sizes))
    }
}

#[inline]
pub fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    if s.is_empty() {
        s.push('0');
    }
    s
}

/// Owned columns in the canonical form (fixed width 20, serial order), as the parser,
/// delta and merge produce them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedColumns {
    /// `n * 20` octets, right-aligned magnitudes.
    pub serials: Vec<u8>,
    pub revocation_times: Vec<i64>,
    pub reasons: Vec<u8>,
    pub invalidity: Vec<i64>,
}

impl OwnedColumns {
    pub fn len(&self) -> usize {
        self.revocation_times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn with_capacity(n: usize) -> Self {
        OwnedColumns {
            serials: Vec::with_capacity(n * 20),
            revocation_times: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
            invalidity: Vec::with_capacity(n),
        }
    }

    /// Append a row; `key` is a magnitude of at most 20 octets.
    pub fn push(&mut self, key: &[u8], time: i64, reason: u8, invalidity: i64) {
        let pad = 20 - key.len();
        self.serials.extend(std::iter::repeat_n(0u8, pad));
        self.serials.extend_from_slice(key);
        self.revocation_times.push(time);
        self.reasons.push(reason);
        self.invalidity.push(invalidity);
    }

    /// Copy row `i` of `other`.
    pub fn push_from(&mut self, other: &OwnedColumns, i: usize) {
        self.serials
            .extend_from_slice(&other.serials[i * 20..(i + 1) * 20]);
        self.revocation_times.push(other.revocation_times[i]);
        self.reasons.push(other.reasons[i]);
        self.invalidity.push(other.invalidity[i]);
    }

    pub fn view(&self) -> Columns<'_> {
        Columns {
            serials: &self.serials,
            width: 20,
            serial_lengths: None,
            revocation_times: &self.revocation_times,
            reasons: &self.reasons,
            invalidity: Some(&self.invalidity),
        }
    }

    /// Validate `cols` and copy them into canonical, serial-ordered form.
    pub fn from_columns(cols: &Columns<'_>, delta: bool) -> Result<Self, CrlError> {
        cols.validate(delta)?;
        let order = cols.sorted_order()?;
        let mut out = OwnedColumns::with_capacity(order.len());
        for &i in &order {
            let i = i as usize;
            out.push(
                cols.key(i),
                cols.revocation_times[i],
                cols.reasons[i],
                cols.invalidity_at(i),
            );
        }
        Ok(out)
    }

    /// Index of `key` (a magnitude, leading zeros allowed) by binary search.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let start = key.iter().position(|&b| b != 0).unwrap_or(key.len());
        let key = &key[start..];
        if key.len() > 20 {
            return None;
        }
        let v = self.view();
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match cmp_keys(v.key(mid), key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols<'a>(serials: &'a [u8], times: &'a [i64], reasons: &'a [u8]) -> Columns<'a> {
        Columns {
            serials,
            width: 2,
            serial_lengths: None,
            revocation_times: times,
            reasons,
            invalidity: None,
        }
    }

    #[test]
    fn sort_and_duplicates() {
        let s = [0, 3, 1, 0, 0, 2];
        let c = cols(&s, &[0, 0, 0], &[1, 1, 1]);
        assert_eq!(c.sorted_order().unwrap(), vec![2, 0, 1]);
        let s = [0, 3, 1, 0, 0, 3];
        let c = cols(&s, &[0, 0, 0], &[1, 1, 1]);
        match c.sorted_order() {
            Err(CrlError::Duplicate { serial_hex, rows }) => {
                assert_eq!(serial_hex, "03");
                assert_eq!(rows, (0, 2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_rows_named() {
        let s = [0, 3, 0, 0];
        let c = cols(&s, &[0, 0], &[1, 1]);
        assert!(matches!(
            c.validate(false),
            Err(CrlError::Row { index: 1, .. })
        ));
        let s = [0, 3, 0, 4];
        assert!(matches!(
            cols(&s, &[0, MAX_TIME + 1], &[1, 1]).validate(false),
            Err(CrlError::Row { index: 1, .. })
        ));
        assert!(matches!(
            cols(&s, &[0, 0], &[7, 1]).validate(false),
            Err(CrlError::Row { index: 0, .. })
        ));
        assert!(matches!(
            cols(&s, &[0, 0], &[1, 8]).validate(false),
            Err(CrlError::Row { index: 1, .. })
        ));
        assert!(cols(&s, &[0, 0], &[1, 8]).validate(true).is_ok());
        // Negative in content form.
        let s = [0x80u8, 1, 0x01, 0];
        let lens = [2u8, 1];
        let c = Columns {
            serial_lengths: Some(&lens),
            ..cols(&s, &[0, 0], &[1, 1])
        };
        let e = c.validate(false).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        // 20-octet magnitude with the top bit set needs 21 content octets.
        let s = [0x80u8; 20];
        let c = Columns {
            width: 20,
            ..cols(&s, &[0], &[1])
        };
        assert!(c.validate(false).unwrap_err().to_string().contains("21"));
    }
}
