//! Arithmetic mod p = 2^256 - 2^224 + 2^192 + 2^96 - 1 in radix 2^52 (five limbs),
//! eight independent lanes.
//!
//! Representation: Montgomery form with R = 2^260, values kept *almost reduced*
//! in [0, 2p) with every limb normalised to 52 bits (IFMA reads only bits 0..51
//! of its multiplicands, so normalised limbs are a hard requirement).
//!
//! Montgomery multiplication needs -p^-1 mod 2^52; because p ≡ -1 (mod 2^96),
//! that constant is 1 and the quotient digit is simply the low limb.
//! Output bound: (a·b + m·p)/R < a·b/R + p < 4p²/2^260 + p < 2p for a, b < 2p.

use crate::lanes::{Lanes, MASK52};

/// Five 52-bit limbs, least significant first.
pub(crate) type Fe<V> = [V; 5];

pub(crate) const P: [u64; 5] = [
    0xfffffffffffff,
    0xfffffffffff,
    0x0,
    0x1000000000,
    0xffffffff0000,
];
const P2: [u64; 5] = [
    0xffffffffffffe,
    0x1fffffffffff,
    0x0,
    0x2000000000,
    0x1fffffffe0000,
];
/// R² mod p, to enter Montgomery form.
const R2: [u64; 5] = [
    0x300,
    0xffffffff00000,
    0xffffefffffffb,
    0xfdfffffffffff,
    0x4ffffff,
];
/// R mod p: one in Montgomery form.
pub(crate) const ONE_M: [u64; 5] = [
    0x10,
    0xf000000000000,
    0xfffffffffffff,
    0xffeffffffffff,
    0xfffff,
];
/// b·R mod p (curve coefficient, SEC 2 §2.4.2).
pub(crate) const B_M: [u64; 5] = [
    0xdf6229c4bddfd,
    0xca8843090d89c,
    0x212ed6acf005c,
    0x83415a220abf7,
    0xc30061dd4874,
];

#[inline(always)]
pub(crate) fn constant<V: Lanes>(c: &[u64; 5]) -> Fe<V> {
    [
        V::splat(c[0]),
        V::splat(c[1]),
        V::splat(c[2]),
        V::splat(c[3]),
        V::splat(c[4]),
    ]
}

/// Carry-propagate signed limbs: limbs 0..3 end in [0, 2^52), limb 4 keeps the
/// (signed) rest.
#[inline(always)]
fn normalize<V: Lanes>(mut t: Fe<V>) -> Fe<V> {
    let m = V::splat(MASK52);
    for i in 0..4 {
        t[i + 1] = t[i + 1].add(t[i].sar52());
        t[i] = t[i].and(m);
    }
    t
}

/// `x` with signed, unnormalised limbs whose value lies in [0, 4p) → the same
/// residue in [0, 2p), normalised.
#[inline(always)]
fn reduce_4p<V: Lanes>(x: Fe<V>) -> Fe<V> {
    let x = normalize(x);
    let mut t = x;
    for i in 0..5 {
        t[i] = t[i].sub(V::splat(P2[i]));
    }
    let t = normalize(t);
    let neg = t[4].neg_mask();
    select(neg, &x, &t)
}

#[inline(always)]
pub(crate) fn select<V: Lanes>(m: u8, a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    [
        V::select(m, a[0], b[0]),
        V::select(m, a[1], b[1]),
        V::select(m, a[2], b[2]),
        V::select(m, a[3], b[3]),
        V::select(m, a[4], b[4]),
    ]
}

#[inline(always)]
pub(crate) fn add<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    reduce_4p(plus(a, b))
}

/// a - b + 2p lies in (0, 4p) for a, b in [0, 2p).
#[inline(always)]
pub(crate) fn sub<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    reduce_4p(minus(&plus(a, &kp(2)), b))
}

/// a + b for a, b in [0, 2p): a value in [0, 4p) with normalised limbs but *not*
/// reduced, so it may only be an operand of `mul`/`sqr` (which take [0, 4p)).
/// Half the work of `add`: the point formulas feed most sums straight into a product.
#[inline(always)]
pub(crate) fn add_lazy<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    normalize(plus(a, b))
}

/// a - b + 2p for a, b in [0, 2p): in (0, 4p), normalised, not reduced; like
/// `add_lazy`, only a `mul`/`sqr` operand.
#[inline(always)]
pub(crate) fn sub_lazy<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    normalize(minus(&plus(a, &kp(2)), b))
}

/// k·p as unnormalised limbs (k <= 16, so every limb stays under 2^57): added
/// before subtractions so that the value of a limb sum cannot go negative.
#[inline(always)]
pub(crate) fn kp<V: Lanes>(k: u64) -> Fe<V> {
    [
        V::splat(P[0] * k),
        V::splat(P[1] * k),
        V::splat(P[2] * k),
        V::splat(P[3] * k),
        V::splat(P[4] * k),
    ]
}

/// Limbwise a + b, unnormalised (for `fold`).
#[inline(always)]
pub(crate) fn plus<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    core::array::from_fn(|i| a[i].add(b[i]))
}

/// Limbwise a - b, unnormalised, limbs may go negative (for `fold`).
#[inline(always)]
pub(crate) fn minus<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    core::array::from_fn(|i| a[i].sub(b[i]))
}

/// Limbwise 2^S·a, unnormalised (for `fold`; normalised limbs of a stay under 2^(52+S)).
#[inline(always)]
pub(crate) fn times_pow2<const S: u32, V: Lanes>(a: &Fe<V>) -> Fe<V> {
    core::array::from_fn(|i| a[i].shl::<S>())
}

/// Signed limbs (each |limb| < 2^62) whose *value* lies in [0, 2^261) → the same
/// residue in [0, 2p), normalised: one reduction for a whole sum such as
/// x² + 4p - 2y, where `add`/`sub` would reduce after every term.
///
/// After carrying, limb 4 is floor(V / 2^208) < 2^53; q = floor(V / 2^256) < 32 is
/// its bits 48 and up. Since 2^256 ≡ 2^224 - 2^192 - 2^96 + 1 (mod p), V - q·p =
/// (V mod 2^256) + q·2^224 - q·2^192 - q·2^96 + q, which is what the four limb
/// updates add (2^224 is bit 16 of limb 4, 2^192 bit 36 of limb 3, 2^96 bit 44
/// of limb 1). The result W = V - q·p is > 0 (q·p < q·2^256 <= V when q > 0) and
/// < 2^256 + 31·2^224 < 2p, so the final carry leaves limb 4 < 2^49.
#[inline(always)]
pub(crate) fn fold<V: Lanes>(t: Fe<V>) -> Fe<V> {
    let mut t = normalize(t);
    let q = t[4].shr::<48>();
    t[4] = t[4].and(V::splat((1 << 48) - 1)).add(q.shl::<16>());
    t[3] = t[3].sub(q.shl::<36>());
    t[1] = t[1].sub(q.shl::<44>());
    t[0] = t[0].add(q);
    normalize(t)
}

/// Montgomery product a·b·2^-260 mod p, in [0, 2p) for a, b in [0, 4p) with
/// normalised limbs: (a·b + m·p)/R < 16p²/2^260 + p < 2p since p < 2^256.
#[inline(always)]
pub(crate) fn mul<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> Fe<V> {
    let mask = V::splat(MASK52);
    let p = constant::<V>(&P);
    let mut t = [V::zero(); 6];
    for bi in b {
        for j in 0..5 {
            t[j] = t[j].madd_lo(a[j], *bi);
            t[j + 1] = t[j + 1].madd_hi(a[j], *bi);
        }
        // Quotient digit: -p^-1 ≡ 1 (mod 2^52).
        let m = t[0].and(mask);
        for j in 0..5 {
            if P[j] != 0 {
                t[j] = t[j].madd_lo(m, p[j]);
                t[j + 1] = t[j + 1].madd_hi(m, p[j]);
            }
        }
        // t[0] ≡ 0 (mod 2^52) now: drop it, keep its carry.
        let c = t[0].shr52();
        t = [t[1].add(c), t[2], t[3], t[4], t[5], V::zero()];
    }
    let m = V::splat(MASK52);
    let mut r = [t[0], t[1], t[2], t[3], t[4]];
    for i in 0..4 {
        r[i + 1] = r[i + 1].add(r[i].shr52());
        r[i] = r[i].and(m);
    }
    r
}

/// `mul(a, a)`, bit for bit, with 15 limb products instead of 25 (Drucker–Gueron
/// 2019 §3): the ten cross products a_i·a_j (i < j) are summed once and doubled,
/// then the five squares added, then the same digit-by-digit Montgomery reduction
/// as `mul` (each quotient digit sees its column complete, as there, so the digits
/// and the result are the same). Five of the eight products of a doubling are
/// squares. Column sums stay under 2^57.
#[inline(always)]
pub(crate) fn sqr<V: Lanes>(a: &Fe<V>) -> Fe<V> {
    let mask = V::splat(MASK52);
    let p = constant::<V>(&P);
    let mut t = [V::zero(); 10];
    for i in 0..5 {
        for j in i + 1..5 {
            t[i + j] = t[i + j].madd_lo(a[i], a[j]);
            t[i + j + 1] = t[i + j + 1].madd_hi(a[i], a[j]);
        }
    }
    // Cross products land in columns 1..=8.
    for c in t.iter_mut().take(9).skip(1) {
        *c = c.add(*c);
    }
    for i in 0..5 {
        t[2 * i] = t[2 * i].madd_lo(a[i], a[i]);
        t[2 * i + 1] = t[2 * i + 1].madd_hi(a[i], a[i]);
    }
    for k in 0..5 {
        // Quotient digit: -p^-1 ≡ 1 (mod 2^52), as in `mul`.
        let m = t[k].and(mask);
        for j in 0..5 {
            if P[j] != 0 {
                t[k + j] = t[k + j].madd_lo(m, p[j]);
                t[k + j + 1] = t[k + j + 1].madd_hi(m, p[j]);
            }
        }
        // t[k] ≡ 0 (mod 2^52) now: pass its carry up.
        t[k + 1] = t[k + 1].add(t[k].shr52());
    }
    let mut r = [t[5], t[6], t[7], t[8], t[9]];
    for i in 0..4 {
        r[i + 1] = r[i + 1].add(r[i].shr52());
        r[i] = r[i].and(mask);
    }
    r
}

/// Into Montgomery form (input: normalised limbs, value < 2^258).
#[inline(always)]
pub(crate) fn to_mont<V: Lanes>(a: &Fe<V>) -> Fe<V> {
    mul(a, &constant(&R2))
}

/// Out of Montgomery form, fully reduced to [0, p).
#[cfg(test)]
#[inline(always)]
pub(crate) fn from_mont<V: Lanes>(a: &Fe<V>) -> Fe<V> {
    canonical(&mul(a, &constant(&[1, 0, 0, 0, 0])))
}

/// [0, 2p) → [0, p).
#[inline(always)]
pub(crate) fn canonical<V: Lanes>(a: &Fe<V>) -> Fe<V> {
    let mut t = *a;
    for i in 0..5 {
        t[i] = t[i].sub(V::splat(P[i]));
    }
    let t = normalize(t);
    select(t[4].neg_mask(), a, &t)
}

/// Lanes where a ≡ b (mod p).
#[inline(always)]
pub(crate) fn eq_mask<V: Lanes>(a: &Fe<V>, b: &Fe<V>) -> u8 {
    let a = canonical(a);
    let b = canonical(b);
    let mut d = V::zero();
    for i in 0..5 {
        d = d.or(a[i].sub(b[i]));
    }
    d.zero_mask()
}

/// Lanes where a ≡ 0 (mod p).
#[inline(always)]
pub(crate) fn zero_mask<V: Lanes>(a: &Fe<V>) -> u8 {
    eq_mask(a, &[V::zero(); 5])
}

/// a^(p-2) = a^-1 (Fermat); 0 maps to 0. Only used off the hot path (table
/// generation, tests).
pub(crate) fn invert<V: Lanes>(a: &Fe<V>) -> Fe<V> {
    // p - 2 as 64-bit words, most significant first.
    const E: [u64; 4] = [
        0xffffffff00000001,
        0x0000000000000000,
        0x00000000ffffffff,
        0xfffffffffffffffd,
    ];
    let mut r = constant::<V>(&ONE_M);
    for w in E {
        for bit in (0..64).rev() {
            r = sqr(&r);
            if w >> bit & 1 == 1 {
                r = mul(&r, a);
            }
        }
    }
    r
}

/// 32 big-endian bytes → five 52-bit limbs (no reduction).
pub(crate) fn limbs_from_be(b: &[u8; 32]) -> [u64; 5] {
    let mut w = [0u64; 4];
    for (i, c) in b.rchunks_exact(8).enumerate() {
        w[i] = u64::from_be_bytes(c.try_into().expect("8-byte chunk"));
    }
    words_to_limbs(&w)
}

/// Four little-endian 64-bit words → five 52-bit limbs.
pub(crate) fn words_to_limbs(w: &[u64; 4]) -> [u64; 5] {
    [
        w[0] & MASK52,
        (w[0] >> 52 | w[1] << 12) & MASK52,
        (w[1] >> 40 | w[2] << 24) & MASK52,
        (w[2] >> 28 | w[3] << 36) & MASK52,
        w[3] >> 16,
    ]
}

/// Lane `i` of a field element as limbs.
pub(crate) fn lane<V: Lanes>(a: &Fe<V>, i: usize) -> [u64; 5] {
    [
        a[0].to_array()[i],
        a[1].to_array()[i],
        a[2].to_array()[i],
        a[3].to_array()[i],
        a[4].to_array()[i],
    ]
}

/// Field element whose lane `i` is `limbs[i]`.
pub(crate) fn from_lanes<V: Lanes>(limbs: &[[u64; 5]; 8]) -> Fe<V> {
    core::array::from_fn(|k| V::from_array(core::array::from_fn(|i| limbs[i][k])))
}
