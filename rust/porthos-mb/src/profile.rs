//! Cost of the kernel's building blocks on this CPU, for the benchmark's profile
//! section (valgrind has no AVX-512 and `perf` counters are unavailable on the
//! VMs this runs on, so the profile is built from timed primitives and the
//! kernel's operation counts).

use std::time::Instant;

use crate::field::{self, Fe};
use crate::lanes::Lanes;
use crate::point::{add_affine, add_full, double, Jac};

/// Nanoseconds per 8-lane operation: (mul, add, sub, double, add_full,
/// add_affine, gather of one 15-limb Q-table entry), or `None` without IFMA.
#[doc(hidden)]
pub fn primitive_costs_ns(iters: u32) -> Option<[f64; 6]> {
    if !crate::ifma_detected() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: ifma_detected() checked just above.
        Some(unsafe { costs_avx(iters) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn costs_avx(iters: u32) -> [f64; 6] {
    costs::<crate::lanes::Avx>(iters)
}

#[inline(always)]
fn costs<V: Lanes>(iters: u32) -> [f64; 6] {
    let seed =
        |k: u64| -> Fe<V> { field::to_mont(&field::constant(&[k, k * 3, k * 5, k * 7, k * 11])) };
    let (mut a, mut b, mut c, mut d) = (seed(1), seed(2), seed(3), seed(4));
    let per = |t: Instant, n: u32| t.elapsed().as_nanos() as f64 / f64::from(n);
    // Four independent chains, as in the point formulas.
    let t = Instant::now();
    for _ in 0..iters {
        a = field::mul(&a, &b);
        c = field::mul(&c, &d);
        b = field::mul(&b, &a);
        d = field::mul(&d, &c);
    }
    let mul = per(t, iters * 4);
    let t = Instant::now();
    for _ in 0..iters {
        a = field::add(&a, &b);
        c = field::add(&c, &d);
        b = field::add(&b, &a);
        d = field::add(&d, &c);
    }
    let add = per(t, iters * 4);
    let t = Instant::now();
    for _ in 0..iters {
        a = field::sub(&a, &b);
        c = field::sub(&c, &d);
        b = field::sub(&b, &a);
        d = field::sub(&d, &c);
    }
    let sub = per(t, iters * 4);
    let mut p = Jac { x: a, y: b, z: c };
    let t = Instant::now();
    for _ in 0..iters {
        p = double(&p);
    }
    let dbl = per(t, iters);
    let q = Jac { x: d, y: a, z: b };
    let t = Instant::now();
    for _ in 0..iters {
        p = add_full(&p, &q).0;
    }
    let addf = per(t, iters);
    let t = Instant::now();
    for _ in 0..iters {
        p = add_affine(&p, &c, &d);
    }
    let adda = per(t, iters);
    // Keep the results alive.
    std::hint::black_box((&p.x[0].to_array(), &a[0].to_array()));
    [mul, add, sub, dbl, addf, adda]
}
