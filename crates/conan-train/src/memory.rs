//! Cross-batch memory (negatives beyond the batch, as 2 cores cannot afford the paper's
//! large batches): raw pooled vectors of the last few batches' Chinese and English rows,
//! detached, with their text ids. The oldest batch leaves when a new one comes in.

use std::collections::VecDeque;

use burn::prelude::*;

use crate::corpus::Pair;
use crate::encode::host;

/// The last `keep` batches (none when `keep` is 0: in-batch negatives only).
pub struct Memory {
    batches: VecDeque<RememberedBatch>,
    keep: usize,
}

/// Chinese text ids, English text ids, their raw vectors (row-major `[n, h]` each).
type RememberedBatch = (Vec<usize>, Vec<usize>, Vec<f32>, Vec<f32>);

/// Everything in memory at one step, oldest batch first.
pub struct Remembered {
    pub zh: Vec<usize>,
    pub en: Vec<usize>,
    /// Raw (not normalised) Chinese vectors `[k, h]`.
    pub zh_vectors: Tensor<2>,
    /// Raw English vectors `[k, h]`.
    pub en_vectors: Tensor<2>,
}

impl Memory {
    pub fn new(keep: usize) -> Self {
        Self { batches: VecDeque::new(), keep }
    }

    /// Keeps the batch's Chinese and English rows of `pooled` (rows 0..n and n..2n, `n` =
    /// `pairs.len()`), detached; does nothing when memory is off.
    pub fn remember(&mut self, pairs: &[Pair], pooled: &Tensor<2>, h: usize) {
        if self.keep == 0 {
            return;
        }
        let n = pairs.len();
        let raw = host(pooled.clone().inner().narrow(0, 0, 2 * n));
        let (zv, ev) = raw.split_at(n * h);
        self.push(pairs.iter().map(|p| p.zh).collect(), pairs.iter().map(|p| p.en).collect(), zv.to_vec(), ev.to_vec());
    }

    fn push(&mut self, zh: Vec<usize>, en: Vec<usize>, zh_vectors: Vec<f32>, en_vectors: Vec<f32>) {
        self.batches.push_back((zh, en, zh_vectors, en_vectors));
        while self.batches.len() > self.keep {
            self.batches.pop_front();
        }
    }

    /// What memory holds now, on `device`; `None` when it is off or still empty.
    pub fn snapshot(&self, h: usize, device: &Device) -> Option<Remembered> {
        if self.keep == 0 || self.batches.is_empty() {
            return None;
        }
        let zh: Vec<usize> = self.batches.iter().flat_map(|b| b.0.iter().copied()).collect();
        let en: Vec<usize> = self.batches.iter().flat_map(|b| b.1.iter().copied()).collect();
        let zv: Vec<f32> = self.batches.iter().flat_map(|b| b.2.iter().copied()).collect();
        let ev: Vec<f32> = self.batches.iter().flat_map(|b| b.3.iter().copied()).collect();
        let k = zh.len();
        Some(Remembered {
            zh,
            en,
            zh_vectors: Tensor::from_data(TensorData::new(zv, [k, h]), device),
            en_vectors: Tensor::from_data(TensorData::new(ev, [k, h]), device),
        })
    }
}
