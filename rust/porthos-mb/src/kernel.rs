//! The 8-lane verification core: R = u1·G + u2·Q and the check x(R) ≡ r (mod n).
//!
//! Exceptional cases of the incomplete Jacobian formulas, and why none is missed:
//! * u2·Q, 5-bit fixed windows from the top, table T[k] = k·Q (k = 1..31; Q has
//!   order n because P-256 has cofactor 1 and Q was checked on the curve).
//!   Before an addition the accumulator is A = a·Q with 1 <= a <= u2 < n and
//!   a ≡ 0 (mod 32), the addend d·Q with 1 <= d <= 31; A = ±d·Q would need
//!   a ≡ ±d (mod n), impossible since 0 < a - d, a + d <= u2 < n and a ≠ d.
//!   The identity (leading zero digits) is tracked as a lane mask, and digit 0
//!   skips the addition by selection. Table: T[2] = 2Q by doubling, T[k] =
//!   T[k-1] + Q for k >= 3 never meets ±Q.
//! * u1·G, 7-bit windows over the fixed table, no doublings: the partial sum S
//!   of the windows below i is < 2^(7i) <= d·2^(7i), and S + d·2^(7i) <= u1 < n, so
//!   S ≠ ±d·2^(7i)·G; S = identity and d = 0 are masked as above.
//! * The final P1 + P2 may hit every case (u1 = 0 gives P2 = identity, u1·G =
//!   u2·Q needs a doubling, u1·G = -u2·Q gives the identity): all are handled
//!   explicitly with the H = U2 - U1 and R = S2 - S1 zero tests.
//!
//! The comparison is done projectively, X ≡ r·Z² (mod p), and also with r + n
//! when r + n < p (then x(R) = r + n also reduces to r mod n). That needs no
//! inversion of Z at all, which is cheaper than the batch inversion the issue
//! sketches and gives the same verdict.

use crate::field::{self, Fe};
use crate::lanes::Lanes;
use crate::point::{add_affine, add_full, double, on_curve_mask, Jac};
use crate::scalar::Scalar;
use crate::table::{DIGITS, ENTRY, WINDOW, WINDOWS};

/// One lane's already checked, reduced inputs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LaneInput {
    /// Public key coordinates, 52-bit limbs, each < p.
    pub qx: [u64; 5],
    pub qy: [u64; 5],
    pub u1: Scalar,
    pub u2: Scalar,
    /// r as limbs (r < n < p).
    pub r: [u64; 5],
    /// r + n as limbs when r + n < p.
    pub rn: Option<[u64; 5]>,
}

const QW: u32 = 5;
const QWINDOWS: usize = 52; // 52·5 = 260 >= 256
const QENTRIES: usize = 1 << QW;
const QSTRIDE: usize = 15; // x, y, z × 5 limbs

/// Bits [k, k + w) of a 256-bit scalar (zero past bit 255).
#[inline(always)]
fn window(u: &Scalar, k: u32, w: u32) -> u64 {
    let word = (k / 64) as usize;
    let bit = k % 64;
    let mut v = u[word] >> bit;
    if bit + w > 64 && word + 1 < 4 {
        v |= u[word + 1] << (64 - bit);
    }
    v & ((1 << w) - 1)
}

#[inline(always)]
fn store<V: Lanes>(dst: &mut [u64], v: V) {
    dst[..8].copy_from_slice(&v.to_array());
}

#[inline(always)]
fn put_q<V: Lanes>(tq: &mut [u64], k: usize, p: &Jac<V>) {
    for (c, v) in p.x.iter().chain(&p.y).chain(&p.z).enumerate() {
        store(&mut tq[(k * QSTRIDE + c) * 8..], *v);
    }
}

/// Lane l gets entry d[l] of its own table (layout of `put_q`).
#[inline(always)]
fn lookup_q<V: Lanes>(tq: &[u64], d: &[u64; 8], lanes: V) -> Jac<V> {
    let base = V::from_array(d.map(|d| d * (QSTRIDE as u64) * 8)).add(lanes);
    let mut c = [V::zero(); QSTRIDE];
    for (k, v) in c.iter_mut().enumerate() {
        *v = V::gather(tq, base.add(V::splat((k * 8) as u64)));
    }
    Jac {
        x: [c[0], c[1], c[2], c[3], c[4]],
        y: [c[5], c[6], c[7], c[8], c[9]],
        z: [c[10], c[11], c[12], c[13], c[14]],
    }
}

#[inline(always)]
fn zero_digits(d: &[u64; 8]) -> u8 {
    let mut m = 0u8;
    for (i, &x) in d.iter().enumerate() {
        m |= u8::from(x == 0) << i;
    }
    m
}

#[inline(always)]
fn q_digits(inp: &[LaneInput; 8], j: usize) -> [u64; 8] {
    let mut d = [0u64; 8];
    for (i, v) in d.iter_mut().enumerate() {
        *v = window(&inp[i].u2, QW * j as u32, QW);
    }
    d
}

/// Window i of u1 for each lane: the affine table point (digit 0 reads digit 1's
/// entry, masked out by the caller) and the mask of zero digits.
#[inline(always)]
fn lookup_g<V: Lanes>(inp: &[LaneInput; 8], gtab: &[u64], i: usize) -> (Fe<V>, Fe<V>, u8) {
    let mut d = [0u64; 8];
    let mut e = [0u64; 8];
    for l in 0..8 {
        d[l] = window(&inp[l].u1, WINDOW * i as u32, WINDOW);
        e[l] = ((i * DIGITS) as u64 + d[l].max(1) - 1) * ENTRY as u64;
    }
    let base = V::from_array(e);
    let mut c = [V::zero(); 10];
    for (k, v) in c.iter_mut().enumerate() {
        *v = V::gather(gtab, base.add(V::splat(k as u64)));
    }
    (
        [c[0], c[1], c[2], c[3], c[4]],
        [c[5], c[6], c[7], c[8], c[9]],
        zero_digits(&d),
    )
}

/// Verify eight lanes; bit i of the result is lane i's verdict.
#[inline(always)]
pub(crate) fn verify8<V: Lanes>(inp: &[LaneInput; 8], gtab: &[u64]) -> u8 {
    let one = field::constant::<V>(&field::ONE_M);
    let lanes = V::from_array([0, 1, 2, 3, 4, 5, 6, 7]);
    let qx = field::to_mont(&field::from_lanes::<V>(&core::array::from_fn(|i| {
        inp[i].qx
    })));
    let qy = field::to_mont(&field::from_lanes::<V>(&core::array::from_fn(|i| {
        inp[i].qy
    })));
    let on_curve = on_curve_mask(&qx, &qy);

    // Per-lane table k·Q, k = 1..31, entry k at [(15k + c)·8 + lane]; entry 0 is
    // zeros and is only ever read for lanes whose result is discarded.
    let mut tq = [0u64; QENTRIES * QSTRIDE * 8];
    let q1 = Jac {
        x: qx,
        y: qy,
        z: one,
    };
    put_q(&mut tq, 1, &q1);
    let mut t = double(&q1);
    put_q(&mut tq, 2, &t);
    for k in 3..QENTRIES {
        t = add_affine(&t, &qx, &qy);
        put_q(&mut tq, k, &t);
    }

    // u2·Q.
    let d = q_digits(inp, QWINDOWS - 1);
    let mut acc = lookup_q(&tq, &d, lanes);
    let mut inf1 = zero_digits(&d);
    for j in (0..QWINDOWS - 1).rev() {
        for _ in 0..QW {
            acc = double(&acc);
        }
        let d = q_digits(inp, j);
        let z = zero_digits(&d);
        let t = lookup_q(&tq, &d, lanes);
        let sum = add_full(&acc, &t).0;
        acc = Jac::select(inf1, &t, &Jac::select(z, &acc, &sum));
        inf1 &= z;
    }

    // u1·G.
    let (x, y, mut inf2) = lookup_g(inp, gtab, 0);
    let mut acc2 = Jac { x, y, z: one };
    for i in 1..WINDOWS {
        let (x, y, z) = lookup_g(inp, gtab, i);
        let sum = add_affine(&acc2, &x, &y);
        let fresh = Jac { x, y, z: one };
        acc2 = Jac::select(inf2, &fresh, &Jac::select(z, &acc2, &sum));
        inf2 &= z;
    }

    // P1 + P2 with every case.
    let (sum, parts) = add_full(&acc, &acc2);
    let hz = field::zero_mask(&field::fold(parts.h));
    let rz = field::zero_mask(&field::fold(parts.r));
    let dbl = double(&acc);
    let mut res = Jac::select(hz & rz, &dbl, &sum);
    res = Jac::select(inf1, &acc2, &res);
    res = Jac::select(inf2, &acc, &res);
    let mut res_inf = (inf1 & inf2) | (!inf1 & !inf2 & hz & !rz);
    res_inf |= field::zero_mask(&res.z);

    // x(R) mod n == r, projectively.
    let z2 = field::sqr(&res.z);
    let r = field::to_mont(&field::from_lanes::<V>(&core::array::from_fn(|i| inp[i].r)));
    let mut ok = field::eq_mask(&res.x, &field::mul(&r, &z2));
    let rn_mask = inp
        .iter()
        .enumerate()
        .fold(0u8, |m, (i, x)| m | (u8::from(x.rn.is_some()) << i));
    if rn_mask != 0 {
        let rn = field::to_mont(&field::from_lanes::<V>(&core::array::from_fn(|i| {
            inp[i].rn.unwrap_or(inp[i].r)
        })));
        ok |= rn_mask & field::eq_mask(&res.x, &field::mul(&rn, &z2));
    }
    ok & on_curve & !res_inf
}
