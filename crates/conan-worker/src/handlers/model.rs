//! The model: loading it from a URL or from the user's files, inspecting one before it is
//! downloaded, and the WebGPU-vs-CPU agreement check.

use std::cell::RefCell;

use conan_model::burn::prelude::Device;
use conan_model::placement::check_limits;
use conan_model::{Embedder, MemorySource, ModelError, ModelFiles, read_files};
use conan_protocol::{BackendKind, ErrorKind, Files, PackPlan, Response};

use crate::cards;
use crate::download::FetchSource;
use crate::error::{Result, WorkerError};
use crate::js::{now_ms, post};
use crate::state::{ModelOrigin, State, device_for, install, limits_of};

/// Texts of the agreement check: both languages, short and long, punctuation and digits.
const AGREEMENT_TEXTS: [&str; 6] = [
    "The weather is lovely today.",
    "今天天气很好。",
    "Mixed 中文 and English: 向量 search",
    "我们明天去北京看长城，然后去吃烤鸭。",
    "Please send me the report by 5 p.m. on Friday, 12 March.",
    "他喜歡獨自旅行。",
];

pub async fn load(state: &RefCell<State>, base_url: String, prefer_webgpu: bool) -> Result<Response> {
    let start = now_ms();
    let (device, backend) = device_for(state, prefer_webgpu).await;
    post(Response::Status { message: format!("loading model from {base_url}") });
    let mut source = FetchSource::new(base_url.clone());
    source.limits = limits_of(&backend);
    let files = read_files(&source).await?;
    let download = files.pack.is_some().then(|| source.summary.take());
    install(state, files, ModelOrigin::Url(base_url), device, backend, start, download)
}

pub async fn load_files(state: &RefCell<State>, label: String, files: Files, prefer_webgpu: bool) -> Result<Response> {
    let files = conan_protocol::into_vecs(files);
    let start = now_ms();
    let (device, backend) = device_for(state, prefer_webgpu).await;
    let read = async {
        let source = match files.as_slice() {
            [(name, bytes)] if name.to_lowercase().ends_with(".zip") => MemorySource::from_zip(label.clone(), bytes)?,
            _ => MemorySource::new(label.clone(), files),
        };
        let files = read_files(&source).await?;
        // Files from disk skip the download check: refuse what the adapter cannot hold.
        check_limits(&files.config, limits_of(&backend))?;
        Ok::<_, ModelError>(files)
    };
    let files = read.await.map_err(|e| WorkerError::from(e).context(&label))?;
    install(state, files, ModelOrigin::Disk(label), device, backend, start, None)
}

/// One short pass on the loaded model, once the page has stopped asking for a moment (the
/// Search page opens its index right after a load): the GPU compiles the kernels a search
/// needs while the user types the query, rather than at the first search (6.9 s against
/// 1.3 s on SwiftShader, BENCHMARKS.md). A request sent meanwhile waits for it (they are
/// handled in order); a failure here is left for the next request to meet and report.
pub async fn warm_up(state: &RefCell<State>) {
    let embedder = state.borrow().embedder.clone();
    if let Some(embedder) = embedder
        && let Err(e) = embedder.embed(&["warm-up"], None).await
    {
        web_sys::console::warn_1(&format!("warm-up pass failed: {e}").into());
    }
}

pub async fn inspect(state: &RefCell<State>, id: u32, base_url: String, plan: Option<PackPlan>) -> Result<Response> {
    let limits = state.borrow().limits();
    cards::inspect(id, base_url, plan, limits).await
}

pub async fn agreement(state: &RefCell<State>, id: u32) -> Result<Response> {
    let (embedder, files, kind) = {
        let st = state.borrow();
        (st.embedder.clone(), st.files.clone(), st.device.as_ref().map(|(_, b)| b.kind))
    };
    let (Some(embedder), Some(files)) = (embedder, files) else { return Err(WorkerError::no_model()) };
    if kind != Some(BackendKind::WebGpu) {
        return Err(WorkerError::new(
            ErrorKind::Unsupported,
            "the model already runs on the CPU backend, so there is no WebGPU result to compare",
        ));
    }
    compare_backends(id, &embedder, &files).await
}

/// Embed [`AGREEMENT_TEXTS`] with `embedder` (on WebGPU) and with a CPU copy built from the
/// same files; one row per text.
async fn compare_backends(id: u32, embedder: &Embedder, files: &ModelFiles) -> Result<Response> {
    let t = now_ms();
    let gpu = embedder.embed(&AGREEMENT_TEXTS, None).await?;
    let gpu_ms = now_ms() - t;
    let cpu_model = Embedder::new(files, &Device::flex())?;
    let t = now_ms();
    let cpu = cpu_model.embed(&AGREEMENT_TEXTS, None).await?;
    let cpu_ms = now_ms() - t;
    let rows = AGREEMENT_TEXTS
        .iter()
        .zip(gpu.vectors.iter().zip(&cpu.vectors))
        .map(|(text, (a, b))| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            (text.to_string(), dot / (norm(a) * norm(b)), max)
        })
        .collect();
    Ok(Response::Agreement { id, rows, gpu_ms, cpu_ms })
}
