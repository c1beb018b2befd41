//! Unit tests of the limb arithmetic against big-integer references, and of the
//! SIMD lanes against the portable ones.

use num_bigint::BigUint;
use proptest::prelude::*;

use crate::field::{self, Fe};
use crate::lanes::{Lanes, Soft};
use crate::scalar;

fn p() -> BigUint {
    BigUint::parse_bytes(
        b"ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        16,
    )
    .unwrap()
}
fn n() -> BigUint {
    BigUint::from_bytes_be(&words_be(&scalar::N))
}
fn words_be(w: &[u64; 4]) -> [u8; 32] {
    let mut b = [0u8; 32];
    for i in 0..4 {
        b[24 - 8 * i..32 - 8 * i].copy_from_slice(&w[i].to_be_bytes());
    }
    b
}
fn big_of_words(w: &[u64; 4]) -> BigUint {
    BigUint::from_bytes_be(&words_be(w))
}
fn words_of_big(x: &BigUint) -> [u64; 4] {
    let b = x.to_bytes_be();
    let mut buf = [0u8; 32];
    buf[32 - b.len()..].copy_from_slice(&b);
    scalar::from_be(&buf)
}
fn big_of_limbs(l: &[u64; 5]) -> BigUint {
    l.iter()
        .rev()
        .fold(BigUint::from(0u8), |acc, &x| (acc << 52) + BigUint::from(x))
}
fn limbs_of_big(x: &BigUint) -> [u64; 5] {
    let m = BigUint::from((1u64 << 52) - 1);
    core::array::from_fn(|k| {
        let d = (x >> (52 * k)) & &m;
        d.iter_u64_digits().next().unwrap_or(0)
    })
}
fn r_inv_p() -> BigUint {
    // R = 2^260
    (BigUint::from(1u8) << 260u32).modpow(&(p() - 2u8), &p())
}

/// 8 random residues mod p.
fn fe_lanes() -> impl Strategy<Value = [[u8; 32]; 8]> {
    proptest::array::uniform8(proptest::array::uniform32(any::<u8>()))
}
fn to_fe(bytes: &[[u8; 32]; 8]) -> (Fe<Soft>, Vec<BigUint>) {
    let bigs: Vec<BigUint> = bytes
        .iter()
        .map(|b| BigUint::from_bytes_be(b) % p())
        .collect();
    let limbs: [[u64; 5]; 8] = core::array::from_fn(|i| limbs_of_big(&bigs[i]));
    (field::from_lanes(&limbs), bigs)
}
fn lanes_big(a: &Fe<Soft>) -> Vec<BigUint> {
    (0..8).map(|i| big_of_limbs(&field::lane(a, i))).collect()
}
fn check_normalised(a: &Fe<Soft>) {
    for (k, limb) in a.iter().enumerate() {
        for x in limb.0 {
            assert!(k == 4 || x < 1 << 52, "limb {k} = {x:#x} not normalised");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn field_ops_match_bigint(a in fe_lanes(), b in fe_lanes()) {
        let (fa, ba) = to_fe(&a);
        let (fb, bb) = to_fe(&b);
        let p = p();
        // Also exercise the non-canonical [p, 2p) inputs: a + p.
        let fa2 = field::from_lanes::<Soft>(&core::array::from_fn(|i| limbs_of_big(&(&ba[i] + &p))));
        let m = field::mul(&fa, &fb);
        let m2 = field::mul(&fa2, &fb);
        let s = field::add(&fa, &fb);
        let d = field::sub(&fb, &fa2);
        for f in [&m, &m2, &s, &d] { check_normalised(f); }
        let (mb, m2b, sb, db) = (lanes_big(&m), lanes_big(&m2), lanes_big(&s), lanes_big(&d));
        let rinv = r_inv_p();
        for i in 0..8 {
            let want = &ba[i] * &bb[i] * &rinv % &p;
            prop_assert!(mb[i] < &p * 2u8 && m2b[i] < &p * 2u8 && sb[i] < &p * 2u8 && db[i] < &p * 2u8);
            prop_assert_eq!(&mb[i] % &p, want.clone());
            prop_assert_eq!(&m2b[i] % &p, want);
            prop_assert_eq!(&sb[i] % &p, (&ba[i] + &bb[i]) % &p);
            prop_assert_eq!(&db[i] % &p, (&bb[i] + &p - &ba[i]) % &p);
        }
        let c = field::canonical(&field::to_mont(&fa2));
        let back = lanes_big(&field::from_mont(&c));
        for i in 0..8 {
            prop_assert_eq!(&back[i], &ba[i]);
        }
        let eq = field::eq_mask(&fa, &fa2);
        prop_assert_eq!(eq, 0xff);
    }

    #[test]
    fn scalar_ops_match_bigint(a in proptest::array::uniform32(any::<u8>()), b in proptest::array::uniform32(any::<u8>())) {
        let n = n();
        let ba = BigUint::from_bytes_be(&a) % &n;
        let bb = BigUint::from_bytes_be(&b) % &n;
        let wa = words_of_big(&ba);
        let wb = words_of_big(&bb);
        let prod = scalar::from_mont(&scalar::mont_mul(&scalar::to_mont(&wa), &scalar::to_mont(&wb)));
        prop_assert_eq!(big_of_words(&prod), &ba * &bb % &n);
        prop_assert_eq!(big_of_words(&scalar::reduce_once(&scalar::from_be(&a))), BigUint::from_bytes_be(&a) % &n);
        if ba != BigUint::from(0u8) {
            let inv = scalar::from_mont(&scalar::mont_inv(&scalar::to_mont(&wa)));
            prop_assert_eq!(big_of_words(&inv) * &ba % &n, BigUint::from(1u8));
        }
    }
}

/// Field elements in [0, 4p) with normalised limbs: the operand range of `mul` and
/// `sqr`, and the output range of `add_lazy`/`sub_lazy`.
fn fe4_lanes() -> impl Strategy<Value = [BigUint; 8]> {
    proptest::array::uniform8(proptest::array::uniform32(any::<u8>()).prop_map(|b| {
        // 4p > 2^257: scale a 256-bit draw by 1..4 and reduce mod 4p.
        let x = BigUint::from_bytes_be(&b);
        (&x * (u32::from(b[0] % 4) + 1)) % (p() * 4u8)
    }))
}
fn fe_of(bigs: &[BigUint; 8]) -> Fe<Soft> {
    let limbs: [[u64; 5]; 8] = core::array::from_fn(|i| limbs_of_big(&bigs[i]));
    field::from_lanes(&limbs)
}
/// Lane values of signed limbs (limbs read as i64).
fn lanes_signed(a: &Fe<Soft>) -> Vec<num_bigint::BigInt> {
    (0..8)
        .map(|i| {
            field::lane(a, i)
                .iter()
                .rev()
                .fold(num_bigint::BigInt::from(0), |acc, &x| {
                    (acc << 52) + x as i64
                })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sqr_is_mul_bit_for_bit(a in fe4_lanes()) {
        let fa = fe_of(&a);
        prop_assert_eq!(field::sqr(&fa), field::mul(&fa, &fa));
    }

    #[test]
    fn lazy_add_sub_stay_under_4p(a in fe_lanes(), b in fe_lanes(), k in 0u8..2) {
        // Inputs anywhere in [0, 2p): a + k·p.
        let p = p();
        let (_, ba) = to_fe(&a);
        let (_, bb) = to_fe(&b);
        let ba: [BigUint; 8] = core::array::from_fn(|i| &ba[i] + &p * k);
        let bb: [BigUint; 8] = core::array::from_fn(|i| &bb[i] + &p * (1 - k));
        let (fa, fb) = (fe_of(&ba), fe_of(&bb));
        let s = field::add_lazy(&fa, &fb);
        let d = field::sub_lazy(&fa, &fb);
        check_normalised(&s);
        check_normalised(&d);
        let (sb, db) = (lanes_big(&s), lanes_big(&d));
        for i in 0..8 {
            prop_assert_eq!(&sb[i], &(&ba[i] + &bb[i]));
            prop_assert_eq!(&db[i], &(&ba[i] + &p * 2u8 - &bb[i]));
            prop_assert!(sb[i] < &p * 4u8 && db[i] < &p * 4u8);
        }
    }

    #[test]
    fn fold_reduces_sums_under_2_261(a in fe_lanes(), b in fe_lanes(), c in fe_lanes(), k in 0u64..=16, sa in 0u32..4, sb in 0u32..4) {
        // The shape of every fold input: 2^sa·a + k·p - 2^sb·b - c, with a, b, c in
        // [0, 2p); kept only where the value is non-negative and under 2^261.
        let (fa, _) = to_fe(&a);
        let (fb, _) = to_fe(&b);
        let (fc, _) = to_fe(&c);
        let scale = |x: &Fe<Soft>, s: u32| -> Fe<Soft> {
            match s {
                0 => *x,
                1 => field::times_pow2::<1, Soft>(x),
                2 => field::times_pow2::<2, Soft>(x),
                _ => field::times_pow2::<3, Soft>(x),
            }
        };
        let t = field::minus(&field::minus(&field::plus(&scale(&fa, sa), &field::kp(k)), &scale(&fb, sb)), &fc);
        let vals = lanes_signed(&t);
        let f = field::fold(t);
        check_normalised(&f);
        let got = lanes_big(&f);
        let p = num_bigint::BigInt::from(p());
        let top = num_bigint::BigInt::from(1u8) << 261u32;
        for i in 0..8 {
            if vals[i] < num_bigint::BigInt::from(0) || vals[i] >= top {
                continue;
            }
            let g = num_bigint::BigInt::from(got[i].clone());
            prop_assert!(g < &p * 2);
            prop_assert_eq!(&g % &p, &vals[i] % &p);
        }
    }
}

#[test]
fn fold_and_lazy_edge_values() {
    let p = p();
    let top = (BigUint::from(1u8) << 261u32) - 1u8;
    // fold: the extremes of its input range, incl. q = 31 and a value whose low
    // limbs go negative in the fold.
    for v in [
        BigUint::from(0u8),
        &p - 1u8,
        p.clone(),
        &p * 18u8 - 1u8,
        top.clone(),
        (BigUint::from(1u8) << 256u32) - 1u8,
        BigUint::from(1u8) << 256u32,
        &top - (BigUint::from(1u8) << 200u32),
    ] {
        // Limbs 0..3 of 52 bits, limb 4 the rest (up to 53 bits here).
        let mut limbs = limbs_of_big(&v);
        limbs[4] = (&v >> 208u32).iter_u64_digits().next().unwrap_or(0);
        let f = field::fold(field::constant::<Soft>(&limbs));
        check_normalised(&f);
        let got = big_of_limbs(&field::lane(&f, 0));
        assert!(got < &p * 2u8, "fold({v:x}) = {got:x}");
        assert_eq!(got % &p, &v % &p);
    }
    // mul/sqr take [0, 4p): the largest operands.
    let rinv = r_inv_p();
    for a in [
        &p * 4u8 - 1u8,
        &p * 2u8 - 1u8,
        &p * 3u8,
        BigUint::from((1u64 << 52) - 1),
    ] {
        let fa = field::constant::<Soft>(&limbs_of_big(&a));
        let sq = field::sqr(&fa);
        assert_eq!(sq, field::mul(&fa, &fa));
        let got = big_of_limbs(&field::lane(&sq, 2));
        assert!(got < &p * 2u8);
        assert_eq!(got % &p, &a * &a * &rinv % &p);
    }
    // Lazy ops at the top of their input range.
    let hi = field::constant::<Soft>(&limbs_of_big(&(&p * 2u8 - 1u8)));
    let zero = field::constant::<Soft>(&[0; 5]);
    let s = big_of_limbs(&field::lane(&field::add_lazy(&hi, &hi), 0));
    assert_eq!(s, &p * 4u8 - 2u8);
    let d = big_of_limbs(&field::lane(&field::sub_lazy(&hi, &zero), 0));
    assert_eq!(d, &p * 4u8 - 1u8);
}

#[test]
fn field_edge_values() {
    let p = p();
    let vals = [
        BigUint::from(0u8),
        BigUint::from(1u8),
        &p - 1u8,
        &p - 2u8,
        (BigUint::from(1u8) << 255u32) % &p,
        BigUint::from((1u64 << 52) - 1),
        &p >> 1u32,
    ];
    let rinv = r_inv_p();
    for a in &vals {
        for b in &vals {
            for (x, y) in [
                (a.clone(), b.clone()),
                (a + &p, b.clone()),
                (a + &p, b + &p),
            ] {
                let fx = field::constant::<Soft>(&limbs_of_big(&x));
                let fy = field::constant::<Soft>(&limbs_of_big(&y));
                let m = big_of_limbs(&field::lane(&field::mul(&fx, &fy), 3));
                assert!(m < &p * 2u8);
                assert_eq!(m % &p, &x * &y * &rinv % &p);
                let s = big_of_limbs(&field::lane(&field::add(&fx, &fy), 0));
                assert!(s < &p * 2u8);
                assert_eq!(s % &p, (&x + &y) % &p);
                let d = big_of_limbs(&field::lane(&field::sub(&fx, &fy), 7));
                assert!(d < &p * 2u8);
                assert_eq!(d % &p, (&x + &p * 2u8 - &y) % &p);
                let c = big_of_limbs(&field::lane(&field::canonical(&fx), 5));
                assert_eq!(c, &x % &p);
            }
        }
        let inv = field::invert(&field::to_mont(&field::constant::<Soft>(&limbs_of_big(a))));
        let inv = big_of_limbs(&field::lane(&field::from_mont(&inv), 0));
        if *a != BigUint::from(0u8) {
            assert_eq!(inv * a % &p, BigUint::from(1u8));
        }
    }
}

#[test]
fn scalar_range_and_batch_inverse() {
    let n = n();
    assert!(!scalar::in_range(&[0; 4]));
    assert!(scalar::in_range(&[1, 0, 0, 0]));
    assert!(scalar::in_range(&words_of_big(&(&n - 1u8))));
    assert!(!scalar::in_range(&scalar::N));
    assert!(!scalar::in_range(&[u64::MAX; 4]));
    let xs: Vec<_> = (1u64..40)
        .map(|i| scalar::to_mont(&[i.wrapping_mul(0x1234_5678_9abc_def1), i, 0, i << 30]))
        .collect();
    let inv = scalar::batch_inv(&xs);
    for (x, i) in xs.iter().zip(&inv) {
        assert_eq!(scalar::from_mont(&scalar::mont_mul(x, i)), [1, 0, 0, 0]);
    }
}

#[test]
fn g_table_entries_are_multiples_of_g() {
    // Spot check against double-and-add in big integers (affine, textbook).
    let p = p();
    let inv = |x: &BigUint| x.modpow(&(&p - 2u8), &p);
    let gx = BigUint::from_bytes_be(&crate::table::GX);
    let gy = BigUint::from_bytes_be(&crate::table::GY);
    let dbl = |(x, y): (BigUint, BigUint)| {
        let l = (BigUint::from(3u8) * &x * &x + &p * 3u8 - 3u8) * inv(&(&y * 2u8)) % &p;
        let x3 = (&l * &l + &p * 2u8 - &x * 2u8) % &p;
        let y3 = (&l * ((&x + &p - &x3) % &p) + &p - &y) % &p;
        (x3, y3)
    };
    let add = |(x1, y1): (BigUint, BigUint), (x2, y2): (BigUint, BigUint)| {
        let l = ((&y2 + &p - &y1) % &p) * inv(&((&x2 + &p - &x1) % &p)) % &p;
        let x3 = (&l * &l + &p * 2u8 - &x1 - &x2) % &p;
        let y3 = (&l * ((&x1 + &p - &x3) % &p) + &p - &y1) % &p;
        (x3, y3)
    };
    let t = crate::table::g_table();
    let r = BigUint::from(1u8) << 260u32;
    let mut base = (gx, gy);
    for w in 0..crate::table::WINDOWS {
        if w % 9 == 0 || w == crate::table::WINDOWS - 1 {
            let mut m = base.clone();
            for d in 1..=crate::table::DIGITS {
                if d > 1 {
                    m = if d == 2 {
                        dbl(base.clone())
                    } else {
                        add(m, base.clone())
                    };
                }
                if d % 31 == 1 || d == 2 || d == 127 {
                    let e = (w * crate::table::DIGITS + d - 1) * crate::table::ENTRY;
                    let x = big_of_limbs(t[e..e + 5].try_into().unwrap());
                    let y = big_of_limbs(t[e + 5..e + 10].try_into().unwrap());
                    assert_eq!(x, &m.0 * &r % &p, "window {w} digit {d}");
                    assert_eq!(y, &m.1 * &r % &p, "window {w} digit {d}");
                }
            }
        }
        for _ in 0..crate::table::WINDOW {
            base = dbl(base);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx_vs_soft {
    use super::*;
    use crate::lanes::Avx;

    /// Every field operation on the same inputs, for one lane type.
    #[inline(always)]
    fn ops<V: Lanes>(a: [[u64; 5]; 8], b: [[u64; 5]; 8]) -> Vec<[[u64; 5]; 8]> {
        let fa = field::from_lanes::<V>(&a);
        let fb = field::from_lanes::<V>(&b);
        let res = [
            field::mul(&fa, &fb),
            field::add(&fa, &fb),
            field::sub(&fa, &fb),
            field::canonical(&fa),
            field::select(0b1010_0110, &fa, &fb),
            field::sqr(&fa),
            field::add_lazy(&fa, &fb),
            field::sub_lazy(&fa, &fb),
            field::fold(field::minus(
                &field::plus(&field::times_pow2::<3, _>(&fa), &field::kp(16)),
                &field::times_pow2::<2, _>(&fb),
            )),
        ];
        res.iter()
            .map(|f| core::array::from_fn(|i| field::lane(f, i)))
            .collect()
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn ops_avx(a: [[u64; 5]; 8], b: [[u64; 5]; 8]) -> Vec<[[u64; 5]; 8]> {
        ops::<Avx>(a, b)
    }

    fn ops_soft(a: [[u64; 5]; 8], b: [[u64; 5]; 8]) -> Vec<[[u64; 5]; 8]> {
        ops::<Soft>(a, b)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn avx_lanes_equal_soft_lanes(a in fe_lanes(), b in fe_lanes(), gi in proptest::array::uniform8(0u64..100)) {
            if !crate::ifma_detected() {
                return Ok(());
            }
            let (fa, _) = to_fe(&a);
            let (fb, _) = to_fe(&b);
            let la: [[u64; 5]; 8] = core::array::from_fn(|i| field::lane(&fa, i));
            let lb: [[u64; 5]; 8] = core::array::from_fn(|i| field::lane(&fb, i));
            // SAFETY: ifma_detected() checked above.
            let got = unsafe { ops_avx(la, lb) };
            prop_assert_eq!(got, ops_soft(la, lb));
            // Masks and gathers.
            let base: Vec<u64> = (0..90u64).map(|x| x * 3 + 1).collect();
            let idx = gi;
            #[target_feature(enable = "avx512f,avx512ifma")]
            unsafe fn g(base: &[u64], idx: [u64; 8]) -> ([u64; 8], u8, u8) {
                let v = Avx::gather(base, Avx::from_array(idx));
                let s = Avx::from_array(idx).sub(Avx::splat(50));
                (v.to_array(), s.neg_mask(), s.zero_mask())
            }
            // SAFETY: ifma_detected() checked above.
            let (v, nm, zm) = unsafe { g(&base, idx) };
            let sv = Soft::gather(&base, Soft(idx));
            let ss = Soft(idx).sub(Soft::splat(50));
            prop_assert_eq!((v, nm, zm), (sv.0, ss.neg_mask(), ss.zero_mask()));
        }
    }
}
