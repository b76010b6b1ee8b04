//! `conan bench`: forward-pass throughput at fixed shapes. Random token ids (seeded) stand in
//! for text so the numbers measure the model, not the tokenizer. One untimed pass gives the
//! time to first embedding (kernel compilation included on GPU backends), one more warms up,
//! then the median of `runs` timed passes is reported.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use conan_model::burn::prelude::*;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};
use serde_json::json;

/// Peak resident set of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The most activation memory one timed pass may need (a 24 GB machine's share).
const BENCH_MEMORY_BUDGET: u64 = 16_000_000_000;

/// What to time: `runs` passes of `batch` texts of `seq` tokens.
pub struct Shape {
    pub batch: usize,
    pub seq: usize,
    pub runs: usize,
}

pub fn run(
    model: &Path,
    device: Device,
    options: LoadOptions,
    backend: &str,
    shape: Shape,
    json_out: Option<&Path>,
) -> Result<()> {
    let Shape { batch, seq, runs } = shape;
    if batch == 0 || seq == 0 || runs < 5 {
        bail!("--batch and --seq must be positive and --runs at least 5");
    }
    let start = Instant::now();
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let embedder = Embedder::load(&files, &device, options)?;
    let config = &embedder.config;
    if seq > config.max_position_embeddings {
        bail!("--seq {seq} exceeds the model's context of {}", config.max_position_embeddings);
    }
    // Refuse shapes whose activations cannot fit before allocating any.
    let activations = config.activation_bytes(batch, seq);
    if activations > BENCH_MEMORY_BUDGET as u128 {
        bail!(
            "--batch {batch} --seq {seq} needs about {:.1} GB of activations per pass, over the {} GB this command allows; use a smaller batch",
            activations as f64 / 1e9,
            BENCH_MEMORY_BUDGET / 1_000_000_000
        );
    }
    let load_s = start.elapsed().as_secs_f64();

    // Fixed ids, identical across runs and backends.
    let ids = conan_model::synth::bench_ids(batch * seq, config.vocab_size);
    let lengths = vec![seq; batch];
    let pass = || -> Result<f64> {
        let t = Instant::now();
        let out = embedder.vectors(&ids, [batch, seq], &lengths, config.hidden_size)?;
        pollster::block_on(out.into_data_async())
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("reading the result back")?;
        Ok(t.elapsed().as_secs_f64())
    };
    let first_s = pass()?;
    pass()?; // warm-up
    let mut times: Vec<f64> = (0..runs).map(|_| pass()).collect::<Result<_>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[runs / 2];
    let gpu = device.memory_pool_usage();
    let doc = json!({
        "model": model.display().to_string(),
        "backend": backend,
        "parameters": config.num_params(),
        "batch": batch,
        "seq": seq,
        "runs": runs,
        "load_s": load_s,
        "time_to_first_embedding_s": first_s,
        "median_s": median,
        "min_s": times[0],
        "max_s": times[runs - 1],
        "tokens_per_s": (batch * seq) as f64 / median,
        "sentences_per_s": batch as f64 / median,
        "peak_rss_bytes": peak_rss(),
        "device_bytes_reserved": gpu.as_ref().map(|g| g.bytes_reserved),
        "device_bytes_in_use": gpu.as_ref().map(|g| g.bytes_in_use),
    });
    println!(
        "{} on {backend}: batch {batch} × {seq} tokens, median of {runs}: {:.4} s → {:.0} tokens/s, {:.1} sentences/s; \
         first embedding {:.3} s (load {:.3} s); peak RSS {:.1} MB",
        model.display(),
        median,
        (batch * seq) as f64 / median,
        batch as f64 / median,
        first_s,
        load_s,
        peak_rss().unwrap_or(0) as f64 / 1e6
    );
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}
