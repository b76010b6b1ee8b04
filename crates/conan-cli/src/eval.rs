//! `conan eval`: embed each task's texts (or read given vectors), score with conan-eval,
//! print a table and optionally write MTEB-style results JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use conan_eval::results::task_result;
use conan_eval::{EmbeddingTable, EvalOptions, Task, evaluate};
use conan_model::burn::prelude::Device;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};
use serde::Deserialize;

#[derive(Deserialize)]
struct GivenVector {
    text: String,
    embedding: Vec<f32>,
}

/// The largest `--embeddings` file read (about a million 1,024-dim vectors as JSON).
const MAX_EMBEDDINGS_BYTES: u64 = 16 << 30;

/// Vectors from a JSONL file of {"text", "embedding"}.
fn read_embeddings(path: &Path) -> Result<HashMap<String, Vec<f32>>> {
    let bytes = conan_fs::read_bounded(path, MAX_EMBEDDINGS_BYTES)?;
    let text =
        String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not UTF-8 ({})", path.display(), e.utf8_error()))?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: GivenVector =
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))?;
        out.insert(v.text, v.embedding);
    }
    Ok(out)
}

/// What `conan eval` was asked: a model or given vectors, tasks, and how to score.
pub struct EvalArgs<'a> {
    pub model: Option<&'a Path>,
    pub embeddings: Option<&'a Path>,
    pub task_dirs: &'a [PathBuf],
    pub dims: Option<usize>,
    pub json: Option<&'a Path>,
    pub split_sentences: bool,
}

pub fn run(args: EvalArgs, device: Device, options: LoadOptions) -> Result<()> {
    let EvalArgs { model, embeddings, task_dirs, dims, json, split_sentences } = args;
    let tasks: Vec<Task> = task_dirs
        .iter()
        .map(|d| Task::load_dir(d).with_context(|| format!("task {}", d.display())))
        .collect::<Result<_>>()?;
    let embedder = match model {
        Some(m) => {
            let files = pollster::block_on(read_files(&DirSource(m.to_path_buf())))?;
            Some(Embedder::load(&files, &device, options)?)
        }
        None => None,
    };
    let given = embeddings.map(read_embeddings).transpose()?;
    let source = model.or(embeddings).map(|p| p.display().to_string()).unwrap_or_default();
    let opts = EvalOptions { split_sentences, ..EvalOptions::default() };

    println!("{:<28} {:<15} {:<16} {:>9} {:>7} {:>8}", "task", "type", "main metric", "score", "texts", "seconds");
    let mut results = Vec::new();
    for task in &tasks {
        let start = Instant::now();
        let texts = if split_sentences { task.texts_with_sentences() } else { task.texts() };
        let vectors = match (&embedder, &given) {
            (Some(e), _) => pollster::block_on(e.embed(&texts, dims))?.vectors,
            (None, Some(table)) => texts
                .iter()
                .map(|t| table.get(*t).cloned().with_context(|| format!("--embeddings has no vector for {:?}", t)))
                .collect::<Result<_>>()?,
            (None, None) => bail!("give --model or --embeddings"),
        };
        let used_dims = vectors.first().map_or(0, Vec::len);
        let table = EmbeddingTable::new(&texts, vectors)?;
        let scores = evaluate(task, &table, &opts).with_context(|| format!("task {}", task.meta.name))?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{:<28} {:<15} {:<16} {:>9.4} {:>7} {:>8.2}",
            task.meta.name,
            format!("{:?}", task.meta.task_type).to_lowercase(),
            scores.main_metric,
            scores.main_score,
            texts.len(),
            seconds
        );
        if let Some(windowed) = scores.scores.get(&format!("sentence_window_{}", scores.main_metric)) {
            println!("{:<28} {:<15} {:<16} {windowed:>9.4}", "", "(sentence window)", scores.main_metric);
        }
        results.push(task_result(task, &scores, seconds, &source, used_dims));
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&results)? + "\n")
            .with_context(|| format!("{}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
