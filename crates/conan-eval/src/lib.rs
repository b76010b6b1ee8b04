//! vectors → metrics: an MTEB-style evaluator with MTEB's metric definitions, in pure Rust
//! (no burn, compiles to wasm32), so the CLI and the browser report the same numbers.
//!
//! - [`task`]: task folders (`task.json` + data files) and their checks.
//! - [`metrics`]: retrieval (trec_eval), AP (scikit-learn), correlations (scipy),
//!   logistic regression / kNN, k-means + V-measure, pair thresholds, bitext F1.
//! - [`evaluate`]: task + vectors → scores; [`results`]: MTEB-style results JSON.

pub mod evaluate;
pub mod metrics;
pub mod results;
pub mod task;

pub use evaluate::{EmbeddingTable, EvalOptions, TaskScores, evaluate};
pub use task::{Task, TaskData, TaskMeta, TaskType};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A malformed task: the file, the line when known, and what is wrong.
    #[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Task { file: String, line: Option<usize>, message: String },
    #[error("embeddings: {0}")]
    Embeddings(String),
    #[error("{0}")]
    Io(String),
}
