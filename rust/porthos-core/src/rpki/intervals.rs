//! Canonical interval sets: the one representation behind every RPKI resource set
//! (AS numbers, IPv4 and IPv6 addresses), and the set arithmetic a CA needs to check
//! that a child's or a ROA's resources lie within its own (RFC 6487 §7.2).
//!
//! A set is a sorted list of closed intervals `[lo, hi]` that neither overlap nor
//! touch: exactly the canonical form of RFC 3779 §2.2.3.6 and §3.2.3.4 before each
//! interval is written as a prefix or a range. Every operation is one linear merge
//! over sorted inputs, so a crafted input of n intervals costs O(n log n) to build
//! (the sort) and O(n + m) per operation: no quadratic blow-up.

/// A canonical set of closed `u128` intervals (IPv4 and AS numbers use the low bits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IntervalSet {
    ranges: Vec<(u128, u128)>,
}

/// `a` and `b` overlap or touch (`b.0 <= a.1 + 1`), for `a.0 <= b.0`.
fn joins(a: (u128, u128), b: (u128, u128)) -> bool {
    match a.1.checked_add(1) {
        Some(next) => b.0 <= next,
        None => true, // a reaches the top of the space: everything after touches it.
    }
}

impl IntervalSet {
    /// The empty set.
    pub fn new() -> Self {
        IntervalSet::default()
    }

    /// Canonicalise any list of intervals: sort, then merge overlapping and adjacent
    /// ones. Returns `None` when some interval has `lo > hi`.
    pub fn from_intervals(mut v: Vec<(u128, u128)>) -> Option<Self> {
        if v.iter().any(|&(lo, hi)| lo > hi) {
            return None;
        }
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for r in v {
            match out.last_mut() {
                Some(last) if joins(*last, r) => last.1 = last.1.max(r.1),
                _ => out.push(r),
            }
        }
        Some(IntervalSet { ranges: out })
    }

    /// Build from intervals already in canonical order (sorted, disjoint, not
    /// adjacent); `None` otherwise. The strict parsers use this: a non-canonical
    /// encoding is an error there, never silently repaired.
    pub fn from_canonical(v: Vec<(u128, u128)>) -> Option<Self> {
        for (i, &(lo, hi)) in v.iter().enumerate() {
            if lo > hi || (i > 0 && joins(v[i - 1], (lo, hi))) {
                return None;
            }
            if i > 0 && lo <= v[i - 1].1 {
                return None;
            }
        }
        Some(IntervalSet { ranges: v })
    }

    /// The canonical intervals.
    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Highest value of any interval (to check a family's width).
    pub fn max_value(&self) -> Option<u128> {
        self.ranges.last().map(|r| r.1)
    }

    pub fn contains(&self, x: u128) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < x);
        self.ranges.get(i).is_some_and(|r| r.0 <= x)
    }

    /// `self ∪ other`: one merge of two sorted lists.
    pub fn union(&self, other: &Self) -> Self {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let r = if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
                i += 1;
                a[i - 1]
            } else {
                j += 1;
                b[j - 1]
            };
            match out.last_mut() {
                Some(last) if joins(*last, r) => last.1 = last.1.max(r.1),
                _ => out.push(r),
            }
        }
        IntervalSet { ranges: out }
    }

    /// `self ∩ other`: two pointers, advancing whichever interval ends first.
    pub fn intersection(&self, other: &Self) -> Self {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let lo = a[i].0.max(b[j].0);
            let hi = a[i].1.min(b[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        // Pieces of disjoint, non-adjacent inputs are themselves disjoint and
        // non-adjacent: each lies inside one interval of `a`, and two pieces in the
        // same interval of `a` are separated by a gap of `b`.
        IntervalSet { ranges: out }
    }

    /// `self \ other`.
    pub fn difference(&self, other: &Self) -> Self {
        let b = &other.ranges;
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.ranges {
            let mut cur = lo;
            let mut alive = true;
            // Skip the intervals of `other` that end before this one starts.
            while j < b.len() && b[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            while alive && k < b.len() && b[k].0 <= hi {
                if b[k].0 > cur {
                    out.push((cur, b[k].0 - 1));
                }
                match b[k].1.checked_add(1) {
                    Some(next) if next <= hi => cur = cur.max(next),
                    _ => alive = false,
                }
                k += 1;
            }
            if alive {
                out.push((cur, hi));
            }
            // `other`'s interval k-1 may reach into the next interval of `self`.
            j = k.saturating_sub(1).max(j);
        }
        IntervalSet { ranges: out }
    }

    /// Every element of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        let b = &other.ranges;
        let mut j = 0;
        for &(lo, hi) in &self.ranges {
            while j < b.len() && b[j].1 < lo {
                j += 1;
            }
            // Canonical `other` cannot cover [lo, hi] with two intervals (they
            // would touch), so one interval must hold all of it.
            match b.get(j) {
                Some(&(blo, bhi)) if blo <= lo && hi <= bhi => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference model: a bitset over a 64-value universe.
    fn bits(s: &IntervalSet) -> u64 {
        let mut m = 0u64;
        for &(lo, hi) in s.ranges() {
            for x in lo..=hi {
                m |= 1 << x;
            }
        }
        m
    }

    fn from_bits(m: u64) -> IntervalSet {
        let v: Vec<(u128, u128)> = (0..64u128)
            .filter(|&x| m & (1 << x) != 0)
            .map(|x| (x, x))
            .collect();
        IntervalSet::from_intervals(v).unwrap()
    }

    fn arb_set() -> impl Strategy<Value = IntervalSet> {
        proptest::collection::vec((0u128..64, 0u128..8), 0..8).prop_map(|v| {
            IntervalSet::from_intervals(v.into_iter().map(|(a, l)| (a, (a + l).min(63))).collect())
                .unwrap()
        })
    }

    fn canonical(s: &IntervalSet) -> bool {
        IntervalSet::from_canonical(s.ranges().to_vec()).as_ref() == Some(s)
    }

    proptest! {
        #[test]
        fn ops_match_the_bitset_model(a in arb_set(), b in arb_set()) {
            prop_assert!(canonical(&a) && canonical(&b));
            let u = a.union(&b);
            let i = a.intersection(&b);
            let d = a.difference(&b);
            prop_assert!(canonical(&u) && canonical(&i) && canonical(&d));
            prop_assert_eq!(bits(&u), bits(&a) | bits(&b));
            prop_assert_eq!(bits(&i), bits(&a) & bits(&b));
            prop_assert_eq!(bits(&d), bits(&a) & !bits(&b));
            prop_assert_eq!(a.is_subset(&b), bits(&a) & !bits(&b) == 0);
            // The canonical form is unique: equal sets are equal values.
            prop_assert_eq!(&from_bits(bits(&u)), &u);
            for x in 0..64u128 {
                prop_assert_eq!(a.contains(x), bits(&a) & (1 << x) != 0);
            }
        }
    }

    #[test]
    fn top_of_the_space() {
        let all = IntervalSet::from_intervals(vec![(0, u128::MAX)]).unwrap();
        let top = IntervalSet::from_intervals(vec![(u128::MAX, u128::MAX)]).unwrap();
        let d = all.difference(&top);
        assert_eq!(d.ranges(), &[(0, u128::MAX - 1)]);
        assert_eq!(d.union(&top), all);
        assert!(top.is_subset(&all));
        assert!(all.difference(&all).is_empty());
        assert_eq!(
            IntervalSet::from_intervals(vec![(5, u128::MAX), (0, 4)]).unwrap(),
            all
        );
        assert!(IntervalSet::from_intervals(vec![(2, 1)]).is_none());
        assert!(
            IntervalSet::from_canonical(vec![(0, 1), (2, 3)]).is_none(),
            "adjacent"
        );
        assert!(
            IntervalSet::from_canonical(vec![(4, 5), (0, 1)]).is_none(),
            "unsorted"
        );
    }

    #[test]
    fn linear_on_many_intervals() {
        // 200,000 alternating intervals: each operation is one pass.
        let a = IntervalSet::from_intervals((0..200_000u128).map(|i| (4 * i, 4 * i + 1)).collect())
            .unwrap();
        let b =
            IntervalSet::from_intervals((0..200_000u128).map(|i| (4 * i + 1, 4 * i + 2)).collect())
                .unwrap();
        assert_eq!(a.union(&b).ranges().len(), 200_000);
        assert_eq!(a.intersection(&b).ranges().len(), 200_000);
        assert_eq!(a.difference(&b).ranges().len(), 200_000);
        assert!(!a.is_subset(&b));
    }
}
