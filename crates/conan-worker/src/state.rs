//! What the worker holds between requests: the page's device, the loaded model and where it
//! came from, and the search index built for it.

use std::cell::RefCell;
use std::rc::Rc;

use conan_model::burn::prelude::Device;
use conan_model::{Embedder, GpuLimits, LoadOptions, ModelFiles};
use conan_protocol::{BackendInfo, BackendKind, DownloadSummary, ModelSummary, Response};

use crate::cards;
use crate::error::{Result, WorkerError};
use crate::gpu;
use crate::index::SearchIndex;
use crate::js::now_ms;
use crate::pool::Pool;

/// Where the loaded model came from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelOrigin {
    /// Fetched from this URL (a pack or a Hugging Face folder).
    Url(String),
    /// Files the user handed over, under this label (the folder's or the zip's name).
    Disk(String),
}

impl ModelOrigin {
    /// The URL or the label: what errors about the model are named after.
    pub fn name(&self) -> &str {
        match self {
            ModelOrigin::Url(url) => url,
            ModelOrigin::Disk(label) => label,
        }
    }

    /// As the page shows it (`ModelSummary::source`): the URL, or "label (from disk)".
    pub fn shown(&self) -> String {
        match self {
            ModelOrigin::Url(url) => url.clone(),
            ModelOrigin::Disk(label) => format!("{label} (from disk)"),
        }
    }
}

#[derive(Default)]
pub struct State {
    pub device: Option<(Device, BackendInfo)>,
    /// The WebGPU device behind `device`, watched for loss; `None` on the CPU.
    pub gpu: Option<gpu::Gpu>,
    /// WebGPU devices lost this session.
    pub losses: u32,
    pub embedder: Option<Rc<Embedder>>,
    /// Where the loaded model came from: named in results, and fetched again to put it on a
    /// fresh device after a loss when its files are not kept (`files`).
    pub origin: Option<ModelOrigin>,
    pub fingerprint: String,
    pub files: Option<Rc<ModelFiles>>,
    /// The search index for the loaded model, built on the first OpenSearch.
    pub search: Option<SearchIndex>,
    /// The workers that share the loaded model's embedding on the CPU.
    pub pool: Option<Rc<Pool>>,
}

impl State {
    /// The loaded model, or the error that there is none.
    pub fn embedder(&self) -> Result<Rc<Embedder>> {
        self.embedder.clone().ok_or_else(WorkerError::no_model)
    }

    /// The workers for the loaded model (this one alone when there is none).
    pub fn pool(&self) -> Rc<Pool> {
        self.pool.clone().unwrap_or_else(|| Rc::new(Pool::single()))
    }

    /// The adapter's buffer limits, when a device has been started.
    pub fn limits(&self) -> GpuLimits {
        self.device.as_ref().map(|(_, b)| limits_of(b)).unwrap_or_default()
    }
}

/// The page's one device, started on first use (burn's wgpu runtime starts once per page).
pub async fn device_for(state: &RefCell<State>, prefer_webgpu: bool) -> (Device, BackendInfo) {
    if state.borrow().device.is_none() {
        let (device, backend, gpu) = gpu::start(prefer_webgpu).await;
        let mut st = state.borrow_mut();
        st.device = Some((device, backend));
        st.gpu = gpu;
    }
    state.borrow().device.clone().expect("set above")
}

pub fn limits_of(backend: &BackendInfo) -> GpuLimits {
    if backend.kind != BackendKind::WebGpu {
        return GpuLimits::default();
    }
    GpuLimits {
        max_storage_buffer_binding_size: backend.max_storage_buffer_binding_size,
        max_buffer_size: backend.max_buffer_size,
        q4_as_q8: backend.q4_as_q8,
    }
}

/// WebGPU multiplies by a pack's q8 / q4 matrices directly and keeps a token table larger
/// than the adapter binds at once in wasm memory; the CPU backend gets f32.
pub fn load_options(backend: &BackendInfo) -> LoadOptions {
    match backend.kind {
        BackendKind::WebGpu => LoadOptions::gpu(limits_of(backend)),
        BackendKind::Cpu => LoadOptions::cpu(),
    }
}

/// Files kept for the agreement check's CPU copy and for a fresh device after a loss (a
/// second download would be needed otherwise); larger models from a URL are read again
/// (packs from the Cache API), models from disk are always kept.
pub const KEEP_FILES_BYTES: usize = 256 << 20;

/// Put a read model on the device and make it the current one.
pub fn install(
    state: &RefCell<State>,
    files: ModelFiles,
    origin: ModelOrigin,
    device: Device,
    backend: BackendInfo,
    start: f64,
    download: Option<DownloadSummary>,
) -> Result<Response> {
    let fingerprint = files.fingerprint();
    let card = cards::loaded_card(&files, limits_of(&backend));
    // Named like a read error, so the user knows which model was refused.
    let embedder = Embedder::load(&files, &device, load_options(&backend))
        .map_err(|e| WorkerError::from(e).context(origin.name()))?;
    let c = &embedder.config;
    let model = ModelSummary {
        source: origin.shown(),
        model_type: c.model_type.clone(),
        architecture: c.architecture_summary(),
        hidden_size: c.hidden_size,
        parameters: c.num_params(),
        matryoshka_dims: c.matryoshka_dims.clone(),
        synthetic: c.synthetic,
        fingerprint: fingerprint.clone(),
        card,
    };
    let size: usize = files.shards.iter().map(|(_, b)| b.len()).sum();
    let from_url = matches!(origin, ModelOrigin::Url(_));
    let url = match &origin {
        ModelOrigin::Url(url) => Some(url.clone()),
        ModelOrigin::Disk(_) => None,
    };
    let pool = Pool::new(url, fingerprint.clone(), size, backend.kind == BackendKind::Cpu);
    let mut backend = backend;
    backend.workers = pool.workers();
    let mut st = state.borrow_mut();
    st.pool = Some(Rc::new(pool));
    st.embedder = Some(Rc::new(embedder));
    st.files = (size <= KEEP_FILES_BYTES || !from_url).then(|| Rc::new(files));
    st.origin = Some(origin);
    st.fingerprint = fingerprint;
    st.search = None; // another model's vectors are not comparable
    Ok(Response::Loaded { model, backend, load_ms: now_ms() - start, download })
}

/// Return a search index taken out for a change, and answer with its new state or the error.
pub fn put_back(state: &RefCell<State>, search: SearchIndex, id: u32, result: Result<()>) -> Result<Response> {
    let response = result.map(|()| search.info(id));
    state.borrow_mut().search = Some(search);
    response
}
