//! P-256 points in Jacobian coordinates (X/Z², Y/Z³), a = -3, eight lanes.
//!
//! These formulas are *not* complete: they are wrong when an input is the
//! identity or when the two addends are equal or opposite. The kernel never
//! feeds them such inputs except where it says so and patches the lanes with
//! masks (see `kernel.rs` for the argument, lane by lane).

use crate::field::{
    self, add, add_lazy, fold, kp, minus, mul, plus, sqr, sub, sub_lazy, times_pow2, Fe,
};
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

// Bounds. Every coordinate of a `Jac` is in [0, 2p) with normalised limbs (the
// output of `mul`/`sqr` or `fold`). Inside the formulas, a sum or difference that
// is only ever a product operand is left unreduced by `add_lazy`/`sub_lazy` (value
// < 4p, what `mul` accepts), and each output coordinate is one `fold` of the whole
// expression plus enough multiples of p to keep it non-negative: the comment at
// each `fold` gives the bound of its input, which must be under 2^261 (`fold`).

/// 2P, dbl-2001-b (Bernstein–Lange EFD): 3M + 5S. Correct for every P on the
/// curve including the identity (Z = 0 stays 0); P-256 has no point of order 2.
#[inline(always)]
pub(crate) fn double<V: Lanes>(p: &Jac<V>) -> Jac<V> {
    let delta = sqr(&p.z);
    let gamma = sqr(&p.y);
    let beta = mul(&p.x, &gamma);
    let t = mul(&sub_lazy(&p.x, &delta), &add_lazy(&p.x, &delta));
    // 3t < 6p.
    let alpha = fold(plus(&plus(&t, &t), &t));
    // 4·beta < 8p.
    let beta4 = fold(times_pow2::<2, V>(&beta));
    // X3 = alpha² - 8·beta: alpha² + 4p - 2·beta4 in (0, 6p).
    let x3 = fold(minus(
        &plus(&sqr(&alpha), &kp(4)),
        &times_pow2::<1, V>(&beta4),
    ));
    // Z3 = (Y + Z)² - gamma - delta: + 4p keeps it in (0, 6p).
    let yz2 = sqr(&add_lazy(&p.y, &p.z));
    let z3 = fold(minus(&minus(&plus(&yz2, &kp(4)), &gamma), &delta));
    // Y3 = alpha·(4·beta - X3) - 8·gamma²: + 16p keeps it in (0, 18p).
    let g2 = sqr(&gamma);
    let m = mul(&alpha, &sub_lazy(&beta4, &x3));
    let y3 = fold(minus(&plus(&m, &kp(16)), &times_pow2::<3, V>(&g2)));
    Jac {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// Intermediate values of an addition that the final step needs for its case
/// analysis: H = U2 - U1 and R = S2 - S1 (both ≡ 0 iff P = Q). Lazy: in (0, 4p),
/// normalised; `fold` them before comparing.
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
    let h = sub_lazy(&u2, &u1);
    let r = sub_lazy(&s2, &s1);
    let hh = sqr(&h);
    let hhh = mul(&h, &hh);
    let v = mul(&u1, &hh);
    // X3 = R² - H³ - 2V: + 6p keeps it in (0, 8p).
    let x3 = fold(minus(
        &minus(&plus(&sqr(&r), &kp(6)), &hhh),
        &times_pow2::<1, V>(&v),
    ));
    // Y3 = R·(V - X3) - S1·H³: + 2p keeps it in (0, 4p).
    let m = mul(&r, &sub_lazy(&v, &x3));
    let y3 = fold(minus(&plus(&m, &kp(2)), &mul(&s1, &hhh)));
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
    let h = sub_lazy(&u2, &p.x);
    let r = sub_lazy(&s2, &p.y);
    let hh = sqr(&h);
    let hhh = mul(&h, &hh);
    let v = mul(&p.x, &hh);
    // X3 = R² - H³ - 2V: + 6p keeps it in (0, 8p).
    let x3 = fold(minus(
        &minus(&plus(&sqr(&r), &kp(6)), &hhh),
        &times_pow2::<1, V>(&v),
    ));
    // Y3 = R·(V - X3) - Y1·H³: + 2p keeps it in (0, 4p).
    let m = mul(&r, &sub_lazy(&v, &x3));
    let y3 = fold(minus(&plus(&m, &kp(2)), &mul(&p.y, &hhh)));
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
