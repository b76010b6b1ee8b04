//! `conan`: embed texts, write synthetic checkpoints, describe models, serve the web app.
//! The commands and flags are a contract other checks rely on; see README.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use conan_model::burn::prelude::Device;
use conan_model::pack::{Encoding, PackOptions, write_pack};
use conan_model::synth::{WeightDtype, write_synthetic};
use conan_model::{Config, DirSource, GpuLimits, LoadOptions, Pooling, read_files};
use serde_json::json;

mod bench;
mod corpus_vectors;
mod embed;
mod eval;
mod index;
mod parquet_out;

#[derive(Parser)]
#[command(name = "conan", version, about = "Conan-Embedding-v2 architecture in burn: embed, synth, info, serve")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// burn's pure-Rust CPU backend (flex), projections on packed host kernels; a q8 / q4
    /// pack's in int8 (within cosine 0.999 of f32)
    Cpu,
    /// The same, with a q8 / q4 pack's weights multiplied in f32: its values exactly, as a GPU
    /// or an ONNX export computes them (slower)
    CpuF32,
    /// burn's wgpu backend (Vulkan / Metal / DX12)
    Wgpu,
}

impl Backend {
    /// The name the JSON outputs use.
    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::CpuF32 => "cpu-f32",
            Backend::Wgpu => "wgpu",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    ConanV2,
    Tiny,
}

#[derive(Clone, Copy, ValueEnum)]
enum Family {
    Conan,
    Llama,
    Qwen2,
    Qwen3,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Mean,
    LastToken,
    Cls,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts and print JSON {"model","backend","dims","embeddings"}.
    Embed {
        /// Model folder: config.json + safetensors + tokenizer.json
        #[arg(long)]
        model: PathBuf,
        /// Matryoshka truncation (default: the hidden size)
        #[arg(long)]
        dims: Option<usize>,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        /// Read one text per line from FILE ("-" for stdin)
        #[arg(long)]
        input: Option<PathBuf>,
        /// Write a Parquet dataset to DIR (parts of {id, text, vector}) instead of JSON to
        /// stdout; the same command again resumes an interrupted run
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        texts: Vec<String>,
    },
    /// Write a seeded random checkpoint in Hugging Face layout.
    Synth {
        #[arg(long, value_enum)]
        preset: Preset,
        #[arg(long)]
        layers: Option<usize>,
        #[arg(long)]
        vocab: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Weight dtype: f32, f16 or bf16
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Checkpoint family (tensor names and extras such as Qwen2 biases)
        #[arg(long, value_enum, default_value = "conan")]
        family: Family,
        #[arg(long, value_enum)]
        pooling: Option<PoolingArg>,
        #[arg(long, required_unless_present = "dry_run")]
        out: Option<PathBuf>,
        /// Print the config and parameter count without writing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// Convert a Hugging Face folder (or a pack) into a pack: manifest + hashed shards.
    Convert {
        #[arg(long = "from")]
        from: PathBuf,
        /// f32, f16, q8 or q4 (symmetric, block 32 along the input dimension)
        #[arg(long, default_value = "q8")]
        quant: String,
        /// Encoding of the token-embedding table (default: q8 for q4 packs, else --quant)
        #[arg(long)]
        table_quant: Option<String>,
        /// Largest shard in bytes (default and maximum: 128 MiB, WebGPU's default binding size)
        #[arg(long)]
        shard_bytes: Option<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Export a model (Hugging Face folder or pack) to ONNX (opset 17), tokenizer.json beside it:
    /// inputs input_ids and attention_mask, outputs sentence_embedding and last_hidden_state.
    Export {
        /// ONNX is the one format (required, so the command says what it writes)
        #[arg(long, required = true)]
        onnx: bool,
        #[arg(long)]
        model: PathBuf,
        /// The .onnx file to write (over 1 GiB of weights also writes FILE.onnx.data)
        #[arg(long)]
        out: PathBuf,
        /// Write the weights to FILE.onnx.data (ONNX external data) whatever their size
        #[arg(long)]
        external_data: bool,
    },
    /// Embed the bundled corpus (passages and their sentences) with a model and write the
    /// vectors beside it (vectors.json + vectors.f16), so the app's first visit needs no embedding.
    CorpusVectors {
        #[arg(long)]
        model: PathBuf,
        /// The folder holding corpus.jsonl
        #[arg(long, default_value = "static/corpus")]
        corpus: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
    },
    /// Build a sentence-window search index of documents (the Search page's, on disk).
    Index {
        #[command(subcommand)]
        action: IndexAction,
    },
    /// Search an index built by `conan index build`.
    Search {
        /// The index folder
        #[arg(long)]
        index: PathBuf,
        /// The model (default: the one the index was built with)
        #[arg(long)]
        model: Option<PathBuf>,
        /// Passages per query
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
        top: u32,
        /// Matryoshka prefix to search at (default: full width)
        #[arg(long)]
        dims: Option<usize>,
        /// Print JSON instead of a list
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        #[arg(required = true)]
        queries: Vec<String>,
    },
    /// Evaluate on MTEB-style task folders; prints a table, optionally MTEB-style JSON.
    Eval {
        /// Model folder (or use --embeddings)
        #[arg(long, required_unless_present = "embeddings", conflicts_with = "embeddings")]
        model: Option<PathBuf>,
        /// JSONL of {"text", "embedding"} to score instead of running a model
        #[arg(long)]
        embeddings: Option<PathBuf>,
        /// Task folder (task.json + data files); repeat for several
        #[arg(long = "task", required = true)]
        tasks: Vec<PathBuf>,
        #[arg(long)]
        dims: Option<usize>,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        /// Write results (a JSON array, one MTEB-style object per task)
        #[arg(long)]
        json: Option<PathBuf>,
        /// Retrieval: also embed each document's sentences and score a document by the
        /// higher of its own and its best sentence's cosine (`sentence_window_*` metrics)
        #[arg(long)]
        split_sentences: bool,
    },
    /// Forward-pass throughput at fixed shapes: tokens/s, sentences/s, first embedding, memory.
    Bench {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, default_value_t = 32)]
        seq: usize,
        /// Timed runs after warm-up (the median is reported; at least 5)
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Print a model's config, parameter count and bytes per dtype.
    Info {
        #[arg(long)]
        model: PathBuf,
    },
    /// Serve a folder (the built web app) on http://HOST:PORT; the same server as `conan-serve`.
    Serve(conan_serve::ServeArgs),
}

#[derive(Subcommand)]
enum IndexAction {
    /// Split documents (.txt, .md, .jsonl, .csv) into passages and embed them with the
    /// sentences of each, as the Search page does; write the index folder.
    Build {
        #[arg(long)]
        model: PathBuf,
        /// Documents to index
        #[arg(long, num_args = 1.., required = true)]
        docs: Vec<PathBuf>,
        /// A new (or empty) folder for the index
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        backend: Backend,
    },
}

fn main() -> ExitCode {
    // A bug should still end in one readable line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
    }));
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Embed { model, dims, backend, input, out, texts } => {
            embed::run(&model, dims, backend, input.as_deref(), texts, out.as_deref())
        }
        Command::Synth { preset, layers, vocab, seed, dtype, family, pooling, out, dry_run } => {
            let mut config = match preset {
                Preset::ConanV2 => Config::conan_v2(),
                Preset::Tiny => Config::tiny(),
            };
            if let Some(n) = layers {
                config.num_hidden_layers = n;
            }
            if let Some(n) = vocab {
                config.vocab_size = n;
            }
            if !matches!(family, Family::Conan) {
                config.model_type = match family {
                    Family::Llama => "llama",
                    Family::Qwen2 => "qwen2",
                    _ => "qwen3",
                }
                .into();
                // Family defaults decide these, as they would for a real checkpoint.
                config.pooling = None;
                config.is_causal = None;
                config.attention_bias = None;
            }
            if let Some(p) = pooling {
                config.pooling = Some(match p {
                    PoolingArg::Mean => Pooling::Mean,
                    PoolingArg::LastToken => Pooling::LastToken,
                    PoolingArg::Cls => Pooling::Cls,
                });
            }
            config.synthetic = true;
            config.validate()?;
            if dry_run {
                println!("{}", config.to_json());
                println!("parameters: {}", config.num_params());
                return Ok(());
            }
            let dtype =
                WeightDtype::parse(&dtype).with_context(|| format!("--dtype {dtype:?}: expected f32, f16 or bf16"))?;
            let tokenizer = conan_text::byte_level_tokenizer_json();
            if config.vocab_size < 256 {
                bail!("--vocab {} is smaller than the 256-token byte-level tokenizer synth writes", config.vocab_size);
            }
            let out = out.expect("clap requires --out without --dry-run");
            let bytes = write_synthetic(&config, seed, dtype, &tokenizer, &out)?;
            eprintln!(
                "wrote {} ({} parameters, {:.1} MB of weights, seed {seed})",
                out.display(),
                config.num_params(),
                bytes as f64 / 1e6
            );
            Ok(())
        }
        Command::Eval { model, embeddings, tasks, dims, backend, json, split_sentences } => {
            let (device, options) = device(backend)?;
            let args = eval::EvalArgs {
                model: model.as_deref(),
                embeddings: embeddings.as_deref(),
                task_dirs: &tasks,
                dims,
                json: json.as_deref(),
                split_sentences,
            };
            eval::run(args, device, options)
        }
        Command::Index { action: IndexAction::Build { model, docs, out, backend } } => {
            let (device, options) = device(backend)?;
            index::build(&model, &docs, &out, device, options)
        }
        Command::Search { index, model, top, dims, json, backend, queries } => {
            let (device, options) = device(backend)?;
            let args = index::SearchArgs {
                index: &index,
                model: model.as_deref(),
                queries: &queries,
                top: top as usize,
                dims,
                json,
            };
            index::search(args, device, options)
        }
        Command::CorpusVectors { model, corpus, backend } => {
            let (device, options) = device(backend)?;
            corpus_vectors::run(&model, &corpus, device, options)
        }
        Command::Export { onnx: _, model, out, external_data } => {
            if out.extension().is_none_or(|e| e != "onnx") {
                anyhow::bail!("--out {}: name the file FILE.onnx", out.display());
            }
            let files = pollster::block_on(read_files(&DirSource(model.clone())))?;
            let summary = conan_model::onnx::export(&files, &out, external_data)?;
            eprintln!(
                "wrote {} ({} nodes, {:.1} MB of f32 weights{}) and {}",
                summary.onnx.display(),
                summary.nodes,
                summary.weight_bytes as f64 / 1e6,
                summary.data.map(|d| format!(" in {}", d.display())).unwrap_or_default(),
                summary.tokenizer.display()
            );
            Ok(())
        }
        Command::Convert { from, quant, table_quant, shard_bytes, out } => {
            let parse = |flag: &str, v: &str| {
                Encoding::parse(v).with_context(|| format!("{flag} {v:?}: expected f32, f16, q8 or q4"))
            };
            let mut opts = PackOptions::new(parse("--quant", &quant)?);
            if let Some(t) = table_quant {
                opts.table = parse("--table-quant", &t)?;
            }
            if let Some(limit) = shard_bytes {
                if limit == 0 || limit > opts.shard_limit {
                    anyhow::bail!("--shard-bytes must be between 1 and {}", opts.shard_limit);
                }
                opts.shard_limit = limit;
            }
            let files = pollster::block_on(read_files(&DirSource(from.clone())))?;
            let tensors = conan_model::host_tensors(&files)?;
            let manifest = write_pack(&files.config, &tensors, &files.tokenizer_json, opts, &out)?;
            eprintln!(
                "wrote {} ({quant}, {} shard(s), {:.2} MB)",
                out.display(),
                manifest.shards.len(),
                manifest.total_bytes() as f64 / 1e6
            );
            Ok(())
        }
        Command::Bench { model, backend, batch, seq, runs, json } => {
            let (device, options) = device(backend)?;
            bench::run(&model, device, options, backend.name(), bench::Shape { batch, seq, runs }, json.as_deref())
        }
        Command::Info { model } => info(&model),
        Command::Serve(args) => conan_serve::serve(&args),
    }
}

/// The device and how weights go onto it. cubecl backends multiply by a pack's q8 / q4
/// matrices directly (q4 as q8 where the adapter cannot run the q4 kernel), and keep a token
/// table over 1 GiB (more than many drivers bind at once) on the host; the CPU backend packs
/// the projections for the host's kernels (a pack's in int8, or f32 with `cpu-f32`).
fn device(backend: Backend) -> Result<(Device, LoadOptions)> {
    Ok(match backend {
        Backend::Cpu => (Device::flex(), LoadOptions::cpu()),
        Backend::CpuF32 => (Device::flex(), LoadOptions::cpu_f32()),
        Backend::Wgpu => {
            let (device, setup) = Device::wgpu_options()
                .init_with_setup()
                .map_err(|e| anyhow::anyhow!("no wgpu adapter could be started: {e}"))?;
            let q4_as_q8 = !conan_model::q4_matmul_fits_on(&setup);
            if q4_as_q8 {
                let info = setup.adapter.get_info();
                eprintln!(
                    "note: {} ({} wide subgroups, {} bytes of workgroup memory) cannot run burn's q4 matmul; q4 matrices go to it as q8 (same values, twice the bytes)",
                    info.name,
                    info.subgroup_min_size,
                    setup.device.limits().max_compute_workgroup_storage_size
                );
            }
            // Natively one buffer may hold 1 GiB: a larger token table is gathered on the host.
            let limits = GpuLimits { max_storage_buffer_binding_size: Some(1 << 30), max_buffer_size: None, q4_as_q8 };
            (device, LoadOptions::gpu(limits))
        }
    })
}

fn info(model: &Path) -> Result<()> {
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let mut bytes_per_dtype: BTreeMap<String, u64> = BTreeMap::new();
    for (file, bytes) in &files.shards {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| anyhow::anyhow!("{file}: not a valid safetensors file: {e}"))?;
        for info in meta.tensors().values() {
            *bytes_per_dtype.entry(format!("{:?}", info.dtype)).or_default() +=
                (info.data_offsets.1 - info.data_offsets.0) as u64;
        }
    }
    let text = conan_text::TextEncoder::from_bytes(&files.tokenizer_json, files.config.max_position_embeddings)?;
    let doc = json!({
        "model": model.display().to_string(),
        "config": files.config,
        "architecture": files.config.architecture_summary(),
        "parameters": files.config.num_params(),
        "bytes_per_dtype": bytes_per_dtype,
        "tokenizer_vocab": text.vocab_size(),
        "pack": files.pack.as_ref().map(|m| json!({"quantization": m.quantization, "total_bytes": m.total_bytes()})),
        "shards": files.shards.iter().map(|(f, b)| json!({"file": f, "bytes": b.len()})).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}
