//! Benchmark tasks: the slices bundled with the app (fetched from `static/tasks`), the
//! user's own task folders and zips, and the runner that embeds and scores them.

use std::collections::BTreeMap;

use conan_eval::task::MAX_TASK_FILE_BYTES;
use conan_eval::{EmbeddingTable, EvalError, EvalOptions, Task, TaskMeta, evaluate};
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{Embedder, FileSource};
use conan_protocol::{ErrorKind, Response, TaskSource, TaskSummary};

use crate::download::FetchSource;
use crate::error::{Result, WorkerError};
use crate::js::{now_ms, post};
use crate::pool::Pool;

/// Where the bundled benchmark slices live, relative to the page.
const TASKS_URL: &str = "static/tasks";

/// A bundled file that does not parse: the app was served broken.
fn unreadable(what: impl std::fmt::Display) -> WorkerError {
    WorkerError::new(ErrorKind::Unreadable, what.to_string())
}

/// The names of the bundled slices (`static/tasks/index.json`).
pub async fn bundled_names() -> Result<Vec<String>> {
    let index = FetchSource::new(TASKS_URL).require("index.json", MAX_JSON_BYTES).await?;
    serde_json::from_slice(&index).map_err(|e| unreadable(format!("{TASKS_URL}/index.json: {e}")))
}

/// A bundled slice's source, its task.json and what that says; its data files stay unread.
pub async fn bundled_meta(name: &str) -> Result<(FetchSource, Vec<u8>, TaskMeta)> {
    let src = FetchSource::new(format!("{TASKS_URL}/{name}"));
    let bytes = src.require("task.json", MAX_JSON_BYTES).await?;
    let meta = serde_json::from_slice(&bytes).map_err(|e| unreadable(format!("{name}/task.json: {e}")))?;
    Ok((src, bytes, meta))
}

async fn bundled_task(name: &str) -> Result<Task> {
    let (src, task_json, meta) = bundled_meta(name).await?;
    let mut files = BTreeMap::new();
    files.insert("task.json".to_string(), task_json);
    for file in meta.task_type.files() {
        files.insert(file.to_string(), src.require(file, MAX_TASK_FILE_BYTES).await?);
    }
    Task::from_files(&files).map_err(|e| unreadable(format!("{name}: {e}")))
}

fn user_tasks(label: &str, files: conan_protocol::Files) -> Result<Vec<Task>> {
    let files = conan_protocol::into_vecs(files);
    let with_label = |e: EvalError| WorkerError::bad_input(format!("{label}: {e}"));
    if let [(name, bytes)] = files.as_slice()
        && name.ends_with(".zip")
    {
        return Task::from_zip(bytes).map_err(with_label);
    }
    // A picked folder: keep the file names, drop the folder path.
    let files =
        files.into_iter().map(|(path, bytes)| (path.rsplit('/').next().unwrap_or(&path).to_string(), bytes)).collect();
    Ok(vec![Task::from_files(&files).map_err(with_label)?])
}

/// Embed every task's texts once at full size and score them at `dims` (default: full), and
/// at every Matryoshka dims for the curve.
pub async fn run_eval(
    embedder: &Embedder,
    pool: &Pool,
    id: u32,
    sources: Vec<TaskSource>,
    dims: Option<usize>,
    model: &str,
) -> Result<Response> {
    let mut tasks = Vec::new();
    for source in sources {
        match source {
            TaskSource::Bundled { name } => tasks.push(bundled_task(&name).await?),
            TaskSource::Files { label, files } => tasks.extend(user_tasks(&label, files)?),
        }
    }
    let hidden = embedder.config.hidden_size;
    let dims = dims.unwrap_or(hidden);
    embedder.config.check_dims(dims)?;
    let mut curve_dims: Vec<usize> = embedder.config.matryoshka_dims.iter().copied().filter(|&d| d <= hidden).collect();
    if !curve_dims.contains(&hidden) {
        curve_dims.push(hidden);
    }
    let opts = EvalOptions::default();
    let (mut results, mut summary) = (Vec::new(), Vec::new());
    let mut curve: Vec<(usize, Vec<f64>)> = curve_dims.iter().map(|&d| (d, vec![])).collect();
    for task in &tasks {
        let start = now_ms();
        let name = &task.meta.name;
        let texts = task.texts();
        // Embed at full size once; every dims below is a re-normalised prefix.
        let progress = |done, total| {
            post(Response::EvalProgress { id, task: name.clone(), stage: "embedding".into(), done, total })
        };
        let flat =
            pool.embed_flat(embedder, &texts, 64, progress).await.map_err(|e| WorkerError::from(e).context(name))?;
        let vectors: Vec<Vec<f32>> = flat.chunks(hidden.max(1)).map(<[f32]>::to_vec).collect();
        post(Response::EvalProgress {
            id,
            task: name.clone(),
            stage: "scoring".into(),
            done: texts.len(),
            total: texts.len(),
        });
        let full = EmbeddingTable::new(&texts, vectors).map_err(|e| WorkerError::internal(e.to_string()))?;
        let truncated;
        let table = if dims == hidden {
            &full
        } else {
            truncated = full.truncated(dims);
            &truncated
        };
        let scores = evaluate(task, table, &opts).map_err(|e| WorkerError::bad_input(format!("{name}: {e}")))?;
        let seconds = (now_ms() - start) / 1000.0;
        for (d, points) in &mut curve {
            let s = if *d == dims {
                scores.main_score
            } else {
                evaluate(task, &full.truncated(*d), &opts)
                    .map_err(|e| WorkerError::bad_input(e.to_string()))?
                    .main_score
            };
            points.push(s);
        }
        results.push(conan_eval::results::task_result(task, &scores, seconds, model, dims));
        summary.push(TaskSummary {
            name: name.clone(),
            task_type: format!("{:?}", task.meta.task_type).to_lowercase(),
            main_metric: scores.main_metric.clone(),
            main_score: scores.main_score,
            texts: texts.len(),
            seconds,
        });
    }
    let results_json = serde_json::to_string_pretty(&results).map_err(|e| WorkerError::internal(e.to_string()))?;
    Ok(Response::EvalDone { id, results_json: results_json + "\n", summary, curve })
}
