//! Scaled dot-product attention on the host, for the CPU backend: each head's scores by
//! rten-gemm's f32 kernel with the score mask added in the same pass, rows normalised by
//! rten-vecmath's vectorised softmax, then the values' product. burn's CPU backend took one
//! scalar `expf` per score and a scalar loop for scale and mask.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions};
use rten_simd::SimdOp;
use rten_tensor::NdTensorView;
use rten_vecmath::Softmax;

use crate::error::ModelError;

/// One attention call's shape: `heads` query heads each over their own keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub heads: usize,
    /// Query rows per head: a whole number of the mask's rows (grouped query heads that
    /// share one KV head run as one longer query sequence).
    pub queries: usize,
    pub keys: usize,
    pub head_dim: usize,
}

/// `softmax(q kᵀ / √d + mask) v` per batch and head. `q`: `[batch, heads, queries, d]`;
/// `k`, `v`: `[batch, heads, keys, d]`; `mask`: `[batch, rows, keys]`, added to the scores,
/// query row `i` taking mask row `i % rows`. Returns `[batch, heads, queries, d]`.
pub fn attention(q: &[f32], k: &[f32], v: &[f32], mask: &[f32], shape: AttentionShape) -> Result<Vec<f32>, ModelError> {
    let AttentionShape { batch, heads, queries, keys, head_dim: d } = shape;
    let rows = mask.len().checked_div(batch * keys).unwrap_or(0);
    if q.len() != batch * heads * queries * d
        || k.len() != batch * heads * keys * d
        || v.len() != k.len()
        || rows == 0
        || mask.len() != batch * rows * keys
        || !queries.is_multiple_of(rows)
    {
        return Err(ModelError::Input(format!(
            "attention of {shape:?} got {} query, {} key, {} value and {} mask values",
            q.len(),
            k.len(),
            v.len(),
            mask.len()
        )));
    }
    let mut out = vec![0f32; q.len()];
    if out.is_empty() {
        return Ok(out);
    }
    let scale = 1.0 / (d as f32).sqrt();
    let failed = AtomicBool::new(false);
    // One task per (batch, head); each keeps its score matrix and executor between heads.
    out.par_chunks_mut(queries * d).enumerate().for_each_init(
        || (vec![0f32; queries * keys], GemmExecutor::<f32, f32, f32>::default()),
        |(scores, gemm), (head, out)| {
            let b = head / heads;
            let q = NdTensorView::from_data([queries, d], &q[head * queries * d..(head + 1) * queries * d]);
            let k = NdTensorView::from_data([keys, d], &k[head * keys * d..(head + 1) * keys * d]);
            let v = NdTensorView::from_data([keys, d], &v[head * keys * d..(head + 1) * keys * d]);
            let mask = &mask[b * rows * keys..(b + 1) * rows * keys];
            for block in scores.chunks_exact_mut(rows * keys) {
                block.copy_from_slice(mask);
            }
            // scores = scale · q kᵀ + mask, then each row softmaxed in place.
            let product = gemm.gemm(
                scores,
                GemmInputA::Unpacked(q),
                GemmInputB::Unpacked(k.transposed()),
                GemmOptions { alpha: scale, beta: 1.0, ..Default::default() },
            );
            for row in scores.chunks_exact_mut(keys) {
                Softmax::new_mut(row).dispatch();
            }
            let values = gemm.gemm(
                out,
                GemmInputA::Unpacked(NdTensorView::from_data([queries, keys], &scores[..])),
                GemmInputB::Unpacked(v),
                GemmOptions::default(),
            );
            if product.is_err() || values.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
        },
    );
    if failed.into_inner() {
        return Err(ModelError::Backend(format!("host attention of {shape:?}: a matmul failed")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_gemm::tests::lcg;

    /// Against the plain formula in f64, with two query groups sharing the mask's rows and
    /// masked keys (the padding mask's −1e9).
    #[test]
    fn matches_the_plain_formula() {
        let shape = AttentionShape { batch: 2, heads: 3, queries: 10, keys: 5, head_dim: 8 };
        let (rows, d, keys) = (5, 8, 5);
        let q: Vec<f32> = lcg(2 * 3 * 10 * d, 1).iter().map(|x| x * 4.0).collect();
        let k: Vec<f32> = lcg(2 * 3 * keys * d, 2).iter().map(|x| x * 4.0).collect();
        let v = lcg(2 * 3 * keys * d, 3);
        let mut mask = lcg(2 * rows * keys, 4);
        for i in 0..rows {
            mask[(rows + i) * keys + 4] = -1e9; // the second text's last key is padding
        }
        let got = attention(&q, &k, &v, &mask, shape).unwrap();
        for b in 0..2 {
            for h in 0..3 {
                let head = b * 3 + h;
                for i in 0..10 {
                    let qi = &q[(head * 10 + i) * d..][..d];
                    let scores: Vec<f64> = (0..keys)
                        .map(|j| {
                            let kj = &k[(head * keys + j) * d..][..d];
                            let dot: f64 = qi.iter().zip(kj).map(|(a, b)| *a as f64 * *b as f64).sum();
                            dot / (d as f64).sqrt() + mask[(b * rows + i % rows) * keys + j] as f64
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in 0..d {
                        let want: f64 = (0..keys).map(|j| e[j] / sum * v[(head * keys + j) * d + c] as f64).sum();
                        let have = got[(head * 10 + i) * d + c] as f64;
                        assert!((have - want).abs() < 1e-5, "batch {b} head {h} row {i} dim {c}: {have} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let shape = AttentionShape { batch: 1, heads: 1, queries: 3, keys: 2, head_dim: 4 };
        let ok = attention(&[0.0; 12], &[0.0; 8], &[0.0; 8], &[0.0; 6], shape);
        assert!(ok.is_ok());
        // Query rows that are not a whole number of mask rows.
        assert!(matches!(attention(&[0.0; 12], &[0.0; 8], &[0.0; 8], &[0.0; 4], shape), Err(ModelError::Input(_))));
        assert!(matches!(attention(&[0.0; 11], &[0.0; 8], &[0.0; 8], &[0.0; 6], shape), Err(ModelError::Input(_))));
    }
}
