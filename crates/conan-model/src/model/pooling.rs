//! Token states → one sentence vector: pooling, Matryoshka truncation, L2 normalisation.

use burn::prelude::*;

use crate::config::Pooling;

/// Pooled, not yet normalised sentence vectors `[batch, hidden]` from `states`
/// `[batch, seq, hidden]` of right-padded rows (`mask` 1.0 real / 0.0 padding, `lengths`
/// real tokens).
pub fn pool(pooling: Pooling, states: Tensor<3>, mask: Tensor<2>, lengths: &[usize]) -> Tensor<2> {
    let [b, t, h] = states.dims();
    match pooling {
        Pooling::Mean => {
            let weights = mask.reshape([b, t, 1]);
            let counts = weights.clone().sum_dim(1); // [b, 1, 1]
            (states * weights).sum_dim(1).div(counts).reshape([b, h])
        }
        Pooling::LastToken | Pooling::Cls => {
            let picks: Vec<i32> = lengths
                .iter()
                .map(|&len| match pooling {
                    Pooling::Cls => 0,
                    _ => len.saturating_sub(1) as i32,
                })
                .collect();
            let index =
                Tensor::<3, Int>::from_data(TensorData::new(picks, [b, 1, 1]), &states.device()).expand([b, 1, h]);
            states.gather(1, index).reshape([b, h])
        }
    }
}

/// Sentence vectors: `pooled` truncated to its first `dims` (Matryoshka) and L2-normalised.
pub fn sentence_vectors(pooled: Tensor<2>, dims: usize) -> Tensor<2> {
    let h = pooled.dims()[1];
    l2_normalize(pooled.narrow(1, 0, dims.min(h)))
}

/// Rows scaled to unit length; an all-zero row stays zero instead of becoming NaN.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
