//! `conan-train`: trains conan-mini from scratch with a fixed seed.
//!
//! train files → own BPE vocabulary → random Conan-architecture model → weakly supervised
//! stage (soft mask, distillation, cross-lingual InfoNCE) → supervised stage (dynamic hard
//! negatives, Matryoshka) → f32 checkpoint in HF layout + loss log, curve and summary.
//! `tools/train_mini.sh` chains it with the teacher step and `conan convert`.
//!
//! Modules, one job each:
//! - `corpus`: the train files, teacher vectors and dev pairs;
//! - `vocab`: the own BPE vocabulary (and the `--vocab-study`);
//! - `recipe`: the hyper-parameters of a run ([`recipe::Recipe`], in training.json);
//! - `train`: the training loop (stages, soft-mask and learning-rate schedules, logging)
//!   and the one initialiser for model and head ([`train::llama_uniform`]);
//! - `encode`: texts tokenized once, pooled vectors in length buckets (a leaf);
//! - `batching`: length-bucketed batches and each step's rows;
//! - `negatives`: hard negatives (mining, the dynamic rule) and which texts translate which;
//! - `memory`: the cross-batch memory of recent batches' vectors;
//! - `losses`: InfoNCE and the distillation terms;
//! - `dev`: dev bitext scoring while training;
//! - `chart`: the loss curve (SVG).

mod batching;
mod chart;
mod corpus;
mod dev;
mod encode;
mod losses;
mod memory;
mod negatives;
mod recipe;
mod train;
mod vocab;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Parser;
use conan_model::{Config, HostTensor, build_model};
use conan_text::TextEncoder;
use rand_chacha::ChaCha8Rng;

use corpus::{Corpus, Teacher, read_hsk, read_tatoeba, unique_pairs};
use dev::DevSet;
use recipe::{DistillTarget, Recipe};
use train::Trainer;

#[derive(Parser, Debug)]
#[command(name = "conan-train", about = "Train conan-mini with the Conan-Embedding-v2 recipe on the train files")]
struct Cli {
    /// ../shared/data (train files are read; dev only for the progress numbers).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Teacher vectors from tools/teacher.py; without them the distillation term is off.
    #[arg(long, default_value = "target/teacher")]
    teacher: PathBuf,
    /// Output folder: checkpoint/ (HF layout), losses.csv, loss.svg, training.json.
    #[arg(long, default_value = "target/conan-mini")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 16384)]
    vocab: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 4)]
    layers: usize,
    #[arg(long, default_value_t = 768)]
    ffn: usize,
    #[arg(long, default_value_t = 5000)]
    weak_steps: usize,
    #[arg(long, default_value_t = 2500)]
    supervised_steps: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 16)]
    dictionary_pairs: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 20.0)]
    distill_weight: f64,
    /// Whose teacher vector a Chinese sentence is distilled to: its own (default) or its
    /// English translation's. English at weight 60 won 3.4 / 4.4 points in a short run but
    /// traded zh→en for en→zh in the full run (model card), so it is not the default.
    #[arg(long, value_enum, default_value_t = DistillTarget::Own)]
    distill_target: DistillTarget,
    /// Weight of the per-text distillation through a linear head to the teacher's vectors
    /// (1 − cosine; the head is trained with the model and not exported). 0 = off. Short
    /// runs (model card) rose with it up to 100: dev top-1 0.47 → 0.79 on Tatoeba.
    #[arg(long, default_value_t = 100.0)]
    head_weight: f64,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Share of tokens dropped at random from each training row (augmentation).
    #[arg(long, default_value_t = 0.0)]
    token_dropout: f64,
    #[arg(long, default_value_t = 500)]
    eval_every: usize,
    /// Steps between re-minings of hard negatives in the supervised stage.
    #[arg(long, default_value_t = 500)]
    remine_every: usize,
    /// Cross-batch memory: recent batches whose vectors serve as extra negatives. Off by
    /// default: 16 batches cost 7 points of dev top-1 in a short run (stale vectors).
    #[arg(long, default_value_t = 0)]
    memory_batches: usize,
    /// Ablation: bidirectional attention from the first step.
    #[arg(long)]
    no_soft_mask: bool,
    /// Ablation: no translation-pair InfoNCE (alignment from distillation alone).
    #[arg(long)]
    no_cross_lingual: bool,
    /// Ablation: no same-language negatives (the batch's other texts in the query's own
    /// language). They took the mixed-language share from 0.838 to 0.883 (model card).
    #[arg(long)]
    no_same_language_negatives: bool,
    /// Ablation: hard negatives mined once and never replaced.
    #[arg(long)]
    no_dynamic_negatives: bool,
    /// Print the tokenizer study (own BPE at 8k/16k/32k vs pruned Qwen3) and exit.
    #[arg(long)]
    vocab_study: bool,
    /// Use at most this many sentence pairs (for quick runs and tests).
    #[arg(long)]
    limit_pairs: Option<usize>,
    /// Where the model trains: burn's CPU backend (flex) or its wgpu backend (Vulkan, Metal,
    /// DX12: a lent GPU). wgpu needs the binary built with `--features wgpu`.
    #[arg(long, value_enum, default_value_t = TrainBackend::Cpu)]
    backend: TrainBackend,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum TrainBackend {
    Cpu,
    Wgpu,
}

impl TrainBackend {
    /// The autodiff device the whole run (training, mining, dev numbers) uses.
    fn device(self) -> Result<Device> {
        match self {
            TrainBackend::Cpu => Ok(Device::flex().autodiff()),
            #[cfg(feature = "wgpu")]
            TrainBackend::Wgpu => Ok(Device::wgpu_options()
                .init()
                .map_err(|e| anyhow::anyhow!("no wgpu adapter could be started: {e}"))?
                .autodiff()),
            #[cfg(not(feature = "wgpu"))]
            TrainBackend::Wgpu => bail!(
                "--backend wgpu: this conan-train was built without it (cargo build --release -p conan-train --features wgpu)"
            ),
        }
    }
}

/// Llama-style initialisation (uniform with std 0.02; norms at 1), seeded.
fn init_tensors(config: &Config, seed: u64) -> HashMap<String, HostTensor> {
    let mut rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(seed);
    config
        .tensor_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let len: usize = shape.iter().product();
            let values =
                if name.ends_with("norm.weight") { vec![1.0; len] } else { train::llama_uniform(len, &mut rng) };
            (name, HostTensor { values, shape })
        })
        .collect()
}

/// Every HSK dev pair with both sides unique, in id order, as the bundled HSK bitext slice.
fn hsk_dev_pairs(data: &std::path::Path) -> Result<Vec<(String, String)>> {
    let mut rows = read_hsk(&data.join("hsk/dev.jsonl"))?;
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(unique_pairs(rows.into_iter().map(|r| (r.zh, r.en)), usize::MAX))
}

fn vocab_study(cli: &Cli, corpus: &Corpus) -> Result<()> {
    let train: Vec<&str> = corpus.texts.iter().map(String::as_str).collect();
    let dev = read_tatoeba(&cli.data.join("tatoeba/dev.tsv"))?;
    let zh: Vec<&str> = dev.iter().map(|p| p.0.as_str()).collect();
    let en: Vec<&str> = dev.iter().map(|p| p.1.as_str()).collect();
    let qwen3 = std::fs::read_to_string(cli.data.join("tokenizers/qwen3/tokenizer.json")).ok();
    let rows = vocab::study(&train, &zh, &en, qwen3.as_deref())?;
    println!(
        "| tokenizer | vocabulary | embedding rows | tokens/zh dev sentence | tokens/en dev sentence | dev ids without a row |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} |",
            r.name, r.vocabulary, r.rows, r.zh_tokens, r.en_tokens, r.dev_ids_without_row
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let started = std::time::Instant::now();
    let mut corpus = Corpus::load_train(&cli.data)?;
    if let Some(limit) = cli.limit_pairs {
        corpus = corpus.limited(limit);
    }
    eprintln!(
        "train data: {} sentence pairs, {} dictionary pairs, {} distinct texts",
        corpus.sentences.len(),
        corpus.dictionary.len(),
        corpus.texts.len()
    );
    let teacher = match Teacher::load(&cli.teacher) {
        Ok(t) => {
            eprintln!("teacher: {} vectors × {}", t.len(), t.dims);
            Some(t)
        }
        Err(e) if cli.distill_weight == 0.0 => {
            eprintln!("teacher: not used ({e:#})");
            None
        }
        Err(e) => bail!("{e:#}\n(run tools/teacher.py first, or pass --distill-weight 0)"),
    };

    if cli.vocab_study {
        return vocab_study(&cli, &corpus);
    }
    let vocab_started = std::time::Instant::now();
    let tokenizer_json = vocab::train_bpe(corpus.texts.iter().map(String::as_str), cli.vocab)?;
    let encoder = TextEncoder::from_json(&tokenizer_json, 512)?;
    eprintln!("vocabulary: {} tokens in {:.1} s", encoder.vocab_size(), vocab_started.elapsed().as_secs_f64());

    let heads = (cli.hidden / 64).max(1);
    let config = Config {
        hidden_size: cli.hidden,
        num_hidden_layers: cli.layers,
        num_attention_heads: heads,
        num_key_value_heads: Some((heads / 2).max(1)),
        head_dim: Some(cli.hidden / heads),
        intermediate_size: cli.ffn,
        vocab_size: encoder.vocab_size(),
        max_position_embeddings: 512,
        matryoshka_dims: [64, 128, 256, 384, 512].into_iter().filter(|&d| d < cli.hidden).chain([cli.hidden]).collect(),
        ..Config::conan_v2()
    };
    config.validate()?;
    eprintln!("model: {} ({} parameters)", config.architecture_summary(), config.num_params());

    let recipe = Recipe {
        seed: cli.seed,
        weak_steps: cli.weak_steps,
        supervised_steps: cli.supervised_steps,
        batch: cli.batch,
        dictionary_pairs: cli.dictionary_pairs.min(cli.batch / 2),
        max_len: 32,
        peak_lr: cli.lr,
        warmup: (cli.weak_steps + cli.supervised_steps).min(100),
        temperature: 0.05,
        distill_weight: if teacher.is_some() { cli.distill_weight } else { 0.0 },
        distill_target: cli.distill_target,
        head_weight: if teacher.is_some() { cli.head_weight } else { 0.0 },
        token_dropout: cli.token_dropout,
        weight_decay: cli.weight_decay,
        soft_mask_share: 0.5,
        soft_mask: !cli.no_soft_mask,
        cross_lingual: !cli.no_cross_lingual,
        same_language_negatives: !cli.no_same_language_negatives,
        dynamic_negatives: !cli.no_dynamic_negatives,
        remine_every: cli.remine_every.max(1),
        memory_batches: cli.memory_batches,
        eval_every: cli.eval_every,
    };
    // The first 1,000 Tatoeba dev pairs and every HSK dev pair, both sides unique.
    let dev = [
        DevSet { name: "tatoeba", pairs: unique_pairs(read_tatoeba(&cli.data.join("tatoeba/dev.tsv"))?, 1000) },
        DevSet { name: "hsk", pairs: hsk_dev_pairs(&cli.data)? },
    ];

    let device = cli.backend.device()?;
    let model = build_model(&config, init_tensors(&config, cli.seed), &device)?;
    let trainer = Trainer {
        config: config.clone(),
        recipe: recipe.clone(),
        corpus: &corpus,
        teacher: teacher.as_ref(),
        encoder: &encoder,
        dev: &dev,
    };
    let outcome = trainer.run(model, &device)?;

    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let tensors = conan_model::save::model_tensors(&outcome.model)?;
    let checkpoint = cli.out.join("checkpoint");
    conan_model::save::write_checkpoint(&config, &tensors, &tokenizer_json, &checkpoint)?;

    let mut csv = std::fs::File::create(cli.out.join("losses.csv"))?;
    writeln!(csv, "step,stage,alpha,lr,loss,contrastive,distill,head,replaced,seconds")?;
    for s in &outcome.log {
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{:.2}",
            s.step, s.stage, s.alpha, s.lr, s.loss, s.contrastive, s.distill, s.head, s.replaced, s.seconds
        )?;
    }
    chart::loss_curve(&outcome.log, recipe.weak_steps, &cli.out.join("loss.svg"))?;
    // The loop always scores the final model, one entry per set in order, last: no need to
    // embed the dev sets again.
    let finals = &outcome.dev[outcome.dev.len() - dev.len()..];
    let last: serde_json::Map<String, serde_json::Value> = dev
        .iter()
        .zip(finals)
        .map(|(set, d)| (set.name.to_string(), serde_json::json!({ "zh_to_en": d.zh_to_en, "en_to_zh": d.en_to_zh, "zh_translation_above_zh": d.zh_translation_above_zh, "pairs": set.pairs.len() })))
        .collect();
    let summary = serde_json::json!({
        "config": config,
        "parameters": config.num_params(),
        "recipe": recipe,
        "train_sentence_pairs": corpus.sentences.len(),
        "train_dictionary_pairs": corpus.dictionary.len(),
        "teacher": teacher.as_ref().map(|t| t.len()),
        "vocabulary": encoder.vocab_size(),
        "train_seconds": outcome.seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "backend": format!("{:?}", cli.backend).to_lowercase(),
        "dev_bitext": last.clone(),
        "dev_progress": outcome.dev,
    });
    std::fs::write(cli.out.join("training.json"), serde_json::to_string_pretty(&summary)? + "\n")?;
    eprintln!(
        "done in {:.0} s: dev bitext top-1 {}; checkpoint in {}",
        started.elapsed().as_secs_f64(),
        serde_json::Value::Object(last),
        checkpoint.display()
    );
    Ok(())
}
