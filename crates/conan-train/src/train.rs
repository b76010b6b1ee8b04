//! The training loop: stage "weakly supervised" (teacher distillation + cross-lingual
//! InfoNCE under the soft mask) then stage "supervised" (InfoNCE with dynamically mined
//! hard negatives, Matryoshka dims), with the soft-mask and learning-rate schedules, a log
//! entry every step and the dev sets scored on the way. Batches ([`crate::batching`]),
//! negatives ([`crate::negatives`]), memory ([`crate::memory`]), losses ([`crate::losses`])
//! and dev scoring ([`crate::dev`]) are their own modules; this one runs the steps.

use std::time::Instant;

use anyhow::Result;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use conan_model::model::l2_normalize;
use conan_model::{AttentionMode, ConanModel, Config};
use conan_text::TextEncoder;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::batching::{Batches, StepBatch};
use crate::corpus::{Corpus, Teacher};
use crate::dev::{self, DevScore, DevSet};
use crate::encode::{Tokens, pooled_rows};
use crate::losses::{self, Contrastive, Terms};
use crate::memory::Memory;
use crate::negatives::{HardNegatives, Translations};
use crate::recipe::Recipe;

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

/// Soft mask schedule α(t) = t/τ: causal attention at the start of the weakly supervised
/// stage, opening to fully bidirectional once t reaches τ.
pub fn soft_mask_alpha(step: usize, tau: usize) -> f32 {
    if tau == 0 { 1.0 } else { (step as f32 / tau as f32).min(1.0) }
}

/// Learning rate: linear warm-up, then cosine decay to a tenth of the peak.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    let floor = peak * 0.1;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

/// The two stages of the recipe, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Weakly supervised: soft mask, distillation, in-batch InfoNCE at full width.
    Weak,
    /// Supervised: bidirectional, hard negatives, Matryoshka widths.
    Supervised,
}

impl Stage {
    /// The name in the log (losses.csv).
    fn name(self) -> &'static str {
        match self {
            Stage::Weak => "weak",
            Stage::Supervised => "supervised",
        }
    }
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
        let (mut run, mut student) = Run::start(self, model, device)?;
        for step in 0..run.total {
            let stage = run.stage(step);
            if run.mining_due(step, stage) {
                run.mine(&student.model);
            }
            let batch = run.next_batch(stage);
            let alpha = run.alpha(step, stage);
            let (pooled, full) = run.forward(&student.model, &batch, alpha);
            let terms = run.losses(&student, &batch, &pooled, &full, stage);
            let replaced = run.replace_negatives(&batch, &full, stage);
            run.remember(&batch, &pooled, alpha);
            let lr = learning_rate(step, run.total, self.recipe.warmup, self.recipe.peak_lr);
            student = run.optimise(student, &terms.loss, lr);
            run.log(step, stage, alpha, lr, terms, replaced);
            if run.dev_due(step) {
                run.score_dev(&student.model, step);
            }
        }
        Ok(run.finish(student))
    }
}

/// A run in progress: what [`Trainer::run`] carries from step to step, but the student
/// (the optimiser takes it and gives it back each step).
struct Run<'t> {
    trainer: &'t Trainer<'t>,
    /// The autodiff device the steps run on.
    device: Device,
    /// The same device without autodiff: mining and dev scoring.
    inner: Device,
    /// The run's one stream for batch order, dictionary pairs and token dropout.
    rng: ChaCha8Rng,
    tokens: Tokens,
    optim: ModuleOptimizer,
    total: usize,
    /// Soft-mask τ in steps.
    tau: usize,
    h: usize,
    /// Matryoshka widths of the supervised stage.
    mrl: Vec<usize>,
    batches: Batches,
    negatives: HardNegatives,
    translations: Translations,
    memory: Memory,
    log: Vec<StepLog>,
    dev: Vec<DevScore>,
    start: Instant,
    bar: ProgressBar,
}

impl<'t> Run<'t> {
    /// Tokenizes the corpus once and builds the student (the head from its own seeded
    /// stream) and the optimiser.
    fn start(trainer: &'t Trainer<'t>, model: ConanModel, device: &Device) -> Result<(Self, Student)> {
        let r = &trainer.recipe;
        let rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(r.seed);
        let tokens = Tokens::new(&trainer.corpus.texts, trainer.encoder, r.max_len)?;
        let inner = device.clone().inner();
        // The head's own stream, so adding it leaves the batch order of the run unchanged.
        let mut head_rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(r.seed ^ 0x4845_4144);
        let teacher_dims = trainer.teacher.filter(|_| r.head_weight > 0.0).map(|t| t.dims);
        let student = Student::with_head(model, teacher_dims, &mut head_rng, device);
        let optim: ModuleOptimizer = AdamWConfig::new()
            .with_weight_decay(r.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
            .init();

        let total = r.weak_steps + r.supervised_steps;
        let tau = ((r.weak_steps as f64) * r.soft_mask_share).round() as usize;
        let start = Instant::now();
        let bar = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}").expect("template"),
        );
        let h = trainer.config.hidden_size;
        let mrl: Vec<usize> =
            if trainer.config.matryoshka_dims.is_empty() { vec![h] } else { trainer.config.matryoshka_dims.clone() };
        let translations =
            Translations::new(trainer.corpus.sentences.iter().chain(&trainer.corpus.dictionary).copied());
        let run = Run {
            trainer,
            device: device.clone(),
            inner,
            rng,
            tokens,
            optim,
            total,
            tau,
            h,
            mrl,
            batches: Batches::new(r.batch, r.dictionary_pairs),
            negatives: HardNegatives::default(),
            translations,
            memory: Memory::new(r.memory_batches),
            log: Vec::new(),
            dev: Vec::new(),
            start,
            bar,
        };
        Ok((run, student))
    }

    fn stage(&self, step: usize) -> Stage {
        if step >= self.trainer.recipe.weak_steps { Stage::Supervised } else { Stage::Weak }
    }

    /// Hard negatives are mined as the supervised stage starts and, when they are dynamic,
    /// again every `remine_every` steps.
    fn mining_due(&self, step: usize, stage: Stage) -> bool {
        let r = &self.trainer.recipe;
        stage == Stage::Supervised
            && (step == r.weak_steps || (r.dynamic_negatives && (step - r.weak_steps).is_multiple_of(r.remine_every)))
    }

    fn mine(&mut self, model: &ConanModel) {
        self.bar.set_message("mining hard negatives");
        self.negatives = HardNegatives::mine(&model.valid(), &self.tokens, &self.trainer.corpus.sentences, &self.inner);
    }

    /// The next batch's pairs and rows, with hard negatives in the supervised stage.
    fn next_batch(&mut self, stage: Stage) -> StepBatch {
        let pairs = self.batches.next(self.trainer.corpus, &self.tokens, &mut self.rng);
        StepBatch::new(pairs, (stage == Stage::Supervised).then_some(&self.negatives))
    }

    /// The soft mask's α: rising through the weak stage (when on), 1 (bidirectional) after.
    fn alpha(&self, step: usize, stage: Stage) -> f32 {
        if self.trainer.recipe.soft_mask && stage == Stage::Weak { soft_mask_alpha(step, self.tau) } else { 1.0 }
    }

    /// The batch's pooled vectors (with gradients) under `alpha`, tokens dropped when token
    /// dropout is on, and the same normalised to unit length.
    fn forward(&mut self, model: &ConanModel, batch: &StepBatch, alpha: f32) -> (Tensor<2>, Tensor<2>) {
        let r = &self.trainer.recipe;
        let (rows, device) = (&batch.rows, &self.device);
        let mode = if alpha >= 1.0 { AttentionMode::Bidirectional } else { AttentionMode::Soft { alpha } };
        let pooled = if r.token_dropout > 0.0 {
            let step_tokens = self.tokens.dropped(rows, r.token_dropout, &mut self.rng);
            let all: Vec<usize> = (0..rows.len()).collect();
            pooled_rows(model, &step_tokens, &all, mode, 64, device)
        } else {
            pooled_rows(model, &self.tokens, rows, mode, 64, device)
        };
        let full = l2_normalize(pooled.clone());
        (pooled, full)
    }

    /// The step's loss terms: contrastive (Matryoshka widths in the supervised stage) and,
    /// with a teacher, distillation over the sentence rows that have teacher vectors.
    fn losses(
        &self,
        student: &Student,
        batch: &StepBatch,
        pooled: &Tensor<2>,
        full: &Tensor<2>,
        stage: Stage,
    ) -> Terms {
        let (trainer, device) = (self.trainer, &self.device);
        let r = &trainer.recipe;
        let dims: Vec<usize> = if stage == Stage::Supervised { self.mrl.clone() } else { vec![self.h] };
        let remembered = self.memory.snapshot(self.h, device);
        let contrastive = if r.cross_lingual {
            let exclusions =
                self.translations.exclusions(&batch.pairs, &batch.hard, remembered.as_ref(), r.same_language_negatives);
            Contrastive {
                pooled,
                full,
                n: batch.n(),
                hard: batch.hard.len(),
                remembered: remembered.as_ref(),
                same_language: r.same_language_negatives,
                exclusions: &exclusions,
            }
            .loss(&dims, r.temperature, device)
        } else {
            Tensor::<1>::zeros([1], device)
        };
        let (distill, head) = match trainer.teacher {
            Some(teacher) => losses::distillation(
                teacher,
                &trainer.corpus.texts,
                r.distill_target,
                batch,
                full,
                student.head.as_ref(),
                device,
            ),
            None => (Tensor::<1>::zeros([1], device), Tensor::<1>::zeros([1], device)),
        };
        Terms::new(contrastive, distill, head, r.distill_weight, r.head_weight)
    }

    /// Dynamic hard negatives: the rule applied to each hard negative the step used.
    fn replace_negatives(&mut self, batch: &StepBatch, full: &Tensor<2>, stage: Stage) -> usize {
        if stage == Stage::Supervised && !batch.hard.is_empty() {
            self.negatives.replace(&batch.pairs, &batch.hard, full, self.trainer.recipe.dynamic_negatives)
        } else {
            0
        }
    }

    /// Remember this batch once attention is fully bidirectional (earlier vectors come from
    /// a differently masked model and would be poor negatives).
    fn remember(&mut self, batch: &StepBatch, pooled: &Tensor<2>, alpha: f32) {
        if alpha >= 1.0 {
            self.memory.remember(&batch.pairs, pooled, self.h);
        }
    }

    fn optimise(&mut self, student: Student, loss: &Tensor<1>, lr: f64) -> Student {
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        self.optim.step(lr, student, grads)
    }

    /// The step's log entry, on the progress bar (every 50th step on stderr without a
    /// terminal) and in the log.
    fn log(&mut self, step: usize, stage: Stage, alpha: f32, lr: f64, terms: Terms, replaced: usize) {
        let entry = StepLog {
            step,
            stage: stage.name(),
            alpha,
            lr,
            loss: terms.loss.into_scalar::<f32>(),
            contrastive: terms.contrastive.into_scalar::<f32>(),
            distill: terms.distill.into_scalar::<f32>(),
            head: terms.head.into_scalar::<f32>(),
            replaced,
            seconds: self.start.elapsed().as_secs_f64(),
        };
        let bar = &self.bar;
        bar.set_message(format!(
            "{} loss {:.4} (nce {:.4}, distill {:.5}, head {:.4}) α {:.2}",
            entry.stage, entry.loss, entry.contrastive, entry.distill, entry.head, alpha
        ));
        bar.inc(1);
        if bar.is_hidden() && step.is_multiple_of(50) {
            eprintln!("step {step}/{} {:.0} s: {}", self.total, entry.seconds, bar.message());
        }
        self.log.push(entry);
    }

    /// The dev sets are scored every `eval_every` steps, at the end of the weak stage and
    /// after the last step.
    fn dev_due(&self, step: usize) -> bool {
        let r = &self.trainer.recipe;
        let last = step + 1 == self.total;
        (r.eval_every > 0 && (step + 1).is_multiple_of(r.eval_every)) || last || step + 1 == r.weak_steps
    }

    fn score_dev(&mut self, model: &ConanModel, step: usize) {
        let valid = model.valid();
        for set in self.trainer.dev {
            let score = dev::score(&valid, self.trainer.encoder, set, step + 1, &self.inner);
            // eprintln, not bar.println: a log file (no terminal) must get these lines too.
            self.bar.suspend(|| {
                eprintln!(
                    "step {}: dev {} bitext top-1 zh→en {:.4}, en→zh {:.4}; zh translation above all other zh {:.4}",
                    step + 1,
                    set.name,
                    score.zh_to_en,
                    score.en_to_zh,
                    score.zh_translation_above_zh
                )
            });
            self.dev.push(score);
        }
    }

    fn finish(self, student: Student) -> Outcome {
        self.bar.finish();
        Outcome {
            model: student.model.valid(),
            log: self.log,
            dev: self.dev,
            seconds: self.start.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_goes_from_causal_to_bidirectional() {
        assert_eq!(soft_mask_alpha(0, 100), 0.0);
        assert_eq!(soft_mask_alpha(50, 100), 0.5);
        assert_eq!(soft_mask_alpha(250, 100), 1.0);
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        assert!(learning_rate(0, 1000, 100, 1e-3) < 2e-5);
        assert!((learning_rate(99, 1000, 100, 1e-3) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(1000, 1000, 100, 1e-3) - 1e-4).abs() < 1e-12);
    }
}
