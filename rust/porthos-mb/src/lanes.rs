//! Eight 64-bit lanes: the one abstraction the field, point and kernel code is
//! written against.
//!
//! Two implementations share every line of arithmetic above this module:
//! * [`Soft`]: portable `[u64; 8]`, the reference (and what the fixed-base table is
//!   generated with, so the table never depends on the CPU);
//! * [`Avx`] (x86_64 only): one `__m512i`, with `vpmadd52luq`/`vpmadd52huq`.
//!
//! Because both run the identical sequence of lane operations, their outputs must
//! agree bit for bit, which is what the lane tests check.

/// Low 52 bits.
pub(crate) const MASK52: u64 = (1 << 52) - 1;

/// Eight unsigned 64-bit lanes. Masks are `u8`, bit `i` for lane `i`.
pub(crate) trait Lanes: Copy {
    fn splat(x: u64) -> Self;
    fn from_array(a: [u64; 8]) -> Self;
    fn to_array(self) -> [u64; 8];
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    /// Logical shift right by 52.
    fn shr52(self) -> Self;
    /// Arithmetic (sign-propagating) shift right by 52.
    fn sar52(self) -> Self;
    /// Logical shift left by `N` (< 64).
    fn shl<const N: u32>(self) -> Self;
    /// Logical shift right by `N` (< 64).
    fn shr<const N: u32>(self) -> Self;
    /// `self + low52(a[51:0] * b[51:0])` (vpmadd52luq).
    fn madd_lo(self, a: Self, b: Self) -> Self;
    /// `self + high52(a[51:0] * b[51:0])` (vpmadd52huq).
    fn madd_hi(self, a: Self, b: Self) -> Self;
    /// Lane `i`: `m` bit `i` set ? `a` : `b`.
    fn select(m: u8, a: Self, b: Self) -> Self;
    /// Lanes whose value, read as `i64`, is negative.
    fn neg_mask(self) -> u8;
    /// Lanes equal to zero.
    fn zero_mask(self) -> u8;
    /// Lane `i`: `base[idx[i]]`. Indices past the end are clamped to the last
    /// element (callers never produce them; the clamp keeps the SIMD gather in
    /// bounds whatever happens).
    fn gather(base: &[u64], idx: Self) -> Self;

    #[inline(always)]
    fn zero() -> Self {
        Self::splat(0)
    }
}

/// Portable reference lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Soft(pub [u64; 8]);

#[allow(clippy::needless_range_loop)]
impl Soft {
    #[inline(always)]
    fn map2(self, o: Self, f: impl Fn(u64, u64) -> u64) -> Self {
        let mut r = [0; 8];
        for i in 0..8 {
            r[i] = f(self.0[i], o.0[i]);
        }
        Soft(r)
    }
}

#[inline(always)]
fn mul52(a: u64, b: u64) -> u128 {
    u128::from(a & MASK52) * u128::from(b & MASK52)
}

// Index loops over the eight lanes read more plainly than zipped iterators here.
#[allow(clippy::needless_range_loop)]
impl Lanes for Soft {
    #[inline(always)]
    fn splat(x: u64) -> Self {
        Soft([x; 8])
    }
    #[inline(always)]
    fn from_array(a: [u64; 8]) -> Self {
        Soft(a)
    }
    #[inline(always)]
    fn to_array(self) -> [u64; 8] {
        self.0
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.map2(o, u64::wrapping_add)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        self.map2(o, u64::wrapping_sub)
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        self.map2(o, |a, b| a & b)
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        self.map2(o, |a, b| a | b)
    }
    #[inline(always)]
    fn shr52(self) -> Self {
        self.map2(self, |a, _| a >> 52)
    }
    #[inline(always)]
    fn sar52(self) -> Self {
        self.map2(self, |a, _| ((a as i64) >> 52) as u64)
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        self.map2(self, |a, _| a << N)
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        self.map2(self, |a, _| a >> N)
    }
    #[inline(always)]
    fn madd_lo(self, a: Self, b: Self) -> Self {
        let mut r = self.0;
        for i in 0..8 {
            r[i] = r[i].wrapping_add(mul52(a.0[i], b.0[i]) as u64 & MASK52);
        }
        Soft(r)
    }
    #[inline(always)]
    fn madd_hi(self, a: Self, b: Self) -> Self {
        let mut r = self.0;
        for i in 0..8 {
            r[i] = r[i].wrapping_add((mul52(a.0[i], b.0[i]) >> 52) as u64);
        }
        Soft(r)
    }
    #[inline(always)]
    fn select(m: u8, a: Self, b: Self) -> Self {
        let mut r = b.0;
        for (i, v) in r.iter_mut().enumerate() {
            if m >> i & 1 == 1 {
                *v = a.0[i];
            }
        }
        Soft(r)
    }
    #[inline(always)]
    fn neg_mask(self) -> u8 {
        (0..8).fold(0, |m, i| m | (((self.0[i] >> 63) as u8) << i))
    }
    #[inline(always)]
    fn zero_mask(self) -> u8 {
        (0..8).fold(0, |m, i| m | (u8::from(self.0[i] == 0) << i))
    }
    #[inline(always)]
    fn gather(base: &[u64], idx: Self) -> Self {
        let last = base.len() - 1;
        let mut r = [0; 8];
        for i in 0..8 {
            r[i] = base[usize::try_from(idx.0[i]).map_or(last, |j| j.min(last))];
        }
        Soft(r)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx::Avx;

#[cfg(target_arch = "x86_64")]
mod avx {
    //! Soundness: every method below executes AVX-512F/IFMA instructions. The type
    //! `Avx` is crate-private and the only code that instantiates the generic
    //! arithmetic with it is `kernel::verify_chunk_avx`, an `unsafe`
    //! `#[target_feature(enable = "avx512f,avx512ifma")]` function whose callers
    //! check `is_x86_feature_detected!` for both features first
    //! (`crate::ifma_detected`). So whenever one of these methods runs, the CPU
    //! has the features. All methods are `#[inline(always)]` so that they are
    //! compiled inside that target-feature function.
    use super::Lanes;
    use core::arch::x86_64::*;

    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx(__m512i);

    impl Lanes for Avx {
        #[inline(always)]
        fn splat(x: u64) -> Self {
            // SAFETY: CPU has AVX-512F (module invariant above).
            Avx(unsafe { _mm512_set1_epi64(x as i64) })
        }
        #[inline(always)]
        fn from_array(a: [u64; 8]) -> Self {
            // SAFETY: AVX-512F present (module invariant); `a` is 64 readable bytes
            // and loadu has no alignment requirement.
            Avx(unsafe { _mm512_loadu_si512(a.as_ptr().cast()) })
        }
        #[inline(always)]
        fn to_array(self) -> [u64; 8] {
            let mut a = [0u64; 8];
            // SAFETY: AVX-512F present (module invariant); `a` is 64 writable bytes
            // and storeu has no alignment requirement.
            unsafe { _mm512_storeu_si512(a.as_mut_ptr().cast(), self.0) };
            a
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_add_epi64(self.0, o.0) })
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_sub_epi64(self.0, o.0) })
        }
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_and_si512(self.0, o.0) })
        }
        #[inline(always)]
        fn or(self, o: Self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_or_si512(self.0, o.0) })
        }
        #[inline(always)]
        fn shr52(self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_srli_epi64::<52>(self.0) })
        }
        #[inline(always)]
        fn sar52(self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_srai_epi64::<52>(self.0) })
        }
        #[inline(always)]
        fn shl<const N: u32>(self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_slli_epi64::<N>(self.0) })
        }
        #[inline(always)]
        fn shr<const N: u32>(self) -> Self {
            // SAFETY: AVX-512F present (module invariant).
            Avx(unsafe { _mm512_srli_epi64::<N>(self.0) })
        }
        #[inline(always)]
        fn madd_lo(self, a: Self, b: Self) -> Self {
            // SAFETY: AVX-512IFMA present (module invariant).
            Avx(unsafe { _mm512_madd52lo_epu64(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn madd_hi(self, a: Self, b: Self) -> Self {
            // SAFETY: AVX-512IFMA present (module invariant).
            Avx(unsafe { _mm512_madd52hi_epu64(self.0, a.0, b.0) })
        }
        #[inline(always)]
        fn select(m: u8, a: Self, b: Self) -> Self {
            // SAFETY: AVX-512F present (module invariant). mask_mov takes `a`
            // where the mask bit is set, `b` elsewhere.
            Avx(unsafe { _mm512_mask_mov_epi64(b.0, m, a.0) })
        }
        #[inline(always)]
        fn neg_mask(self) -> u8 {
            // SAFETY: AVX-512F present (module invariant).
            unsafe { _mm512_cmplt_epi64_mask(self.0, _mm512_setzero_si512()) }
        }
        #[inline(always)]
        fn zero_mask(self) -> u8 {
            // SAFETY: AVX-512F present (module invariant).
            unsafe { _mm512_cmpeq_epi64_mask(self.0, _mm512_setzero_si512()) }
        }
        #[inline(always)]
        fn gather(base: &[u64], idx: Self) -> Self {
            let last = (base.len() - 1) as u64;
            // SAFETY: AVX-512F present (module invariant). Every index is clamped
            // to `base.len() - 1` first, so each of the eight 8-byte reads at
            // `base.as_ptr() + 8 * idx[i]` lies inside `base`.
            unsafe {
                let i = _mm512_min_epu64(idx.0, _mm512_set1_epi64(last as i64));
                Avx(_mm512_i64gather_epi64::<8>(i, base.as_ptr().cast()))
            }
        }
    }
}
