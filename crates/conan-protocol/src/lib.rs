//! Messages between the UI thread (conan-web) and the inference worker (conan-worker).
//! Both sides (de)serialise them with serde-wasm-bindgen; the UI never does model math,
//! so everything it shows (norms, cosines, timings) arrives in these messages.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// Load the model whose files live under `base_url` (config.json, tokenizer.json, ...).
    Load { base_url: String, prefer_webgpu: bool },
    /// Embed texts; vectors come back in order. `dims` truncates (Matryoshka).
    Embed {
        id: u32,
        texts: Vec<String>,
        dims: Option<usize>,
    },
    /// List the benchmark slices bundled with the app.
    ListTasks,
    /// Run benchmark tasks: embed their texts once at full size, score at `dims` (default:
    /// full), and also at every Matryoshka dim for the curve.
    Eval {
        id: u32,
        tasks: Vec<TaskSource>,
        dims: Option<usize>,
    },
}

/// Where a benchmark task comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum TaskSource {
    /// A folder under static/tasks.
    Bundled { name: String },
    /// Files the user picked: a task folder (name → bytes), or a zip of task folders.
    Files { label: String, files: Vec<(String, Vec<u8>)> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    /// The worker's wasm started and listens.
    Ready,
    Status { message: String },
    Loaded {
        model: ModelSummary,
        backend: BackendInfo,
        load_ms: f64,
        /// How a pack's shards arrived (network or the browser cache); `None` for a
        /// Hugging Face folder, which is fetched plainly.
        download: Option<DownloadSummary>,
    },
    /// A pack download in progress: bytes over all shards (cached ones count as loaded).
    Download {
        file: String,
        loaded: u64,
        total: u64,
        files_done: usize,
        files: usize,
        bytes_per_s: f64,
    },
    Embedded(EmbedResult),
    Tasks { tasks: Vec<TaskInfo> },
    EvalProgress {
        id: u32,
        task: String,
        stage: String,
        done: usize,
        total: usize,
    },
    EvalDone {
        id: u32,
        /// One MTEB-style object per task, identical to `conan eval --json`.
        results_json: String,
        summary: Vec<TaskSummary>,
        /// (dims, main score per task in `summary` order) for the Matryoshka curve.
        curve: Vec<(usize, Vec<f64>)>,
    },
    Failed { id: Option<u32>, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResult {
    pub id: u32,
    pub dims: usize,
    pub vectors: Vec<Vec<f32>>,
    /// L2 norm of each returned vector (1 up to rounding).
    pub norms: Vec<f32>,
    /// Cosine similarity of the first two vectors, when there are two.
    pub cosine: Option<f32>,
    pub tokens: Vec<usize>,
    pub truncated: Vec<bool>,
    pub embed_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// "webgpu" or "cpu".
    pub kind: String,
    pub adapter: Option<String>,
    pub vendor: Option<String>,
    pub architecture: Option<String>,
    pub max_storage_buffer_binding_size: Option<u64>,
    pub max_buffer_size: Option<u64>,
    /// Why WebGPU is not in use, when it is not.
    pub notice: Option<String>,
    pub init_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub source: String,
    pub model_type: String,
    pub architecture: String,
    pub hidden_size: usize,
    pub parameters: u64,
    pub matryoshka_dims: Vec<usize>,
    pub synthetic: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub task_type: String,
    pub languages: Vec<String>,
    pub description: String,
    pub license: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub name: String,
    pub task_type: String,
    pub main_metric: String,
    pub main_score: f64,
    pub texts: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadSummary {
    pub files: usize,
    pub total_bytes: u64,
    pub fetched_files: usize,
    pub fetched_bytes: u64,
    pub cached_files: usize,
    pub cached_bytes: u64,
    /// Shards fetched a second time after a failed hash.
    pub refetched: usize,
    /// The largest GPU buffer the model needs (one tensor as f32).
    pub largest_buffer_bytes: u64,
    /// Things the user should know (e.g. the cache was full).
    pub notices: Vec<String>,
}
