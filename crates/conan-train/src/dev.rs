//! Dev scoring while training: bitext top-1 retrieval both ways on held-out translation pairs
//! (Tatoeba, HSK), for the progress numbers and training.json.

use burn::prelude::*;
use conan_model::ConanModel;
use conan_text::TextEncoder;

use crate::encode::{Tokens, embed_all, host};

/// Dev bitext pairs scored while training (both sides unique: see `corpus::unique_pairs`).
pub struct DevSet {
    pub name: &'static str,
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DevScore {
    pub step: usize,
    pub set: &'static str,
    pub zh_to_en: f64,
    pub en_to_zh: f64,
    /// Share of Chinese queries whose translation beats every other Chinese sentence.
    pub zh_translation_above_zh: f64,
}

/// `set` scored with `model` after `step` steps.
pub fn score(model: &ConanModel, encoder: &TextEncoder, set: &DevSet, step: usize, device: &Device) -> DevScore {
    let (z, e, above) = dev_bitext(model, encoder, &set.pairs, device);
    DevScore { step, set: set.name, zh_to_en: z, en_to_zh: e, zh_translation_above_zh: above }
}

/// Dev bitext top-1 accuracy in both directions.
fn dev_bitext(model: &ConanModel, encoder: &TextEncoder, dev: &[(String, String)], device: &Device) -> (f64, f64, f64) {
    let texts: Vec<String> = dev.iter().flat_map(|(z, e)| [z.clone(), e.clone()]).collect();
    let tokens = Tokens::new(&texts, encoder, 64).expect("dev texts tokenize");
    let n = dev.len();
    let zh: Vec<usize> = (0..n).map(|i| 2 * i).collect();
    let en: Vec<usize> = (0..n).map(|i| 2 * i + 1).collect();
    let h = model.hidden_size();
    let z = embed_all(model, &tokens, &zh, h, device);
    let e = embed_all(model, &tokens, &en, h, device);
    let sims = host(z.clone().matmul(e.transpose()));
    let same = host(z.clone().matmul(z.transpose()));
    let top1 = |by_row: bool| {
        (0..n)
            .filter(|&i| {
                let score = |j: usize| if by_row { sims[i * n + j] } else { sims[j * n + i] };
                let own = score(i);
                (0..n).all(|j| j == i || score(j) < own)
            })
            .count() as f64
            / n as f64
    };
    let above_zh =
        (0..n).filter(|&i| (0..n).all(|j| j == i || same[i * n + j] < sims[i * n + i])).count() as f64 / n as f64;
    (top1(true), top1(false), above_zh)
}
