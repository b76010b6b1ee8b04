//! Which keys each query may see: padding, and the attention mode's own mask.

use burn::prelude::*;

/// Added to attention scores of keys a query must not see. Finite, so a row never turns
/// into NaN; large enough that exp() of it is exactly 0 in f32.
pub(crate) const MASKED: f32 = -1e9;

/// Which keys each query may see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttentionMode {
    Bidirectional,
    Causal,
    /// Conan-v2's soft mask between the two: α = 0 is causal, α ≥ 1 bidirectional.
    Soft {
        alpha: f32,
    },
}

/// The additive score mask `[b, 1, 1|…, t, t]` for right-padded rows with `mask` (1.0 real,
/// 0.0 padding) and `lengths` real tokens: padding keys hidden, plus the mode's mask.
pub fn score_bias(mask: Tensor<2>, lengths: &[usize], mode: AttentionMode) -> Tensor<5> {
    let [b, t] = mask.dims();
    let device = mask.device();

    // Padding keys are hidden from every query: (mask − 1) · 1e9 is 0 or −1e9.
    let mut bias = (mask - 1.0).mul_scalar(-MASKED).reshape([b, 1, 1, 1, t]);
    match mode {
        AttentionMode::Bidirectional => {}
        AttentionMode::Causal => {
            let causal = soft_mask_bias(t, t, 0.0);
            bias = bias + Tensor::<5>::from_data(TensorData::new(causal, [1, 1, 1, t, t]), &device);
        }
        AttentionMode::Soft { alpha } => {
            let rows: Vec<f32> = lengths.iter().flat_map(|&len| soft_mask_bias(len, t, alpha)).collect();
            bias = bias + Tensor::<5>::from_data(TensorData::new(rows, [b, 1, 1, t, t]), &device);
        }
    }
    bias
}

/// Conan-Embedding-v2's soft mask (arXiv 2509.12892) as an additive bias `log M`, row-major
/// `[t, t]` (query i, key j): with 1-based i and the real length l,
/// `M_ij = 1` for j ≤ i and `min(α·l/i, 1)` for j > i. Training raises α = step/τ from 0
/// (causal) to 1 (bidirectional). log 0 is represented by the finite [`MASKED`].
pub fn soft_mask_bias(len: usize, t: usize, alpha: f32) -> Vec<f32> {
    let mut bias = vec![0.0; t * t];
    for i in 0..t {
        let open = (alpha * len as f32 / (i + 1) as f32).min(1.0);
        let value = if open > 0.0 { open.ln() } else { MASKED };
        for j in i + 1..t {
            bias[i * t + j] = value;
        }
    }
    bias
}
