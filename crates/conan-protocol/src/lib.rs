//! Messages between the UI thread (conan-web) and the inference worker (conan-worker).
//! Both sides (de)serialise them with serde-wasm-bindgen; the UI never does model math,
//! so everything it shows (norms, cosines, timings) arrives in these messages.

use serde::{Deserialize, Serialize};
pub use serde_bytes::ByteBuf;

#[cfg(feature = "js")]
pub mod js;

/// Files the user handed over, by (folder-relative) path. The bytes travel as `ByteBuf` so
/// serde-wasm-bindgen passes each file as one Uint8Array: as an array of numbers, a 360 KB
/// file took the worker minutes to read back.
pub type Files = Vec<(String, ByteBuf)>;

/// [`Files`] from plain byte vectors.
pub fn files(list: impl IntoIterator<Item = (String, Vec<u8>)>) -> Files {
    list.into_iter().map(|(name, bytes)| (name, ByteBuf::from(bytes))).collect()
}

/// Plain byte vectors from [`Files`].
pub fn into_vecs(files: Files) -> Vec<(String, Vec<u8>)> {
    files.into_iter().map(|(name, bytes)| (name, bytes.into_vec())).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// Load the model whose files live under `base_url` (config.json, tokenizer.json, ...).
    Load { base_url: String, prefer_webgpu: bool },
    /// Embed texts; vectors come back in order. `dims` truncates (Matryoshka).
    Embed { id: u32, texts: Vec<String>, dims: Option<usize> },
    /// List the benchmark slices bundled with the app.
    ListTasks,
    /// Run benchmark tasks: embed their texts once at full size, score at `dims` (default:
    /// full), and also at every Matryoshka dim for the curve.
    Eval { id: u32, tasks: Vec<TaskSource>, dims: Option<usize> },
    /// Build the search index over the bundled corpus and the user's documents for the
    /// loaded model, reusing vectors stored in IndexedDB for this model when there are any.
    OpenSearch { id: u32 },
    /// Embed `query` and return the `k` nearest passages at `dims` (default: full).
    Search { id: u32, query: String, dims: Option<usize>, k: usize },
    /// Split, embed and store the user's documents (file name → bytes; pasted text comes
    /// as a .txt). Stored only in this browser's IndexedDB.
    AddDocuments { id: u32, files: Files },
    /// Remove every document the user added, from the index and from IndexedDB.
    ForgetDocuments { id: u32 },
    /// Time a sentence-window search over `passages` random passages with `sentences`
    /// sentence vectors each, of the model's width, at every dims.
    SpeedCheck { id: u32, passages: usize, sentences: usize },
    /// Load a model folder the user picked from disk (path → bytes).
    LoadFiles { label: String, files: Files, prefer_webgpu: bool },
    /// Read only a model's manifest / config: size, shape and whether it fits this device,
    /// before anything large is downloaded. With `plan`, a pack missing at `base_url` is
    /// described from that preset instead (an estimate, marked as such).
    Inspect { id: u32, base_url: String, plan: Option<PackPlan> },
    /// Embed a fixed set of texts on the WebGPU model and on a CPU copy; report the cosines.
    Agreement { id: u32 },
    /// Learn page: how the tokenizer splits `text`.
    Tokens { id: u32, text: String },
    /// Learn page: the soft mask M (0…1) for a `len`-token text at each α.
    SoftMask { id: u32, len: usize, alphas: Vec<f32> },
    /// Learn page: one layer's attention over `text`, bidirectional and causal.
    Attention { id: u32, text: String, layer: usize },
    /// Learn page: the first `pairs` translation pairs of the corpus, embedded and
    /// projected to 2-D by PCA.
    Projection { id: u32, pairs: usize },
    /// Learn page: quantize one weight matrix of the loaded model to q8 and q4 and back,
    /// and histogram the errors.
    QuantErrors { id: u32 },
    /// Every URL the worker has fetched this session (its Resource Timing entries), so the
    /// page can show the user where their browser talked to.
    NetworkLog { id: u32 },
    /// Fault injection, for tests and for trying the recovery by hand: destroy the WebGPU
    /// device `after_ms` from now (`GPUDevice.destroy()`), as a driver reset or a crashed GPU
    /// process would lose it. Send it just before a long request to lose the device mid-run.
    LoseDevice { id: u32, after_ms: u32 },
    /// Fault injection: let IndexedDB take at most `bytes` more in this worker, as a nearly
    /// full disk would (writes past it fail with the browser's QuotaExceededError).
    LimitStorage { id: u32, bytes: u64 },
    /// Embed the loaded model on `count` workers at once (the CPU backend: this worker and
    /// its helpers; clamped, and 1 where helpers cannot run). For comparing thread counts.
    Workers { id: u32, count: usize },
}

impl Request {
    /// The id the request carries, to match its reply (loads and the task list have none).
    pub fn id(&self) -> Option<u32> {
        match self {
            Request::Embed { id, .. }
            | Request::Eval { id, .. }
            | Request::OpenSearch { id }
            | Request::Search { id, .. }
            | Request::AddDocuments { id, .. }
            | Request::ForgetDocuments { id }
            | Request::SpeedCheck { id, .. }
            | Request::NetworkLog { id }
            | Request::Inspect { id, .. }
            | Request::Agreement { id }
            | Request::Tokens { id, .. }
            | Request::SoftMask { id, .. }
            | Request::Attention { id, .. }
            | Request::Projection { id, .. }
            | Request::QuantErrors { id }
            | Request::LoseDevice { id, .. }
            | Request::LimitStorage { id, .. }
            | Request::Workers { id, .. } => Some(*id),
            Request::Load { .. } | Request::LoadFiles { .. } | Request::ListTasks => None,
        }
    }

    /// The request's name, as the page and the notices call it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Load { .. } => "Load",
            Request::Embed { .. } => "Embed",
            Request::ListTasks => "ListTasks",
            Request::Eval { .. } => "Eval",
            Request::OpenSearch { .. } => "OpenSearch",
            Request::Search { .. } => "Search",
            Request::AddDocuments { .. } => "AddDocuments",
            Request::ForgetDocuments { .. } => "ForgetDocuments",
            Request::SpeedCheck { .. } => "SpeedCheck",
            Request::LoadFiles { .. } => "LoadFiles",
            Request::Inspect { .. } => "Inspect",
            Request::Agreement { .. } => "Agreement",
            Request::Tokens { .. } => "Tokens",
            Request::SoftMask { .. } => "SoftMask",
            Request::Attention { .. } => "Attention",
            Request::Projection { .. } => "Projection",
            Request::QuantErrors { .. } => "QuantErrors",
            Request::NetworkLog { .. } => "NetworkLog",
            Request::LoseDevice { .. } => "LoseDevice",
            Request::LimitStorage { .. } => "LimitStorage",
            Request::Workers { .. } => "Workers",
        }
    }
}

/// Where a benchmark task comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum TaskSource {
    /// A folder under static/tasks.
    Bundled { name: String },
    /// Files the user picked: a task folder (name → bytes), or a zip of task folders.
    Files { label: String, files: Files },
}

// A response is built once and serialised at once, so its size in memory does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    /// The worker's wasm started and listens.
    Ready,
    Status {
        message: String,
    },
    /// The WebGPU device was lost. The model now runs on `backend` (a fresh WebGPU device,
    /// or the CPU after repeated losses), and `retried` names the request that was running,
    /// which is answered normally after this notice. The search index and the user's
    /// documents are untouched.
    DeviceLost {
        reason: String,
        backend: BackendInfo,
        retried: Option<String>,
    },
    /// A `LoseDevice` or `LimitStorage` fault is armed.
    FaultArmed {
        id: u32,
    },
    /// The workers in force after a `Workers` request.
    Workers {
        id: u32,
        count: usize,
    },
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
    Tasks {
        tasks: Vec<TaskInfo>,
    },
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
    /// Building the search index: embedding the corpus or the user's documents.
    IndexProgress {
        id: u32,
        stage: String,
        done: usize,
        total: usize,
    },
    IndexReady {
        id: u32,
        index: IndexInfo,
    },
    SearchResults(SearchResult),
    SpeedChecked {
        id: u32,
        passages: usize,
        /// Sentence vectors, all passages together.
        sentences: usize,
        width: usize,
        /// Bytes the index's vectors take in the worker (int8 rows and their norms).
        bytes: u64,
        /// (dims, median milliseconds of a top-10 search)
        rows: Vec<(usize, f64)>,
    },
    NetworkLog {
        id: u32,
        urls: Vec<String>,
    },
    Tokens {
        id: u32,
        /// (the token's text, its id)
        tokens: Vec<(String, u32)>,
    },
    SoftMask {
        id: u32,
        len: usize,
        /// The α of each map.
        alphas: Vec<f32>,
        /// M for each α, row-major `[alphas, len, len]`.
        maps: Vec<f32>,
    },
    Attention {
        id: u32,
        layer: usize,
        tokens: Vec<String>,
        heads: usize,
        /// `[heads, t, t]`: under the model's own (bidirectional) attention, and causal.
        bidirectional: Vec<f32>,
        causal: Vec<f32>,
    },
    Projection {
        id: u32,
        points: Vec<ProjectedPoint>,
        /// Share of the variance along each axis.
        explained: [f64; 2],
        /// Row-major `pairs × pairs` cosines: Chinese sentence i (rows) against English
        /// sentence j (columns); the diagonal holds the true translations.
        cosines: Vec<f32>,
        /// For each Chinese sentence, the 1-based rank of its translation among the English.
        ranks: Vec<usize>,
        /// Mean cosine with the translation, and with the other sentences.
        mean_true: f32,
        mean_other: f32,
    },
    QuantErrors {
        id: u32,
        tensor: String,
        /// How the loaded weights themselves were stored (e.g. "q8 pack"): the error is
        /// measured against those weights.
        source: String,
        histograms: Vec<QuantHistogram>,
    },
    Inspected {
        id: u32,
        base_url: String,
        card: ModelCard,
    },
    Agreement {
        id: u32,
        /// (text, cosine WebGPU vs CPU, max |Δ|)
        rows: Vec<(String, f32, f32)>,
        gpu_ms: f64,
        cpu_ms: f64,
    },
    /// The request with `id` (or a load, which has none) failed; `message` is for the user.
    Failed {
        id: Option<u32>,
        kind: ErrorKind,
        message: String,
    },
}

/// What sort of failure a `Response::Failed` reports. The worker decides on it (a
/// `Backend` failure on WebGPU may be a lost device, so the request is retried); the page
/// shows `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request cannot be served as given: an empty text or query, dims the model does
    /// not have, a malformed task or document, a message that does not parse.
    BadInput,
    /// The model was refused: its config, weights or tokenizer, or it does not fit this
    /// device or a tab's memory.
    BadModel,
    /// A file could not be read: a failed fetch, a missing file, an unreadable zip.
    Unreadable,
    /// The request needs a loaded model (or its weights kept in memory) and there is none.
    NoModel,
    /// The search index is not open yet.
    NoIndex,
    /// The compute backend failed. On WebGPU this may be a lost device.
    Backend,
    /// The browser's storage (IndexedDB) refused a read or write, e.g. a full quota.
    Storage,
    /// Not possible on the backend in use (no WebGPU device to compare with or to lose).
    Unsupported,
    /// A fault of the worker or the page themselves, not of the input.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Which model's vectors these are (a hash of config, tokenizer and weights).
    pub model_fingerprint: String,
    pub corpus_passages: usize,
    pub user_passages: usize,
    pub documents: Vec<UserDocument>,
    /// The full vector width; searches may use any of `tradeoff`'s dims.
    pub width: usize,
    pub tradeoff: Vec<DimsRow>,
    /// Passages whose vectors came from IndexedDB, and those embedded for this opening.
    pub restored: usize,
    /// Corpus passages whose vectors shipped with the app (made for this model natively).
    pub shipped: usize,
    pub embedded: usize,
    pub seconds: f64,
    /// False when IndexedDB is unavailable or full: the index then lives in memory only.
    pub persistent: bool,
    pub notices: Vec<String>,
    /// How uploaded documents are split into passages (shown beside the upload button).
    pub split_rule: String,
    /// Sentence vectors held beside the passages (for passages of more than one sentence).
    pub sentences: usize,
    /// How a passage is scored from its sentences.
    pub window_rule: String,
    /// Bytes of all vectors the index holds (passages and sentences, int8 at full width, and
    /// their norms).
    pub vector_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDocument {
    pub name: String,
    pub passages: usize,
}

/// The Matryoshka trade-off at one dims, measured on the open index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimsRow {
    pub dims: usize,
    /// Bytes an int8 index cut to these dims takes for the current passages and sentences.
    pub index_bytes: u64,
    /// Median milliseconds of one top-10 search over the index.
    pub search_ms: f64,
    /// Share of the corpus's Chinese passages whose English translation ranks first among
    /// all passages (both languages): quality at this dims.
    pub translation_top1: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub id: u32,
    pub query: String,
    /// "zh", "en" or "other".
    pub query_lang: String,
    pub dims: usize,
    pub hits: Vec<SearchHit>,
    pub tokens: usize,
    pub truncated: bool,
    pub tokenize_ms: f64,
    pub embed_ms: f64,
    pub search_ms: f64,
    pub passages: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub text: String,
    pub lang: String,
    pub source: String,
    pub score: f32,
    /// The hit is in the other language than the query.
    pub cross_lingual: bool,
    /// The passage comes from a document the user added.
    pub yours: bool,
    /// Byte range in `text` of the sentence that scored above the passage as a whole
    /// (sentence-window search); the page highlights it.
    pub sentence: Option<(usize, usize)>,
}

impl Response {
    /// Every field name [`Response::bulk_floats`] can return.
    pub const BULK_FLOAT_FIELDS: [&'static str; 4] = ["vectors", "maps", "bidirectional", "causal"];

    /// The message's large float arrays, by their field name at the top of the serialised
    /// message. In the browser they cross the worker boundary beside the message as
    /// transferred `Float32Array`s: serialising them one number at a time cost far more
    /// than computing them (7.5 s for 32 vectors of 256 dims).
    pub fn bulk_floats(&mut self) -> Vec<(&'static str, &mut Vec<f32>)> {
        match self {
            Response::Embedded(r) => vec![("vectors", &mut r.vectors)],
            Response::SoftMask { maps, .. } => vec![("maps", maps)],
            Response::Attention { bidirectional, causal, .. } => {
                vec![("bidirectional", bidirectional), ("causal", causal)]
            }
            _ => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResult {
    pub id: u32,
    pub dims: usize,
    /// One vector per text, row-major `[texts, dims]` (see [`EmbedResult::rows`]).
    pub vectors: Vec<f32>,
    /// L2 norm of each returned vector (1 up to rounding).
    pub norms: Vec<f32>,
    /// Cosine similarity of the first two vectors, when there are two.
    pub cosine: Option<f32>,
    pub tokens: Vec<usize>,
    pub truncated: Vec<bool>,
    pub embed_ms: f64,
    /// Workers that embedded part of the texts (the CPU backend's helpers; see
    /// `BackendInfo::workers`).
    #[serde(default = "one")]
    pub workers: usize,
    /// The worker's wasm memory (it only grows, so this is its peak so far).
    pub wasm_heap_bytes: u64,
    /// GPU buffers burn holds for this device (weights and cached activations), when known.
    pub device_bytes: Option<u64>,
}

impl EmbedResult {
    /// The vectors one text at a time.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.vectors.chunks(self.dims.max(1))
    }
}

/// Where the model runs. Serialised as "webgpu" / "cpu" (the page's `data-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// WebGPU through burn-wgpu.
    WebGpu,
    /// burn's CPU backend (flex), in wasm.
    Cpu,
}

impl BackendKind {
    /// The serialised name: "webgpu" or "cpu".
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub kind: BackendKind,
    pub adapter: Option<String>,
    pub vendor: Option<String>,
    pub architecture: Option<String>,
    pub max_storage_buffer_binding_size: Option<u64>,
    pub max_buffer_size: Option<u64>,
    /// The adapter's subgroups and workgroup memory are too small for burn's q4 matmul, so
    /// q4 packs go to it as q8 (`conan_model::q4_matmul_fits`).
    #[serde(default)]
    pub q4_as_q8: bool,
    /// Why WebGPU is not in use, when it is not.
    pub notice: Option<String>,
    pub init_ms: f64,
    /// Workers that embed the loaded model at once: on the CPU, the worker and its helpers
    /// (one per core, up to four); 1 on WebGPU.
    #[serde(default = "one")]
    pub workers: usize,
}

fn one() -> usize {
    1
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
    /// A hash of config, tokenizer and weights: stored indexes are keyed by it.
    pub fingerprint: String,
    pub card: ModelCard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantHistogram {
    /// "q8" or "q4".
    pub scheme: String,
    /// Counts of (dequantized − original) in equal bins over [lo, hi].
    pub bins: Vec<u32>,
    pub lo: f32,
    pub hi: f32,
    /// RMS error over RMS weight.
    pub relative_rms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectedPoint {
    pub x: f32,
    pub y: f32,
    pub text: String,
    pub lang: String,
    /// Points with the same pair are translations of each other.
    pub pair: usize,
}

/// What a model is and what it costs, readable before its weights are downloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelCard {
    /// (label, value) rows: shape, vocabulary, context, pooling, quantization...
    pub details: Vec<(String, String)>,
    pub parameters: u64,
    /// Bytes to download (a pack's shards; `None` for an HF folder before download).
    pub download_bytes: Option<u64>,
    /// GPU buffers for the weights on WebGPU: a pack's q8 / q4 matrices stay quantized, the
    /// token table and the rest are f32.
    pub gpu_weight_bytes: u64,
    /// The largest single weight buffer (must fit maxStorageBufferBindingSize).
    pub largest_buffer_bytes: u64,
    pub synthetic: bool,
    /// Why it cannot run on this device, when it cannot.
    pub refusal: Option<String>,
    /// Computed from a preset config because the pack is not built on this server.
    pub estimated: bool,
}

/// A pack known by recipe: `conan synth --preset {preset}` then `conan convert --quant {quant}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackPlan {
    pub preset: String,
    pub quant: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer};

    fn backend_kind(name: &str) -> Result<BackendKind, Error> {
        let de: StrDeserializer<Error> = name.into_deserializer();
        BackendKind::deserialize(de)
    }

    /// The page and the browser tests read the backend kind as these strings.
    #[test]
    fn backend_kind_keeps_its_names() {
        for kind in [BackendKind::WebGpu, BackendKind::Cpu] {
            assert_eq!(backend_kind(kind.as_str()).unwrap(), kind);
        }
        assert_eq!(BackendKind::WebGpu.as_str(), "webgpu");
        assert_eq!(BackendKind::Cpu.as_str(), "cpu");
        assert!(backend_kind("WebGpu").is_err());
    }

    /// The browser moves bulk floats by field name at the top of the message: the names
    /// must be listed and must be top-level fields of the serialised form.
    #[test]
    fn bulk_floats_are_top_level_fields() {
        let embedded = Response::Embedded(EmbedResult {
            id: 1,
            dims: 2,
            vectors: vec![1.0, 0.0, 0.0, 1.0],
            norms: vec![1.0, 1.0],
            cosine: Some(0.0),
            tokens: vec![3, 4],
            truncated: vec![false, false],
            embed_ms: 1.0,
            workers: 1,
            wasm_heap_bytes: 0,
            device_bytes: None,
        });
        let mask = Response::SoftMask { id: 2, len: 1, alphas: vec![0.5], maps: vec![1.0] };
        let attention = Response::Attention {
            id: 3,
            layer: 0,
            tokens: vec!["a".into()],
            heads: 1,
            bidirectional: vec![1.0],
            causal: vec![1.0],
        };
        for mut r in [embedded, mask, attention] {
            let json = serde_json::to_value(&r).unwrap();
            let fields = r.bulk_floats();
            assert!(!fields.is_empty());
            for (name, floats) in fields {
                assert!(Response::BULK_FLOAT_FIELDS.contains(&name), "{name}");
                assert_eq!(json[name].as_array().map(Vec::len), Some(floats.len()), "{name}");
            }
        }
        let Response::Embedded(r) = serde_json::from_str::<Response>(
            r#"{"type":"Embedded","id":1,"dims":2,"vectors":[1,2,3,4],"norms":[],"cosine":null,"tokens":[],"truncated":[],"embed_ms":0,"wasm_heap_bytes":0,"device_bytes":null}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.rows().collect::<Vec<_>>(), [[1.0, 2.0], [3.0, 4.0]]);
        assert!(Response::Ready.bulk_floats().is_empty());
    }

    #[test]
    fn requests_name_themselves_and_carry_their_id() {
        let r = Request::Embed { id: 7, texts: vec![], dims: None };
        assert_eq!((r.name(), r.id()), ("Embed", Some(7)));
        let r = Request::Load { base_url: "m".into(), prefer_webgpu: true };
        assert_eq!((r.name(), r.id()), ("Load", None));
    }
}
