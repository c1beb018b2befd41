//! Fixed-base table for the generator G: for each 7-bit window i (0..37) and
//! digit d (1..=127), the affine point d·2^(7i)·G, in Montgomery form.
//!
//! Layout: entry e = 127·i + (d - 1) occupies `table[10e..10e + 10]`: five limbs of
//! x then five of y, which is what the kernel's gathers index.
//!
//! Generated once per process (`OnceLock`) with the portable lanes, so it does not
//! depend on the CPU; that takes a few milliseconds.

use std::sync::OnceLock;

use crate::field::{self, Fe};
use crate::lanes::Soft;
use crate::point::{add_full, double, Jac};

pub(crate) const WINDOW: u32 = 7;
pub(crate) const WINDOWS: usize = 37; // 37·7 = 259 >= 256
pub(crate) const DIGITS: usize = (1 << WINDOW) - 1;
pub(crate) const ENTRY: usize = 10;

/// G (SEC 2 §2.4.2), big-endian.
pub(crate) const GX: [u8; 32] =
    hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
pub(crate) const GY: [u8; 32] =
    hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");

const fn hex32(s: &str) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nib(b[2 * i]) << 4 | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

pub(crate) fn g_table() -> &'static [u64] {
    static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
    TABLE.get_or_init(build)
}

fn splat_fe(l: &[u64; 5]) -> Fe<Soft> {
    field::constant(l)
}

fn build() -> Vec<u64> {
    let gx = field::to_mont(&splat_fe(&field::limbs_from_be(&GX)));
    let gy = field::to_mont(&splat_fe(&field::limbs_from_be(&GY)));
    let one = field::constant::<Soft>(&field::ONE_M);
    // Bases 2^(7i)·G, all lanes equal.
    let mut bases = Vec::with_capacity(WINDOWS);
    let mut b = Jac {
        x: gx,
        y: gy,
        z: one,
    };
    for _ in 0..WINDOWS {
        bases.push(b);
        for _ in 0..WINDOW {
            b = double(&b);
        }
    }
    let mut table = vec![0u64; WINDOWS * DIGITS * ENTRY];
    for group in 0..WINDOWS.div_ceil(8) {
        // Lane l works on window 8·group + l (windows past the end repeat window 0).
        let win = |l: usize| {
            let w = 8 * group + l;
            if w < WINDOWS {
                w
            } else {
                0
            }
        };
        let lane_base = |c: fn(&Jac<Soft>) -> &Fe<Soft>| -> Fe<Soft> {
            let limbs: [[u64; 5]; 8] = core::array::from_fn(|l| field::lane(c(&bases[win(l)]), l));
            field::from_lanes(&limbs)
        };
        let base = Jac {
            x: lane_base(|p| &p.x),
            y: lane_base(|p| &p.y),
            z: lane_base(|p| &p.z),
        };
        // d·B for d = 1..=127; d = 2 by doubling, the rest never hit P = ±B.
        let mut multiples = Vec::with_capacity(DIGITS);
        multiples.push(base);
        multiples.push(double(&base));
        for d in 3..=DIGITS {
            multiples.push(add_full(&multiples[d - 2], &base).0);
        }
        // Batch inversion of the Z coordinates (Montgomery's trick).
        let mut prefix = Vec::with_capacity(DIGITS);
        let mut acc = multiples[0].z;
        prefix.push(acc);
        for m in &multiples[1..] {
            acc = field::mul(&acc, &m.z);
            prefix.push(acc);
        }
        let mut inv = field::invert(&acc);
        for d in (0..DIGITS).rev() {
            let zinv = if d == 0 {
                inv
            } else {
                let z = field::mul(&inv, &prefix[d - 1]);
                inv = field::mul(&inv, &multiples[d].z);
                z
            };
            let zinv2 = field::sqr(&zinv);
            let x = field::canonical(&field::mul(&multiples[d].x, &zinv2));
            let y = field::canonical(&field::mul(&multiples[d].y, &field::mul(&zinv2, &zinv)));
            for l in 0..8 {
                let w = 8 * group + l;
                if w >= WINDOWS {
                    continue;
                }
                let e = (w * DIGITS + d) * ENTRY;
                table[e..e + 5].copy_from_slice(&field::lane(&x, l));
                table[e + 5..e + 10].copy_from_slice(&field::lane(&y, l));
            }
        }
    }
    table
}
