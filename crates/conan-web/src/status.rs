//! The status panel over every page: the worker, its backend, the loaded model and its
//! download, and whether the app works offline.

use crate::format::bytes;
use conan_protocol::{BackendInfo, BackendKind, DownloadSummary, ModelSummary, Response};
use yew::prelude::*;

#[derive(Clone, PartialEq, Default)]
pub enum Phase {
    #[default]
    Starting,
    Loading(String),
    Ready,
    Failed(String),
}

/// What the worker has loaded, on which backend, and how the load went.
#[derive(Clone, PartialEq, Default)]
pub struct State {
    pub phase: Phase,
    pub backend: Option<BackendInfo>,
    pub model: Option<ModelSummary>,
    pub load_ms: Option<f64>,
    pub download: Option<DownloadSummary>,
    pub progress: Option<DownloadProgress>,
    /// The service worker's offline copy is ready, or why there is none.
    pub offline: Option<Result<(), String>>,
}

impl State {
    pub fn ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Takes the worker's lifecycle, the load and device notices, and a load that failed
    /// before any model was ready. Returns whether the response was this panel's.
    pub fn on_response(&mut self, response: &Response) -> bool {
        match response {
            Response::Ready => self.phase = Phase::Loading("starting the backend".into()),
            Response::Status { message } => {
                if !self.ready() {
                    self.phase = Phase::Loading(message.clone());
                }
            }
            Response::Loaded { model, backend, load_ms, download } => {
                self.phase = Phase::Ready;
                self.model = Some(model.clone());
                self.backend = Some(backend.clone());
                self.load_ms = Some(*load_ms);
                self.download = download.clone();
                self.progress = None;
            }
            // The worker already put the model on a new device and reruns what was
            // interrupted; the panel shows the backend's notice saying so.
            Response::DeviceLost { backend, .. } => self.backend = Some(backend.clone()),
            Response::Download { file, loaded, total, files_done, files, bytes_per_s } => {
                self.progress = Some(DownloadProgress {
                    file: file.clone(),
                    loaded: *loaded,
                    total: *total,
                    files_done: *files_done,
                    files: *files,
                    bytes_per_s: *bytes_per_s,
                });
            }
            Response::Failed { id: None, message, .. } if !self.ready() => {
                self.phase = Phase::Failed(message.clone());
                self.progress = None;
            }
            _ => return false,
        }
        true
    }
}

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub state: State,
}

/// The latest `Response::Download` of a pack being fetched.
#[derive(Clone, PartialEq)]
pub struct DownloadProgress {
    pub file: String,
    pub loaded: u64,
    pub total: u64,
    pub files_done: usize,
    pub files: usize,
    pub bytes_per_s: f64,
}

#[function_component(StatusPanel)]
pub fn status_panel(props: &StatusProps) -> Html {
    let p = &props.state;
    let status = match &p.phase {
        Phase::Starting => html! { <span class="pending">{ "Starting the inference worker…" }</span> },
        Phase::Loading(msg) => html! { <span class="pending">{ format!("Loading: {msg}…") }</span> },
        Phase::Ready => html! { <span class="ok">{ "Ready" }</span> },
        Phase::Failed(msg) => html! { <span class="error" role="alert">{ format!("Failed: {msg}") }</span> },
    };
    let phase_name = match &p.phase {
        Phase::Starting => "starting",
        Phase::Loading(_) => "loading",
        Phase::Ready => "ready",
        Phase::Failed(_) => "failed",
    };
    // One line first (a phone shows the query box right under it); the details fold out.
    let summary = match (&p.backend, &p.model) {
        (Some(b), Some(m)) => format!(" · {} · {}", backend_name(b.kind), m.source),
        (Some(b), None) => format!(" · {}", backend_name(b.kind)),
        _ => String::new(),
    };
    html! {
        <section class="card status" id="status" data-phase={phase_name}>
            <p class="status-line">{ status }<span class="muted">{ summary }</span>
                if p.model.as_ref().is_some_and(|m| m.synthetic) { <span class="tag warn">{ "random weights" }</span> }
                { match &p.offline {
                    Some(Ok(())) => html! { <span class="tag offline" id="offline" data-ready="true" title="the app, the default model and the corpus are cached by a service worker">{ "works offline" }</span> },
                    Some(Err(e)) => html! { <span class="muted" id="offline" data-ready="false">{ format!(" · {e}") }</span> },
                    None => html! {},
                } }
            </p>
            if let (Some(d), false) = (&p.progress, matches!(p.phase, Phase::Ready)) {
                <div class="download" id="download-progress">
                    <progress max={d.total.max(1).to_string()} value={d.loaded.to_string()}></progress>
                    <span class="muted">{ format!(" {} of {} ({:.0}%) · shard {} of {} ({}){}",
                        bytes(d.loaded), bytes(d.total), 100.0 * d.loaded as f64 / d.total.max(1) as f64,
                        (d.files_done + 1).min(d.files), d.files, d.file,
                        if d.bytes_per_s > 0.0 { format!(" · {:.1} MB/s", d.bytes_per_s / 1e6) } else { String::new() }) }</span>
                </div>
            }
            if let Some(notice) = p.backend.as_ref().and_then(|b| b.notice.as_ref()) {
                <p class="notice" id="backend-notice">{ notice }</p>
            }
            <details class="status-details">
                <summary>{ "Backend, model and download" }</summary>
                if let Some(b) = &p.backend {
                    <p id="backend" data-kind={b.kind.as_str()}>
                        <strong>{ "Backend: " }</strong>
                        { match b.kind { BackendKind::WebGpu => "WebGPU (burn-wgpu)", BackendKind::Cpu => "CPU (burn flex, wasm)" } }
                        { for b.adapter.iter().chain(b.vendor.iter()).chain(b.architecture.iter()).map(|s| html! { <span class="tag">{ s }</span> }) }
                        <span class="muted">{ format!(" started in {:.0} ms", b.init_ms) }</span>
                        if b.kind == BackendKind::Cpu {
                            <span class="muted" id="workers" data-workers={b.workers.to_string()}>{ workers_note(b.workers) }</span>
                        }
                    </p>
                    if let Some(limit) = b.max_storage_buffer_binding_size {
                        <p class="muted">{ format!("Adapter limits: storage binding {} MiB, buffer {} MiB", limit >> 20, b.max_buffer_size.unwrap_or(0) >> 20) }</p>
                    }
                }
                if let Some(d) = &p.download {
                    <p class="muted" id="download" data-fetched={d.fetched_files.to_string()} data-cached={d.cached_files.to_string()}
                       data-refetched={d.refetched.to_string()}>
                        { format!("Pack: {} shard(s), {}: {} downloaded, {} from this browser's cache{}",
                            d.files, bytes(d.total_bytes), d.fetched_files, d.cached_files,
                            if d.refetched > 0 { format!(", {} fetched again after a bad hash", d.refetched) } else { String::new() }) }
                        { for d.notices.iter().map(|n| html! { <span class="notice">{ format!(" {n}") }</span> }) }
                    </p>
                }
                if let Some(m) = &p.model {
                    <p id="model">
                        <strong>{ "Model: " }</strong>{ format!("{} ({}), {} parameters", m.source, m.model_type, m.parameters) }
                        if m.synthetic { <span class="tag warn">{ "random weights, for speed only" }</span> }
                        <br /><span class="muted">{ &m.architecture }</span>
                        { for p.load_ms.map(|ms| html! { <span class="muted">{ format!(" · loaded in {ms:.0} ms") }</span> }) }
                    </p>
                }
            </details>
        </section>
    }
}

fn backend_name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::WebGpu => "WebGPU",
        BackendKind::Cpu => "CPU (wasm)",
    }
}

/// The CPU backend's parallelism, in words: wasm without threads, so large jobs are shared
/// with helper workers, one per core.
fn workers_note(workers: usize) -> String {
    match workers {
        0 | 1 => " · one worker (large jobs are not split)".into(),
        n => format!(" · large jobs split across {n} workers, one per core"),
    }
}
