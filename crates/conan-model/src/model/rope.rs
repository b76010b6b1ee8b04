//! Rotary position tables in the Hugging Face convention.

use burn::prelude::*;

/// Rotary tables for one sequence length, in the Hugging Face convention: the head is split
/// in halves `(x1, x2)` and rotated as `(x1·cos − x2·sin, x2·cos + x1·sin)` with
/// `cos`/`sin` repeated over both halves. (burn's `RotaryEncoding` pairs adjacent
/// elements instead, which would scramble HF weights.)
pub struct Rope {
    cos: Tensor<5>,
    sin: Tensor<5>,
    half: usize,
}

impl Rope {
    pub fn new(seq: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let (cos, sin) = rope_tables(seq, head_dim, theta);
        let shape = [1, 1, 1, seq, head_dim];
        Self {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
            half: head_dim / 2,
        }
    }

    /// `x`: `[.., .., .., seq, head_dim]`.
    pub fn apply(&self, x: Tensor<5>) -> Tensor<5> {
        let x1 = x.clone().narrow(4, 0, self.half);
        let x2 = x.clone().narrow(4, self.half, self.half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 4);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

/// cos and sin of every position's angles, row-major `[seq, head_dim]`, with each half of
/// the head sharing its frequencies (the ONNX export writes the same tables).
pub(crate) fn rope_tables(seq: usize, head_dim: usize, theta: f64) -> (Vec<f32>, Vec<f32>) {
    let half = (head_dim / 2).max(1);
    // Same angles as HF: inv_freq = theta^(-2i/d), computed in f64 for accuracy. Each is
    // computed once, and each angle's cos and sin once for both halves of the head: the
    // tables are rebuilt every pass, and on the CPU a short pass felt their trigonometry.
    let inv_freq: Vec<f64> = (0..half).map(|i| theta.powf(-((2 * i) as f64) / head_dim as f64)).collect();
    let (mut cos, mut sin) = (vec![0f32; seq * head_dim], vec![0f32; seq * head_dim]);
    for (pos, (cos, sin)) in cos.chunks_mut(head_dim.max(1)).zip(sin.chunks_mut(head_dim.max(1))).enumerate() {
        for i in 0..head_dim {
            (cos[i], sin[i]) = if i < half {
                let angle = pos as f64 * inv_freq[i];
                (angle.cos() as f32, angle.sin() as f32)
            } else {
                (cos[i % half], sin[i % half])
            };
        }
    }
    (cos, sin)
}
