//! Texts → vectors during training: every text tokenized once, and pooled vectors run in
//! buckets of similar length. A leaf: batching, negatives, memory and dev scoring use it.

use anyhow::Result;
use burn::prelude::*;
use conan_model::model::l2_normalize;
use conan_model::{AttentionMode, ConanModel, TokenInput};
use conan_text::{TextEncoder, TokenBatch};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Pre-tokenized texts: every row the loop will ever feed, truncated once.
pub struct Tokens {
    rows: Vec<Vec<u32>>,
}

impl Tokens {
    pub fn new(texts: &[String], encoder: &TextEncoder, max_len: usize) -> Result<Self> {
        let rows = texts
            .iter()
            .map(|t| {
                let mut ids = encoder.encode(t)?;
                ids.truncate(max_len);
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { rows })
    }

    /// The rows `ids` (in that order, renumbered from 0) with each token dropped with
    /// probability `p`; a row never loses all its tokens.
    pub fn dropped(&self, ids: &[usize], p: f64, rng: &mut ChaCha8Rng) -> Tokens {
        let rows = ids
            .iter()
            .map(|&i| {
                let row = &self.rows[i];
                let kept: Vec<u32> = row.iter().copied().filter(|_| !rng.random_bool(p)).collect();
                if kept.is_empty() { row.clone() } else { kept }
            })
            .collect();
        Tokens { rows }
    }

    /// Tokens in row `i`.
    pub fn len_of(&self, i: usize) -> usize {
        self.rows[i].len()
    }

    pub fn batch(&self, ids: &[usize], device: &Device) -> (Tensor<2, Int>, Tensor<2>, Vec<usize>) {
        let rows: Vec<&[u32]> = ids.iter().map(|&i| self.rows[i].as_slice()).collect();
        to_tensors(&TokenBatch::from_rows(&rows), device)
    }
}

fn to_tensors(b: &TokenBatch, device: &Device) -> (Tensor<2, Int>, Tensor<2>, Vec<usize>) {
    let ids: Vec<i32> = b.ids.iter().map(|&i| i as i32).collect();
    (
        Tensor::from_data(TensorData::new(ids, [b.batch, b.seq]), device),
        Tensor::from_data(TensorData::new(b.mask(), [b.batch, b.seq]), device),
        b.lengths.clone(),
    )
}

/// Pooled vectors `[rows.len(), hidden]` (with gradients) for `rows`, run in buckets of
/// similar length: a batch mixing 3- and 32-token texts would otherwise pad every row to
/// 32 tokens, which made supervised steps (hard negatives of any length) 4× slower.
pub fn pooled_rows(
    model: &ConanModel,
    tokens: &Tokens,
    rows: &[usize],
    mode: AttentionMode,
    bucket: usize,
    device: &Device,
) -> Tensor<2> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| tokens.rows[rows[i]].len());
    let parts: Vec<Tensor<2>> = order
        .chunks(bucket)
        .map(|chunk| {
            let ids: Vec<usize> = chunk.iter().map(|&i| rows[i]).collect();
            let (ids_t, mask, lengths) = tokens.batch(&ids, device);
            // The table is always on the device in training, so ids cannot be refused.
            let states = model
                .forward(TokenInput::Ids(ids_t), mask.clone(), &lengths, mode)
                .expect("training keeps the token table on the device");
            model.pool(states, mask, &lengths)
        })
        .collect();
    // Undo the length sort.
    let mut inverse = vec![0i32; rows.len()];
    for (pos, &i) in order.iter().enumerate() {
        inverse[i] = pos as i32;
    }
    let inverse = Tensor::<1, Int>::from_data(TensorData::new(inverse, [rows.len()]), device);
    Tensor::cat(parts, 0).select(0, inverse)
}

/// Unit vectors `[n, dims]` for `ids`, forward only, on the model's (inner) device.
pub fn embed_all(model: &ConanModel, tokens: &Tokens, ids: &[usize], dims: usize, device: &Device) -> Tensor<2> {
    l2_normalize(pooled_rows(model, tokens, ids, AttentionMode::Bidirectional, 256, device).narrow(1, 0, dims))
}

/// A tensor's values on the host, row-major.
pub fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_dropout_drops_about_p_and_never_empties_a_row() {
        let tokens = Tokens { rows: vec![(0..1000).collect(), vec![7], vec![1, 2]] };
        let mut rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(1);
        let out = tokens.dropped(&[2, 0, 1], 0.3, &mut rng);
        // Renumbered in the order asked for.
        assert!(out.rows[0].iter().all(|t| [1, 2].contains(t)) && !out.rows[0].is_empty());
        let kept = out.rows[1].len();
        assert!((620..=780).contains(&kept), "kept {kept} of 1000 at p = 0.3");
        assert!(out.rows[1].windows(2).all(|w| w[0] < w[1]), "order of the kept tokens");
        assert_eq!(out.rows[2], vec![7]);
        let none = tokens.dropped(&[0], 0.0, &mut rng);
        assert_eq!(none.rows[0], tokens.rows[0]);
        let all = tokens.dropped(&[1, 2], 1.0, &mut rng);
        assert_eq!(all.rows, vec![vec![7], vec![1, 2]], "a row that would lose everything stays whole");
    }
}
