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
    },
    Embedded(EmbedResult),
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
