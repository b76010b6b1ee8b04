//! Feeding the model: epochs of length-bucketed sentence-pair batches topped up with
//! dictionary pairs, and each step's rows.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::corpus::{Corpus, Pair};
use crate::encode::Tokens;
use crate::negatives::{HardNegative, HardNegatives};

/// The stream of batches: epochs of sentence-pair batches, each topped up with random
/// dictionary pairs.
pub struct Batches {
    epoch: Vec<Vec<Pair>>,
    sentence_pairs: usize,
    dictionary_pairs: usize,
}

impl Batches {
    /// `batch` pairs per step, `dictionary_pairs` of them from the dictionary.
    pub fn new(batch: usize, dictionary_pairs: usize) -> Self {
        Self { epoch: Vec::new(), sentence_pairs: batch - dictionary_pairs, dictionary_pairs }
    }

    /// The next batch: a sentence-pair batch of this epoch (a new epoch when it is used up)
    /// plus dictionary pairs sharing no text with it.
    pub fn next(&mut self, corpus: &Corpus, tokens: &Tokens, rng: &mut ChaCha8Rng) -> Vec<Pair> {
        if self.epoch.is_empty() {
            self.epoch = epoch_batches(&corpus.sentences, tokens, self.sentence_pairs, rng);
        }
        let mut b = self.epoch.pop().expect("an epoch has batches");
        let seen: HashSet<usize> = b.iter().flat_map(|p| [p.zh, p.en]).collect();
        let mut added = 0;
        while added < self.dictionary_pairs && !corpus.dictionary.is_empty() {
            let p = corpus.dictionary[rng.random_range(0..corpus.dictionary.len())];
            if !seen.contains(&p.zh) && !seen.contains(&p.en) {
                b.push(p);
                added += 1;
            }
        }
        b
    }
}

/// Batches of sentence pairs with similar lengths (little padding), in random order, with
/// no text twice in one batch (a repeated text would be its own false negative).
fn epoch_batches(pairs: &[Pair], tokens: &Tokens, batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<Pair>> {
    let mut order: Vec<Pair> = pairs.to_vec();
    order.shuffle(rng);
    let mut out = Vec::new();
    for chunk in order.chunks(batch * 50) {
        let mut chunk = chunk.to_vec();
        chunk.sort_by_key(|p| tokens.len_of(p.zh).max(tokens.len_of(p.en)));
        let mut current = Vec::new();
        let mut seen = HashSet::new();
        for p in chunk {
            if seen.contains(&p.zh) || seen.contains(&p.en) {
                continue;
            }
            seen.insert(p.zh);
            seen.insert(p.en);
            current.push(p);
            if current.len() == batch {
                out.push(std::mem::take(&mut current));
                seen.clear();
            }
        }
    }
    out.shuffle(rng);
    out
}

/// One step's pairs and the rows fed to the model: Chinese 0..n, English n..2n, then one
/// hard negative per Chinese query that has one (supervised stage).
pub struct StepBatch {
    pub pairs: Vec<Pair>,
    pub hard: Vec<HardNegative>,
    pub rows: Vec<usize>,
}

impl StepBatch {
    /// The rows for `pairs`, with hard negatives from `negatives` (none without).
    pub fn new(pairs: Vec<Pair>, negatives: Option<&HardNegatives>) -> Self {
        let mut rows: Vec<usize> = pairs.iter().map(|p| p.zh).collect();
        rows.extend(pairs.iter().map(|p| p.en));
        let in_batch: HashSet<usize> = rows.iter().copied().collect();
        let hard = negatives.map(|negatives| negatives.for_batch(&pairs, &in_batch)).unwrap_or_default();
        rows.extend(hard.iter().map(|h| h.text));
        Self { pairs, hard, rows }
    }

    /// Pairs in the batch (Chinese rows, and English rows).
    pub fn n(&self) -> usize {
        self.pairs.len()
    }
}
