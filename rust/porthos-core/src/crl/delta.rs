//! Delta CRLs (RFC 5280 §5.2.4): what changed since a base CRL.
//!
//! Given the base's columns and the current full state (both in serial order):
//! * a serial revoked now but not in the base, or listed with other data (e.g. a
//!   certificateHold that became keyCompromise), is listed with its current data;
//! * a serial in the base that is no longer revoked (a released hold, or an expired
//!   certificate dropped from the full CRL) is listed with reason removeFromCRL (8),
//!   which §5.3.1 reserves for delta CRLs.
//!
//! [`merge`] applies a delta to a base; `merge(base, delta(base, current)) == current`
//! is the consistency check a relying party's view depends on.

use std::cmp::Ordering;

use crate::crl::columns::{cmp_keys, OwnedColumns, REASON_REMOVE_FROM_CRL};
use crate::crl::INVALIDITY_NONE;

fn same_row(a: &OwnedColumns, i: usize, b: &OwnedColumns, j: usize) -> bool {
    a.revocation_times[i] == b.revocation_times[j]
        && a.reasons[i] == b.reasons[j]
        && a.invalidity[i] == b.invalidity[j]
}

/// The delta from `base` to `current`.
pub fn delta(base: &OwnedColumns, current: &OwnedColumns) -> OwnedColumns {
    let (bv, cv) = (base.view(), current.view());
    let mut out = OwnedColumns::default();
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < current.len() {
        let ord = if i == base.len() {
            Ordering::Greater
        } else if j == current.len() {
            Ordering::Less
        } else {
            cmp_keys(bv.key(i), cv.key(j))
        };
        match ord {
            Ordering::Less => {
                out.push(
                    bv.key(i),
                    base.revocation_times[i],
                    REASON_REMOVE_FROM_CRL,
                    INVALIDITY_NONE,
                );
                i += 1;
            }
            Ordering::Greater => {
                out.push_from(current, j);
                j += 1;
            }
            Ordering::Equal => {
                if !same_row(base, i, current, j) {
                    out.push_from(current, j);
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Apply `delta` to `base`: removeFromCRL entries drop the serial, others replace or add.
pub fn merge(base: &OwnedColumns, delta: &OwnedColumns) -> OwnedColumns {
    let (bv, dv) = (base.view(), delta.view());
    let mut out = OwnedColumns::with_capacity(base.len() + delta.len());
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < delta.len() {
        let ord = if i == base.len() {
            Ordering::Greater
        } else if j == delta.len() {
            Ordering::Less
        } else {
            cmp_keys(bv.key(i), dv.key(j))
        };
        match ord {
            Ordering::Less => {
                out.push_from(base, i);
                i += 1;
            }
            Ordering::Greater | Ordering::Equal => {
                if delta.reasons[j] != REASON_REMOVE_FROM_CRL {
                    out.push_from(delta, j);
                }
                if ord == Ordering::Equal {
                    i += 1;
                }
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crl::REASON_NONE;

    fn cols(rows: &[(u8, i64, u8)]) -> OwnedColumns {
        let mut c = OwnedColumns::default();
        for &(s, t, r) in rows {
            c.push(&[s], t, r, INVALIDITY_NONE);
        }
        c
    }

    #[test]
    fn delta_then_merge_is_current() {
        let base = cols(&[(1, 10, 1), (2, 10, 6), (3, 10, REASON_NONE)]);
        let current = cols(&[(1, 10, 1), (2, 10, 1), (4, 20, 4)]);
        let d = delta(&base, &current);
        assert_eq!(d.reasons, vec![1, REASON_REMOVE_FROM_CRL, 4]);
        assert_eq!(merge(&base, &d), current);
    }
}
