//! Results in MTEB's layout, one object per task:
//! `{"task_name", "dataset_revision", "evaluation_time", "scores": {"test": [{"main_score",
//! every metric, "hf_subset", "languages"}]}}`, plus what produced them.

use serde_json::{Map, Value, json};

use crate::evaluate::TaskScores;
use crate::task::Task;

pub fn task_result(task: &Task, scores: &TaskScores, evaluation_time: f64, model: &str, dims: usize) -> Value {
    let mut entry = Map::new();
    entry.insert("main_score".into(), json!(scores.main_score));
    for (k, v) in &scores.scores {
        entry.insert(k.clone(), if v.is_finite() { json!(v) } else { Value::Null });
    }
    entry.insert("hf_subset".into(), json!("default"));
    entry.insert("languages".into(), json!(task.meta.languages));
    json!({
        "task_name": task.meta.name,
        "task_type": task.meta.task_type,
        "dataset_revision": task.revision,
        "evaluation_time": evaluation_time,
        "main_metric": scores.main_metric,
        "model": model,
        "dims": dims,
        "evaluator": concat!("conan-eval ", env!("CARGO_PKG_VERSION")),
        "scores": {"test": [Value::Object(entry)]},
    })
}
