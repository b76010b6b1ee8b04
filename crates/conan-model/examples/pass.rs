//! Times forward passes on the CPU backend, for profiling it where `conan bench` cannot run:
//! built for `wasm32-wasip1` it runs the CPU fallback's code under Node (the V8 that runs it
//! in Chromium), so `node --cpu-prof` can say where a pass goes. Build and run it with
//! `tools/wasi.mjs` (its header has the commands).
//!
//! `pass MODEL_DIR [BATCH] [SEQ] [RUNS] [int8|f32]`: seeded token ids, median of RUNS.

use std::time::Instant;

use burn::prelude::*;
use conan_model::{DirSource, Embedder, LoadOptions, burn, read_files};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).ok_or("usage: pass MODEL_DIR [BATCH] [SEQ] [RUNS] [int8|f32]")?;
    let number = |i: usize, default: usize| args.get(i).map_or(Ok(default), |s| s.parse::<usize>());
    let (batch, seq, runs) = (number(2, 32)?, number(3, 128)?, number(4, 5)?.max(1));
    let options = match args.get(5).map(String::as_str) {
        None | Some("int8") => LoadOptions::cpu(),
        Some("f32") => LoadOptions::cpu_f32(),
        Some(other) => return Err(format!("unknown kernel {other:?}: int8 or f32").into()),
    };
    let files = pollster::block_on(read_files(&DirSource(model.into())))?;
    let device = Device::flex();
    let embedder = Embedder::load(&files, &device, options)?;
    let config = &embedder.config;
    // The same ids as `conan bench`.
    let ids = conan_model::synth::bench_ids(batch * seq, config.vocab_size);
    let lengths = vec![seq; batch];
    let mut times = Vec::with_capacity(runs);
    for _ in 0..=runs {
        let t = Instant::now();
        let out = embedder.vectors(&ids, [batch, seq], &lengths, config.hidden_size)?;
        pollster::block_on(out.into_data_async()).map_err(|e| format!("{e:?}"))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let first = times.remove(0);
    times.sort_by(f64::total_cmp);
    println!("{batch} x {seq}: median {:.1} ms of {runs} (first {first:.1} ms)", times[runs / 2]);
    Ok(())
}
