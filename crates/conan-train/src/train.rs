//! The training loop: stage "weakly supervised" (teacher distillation + cross-lingual
//! InfoNCE under the soft mask) then stage "supervised" (InfoNCE with dynamically mined
//! hard negatives, Matryoshka dims), logging every step.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Result;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use conan_model::model::l2_normalize;
use conan_model::{AttentionMode, ConanModel, Config};
use conan_text::{TextEncoder, TokenBatch};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::corpus::{Corpus, Pair, Teacher};
use crate::recipe::{
    head_distillation, info_nce, learning_rate, replace_negative, similarity_distillation, soft_mask_alpha,
};

/// Everything that decides a run; written to training.json with the results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recipe {
    pub seed: u64,
    pub weak_steps: usize,
    pub supervised_steps: usize,
    /// Translation pairs per step (Chinese and English rows each).
    pub batch: usize,
    /// Of those, CC-CEDICT word pairs.
    pub dictionary_pairs: usize,
    pub max_len: usize,
    pub peak_lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    pub warmup: usize,
    pub temperature: f64,
    pub distill_weight: f64,
    pub distill_target: DistillTarget,
    /// Weight of the per-text distillation through a linear head (student → teacher dims,
    /// trained with the model, dropped at export): 1 − cosine to each text's own teacher
    /// vector. 0 = off. Unlike the similarity-matrix term, every text gets an absolute
    /// target that is the same from batch to batch.
    pub head_weight: f64,
    /// Share of tokens dropped at random from each training row (at least one token is
    /// kept): an augmentation against memorising the train pairs token by token.
    pub token_dropout: f64,
    /// Soft-mask τ as a share of the weakly supervised stage.
    pub soft_mask_share: f64,
    pub soft_mask: bool,
    pub cross_lingual: bool,
    /// The batch's other texts in the query's own language are negatives too, so a
    /// translation must beat same-language sentences (a mixed zh+en corpus must not rank by
    /// language).
    pub same_language_negatives: bool,
    pub dynamic_negatives: bool,
    /// Steps between two full re-minings of hard negatives in the supervised stage.
    pub remine_every: usize,
    /// Cross-batch memory: the vectors of this many recent batches are extra negatives
    /// (0 = in-batch negatives only). Filled once attention is bidirectional.
    pub memory_batches: usize,
    pub eval_every: usize,
}

/// Whose teacher vector a Chinese sentence is distilled to.
#[derive(clap::ValueEnum, serde::Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DistillTarget {
    /// The teacher's vector of the Chinese text itself.
    Own,
    /// Its English translation's (the teacher is stronger in English, and a translation
    /// should land on the same point).
    English,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepLog {
    pub step: usize,
    pub stage: &'static str,
    pub alpha: f32,
    pub lr: f64,
    pub loss: f32,
    pub contrastive: f32,
    pub distill: f32,
    /// The head distillation term (1 − mean cosine), 0 when off.
    pub head: f32,
    pub replaced: usize,
    pub seconds: f64,
}

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

/// Llama-style initial values: uniform with standard deviation 0.02, from `rng`.
pub fn llama_uniform(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let spread = 0.02f32 * 3f32.sqrt();
    (0..len).map(|_| rng.random_range(-spread..spread)).collect()
}

/// What the optimiser trains: the encoder, plus the distillation head when it is on.
#[derive(Module, Debug)]
pub struct Student {
    pub model: ConanModel,
    pub head: Option<Linear>,
}

impl Student {
    /// A bias-free head `[hidden → teacher dims]`, uniform init (std 0.02), seeded.
    pub fn with_head(model: ConanModel, teacher_dims: Option<usize>, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let hidden = model.hidden_size();
        let head = teacher_dims.map(|dims| {
            let values = llama_uniform(hidden * dims, rng);
            let mut linear = LinearConfig::new(hidden, dims).with_bias(false).init(device);
            linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(values, [hidden, dims]), device));
            linear
        });
        Self { model, head }
    }
}

pub struct Outcome {
    pub model: ConanModel,
    pub log: Vec<StepLog>,
    pub dev: Vec<DevScore>,
    pub seconds: f64,
}

/// Pre-tokenized texts: every row the loop will ever feed, truncated once.
struct Tokens {
    rows: Vec<Vec<u32>>,
}

impl Tokens {
    fn new(texts: &[String], encoder: &TextEncoder, max_len: usize) -> Result<Self> {
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
    fn dropped(&self, ids: &[usize], p: f64, rng: &mut ChaCha8Rng) -> Tokens {
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

    fn batch(&self, ids: &[usize], device: &Device) -> (Tensor<2, Int>, Tensor<2>, Vec<usize>) {
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
fn pooled_rows(
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
            model.pooled(ids_t, mask, &lengths, mode)
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

/// Which texts translate which, in both directions: such a pair is never a negative.
#[derive(Default)]
struct Translations(HashMap<usize, HashSet<usize>>);

impl Translations {
    fn new(pairs: impl Iterator<Item = Pair>) -> Self {
        let mut map: HashMap<usize, HashSet<usize>> = HashMap::new();
        for p in pairs {
            map.entry(p.zh).or_default().insert(p.en);
            map.entry(p.en).or_default().insert(p.zh);
        }
        Self(map)
    }

    fn related(&self, a: usize, b: usize) -> bool {
        a == b || self.0.get(&a).is_some_and(|s| s.contains(&b))
    }
}

/// Cross-batch memory (negatives beyond the batch, as 2 cores cannot afford the paper's
/// large batches): raw pooled vectors of the last few batches' Chinese and English rows,
/// detached, with their text ids. The oldest batch leaves when a new one comes in.
#[derive(Default)]
struct Memory {
    batches: std::collections::VecDeque<RememberedBatch>,
}

/// Chinese text ids, English text ids, their raw vectors (row-major `[n, h]` each).
type RememberedBatch = (Vec<usize>, Vec<usize>, Vec<f32>, Vec<f32>);

impl Memory {
    fn push(&mut self, zh: Vec<usize>, en: Vec<usize>, zh_vectors: Vec<f32>, en_vectors: Vec<f32>, keep: usize) {
        self.batches.push_back((zh, en, zh_vectors, en_vectors));
        while self.batches.len() > keep {
            self.batches.pop_front();
        }
    }

    /// (Chinese ids, English ids, Chinese vectors `[k, h]`, English vectors `[k, h]`).
    fn snapshot(&self, h: usize, device: &Device) -> Option<(Vec<usize>, Vec<usize>, Tensor<2>, Tensor<2>)> {
        if self.batches.is_empty() {
            return None;
        }
        let zh: Vec<usize> = self.batches.iter().flat_map(|b| b.0.iter().copied()).collect();
        let en: Vec<usize> = self.batches.iter().flat_map(|b| b.1.iter().copied()).collect();
        let zv: Vec<f32> = self.batches.iter().flat_map(|b| b.2.iter().copied()).collect();
        let ev: Vec<f32> = self.batches.iter().flat_map(|b| b.3.iter().copied()).collect();
        let k = zh.len();
        Some((
            zh,
            en,
            Tensor::from_data(TensorData::new(zv, [k, h]), device),
            Tensor::from_data(TensorData::new(ev, [k, h]), device),
        ))
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
        chunk.sort_by_key(|p| tokens.rows[p.zh].len().max(tokens.rows[p.en].len()));
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

/// Unit vectors `[n, dims]` for `ids`, forward only, on the model's (inner) device.
fn embed_all(model: &ConanModel, tokens: &Tokens, ids: &[usize], dims: usize, device: &Device) -> Tensor<2> {
    l2_normalize(pooled_rows(model, tokens, ids, AttentionMode::Bidirectional, 256, device).narrow(1, 0, dims))
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 data")
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

/// Hard-negative state of one Chinese query: candidate English sentences from the last
/// mining, best first, with their scores then (S0), and which one is in use.
#[derive(Default, Clone)]
struct Negatives {
    candidates: Vec<(usize, f32)>,
    current: usize,
}

impl Negatives {
    fn active(&self) -> Option<(usize, f32)> {
        self.candidates.get(self.current).copied()
    }
}

/// Mine hard negatives for every sentence pair's Chinese side among all English sentences:
/// top candidates by cosine (128-d prefix, for speed), minus its own translations and any
/// candidate scoring above 0.95× the positive (likely an unlabelled paraphrase), and minus
/// those the paper's rule already rejects (S0 < 0.4).
fn mine(model: &ConanModel, tokens: &Tokens, pairs: &[Pair], device: &Device) -> HashMap<usize, Negatives> {
    let mut translations: HashMap<usize, HashSet<usize>> = HashMap::new();
    for p in pairs {
        translations.entry(p.zh).or_default().insert(p.en);
    }
    let queries: Vec<usize> = translations.keys().copied().collect();
    let mut pool: Vec<usize> = pairs.iter().map(|p| p.en).collect::<HashSet<_>>().into_iter().collect();
    pool.sort_unstable();
    let dims = 128.min(model.hidden_size());
    let q = embed_all(model, tokens, &queries, dims, device);
    let p = embed_all(model, tokens, &pool, dims, device);
    let pool_index: HashMap<usize, usize> = pool.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let k = 8;
    let mut out = HashMap::new();
    let p_host = host(p.clone());
    let p_t = p.transpose();
    for (c, chunk) in queries.chunks(512).enumerate() {
        let rows = q.clone().narrow(0, c * 512, chunk.len());
        let sims = rows.clone().matmul(p_t.clone());
        let (scores, idx) = sims.topk_with_indices(k, 1);
        let scores = host(scores);
        let idx: Vec<i64> = idx.into_data().convert::<i64>().try_into_vec::<i64>().expect("indices");
        let rows_host = host(rows);
        for (r, &query) in chunk.iter().enumerate() {
            let own = &translations[&query];
            let positive = own
                .iter()
                .map(|e| {
                    let j = pool_index[e];
                    let pv = &p_host[j * dims..(j + 1) * dims];
                    rows_host[r * dims..(r + 1) * dims].iter().zip(pv).map(|(a, b)| a * b).sum::<f32>()
                })
                .fold(f32::MIN, f32::max);
            let candidates: Vec<(usize, f32)> = (0..k)
                .map(|j| (pool[idx[r * k + j] as usize], scores[r * k + j]))
                .filter(|(t, s)| !own.contains(t) && *s <= 0.95 * positive && !replace_negative(*s, *s))
                .collect();
            out.insert(query, Negatives { candidates, current: 0 });
        }
    }
    out
}

pub struct Trainer<'a> {
    pub config: Config,
    pub recipe: Recipe,
    pub corpus: &'a Corpus,
    pub teacher: Option<&'a Teacher>,
    pub encoder: &'a TextEncoder,
    pub dev: &'a [DevSet],
}

impl Trainer<'_> {
    pub fn run(&self, model: ConanModel, device: &Device) -> Result<Outcome> {
        let r = &self.recipe;
        let mut rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(r.seed);
        let tokens = Tokens::new(&self.corpus.texts, self.encoder, r.max_len)?;
        let inner = device.clone().inner();
        // The head's own stream, so adding it leaves the batch order of the run unchanged.
        let mut head_rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(r.seed ^ 0x4845_4144);
        let teacher_dims = self.teacher.filter(|_| r.head_weight > 0.0).map(|t| t.dims);
        let mut student = Student::with_head(model, teacher_dims, &mut head_rng, device);
        let mut optim: ModuleOptimizer = AdamWConfig::new()
            .with_weight_decay(r.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
            .init();

        let total = r.weak_steps + r.supervised_steps;
        let tau = ((r.weak_steps as f64) * r.soft_mask_share).round() as usize;
        let sentence_pairs = r.batch - r.dictionary_pairs;
        let mut batches: Vec<Vec<Pair>> = Vec::new();
        let mut negatives: HashMap<usize, Negatives> = HashMap::new();
        let mut log = Vec::new();
        let mut dev = Vec::new();
        let start = Instant::now();
        let bar = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}").expect("template"),
        );
        let h = self.config.hidden_size;
        let mrl: Vec<usize> =
            if self.config.matryoshka_dims.is_empty() { vec![h] } else { self.config.matryoshka_dims.clone() };
        let translations = Translations::new(self.corpus.sentences.iter().chain(&self.corpus.dictionary).copied());
        let mut memory = Memory::default();

        for step in 0..total {
            let supervised = step >= r.weak_steps;
            if supervised
                && (step == r.weak_steps
                    || (r.dynamic_negatives && (step - r.weak_steps).is_multiple_of(r.remine_every)))
            {
                bar.set_message("mining hard negatives");
                negatives = mine(&student.model.valid(), &tokens, &self.corpus.sentences, &inner);
            }
            let batch_pairs = {
                if batches.is_empty() {
                    batches = epoch_batches(&self.corpus.sentences, &tokens, sentence_pairs, &mut rng);
                }
                let mut b = batches.pop().expect("an epoch has batches");
                let seen: HashSet<usize> = b.iter().flat_map(|p| [p.zh, p.en]).collect();
                let mut added = 0;
                while added < r.dictionary_pairs && !self.corpus.dictionary.is_empty() {
                    let p = self.corpus.dictionary[rng.random_range(0..self.corpus.dictionary.len())];
                    if !seen.contains(&p.zh) && !seen.contains(&p.en) {
                        b.push(p);
                        added += 1;
                    }
                }
                b
            };
            let n = batch_pairs.len();
            // Rows: Chinese 0..n, English n..2n, then one hard negative per Chinese query
            // that has one (supervised stage).
            let mut rows: Vec<usize> = batch_pairs.iter().map(|p| p.zh).collect();
            rows.extend(batch_pairs.iter().map(|p| p.en));
            let in_batch: HashSet<usize> = rows.iter().copied().collect();
            let mut hard: Vec<(usize, usize, f32)> = Vec::new(); // (pair index, text, S0)
            if supervised {
                for (i, p) in batch_pairs.iter().enumerate() {
                    if let Some((t, s0)) = negatives.get(&p.zh).and_then(Negatives::active)
                        && !in_batch.contains(&t)
                    {
                        hard.push((i, t, s0));
                    }
                }
                rows.extend(hard.iter().map(|&(_, t, _)| t));
            }
            let alpha = if r.soft_mask && !supervised { soft_mask_alpha(step, tau) } else { 1.0 };
            let mode = if alpha >= 1.0 { AttentionMode::Bidirectional } else { AttentionMode::Soft { alpha } };
            let pooled = if r.token_dropout > 0.0 {
                let step_tokens = tokens.dropped(&rows, r.token_dropout, &mut rng);
                let all: Vec<usize> = (0..rows.len()).collect();
                pooled_rows(&student.model, &step_tokens, &all, mode, 64, device)
            } else {
                pooled_rows(&student.model, &tokens, &rows, mode, 64, device)
            };
            let full = l2_normalize(pooled.clone());

            let dims: Vec<usize> = if supervised { mrl.clone() } else { vec![h] };
            let mut contrastive = Tensor::<1>::zeros([1], device);
            let remembered = if r.memory_batches > 0 { memory.snapshot(h, device) } else { None };
            if r.cross_lingual {
                // Passages: zh → en sees the batch's English, the hard negatives, then the
                // remembered English; en → zh the batch's Chinese, then the remembered Chinese.
                // Cells pairing a query with one of its translations are left out.
                let mut en_ids: Vec<usize> = batch_pairs
                    .iter()
                    .map(|p| p.en)
                    .chain(hard.iter().map(|&(_, t, _)| t))
                    .chain(remembered.iter().flat_map(|m| m.1.iter().copied()))
                    .collect();
                let mut zh_ids: Vec<usize> = batch_pairs
                    .iter()
                    .map(|p| p.zh)
                    .chain(remembered.iter().flat_map(|m| m.0.iter().copied()))
                    .collect();
                // Same-language negatives go last; the query itself is excluded by `related`.
                if r.same_language_negatives {
                    en_ids.extend(batch_pairs.iter().map(|p| p.zh));
                    zh_ids.extend(batch_pairs.iter().map(|p| p.en));
                }
                let exclude = |queries: &[usize], passages: &[usize], from: usize| -> Vec<(usize, usize)> {
                    let mut out = Vec::new();
                    for (q, &qt) in queries.iter().enumerate() {
                        for (p, &pt) in passages.iter().enumerate().skip(from) {
                            if p != q && translations.related(qt, pt) {
                                out.push((q, p));
                            }
                        }
                    }
                    out
                };
                let zh_queries: Vec<usize> = batch_pairs.iter().map(|p| p.zh).collect();
                let en_queries: Vec<usize> = batch_pairs.iter().map(|p| p.en).collect();
                // In-batch cells keep their old treatment (batches hold no text twice); only
                // hard negatives and memory are checked against the query's translations.
                let zh_exclude = exclude(&zh_queries, &en_ids, n);
                let en_exclude = exclude(&en_queries, &zh_ids, n);
                for &d in &dims {
                    let e = if d == h { full.clone() } else { l2_normalize(pooled.clone().narrow(1, 0, d)) };
                    let zh = e.clone().narrow(0, 0, n);
                    let en = e.clone().narrow(0, n, n);
                    let mut en_passages = vec![en.clone()];
                    if !hard.is_empty() {
                        en_passages.push(e.clone().narrow(0, 2 * n, hard.len()));
                    }
                    let mut zh_passages = vec![zh.clone()];
                    if let Some((_, _, mz, me)) = &remembered {
                        en_passages.push(l2_normalize(me.clone().narrow(1, 0, d)));
                        zh_passages.push(l2_normalize(mz.clone().narrow(1, 0, d)));
                    }
                    if r.same_language_negatives {
                        en_passages.push(zh.clone());
                        zh_passages.push(en.clone());
                    }
                    contrastive = contrastive
                        + info_nce(zh, Tensor::cat(en_passages, 0), r.temperature, &zh_exclude)
                        + info_nce(en, Tensor::cat(zh_passages, 0), r.temperature, &en_exclude);
                }
                contrastive = contrastive.div_scalar((2 * dims.len()) as f64);
            }
            // Distillation over the sentence rows that have teacher vectors.
            let mut distill = Tensor::<1>::zeros([1], device);
            let mut head_loss = Tensor::<1>::zeros([1], device);
            if let Some(teacher) = self.teacher {
                let (mut keep, mut vectors) = (Vec::new(), Vec::new());
                for (row, &text) in rows.iter().enumerate().take(2 * n) {
                    let target =
                        if r.distill_target == DistillTarget::English && row < n { batch_pairs[row].en } else { text };
                    if let Some(v) = teacher.get(&self.corpus.texts[target]) {
                        keep.push(row as i32);
                        vectors.extend_from_slice(v);
                    }
                }
                if keep.len() > 1 {
                    let k = keep.len();
                    let index = Tensor::<1, Int>::from_data(TensorData::new(keep, [k]), device);
                    let t = Tensor::<2>::from_data(TensorData::new(vectors, [k, teacher.dims]), device);
                    let student_rows = full.clone().select(0, index);
                    if let Some(head) = &student.head {
                        head_loss = head_distillation(head.forward(student_rows.clone()), t.clone());
                    }
                    distill = similarity_distillation(student_rows, t);
                }
            }
            let loss = contrastive.clone()
                + distill.clone().mul_scalar(r.distill_weight)
                + head_loss.clone().mul_scalar(r.head_weight);

            // Dynamic hard negatives: score each used negative now and apply the rule.
            let mut replaced = 0;
            if supervised && !hard.is_empty() {
                let e = host(full.clone().inner());
                let dot = |a: usize, b: usize| {
                    e[a * h..(a + 1) * h].iter().zip(&e[b * h..(b + 1) * h]).map(|(x, y)| x * y).sum::<f32>()
                };
                for (k, &(i, _, s0)) in hard.iter().enumerate() {
                    if r.dynamic_negatives
                        && replace_negative(s0, dot(i, 2 * n + k))
                        && let Some(state) = negatives.get_mut(&batch_pairs[i].zh)
                    {
                        state.current += 1;
                        replaced += 1;
                    }
                }
            }

            // Remember this batch once attention is fully bidirectional (earlier vectors come
            // from a differently masked model and would be poor negatives).
            if r.memory_batches > 0 && alpha >= 1.0 {
                let raw = host(pooled.clone().inner().narrow(0, 0, 2 * n));
                let (zv, ev) = raw.split_at(n * h);
                memory.push(
                    batch_pairs.iter().map(|p| p.zh).collect(),
                    batch_pairs.iter().map(|p| p.en).collect(),
                    zv.to_vec(),
                    ev.to_vec(),
                    r.memory_batches,
                );
            }

            let lr = learning_rate(step, total, r.warmup, r.peak_lr);
            let grads = GradientsParams::from_grads(loss.backward(), &student);
            student = optim.step(lr, student, grads);

            let entry = StepLog {
                step,
                stage: if supervised { "supervised" } else { "weak" },
                alpha,
                lr,
                loss: loss.into_scalar::<f32>(),
                contrastive: contrastive.into_scalar::<f32>(),
                distill: distill.into_scalar::<f32>(),
                head: head_loss.into_scalar::<f32>(),
                replaced,
                seconds: start.elapsed().as_secs_f64(),
            };
            bar.set_message(format!(
                "{} loss {:.4} (nce {:.4}, distill {:.5}, head {:.4}) α {:.2}",
                entry.stage, entry.loss, entry.contrastive, entry.distill, entry.head, alpha
            ));
            bar.inc(1);
            if bar.is_hidden() && step % 50 == 0 {
                eprintln!("step {step}/{total} {:.0} s: {}", entry.seconds, bar.message());
            }
            log.push(entry);
            let last = step + 1 == total;
            if (r.eval_every > 0 && (step + 1) % r.eval_every == 0) || last || step + 1 == r.weak_steps {
                let valid = student.model.valid();
                for set in self.dev {
                    let (z, e, above) = dev_bitext(&valid, self.encoder, &set.pairs, &inner);
                    // eprintln, not bar.println: a log file (no terminal) must get these lines too.
                    bar.suspend(|| eprintln!("step {}: dev {} bitext top-1 zh→en {z:.4}, en→zh {e:.4}; zh translation above all other zh {above:.4}", step + 1, set.name));
                    dev.push(DevScore {
                        step: step + 1,
                        set: set.name,
                        zh_to_en: z,
                        en_to_zh: e,
                        zh_translation_above_zh: above,
                    });
                }
            }
        }
        bar.finish();
        Ok(Outcome { model: student.model.valid(), log, dev, seconds: start.elapsed().as_secs_f64() })
    }
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
