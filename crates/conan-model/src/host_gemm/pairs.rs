//! An int8 weight times u8 input codes, by pairs of 16-bit products: the wasm kernel.
//!
//! Baseline wasm-simd128 has no 8-bit dot product. rten-gemm's wasm int8 kernel builds one
//! from widening multiplies, pairwise adds and shuffles, and ran slower than its own f32
//! kernel in V8 (conan-mini, 32 × 128 under Node: 958 ms a pass against 780 ms, 72 % of it
//! in that kernel); this one runs the same pass in 410–445 ms. `i32x4.dot_i16x8_s` is one
//! x86 `pmaddwd`: two products summed into each 32-bit lane. So the weight keeps its int8
//! codes, interleaved by pairs of inputs for 8 outputs at a time (one 16-byte load, widened
//! to two vectors of 16-bit codes); input rows arrive as 16-bit codes, so a pair of them is
//! one 32-bit splat.
//! Sums are exact: |a·b + a'·b'| ≤ 2 · 255 · 127 per lane, and a row of k inputs ≤ k · 32,385.
//!
//! Natively the same layout runs in plain Rust (tests; native builds use rten-gemm's
//! kernels, see [`super::HostLinear::int8`]).

/// Outputs per block: one 16-byte load holds 8 outputs' codes for one pair of inputs.
const NR: usize = 8;

/// Input rows per tile: 4 rows × 2 vectors of 4 outputs are 8 accumulators, which with the
/// weight's two vectors and the splat fit x86's 16 vector registers.
const MR: usize = 4;

/// An `out × in` int8 matrix laid out for [`gemm`]: blocks of [`NR`] outputs, and in each
/// block, for each pair of inputs, the 8 outputs' two codes side by side.
pub struct PairMatrix {
    codes: Vec<i8>,
    pairs: usize,
    outputs: usize,
}

impl PairMatrix {
    /// `codes`: `outputs × inputs` row-major (HF's `[out, in]`). Inputs past the last, to
    /// make whole pairs, and outputs past the last, to make whole blocks, are zero.
    pub fn pack(codes: &[i8], outputs: usize, inputs: usize) -> Self {
        debug_assert_eq!(codes.len(), outputs * inputs);
        let pairs = inputs.div_ceil(2);
        let blocks = outputs.div_ceil(NR);
        let mut packed = vec![0i8; blocks * pairs * 2 * NR];
        for (o, row) in codes.chunks_exact(inputs.max(1)).enumerate().take(outputs) {
            let (block, lane) = (o / NR, o % NR);
            for (i, &c) in row.iter().enumerate() {
                packed[(block * pairs + i / 2) * 2 * NR + lane * 2 + i % 2] = c;
            }
        }
        Self { codes: packed, pairs, outputs }
    }

    /// Input pairs per row: the rows [`gemm`] takes are twice this many codes long.
    pub fn pairs(&self) -> usize {
        self.pairs
    }
}

/// `acc = a · Bᵀ`: `a` holds `m` rows of `2 ·` [`PairMatrix::pairs`] 16-bit codes (0..=255;
/// zero past the inputs), `acc` is `m × outputs`, overwritten.
pub fn gemm(a: &[u16], b: &PairMatrix, acc: &mut [i32]) {
    let (width, n) = (2 * b.pairs, b.outputs);
    let m = a.len().checked_div(width).unwrap_or(acc.len() / n.max(1));
    assert!(
        a.len() == m * width && acc.len() == m * n,
        "pair gemm: {} codes and {} outputs for {m} rows",
        a.len(),
        acc.len()
    );
    if width == 0 {
        acc.fill(0);
        return;
    }
    for (a, acc) in a.chunks(MR * width).zip(acc.chunks_mut(MR * n)) {
        let rows = a.len() / width;
        for (block, codes) in b.codes.chunks_exact(width * NR).enumerate() {
            let cols = NR.min(n - block * NR);
            kernel::tile(a, rows, b.pairs, codes, &mut acc[block * NR..], n, cols);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod kernel {
    use std::arch::wasm32::*;

    use super::{MR, NR};

    /// `rows` (≤ [`MR`]) rows of `a` times one block of `codes`: `cols` outputs written at
    /// `out[r · stride ..]`.
    pub fn tile(a: &[u16], rows: usize, pairs: usize, codes: &[i8], out: &mut [i32], stride: usize, cols: usize) {
        assert!(rows <= MR && a.len() >= rows * 2 * pairs && codes.len() >= pairs * 2 * NR);
        assert!(rows == 0 || out.len() >= (rows - 1) * stride + cols);
        // Safety: the asserts above bound every load and store below.
        unsafe {
            match rows {
                4 => rows_of::<4>(a, pairs, codes, out, stride, cols),
                3 => rows_of::<3>(a, pairs, codes, out, stride, cols),
                2 => rows_of::<2>(a, pairs, codes, out, stride, cols),
                1 => rows_of::<1>(a, pairs, codes, out, stride, cols),
                _ => {}
            }
        }
    }

    #[inline(always)]
    unsafe fn rows_of<const R: usize>(
        a: &[u16],
        pairs: usize,
        codes: &[i8],
        out: &mut [i32],
        stride: usize,
        cols: usize,
    ) {
        let zero = i32x4_splat(0);
        let mut acc = [[zero; 2]; R];
        let (a, b) = (a.as_ptr(), codes.as_ptr() as *const v128);
        let width = 2 * pairs;
        for p in 0..pairs {
            // Safety (here and below): p < pairs and r < R, within the caller's bounds.
            let w = unsafe { v128_load(b.add(p)) };
            let (lo, hi) = (i16x8_extend_low_i8x16(w), i16x8_extend_high_i8x16(w));
            for (r, acc) in acc.iter_mut().enumerate() {
                // A pair of 16-bit codes as one 32-bit lane (wasm is little-endian: first low).
                let x = u32x4_splat(unsafe { (a.add(r * width + 2 * p) as *const u32).read_unaligned() });
                acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(x, lo));
                acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(x, hi));
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = unsafe { out.as_mut_ptr().add(r * stride) };
            if cols == NR {
                unsafe {
                    v128_store(dst as *mut v128, acc[0]);
                    v128_store(dst.add(4) as *mut v128, acc[1]);
                }
            } else {
                let mut lanes = [0i32; NR];
                unsafe {
                    v128_store(lanes.as_mut_ptr() as *mut v128, acc[0]);
                    v128_store(lanes.as_mut_ptr().add(4) as *mut v128, acc[1]);
                    std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, cols);
                }
            }
        }
    }
}

/// The same products in plain Rust, lane by lane as the wasm kernel takes them.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod kernel {
    use super::{MR, NR};

    pub fn tile(a: &[u16], rows: usize, pairs: usize, codes: &[i8], out: &mut [i32], stride: usize, cols: usize) {
        assert!(rows <= MR);
        for r in 0..rows {
            let mut lanes = [0i32; NR];
            for (p, x) in a[r * 2 * pairs..(r + 1) * 2 * pairs].chunks_exact(2).enumerate() {
                let (x0, x1) = (x[0] as i32, x[1] as i32);
                let w = &codes[p * 2 * NR..(p + 1) * 2 * NR];
                for (lane, sum) in lanes.iter_mut().enumerate() {
                    *sum += x0 * w[2 * lane] as i32 + x1 * w[2 * lane + 1] as i32;
                }
            }
            out[r * stride..r * stride + cols].copy_from_slice(&lanes[..cols]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the plain integer product, with an odd number of inputs, outputs that do
    /// not fill the last block and rows that do not fill the last tile.
    #[test]
    fn pairs_match_the_integer_product() {
        let (m, k, n) = (11, 37, 21);
        let mut s = 7u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let mut w: Vec<i8> = (0..n * k).map(|_| (next() % 255) as i32 as i8).map(|c| c.max(-127)).collect();
        let mut x: Vec<u8> = (0..m * k).map(|_| (next() % 256) as u8).collect();
        // The largest sums either way: a row of 255s against outputs of ±127.
        x[..k].fill(255);
        w[..k].fill(127);
        w[k..2 * k].fill(-127);
        let b = PairMatrix::pack(&w, n, k);
        let mut acc = vec![0i32; m * n];
        // Rows as the kernel takes them: 16-bit, padded to whole pairs.
        let rows: Vec<u16> =
            x.chunks(k).flat_map(|row| row.iter().map(|&c| c as u16).chain((k % 2 == 1).then_some(0))).collect();
        gemm(&rows, &b, &mut acc);
        for r in 0..m {
            for o in 0..n {
                let want: i32 = (0..k).map(|i| x[r * k + i] as i32 * w[o * k + i] as i32).sum();
                assert_eq!(acc[r * n + o], want, "row {r}, output {o}");
            }
        }
    }
}
