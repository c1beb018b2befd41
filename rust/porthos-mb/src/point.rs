//! P-256 points in Jacobian coordinates (X/Z², Y/Z³), a = -3, eight lanes.
//!
//! These formulas are *not* complete: they are wrong when an input is the
//! identity or when the two addends are equal or opposite. The kernel never
//! feeds them such inputs except where it says so and patches the lanes with
//! masks (see `kernel.rs` for the argument, lane by lane).

use crate::field::{self, add, mul, sqr, sub, Fe};
use crate::lanes::Lanes;

#[derive(Clone, Copy)]
pub(crate) struct Jac<V> {
    pub x: Fe<V>,
    pub y: Fe<V>,
    pub z: Fe<V>,
}

impl<V: Lanes> Jac<V> {
    #[inline(always)]
    pub(crate) fn select(m: u8, a: &Self, b: &Self) -> Self {
        Jac {
            x: field::select(m, &a.x, &b.x),
            y: field::select(m, &a.y, &b.y),
            z: field::select(m, &a.z, &b.z),
        }
    }
}

/// 2P, dbl-2001-b (Bernstein–Lange EFD): 3M + 5S. Correct for every P on the
/// curve including the identity (Z = 0 stays 0); P-256 has no point of order 2.
#[inline(always)]
pub(crate) fn double<V: Lanes>(p: &Jac<V>) -> Jac<V> {
    let delta = sqr(&p.z);
    let gamma = sqr(&p.y);
    let beta = mul(&p.x, &gamma);
    let t = mul(&sub(&p.x, &delta), &add(&p.x, &delta));
    let alpha = add(&add(&t, &t), &t);
    let beta2 = add(&beta, &beta);
    let beta4 = add(&beta2, &beta2);
    let beta8 = add(&beta4, &beta4);
    let x3 = sub(&sqr(&alpha), &beta8);
    let yz = add(&p.y, &p.z);
    let z3 = sub(&sub(&sqr(&yz), &gamma), &delta);
    let g2 = sqr(&gamma);
    let g2x2 = add(&g2, &g2);
    let g2x4 = add(&g2x2, &g2x2);
    let g2x8 = add(&g2x4, &g2x4);
    let y3 = sub(&mul(&alpha, &sub(&beta4, &x3)), &g2x8);
    Jac {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// Intermediate values of an addition that the final step needs for its case
/// analysis: H = U2 - U1 and R = S2 - S1 (both zero iff P = Q).
pub(crate) struct AddParts<V> {
    pub h: Fe<V>,
    pub r: Fe<V>,
}

/// P + Q, add-1998-cmo-2 (EFD): 12M + 4S. Wrong if P or Q is the identity or
/// P = ±Q; `AddParts` lets the caller detect the last two.
#[inline(always)]
pub(crate) fn add_full<V: Lanes>(p: &Jac<V>, q: &Jac<V>) -> (Jac<V>, AddParts<V>) {
    let z1z1 = sqr(&p.z);
    let z2z2 = sqr(&q.z);
    let u1 = mul(&p.x, &z2z2);
    let u2 = mul(&q.x, &z1z1);
    let s1 = mul(&mul(&p.y, &q.z), &z2z2);
    let s2 = mul(&mul(&q.y, &p.z), &z1z1);
    let h = sub(&u2, &u1);
    let r = sub(&s2, &s1);
    let hh = sqr(&h);
    let hhh = mul(&h, &hh);
    let v = mul(&u1, &hh);
    let x3 = sub(&sub(&sqr(&r), &hhh), &add(&v, &v));
    let y3 = sub(&mul(&r, &sub(&v, &x3)), &mul(&s1, &hhh));
    let z3 = mul(&mul(&p.z, &q.z), &h);
    (
        Jac {
            x: x3,
            y: y3,
            z: z3,
        },
        AddParts { h, r },
    )
}

/// P + (x2, y2) with the second point affine (Z = 1), madd (EFD): 8M + 3S.
/// Wrong if P is the identity or P = ±(x2, y2).
#[inline(always)]
pub(crate) fn add_affine<V: Lanes>(p: &Jac<V>, x2: &Fe<V>, y2: &Fe<V>) -> Jac<V> {
    let z1z1 = sqr(&p.z);
    let u2 = mul(x2, &z1z1);
    let s2 = mul(&mul(y2, &p.z), &z1z1);
    let h = sub(&u2, &p.x);
    let r = sub(&s2, &p.y);
    let hh = sqr(&h);
    let hhh = mul(&h, &hh);
    let v = mul(&p.x, &hh);
    let x3 = sub(&sub(&sqr(&r), &hhh), &add(&v, &v));
    let y3 = sub(&mul(&r, &sub(&v, &x3)), &mul(&p.y, &hhh));
    let z3 = mul(&p.z, &h);
    Jac {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// Lanes where (x, y) satisfies y² = x³ - 3x + b (Montgomery-form inputs).
#[inline(always)]
pub(crate) fn on_curve_mask<V: Lanes>(x: &Fe<V>, y: &Fe<V>) -> u8 {
    let x2 = sqr(x);
    let x3 = mul(&x2, x);
    let three_x = add(&add(x, x), x);
    let rhs = add(&sub(&x3, &three_x), &field::constant(&field::B_M));
    field::eq_mask(&sqr(y), &rhs)
}
