//! Status of the worker, backend and model; and the Embed page's result view.

use conan_protocol::{BackendInfo, DownloadSummary, EmbedResult, ModelSummary};
use yew::prelude::*;

use crate::Phase;

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub phase: Phase,
    pub backend: Option<BackendInfo>,
    pub model: Option<ModelSummary>,
    pub load_ms: Option<f64>,
    pub download: Option<DownloadSummary>,
    pub progress: Option<DownloadProgress>,
    pub offline: Option<Result<(), String>>,
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

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[function_component(StatusPanel)]
pub fn status_panel(p: &StatusProps) -> Html {
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
    html! {
        <section class="card status" id="status" data-phase={phase_name}>
            <p>{ status }
                { match &p.offline {
                    Some(Ok(())) => html! { <span class="tag offline" id="offline" data-ready="true" title="the app, the default model and the corpus are cached by a service worker">{ "works offline" }</span> },
                    Some(Err(e)) => html! { <span class="muted" id="offline" data-ready="false">{ format!(" · {e}") }</span> },
                    None => html! {},
                } }
            </p>
            if let Some(b) = &p.backend {
                <p id="backend" data-kind={b.kind.clone()}>
                    <strong>{ "Backend: " }</strong>
                    { if b.kind == "webgpu" { "WebGPU (burn-wgpu)" } else { "CPU (burn flex, wasm)" } }
                    { for b.adapter.iter().chain(b.vendor.iter()).chain(b.architecture.iter()).map(|s| html! { <span class="tag">{ s }</span> }) }
                    <span class="muted">{ format!(" started in {:.0} ms", b.init_ms) }</span>
                </p>
                if let Some(limit) = b.max_storage_buffer_binding_size {
                    <p class="muted">{ format!("Adapter limits: storage binding {} MiB, buffer {} MiB", limit >> 20, b.max_buffer_size.unwrap_or(0) >> 20) }</p>
                }
                if let Some(notice) = &b.notice {
                    <p class="notice" id="backend-notice">{ notice }</p>
                }
            }
            if let (Some(d), false) = (&p.progress, matches!(p.phase, Phase::Ready)) {
                <div class="download" id="download-progress">
                    <progress max={d.total.max(1).to_string()} value={d.loaded.to_string()}></progress>
                    <span class="muted">{ format!(" {} of {} ({:.0}%) · shard {} of {} ({}){}",
                        mb(d.loaded), mb(d.total), 100.0 * d.loaded as f64 / d.total.max(1) as f64,
                        (d.files_done + 1).min(d.files), d.files, d.file,
                        if d.bytes_per_s > 0.0 { format!(" · {:.1} MB/s", d.bytes_per_s / 1e6) } else { String::new() }) }</span>
                </div>
            }
            if let Some(d) = &p.download {
                <p class="muted" id="download" data-fetched={d.fetched_files.to_string()} data-cached={d.cached_files.to_string()}
                   data-refetched={d.refetched.to_string()}>
                    { format!("Pack: {} shard(s), {}: {} downloaded, {} from this browser's cache{}",
                        d.files, mb(d.total_bytes), d.fetched_files, d.cached_files,
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
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct ResultProps {
    pub result: EmbedResult,
    pub texts: Vec<String>,
}

#[function_component(ResultView)]
pub fn result_view(p: &ResultProps) -> Html {
    let r = &p.result;
    html! {
        <div class="result" id="result" data-id={r.id.to_string()}>
            <p class="muted" id="embed-cost" data-wasm-bytes={r.wasm_heap_bytes.to_string()} data-device-bytes={r.device_bytes.unwrap_or(0).to_string()}>
                { format!("{} vector(s) of {} dims in {:.1} ms · worker memory {:.1} MB{}", r.vectors.len(), r.dims, r.embed_ms,
                    r.wasm_heap_bytes as f64 / 1e6,
                    r.device_bytes.map(|b| format!(" · GPU buffers {:.1} MB", b as f64 / 1e6)).unwrap_or_default()) }</p>
            if let Some(cos) = r.cosine {
                <p class="cosine">{ "Cosine similarity A·B: " }<strong id="cosine">{ format!("{cos:.4}") }</strong></p>
            }
            { for r.vectors.iter().enumerate().map(|(i, v)| html! {
                <div class="vector">
                    <p><strong>{ if i == 0 { "A" } else { "B" } }</strong>
                       { format!(" “{}” · {} tokens{} · norm {:.4}", p.texts.get(i).map(String::as_str).unwrap_or(""), r.tokens[i],
                                 if r.truncated[i] { " (truncated)" } else { "" }, r.norms[i]) }</p>
                    <code class="head">{ format!("[{} …]", v.iter().take(8).map(|x| format!("{x:+.4}")).collect::<Vec<_>>().join(", ")) }</code>
                    <details>
                        <summary>{ format!("Full vector ({} values, JSON)", v.len()) }</summary>
                        <pre id={format!("vector-{i}")}>{ serde_json_like(v) }</pre>
                    </details>
                </div>
            }) }
        </div>
    }
}

/// `[a,b,...]` with each float in Rust's shortest round-trip form, so the page shows
/// exactly the numbers the worker produced.
fn serde_json_like(v: &[f32]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
}
