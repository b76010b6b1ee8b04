//! The CPU backend's projections, multiplied on the host by rten-gemm's packed kernels
//! (AVX-512 / AVX2 / NEON / wasm-simd128, picked at run time).
//!
//! burn's CPU backend multiplies with the `gemm` crate and packs the weight again on every
//! call; here each weight is packed once, at load. An f32 weight runs rten's f32 kernel
//! (1.6–1.8× the `gemm` crate's on conan-mini's shapes, same results to rounding). A pack's
//! q8 / q4 weight runs int8 × int8 → int32, as ONNX Runtime's dynamic quantization does:
//! the weight requantized to one int8 scale per output (from its per-block scales), each
//! input row quantized to u8 with its own scale and zero point as it arrives. That is about
//! 4× the `gemm` crate's f32 speed natively (VNNI) and keeps vectors within cosine 0.999 of
//! the f32 path (`tests/mini.rs` measures it on 400 dev sentences). In wasm the int8
//! product runs [`pairs`] instead (2.2× rten's wasm int8 kernel in V8). [`swiglu`] is the
//! MLP's gating on the same rows, vectorised; [`attention`] is softmax(QKᵀ)V per head.
//!
//! No burn here: [`crate::model::Projection`] hands rows in and takes rows out.

use std::fmt;

use rayon::prelude::*;
use rten_gemm::{BiasVector, GemmExecutor, GemmInputA, GemmInputB, GemmOptions, PackedBMatrix};
use rten_simd::SimdUnaryOp;
use rten_tensor::NdTensorView;
use rten_vecmath::Silu;

use crate::error::ModelError;
use crate::weights::QuantMatrix;
use pairs::PairMatrix;

pub mod attention;
pub mod pairs;

/// An executor picks the best kernel this CPU has, the same one each time, so a weight
/// packed by one is multiplied by the next. Made where needed (a feature check and an
/// allocation, nothing beside a matmul); one is shared by reference across rayon tasks.
fn f32_gemm() -> GemmExecutor<f32, f32, f32> {
    GemmExecutor::default()
}

fn int8_gemm() -> GemmExecutor<u8, i8, i32> {
    GemmExecutor::default()
}

/// Rows per task: enough work to repay a rayon task, few enough to split a batch, and a
/// block's int32 products (64 × out) small enough to stay in cache.
const ROWS_PER_TASK: usize = 64;

enum Weight {
    F32(PackedBMatrix<f32>),
    /// Codes packed for the kernel, each output's scale, and each output's sum of codes
    /// (for the inputs' zero points; as f32, exact below 2²⁴ = 127 · 132,104 inputs).
    Int8 {
        codes: Int8Codes,
        scales: Vec<f32>,
        sums: Vec<f32>,
    },
}

enum Int8Codes {
    Rten(PackedBMatrix<i8>),
    Pairs(PairMatrix),
}

/// Which kernel multiplies int8 weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8Kernel {
    /// rten-gemm's: VNNI / AVX-512 / AVX2 on x86, dot-product instructions on Arm.
    Rten,
    /// [`pairs`]: 16-bit pair products, for wasm-simd128, where rten's int8 kernel ran
    /// slower than its f32 one.
    Pairs,
}

impl Int8Kernel {
    /// The faster one on the target this is built for.
    pub const BEST: Self =
        if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) { Self::Pairs } else { Self::Rten };
}

/// The largest weight code `kernel` takes on this CPU: 127, or 64 where rten's kernel sums
/// pairs of u8 × i8 products in 16 bits (x86 without VNNI), so that 255 · 64 · 2 cannot
/// saturate them. Keeping the inputs' 8 bits and giving up one of the weights' instead holds
/// the int8 path within cosine 0.999 of f32 there (7-bit inputs did not: 0.99867 at worst on
/// 400 dev sentences).
fn weight_top(kernel: Int8Kernel) -> i32 {
    if kernel == Int8Kernel::Rten && int8_gemm().may_saturate() { 64 } else { 127 }
}

/// Whether [`Int8Kernel::BEST`] on this CPU sums the same integer products as the wasm's
/// pair kernel (8-bit weight codes), so their vectors agree to rounding; where it takes
/// 7-bit weight codes they differ by about cosine 0.9995.
pub fn int8_matches_wasm() -> bool {
    weight_top(Int8Kernel::BEST) == 127
}

/// `y = x Wᵀ + b` for an HF `[out, in]` weight, packed for the host's kernels.
pub struct HostLinear {
    weight: Weight,
    in_features: usize,
    out_features: usize,
    bias: Option<Vec<f32>>,
}

impl fmt::Debug for HostLinear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.int8_kernel() {
            None => "f32",
            Some(Int8Kernel::Rten) => "int8",
            Some(Int8Kernel::Pairs) => "int8 pairs",
        };
        write!(f, "HostLinear({kind}, {} → {})", self.in_features, self.out_features)
    }
}

impl HostLinear {
    /// An f32 weight, `out × in` row-major as HF stores it.
    pub fn f32(weight: &[f32], out_features: usize, in_features: usize, bias: Option<Vec<f32>>) -> Self {
        debug_assert_eq!(weight.len(), out_features * in_features);
        // The kernel multiplies by `[in, out]`: HF's matrix read transposed (packing copies it).
        let view = NdTensorView::from_data([out_features, in_features], weight);
        let packed = f32_gemm().prepack_b(view.transposed());
        Self { weight: Weight::F32(packed), in_features, out_features, bias }
    }

    /// A pack's q8 / q4 matrix (`out × in`, one scale per block of each row), requantized
    /// to one int8 scale per row (output): the row's largest magnitude maps to 127 (64 where
    /// the kernel could saturate, see `weight_top`); for this target's [`Int8Kernel::BEST`].
    pub fn int8(q: &QuantMatrix, bias: Option<Vec<f32>>) -> Self {
        Self::int8_for(q, bias, Int8Kernel::BEST)
    }

    /// [`Self::int8`] for a chosen kernel (both run everywhere; tests compare them).
    pub fn int8_for(q: &QuantMatrix, bias: Option<Vec<f32>>, kernel: Int8Kernel) -> Self {
        let (rows, cols) = (q.rows, q.cols);
        let values = q.dequantize();
        let mut codes = vec![0i8; rows * cols];
        let mut scales = vec![0f32; rows];
        let top = weight_top(kernel) as f32;
        for ((row, out), scale) in values.chunks_exact(cols).zip(codes.chunks_exact_mut(cols)).zip(&mut scales) {
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            *scale = if max > 0.0 { max / top } else { 1.0 };
            for (c, v) in out.iter_mut().zip(row) {
                *c = (v / *scale).round().clamp(-top, top) as i8;
            }
        }
        let sums = codes.chunks_exact(cols).map(|row| row.iter().map(|&c| c as i32).sum::<i32>() as f32).collect();
        let codes = match kernel {
            Int8Kernel::Rten => {
                let view = NdTensorView::from_data([rows, cols], &codes[..]);
                Int8Codes::Rten(int8_gemm().prepack_b(view.transposed()))
            }
            Int8Kernel::Pairs => Int8Codes::Pairs(PairMatrix::pack(&codes, rows, cols)),
        };
        Self { weight: Weight::Int8 { codes, scales, sums }, in_features: cols, out_features: rows, bias }
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `x`: `rows × in` row-major; returns `rows × out`.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let m = self.rows(x)?;
        let (k, n) = (self.in_features, self.out_features);
        match &self.weight {
            Weight::F32(packed) => {
                let a = NdTensorView::from_data([m, k], x);
                let mut out = vec![0f32; m * n];
                let bias = self.bias.as_deref().map(BiasVector::Row);
                let opts = GemmOptions { bias, ..Default::default() };
                f32_gemm()
                    .gemm(&mut out, GemmInputA::Unpacked(a), GemmInputB::Packed(packed), opts)
                    .map_err(|e| gemm_error(m, k, n, e))?;
                Ok(out)
            }
            Weight::Int8 { .. } => Ok(int8_forward(&[self], x, m)?.remove(0)),
        }
    }

    /// [`Self::forward`] of each of `weights` on the same rows `x` (q, k and v; gate and up):
    /// int8 weights quantize and pack the rows once for all of them instead of once each.
    pub fn forward_shared(weights: &[&HostLinear], x: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let Some(first) = weights.first() else { return Ok(Vec::new()) };
        if let Some(w) = weights.iter().find(|w| w.in_features != first.in_features) {
            return Err(ModelError::Weights(format!(
                "projections sharing their input take {} and {} values",
                first.in_features, w.in_features
            )));
        }
        let m = first.rows(x)?;
        let kernel = first.int8_kernel();
        if weights.len() > 1 && kernel.is_some() && weights.iter().all(|w| w.int8_kernel() == kernel) {
            int8_forward(weights, x, m)
        } else {
            weights.iter().map(|w| w.forward(x)).collect()
        }
    }

    /// The kernel an int8 weight runs on; `None` for an f32 weight.
    fn int8_kernel(&self) -> Option<Int8Kernel> {
        match &self.weight {
            Weight::F32(_) => None,
            Weight::Int8 { codes: Int8Codes::Rten(_), .. } => Some(Int8Kernel::Rten),
            Weight::Int8 { codes: Int8Codes::Pairs(_), .. } => Some(Int8Kernel::Pairs),
        }
    }

    /// The rows in `x`, which must be whole rows of `in_features`.
    fn rows(&self, x: &[f32]) -> Result<usize, ModelError> {
        let k = self.in_features;
        if k == 0 || !x.len().is_multiple_of(k) {
            return Err(ModelError::Input(format!("{} values are not rows of {k}", x.len())));
        }
        Ok(x.len() / k)
    }

    /// `out = (acc − z · Σ codes) · s_row · s_out + b`: int32 products back to f32.
    fn rescale(&self, out: &mut [f32], acc: &[i32], row_scales: &[f32], zero_points: &[u8]) {
        let Weight::Int8 { scales, sums, .. } = &self.weight else { return };
        let n = self.out_features;
        let bias = self.bias.as_deref();
        let each = out.chunks_exact_mut(n).zip(acc.chunks_exact(n)).zip(row_scales.iter().zip(zero_points));
        for ((out, acc), (&sa, &za)) in each {
            let za = za as f32;
            for (((o, &p), &sb), &sum) in out.iter_mut().zip(acc).zip(scales).zip(sums) {
                *o = (p as f32 - za * sum) * (sa * sb);
            }
            if let Some(bias) = bias {
                out.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
            }
        }
    }
}

fn gemm_error(m: usize, k: usize, n: usize, e: impl fmt::Debug) -> ModelError {
    ModelError::Backend(format!("host matmul ({m} × {k} by {k} × {n}): {e:?}"))
}

/// `m` rows `x` times each of `weights`, all int8 with the same kernel and input width.
fn int8_forward(weights: &[&HostLinear], x: &[f32], m: usize) -> Result<Vec<Vec<f32>>, ModelError> {
    let k = weights[0].in_features;
    let exec = int8_gemm();
    // Input codes take all 8 bits with either kernel: where rten's could saturate, the
    // weights took 7 (`weight_top`).
    let pairs = match &weights[0].weight {
        Weight::Int8 { codes: Int8Codes::Pairs(b), .. } => Some(b.pairs()),
        _ => None,
    };
    let mut outs: Vec<Vec<f32>> = weights.iter().map(|w| vec![0f32; m * w.out_features]).collect();
    // One block of rows at a time, start to end (quantize, multiply, rescale), so the int32
    // products stay in cache instead of a batch-sized buffer: each block's slice of every output.
    let mut blocks: Vec<Vec<&mut [f32]>> = (0..m.div_ceil(ROWS_PER_TASK)).map(|_| Vec::new()).collect();
    for (out, w) in outs.iter_mut().zip(weights) {
        for (block, chunk) in blocks.iter_mut().zip(out.chunks_mut(w.out_features * ROWS_PER_TASK)) {
            block.push(chunk);
        }
    }
    blocks.into_par_iter().zip(x.par_chunks(k * ROWS_PER_TASK)).try_for_each(
        |(mut outs, x)| -> Result<(), ModelError> {
            let rows = x.len() / k;
            // The codes multiply as they are, and each row's zero point is taken off below
            // (z · Σ codes of the output). rten-gemm 0.27 can take per-row zero points itself,
            // but its AVX-512 kernel applies them wrongly past the first 8 rows (checked against
            // the integer product); `int8_stays_close_to_the_dequantized_product` covers such rows.
            match pairs {
                Some(pairs) => {
                    let q = QuantRows::<u16>::new(x, k, 2 * pairs);
                    for (out, w) in outs.iter_mut().zip(weights) {
                        let Weight::Int8 { codes: Int8Codes::Pairs(b), .. } = &w.weight else { unreachable!() };
                        let mut acc = vec![0i32; rows * w.out_features];
                        pairs::gemm(&q.codes, b, &mut acc);
                        w.rescale(out, &acc, &q.scales, &q.zero_points);
                    }
                }
                None => {
                    let q = QuantRows::<u8>::new(x, k, k);
                    let a = NdTensorView::from_data([rows, k], &q.codes[..]);
                    // Packed once when several weights read the rows (rten packs an unpacked
                    // input on every call).
                    let packed = (weights.len() > 1).then(|| exec.prepack_a(a));
                    for (out, w) in outs.iter_mut().zip(weights) {
                        let Weight::Int8 { codes: Int8Codes::Rten(b), .. } = &w.weight else { unreachable!() };
                        let a = match &packed {
                            Some(p) => GemmInputA::Packed(p),
                            None => GemmInputA::Unpacked(a),
                        };
                        let mut acc = vec![0i32; rows * w.out_features];
                        exec.gemm(&mut acc, a, GemmInputB::Packed(b), GemmOptions::default())
                            .map_err(|e| gemm_error(rows, k, w.out_features, e))?;
                        w.rescale(out, &acc, &q.scales, &q.zero_points);
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(outs)
}

/// SwiGLU's gating on the host, in place: `gate ← silu(gate) ⊙ up`, with rten-vecmath's
/// vectorised exponential (burn's CPU backend takes one scalar `expf` per value, a fifth of
/// conan-mini's CPU pass before this).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    const CHUNK: usize = 16 * 1024;
    gate.par_chunks_mut(CHUNK).zip(up.par_chunks(CHUNK)).for_each(|(gate, up)| {
        Silu {}.map_mut(gate);
        gate.iter_mut().zip(up).for_each(|(g, u)| *g *= u);
    });
}

/// Input rows quantized to u8 codes, each row with its own scale and zero point
/// (asymmetric, with 0.0 exactly representable, as ONNX Runtime's dynamic quantization
/// does). Codes are `C`: bytes for rten's kernel, 16-bit for the pair kernel.
struct QuantRows<C> {
    codes: Vec<C>,
    scales: Vec<f32>,
    zero_points: Vec<u8>,
}

/// A code's type: made from the low bits of [`ROUNDING`]`+ code` (the code is 0..=255).
trait Code: Copy + Default {
    fn from_bits(bits: u32) -> Self;
}

impl Code for u8 {
    fn from_bits(bits: u32) -> Self {
        bits as u8
    }
}

impl Code for u16 {
    fn from_bits(bits: u32) -> Self {
        bits as u16
    }
}

/// 1.5 · 2²³: f32's spacing is exactly 1 from 2²³ on, so adding this rounds to an integer.
const ROUNDING: f32 = 12_582_912.0;

/// Lanes of the min / max scan: independent accumulators the compiler keeps in vector
/// registers (one running pair would be a serial chain).
const LANES: usize = 16;

impl<C: Code> QuantRows<C> {
    /// `x`: rows of `k`; codes run 0..=255, each row's `width` (≥ k) long, zero past k.
    fn new(x: &[f32], k: usize, width: usize) -> Self {
        const TOP: f32 = 255.0;
        let m = x.len() / k;
        let mut codes = vec![C::default(); m * width];
        let mut scales = vec![0f32; m];
        let mut zero_points = vec![0u8; m];
        let each = codes.chunks_exact_mut(width).zip(x.chunks_exact(k)).zip(scales.iter_mut().zip(&mut zero_points));
        for ((codes, row), (scale, zero)) in each {
            let (lo, hi, finite) = min_max(row);
            // A NaN or infinity must come out as NaN, as it would from an f32 product, so the
            // embedder's check still names where values stopped being finite.
            let s = if !finite {
                f32::NAN
            } else if hi > lo {
                (hi - lo) / TOP
            } else {
                1.0
            };
            let z = (-lo / s).round().clamp(0.0, TOP);
            (*scale, *zero) = (s, z as u8);
            let inv = 1.0 / s;
            // Adding 1.5 · 2²³ rounds a value in 0..=255 to the nearest integer and leaves it
            // in the low mantissa bits, so the code is the low bits of the sum: plain vector
            // adds and masks, where a rounding call or a saturating cast per value would not
            // vectorise. Comparisons, not `clamp`: wasm's min / max treat NaN unlike Rust's,
            // so `clamp` is a libm call per value there.
            for (c, &v) in codes.iter_mut().zip(row) {
                let v = v * inv + z;
                let v = if v > TOP { TOP } else { v };
                let v = if v < 0.0 { 0.0 } else { v };
                *c = C::from_bits((v + ROUNDING).to_bits());
            }
        }
        Self { codes, scales, zero_points }
    }
}

/// The smallest and largest of `row` and 0.0, and whether every value is finite.
fn min_max(row: &[f32]) -> (f32, f32, bool) {
    let (mut lo, mut hi, mut poison) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
            hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
            // 0 · x is NaN exactly when x is NaN or infinite.
            poison[i] += chunk[i] * 0.0;
        }
    }
    let rest = chunks.remainder();
    let lo = lo.iter().chain(rest).fold(0f32, |a, &b| a.min(b));
    let hi = hi.iter().chain(rest).fold(0f32, |a, &b| a.max(b));
    let finite = poison.iter().chain(rest).all(|v| v.is_finite());
    (lo, hi, finite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::QuantBits;

    /// Seeded values in [−0.5, 0.5).
    pub(crate) fn lcg(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// `x Wᵀ + b` the plain way, in f64.
    fn reference(x: &[f32], w: &[f32], bias: Option<&[f32]>, k: usize, n: usize) -> Vec<f32> {
        x.chunks(k)
            .flat_map(|row| {
                (0..n).map(move |j| {
                    let dot: f64 = row.iter().zip(&w[j * k..(j + 1) * k]).map(|(a, b)| *a as f64 * *b as f64).sum();
                    (dot + bias.map_or(0.0, |b| b[j] as f64)) as f32
                })
            })
            .collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (norm(a) * norm(b))
    }

    #[test]
    fn f32_matches_the_plain_product() {
        let (m, k, n) = (37, 96, 70);
        let (x, w, b) = (lcg(m * k, 1), lcg(n * k, 2), lcg(n, 3));
        let lin = HostLinear::f32(&w, n, k, Some(b.clone()));
        let got = lin.forward(&x).unwrap();
        let want = reference(&x, &w, Some(&b), k, n);
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
    }

    /// A q8 block matrix through the int8 kernel, against the f64 product of its dequantized
    /// values: the only error is the requantization and the input rows' 8 bits.
    #[test]
    fn int8_stays_close_to_the_dequantized_product() {
        let (m, k, n) = (130, 64, 48);
        let w = lcg(n * k, 5);
        let (codes, scales) = crate::pack::quant::quantize_rows(&w, k, QuantBits::Q8);
        let q = QuantMatrix { bits: QuantBits::Q8, rows: n, cols: k, codes, scales };
        // Rows with an offset, a constant row and a zero row: zero points away from 128, and
        // the degenerate scales.
        let mut x: Vec<f32> = lcg(m * k, 6).iter().map(|v| v + 0.3).collect();
        x[..k].fill(0.0);
        x[k..2 * k].fill(0.75);
        let want = reference(&x, &q.dequantize(), None, k, n);
        let mut outputs = Vec::new();
        for kernel in [Int8Kernel::Rten, Int8Kernel::Pairs] {
            let got = HostLinear::int8_for(&q, None, kernel).forward(&x).unwrap();
            assert!(got[..n].iter().all(|&v| v == 0.0), "{kernel:?}: a zero row gives zeros");
            for (r, (g, w)) in got.chunks(n).zip(want.chunks(n)).enumerate().skip(1) {
                assert!(cosine(g, w) > 0.9999, "{kernel:?}, row {r}: {}", cosine(g, w));
            }
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(worst < 0.02 * scale, "{kernel:?}: {worst} of {scale}");
            outputs.push(got);
        }
        // Both sum the same integer products, unless rten had to take 7-bit weight codes.
        if weight_top(Int8Kernel::Rten) == 127 {
            assert_eq!(outputs[0], outputs[1]);
        }
    }

    /// A row holding NaN or infinity comes out NaN, as from an f32 product; the others are
    /// untouched.
    #[test]
    fn non_finite_rows_stay_non_finite() {
        let (k, n) = (40, 8);
        let (codes, scales) = crate::pack::quant::quantize_rows(&lcg(n * k, 9), k, QuantBits::Q8);
        let q = QuantMatrix { bits: QuantBits::Q8, rows: n, cols: k, codes, scales };
        let mut x = lcg(3 * k, 10);
        x[k + 37] = f32::INFINITY; // in the tail past the 16-wide lanes
        x[2 * k + 3] = f32::NAN;
        for kernel in [Int8Kernel::Rten, Int8Kernel::Pairs] {
            let out = HostLinear::int8_for(&q, None, kernel).forward(&x).unwrap();
            assert!(out[..n].iter().all(|v| v.is_finite()), "{kernel:?}");
            assert!(out[n..].iter().all(|v| v.is_nan()), "{kernel:?}: {out:?}");
        }
    }

    /// Rows quantized and packed once for several weights give each weight exactly what
    /// it gives alone, with either kernel, past one block of rows.
    #[test]
    fn shared_rows_give_each_weight_its_own_product() {
        let (m, k) = (ROWS_PER_TASK + 9, 72);
        let x = lcg(m * k, 20);
        let quant = |n, seed| {
            let (codes, scales) = crate::pack::quant::quantize_rows(&lcg(n * k, seed), k, QuantBits::Q8);
            QuantMatrix { bits: QuantBits::Q8, rows: n, cols: k, codes, scales }
        };
        let (a, b) = (quant(40, 21), quant(24, 22));
        for kernel in [Int8Kernel::Rten, Int8Kernel::Pairs] {
            let a = HostLinear::int8_for(&a, Some(lcg(40, 23)), kernel);
            let b = HostLinear::int8_for(&b, None, kernel);
            let shared = HostLinear::forward_shared(&[&a, &b], &x).unwrap();
            assert_eq!(shared, vec![a.forward(&x).unwrap(), b.forward(&x).unwrap()], "{kernel:?}");
        }
        let narrow = HostLinear::f32(&lcg(8 * 16, 24), 8, 16, None);
        let wide = HostLinear::f32(&lcg(8 * k, 25), 8, k, None);
        assert!(matches!(HostLinear::forward_shared(&[&wide, &narrow], &x), Err(ModelError::Weights(_))));
    }

    #[test]
    fn swiglu_is_silu_of_the_gate_times_up() {
        let gate: Vec<f32> = lcg(40_000, 11).iter().map(|v| v * 30.0).collect();
        let up = lcg(40_000, 12);
        let mut got = gate.clone();
        swiglu(&mut got, &up);
        for ((g, u), out) in gate.iter().zip(&up).zip(&got) {
            let want = (*g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64) as f32;
            assert!((out - want).abs() <= 1e-6 * want.abs().max(1.0), "silu({g}) · {u}: {out} vs {want}");
        }
    }

    #[test]
    fn ragged_input_is_an_error() {
        let lin = HostLinear::f32(&lcg(12, 1), 3, 4, None);
        assert!(matches!(lin.forward(&[1.0; 6]), Err(ModelError::Input(_))));
        assert_eq!(lin.forward(&[]).unwrap(), Vec::<f32>::new());
    }
}
