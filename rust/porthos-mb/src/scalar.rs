//! Arithmetic mod the group order n (SEC 2 §2.4.2), plain 4×64-bit Montgomery
//! code: it runs a handful of times per signature, not on the hot path.

/// n, little-endian 64-bit words.
pub(crate) const N: [u64; 4] = [
    0xf3b9cac2fc632551,
    0xbce6faada7179e84,
    0xffffffffffffffff,
    0xffffffff00000000,
];
/// -n^-1 mod 2^64.
const N_PRIME: u64 = 0xccd1c8aaee00bc4f;
/// 2^512 mod n.
const RR: [u64; 4] = [
    0x83244c95be79eea2,
    0x4699799c49bd6fa6,
    0x2845b2392b6bec59,
    0x66e12d94f3d95620,
];

pub(crate) type Scalar = [u64; 4];

/// 32 big-endian bytes → little-endian words.
pub(crate) fn from_be(b: &[u8; 32]) -> Scalar {
    core::array::from_fn(|i| {
        let o = 24 - 8 * i;
        u64::from_be_bytes(b[o..o + 8].try_into().expect("8 bytes"))
    })
}

/// a - b and the borrow out.
fn sub_borrow(a: &Scalar, b: &Scalar) -> (Scalar, bool) {
    let mut r = [0; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        r[i] = d;
        borrow = b1 | b2;
    }
    (r, borrow)
}

/// a + b and the carry out.
pub(crate) fn add_carry(a: &Scalar, b: &Scalar) -> (Scalar, bool) {
    let mut r = [0; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        r[i] = s;
        carry = c1 | c2;
    }
    (r, carry)
}

/// Is 1 <= a <= n - 1?
pub(crate) fn in_range(a: &Scalar) -> bool {
    a.iter().any(|&w| w != 0) && sub_borrow(a, &N).1
}

/// a mod n for any 256-bit a (a < 2^256 < 2n: one subtraction at most).
pub(crate) fn reduce_once(a: &Scalar) -> Scalar {
    let (d, borrow) = sub_borrow(a, &N);
    if borrow {
        *a
    } else {
        d
    }
}

/// Montgomery product a·b·2^-256 mod n, for a, b < n; result < n.
pub(crate) fn mont_mul(a: &Scalar, b: &Scalar) -> Scalar {
    // CIOS (Koç, Acar, Kaliski 1996) with a 5th word and an overflow bit.
    let mut t = [0u64; 6];
    for &bi in b {
        let mut carry = 0u128;
        for j in 0..4 {
            let s = u128::from(t[j]) + u128::from(a[j]) * u128::from(bi) + carry;
            t[j] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[4]) + carry;
        t[4] = s as u64;
        t[5] = (s >> 64) as u64;
        let m = t[0].wrapping_mul(N_PRIME);
        let s = u128::from(t[0]) + u128::from(m) * u128::from(N[0]);
        let mut carry = s >> 64;
        for j in 1..4 {
            let s = u128::from(t[j]) + u128::from(m) * u128::from(N[j]) + carry;
            t[j - 1] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[4]) + carry;
        t[3] = s as u64;
        t[4] = t[5] + (s >> 64) as u64;
    }
    let r = [t[0], t[1], t[2], t[3]];
    let (d, borrow) = sub_borrow(&r, &N);
    if t[4] != 0 || !borrow {
        d
    } else {
        r
    }
}

pub(crate) fn to_mont(a: &Scalar) -> Scalar {
    mont_mul(a, &RR)
}

#[cfg(test)]
pub(crate) fn from_mont(a: &Scalar) -> Scalar {
    mont_mul(a, &[1, 0, 0, 0])
}

/// Inverse in Montgomery form: (aR)^(n-2)·R-scaled = a^-1·R (Fermat, n prime).
pub(crate) fn mont_inv(a: &Scalar) -> Scalar {
    let e = sub_borrow(&N, &[2, 0, 0, 0]).0;
    let mut r = to_mont(&[1, 0, 0, 0]);
    for w in e.iter().rev() {
        for bit in (0..64).rev() {
            r = mont_mul(&r, &r);
            if w >> bit & 1 == 1 {
                r = mont_mul(&r, a);
            }
        }
    }
    r
}

/// Montgomery's trick: the inverses of all `xs` (Montgomery form, all non-zero)
/// with one inversion and 3(k-1) products.
pub(crate) fn batch_inv(xs: &[Scalar]) -> Vec<Scalar> {
    if xs.is_empty() {
        return Vec::new();
    }
    let mut prefix = Vec::with_capacity(xs.len());
    let mut acc = xs[0];
    prefix.push(acc);
    for x in &xs[1..] {
        acc = mont_mul(&acc, x);
        prefix.push(acc);
    }
    let mut inv = mont_inv(&acc);
    let mut out = vec![[0u64; 4]; xs.len()];
    for i in (1..xs.len()).rev() {
        out[i] = mont_mul(&inv, &prefix[i - 1]);
        inv = mont_mul(&inv, &xs[i]);
    }
    out[0] = inv;
    out
}
