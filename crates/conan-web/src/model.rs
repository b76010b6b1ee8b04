//! The Model page: what the loaded model is and costs, the models on offer (inspected before
//! anything large is downloaded), loading from a URL or from disk, and the WebGPU-vs-CPU
//! agreement check.

use std::collections::BTreeMap;

use conan_protocol::{BackendInfo, BackendKind, ModelCard, ModelSummary, PackPlan, Request, Response};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::files::{Dropped, read_files};
use crate::format::{bytes, thousands};

/// What the Model page knows.
#[derive(Clone, PartialEq, Default)]
pub struct State {
    /// Inspect requests in flight: id → URL.
    pub inspecting: BTreeMap<u32, String>,
    /// URL → its card, or why it could not be read.
    pub inspected: BTreeMap<String, Result<ModelCard, String>>,
    pub agreement_running: Option<u32>,
    pub agreement: Option<Agreement>,
    pub loading_files: bool,
    pub error: Option<String>,
}

/// The WebGPU-vs-CPU agreement check's result.
#[derive(Clone, PartialEq)]
pub struct Agreement {
    /// (text, cosine WebGPU vs CPU, max |Δ|)
    pub rows: Vec<(String, f32, f32)>,
    pub gpu_ms: f64,
    pub cpu_ms: f64,
}

impl State {
    pub fn on_sent(&mut self, request: &Request) {
        match request {
            Request::Inspect { id, base_url, .. } => {
                self.inspected.remove(base_url);
                self.inspecting.insert(*id, base_url.clone());
            }
            Request::Agreement { id } => {
                self.agreement_running = Some(*id);
                self.agreement = None;
                self.error = None;
            }
            Request::LoadFiles { .. } => {
                self.loading_files = true;
                self.error = None;
            }
            _ => {}
        }
    }

    /// Takes inspections, the agreement check, and a model from disk that was refused; a
    /// newly loaded model ends the load from disk and goes on to the other pages.
    pub fn on_response(&mut self, response: &Response) -> bool {
        match response {
            Response::Loaded { .. } => {
                self.loading_files = false;
                self.agreement = None;
                return false;
            }
            Response::Inspected { id, base_url, card } => {
                self.inspecting.remove(id);
                self.inspected.insert(base_url.clone(), Ok(card.clone()));
            }
            Response::Agreement { id, rows, gpu_ms, cpu_ms } if self.agreement_running == Some(*id) => {
                self.agreement_running = None;
                self.agreement = Some(Agreement { rows: rows.clone(), gpu_ms: *gpu_ms, cpu_ms: *cpu_ms });
            }
            Response::Failed { id: Some(id), message, .. } if self.inspecting.contains_key(id) => {
                let url = self.inspecting.remove(id).expect("checked");
                self.inspected.insert(url, Err(message.clone()));
            }
            Response::Failed { id: Some(id), message, .. } if self.agreement_running == Some(*id) => {
                self.agreement_running = None;
                self.error = Some(message.clone());
            }
            Response::Failed { id: None, message, .. } if self.loading_files => {
                // The previous model stays loaded; say why the new one was not.
                self.loading_files = false;
                self.error = Some(message.clone());
            }
            _ => return false,
        }
        true
    }
}

/// A model this server offers.
struct Offer {
    url: &'static str,
    name: &'static str,
    note: &'static str,
    /// (preset, quantization) when the pack is built by command rather than bundled: its
    /// card is then estimated from the preset where it is not built.
    plan: Option<(&'static str, &'static str)>,
}

const OFFERED: [Offer; 4] = [
    Offer {
        url: "static/models/conan-mini/q8",
        name: "conan-mini · q8 (default)",
        note: "Trained by this project with the Conan-v2 recipe; see its model card.",
        plan: None,
    },
    Offer {
        url: "static/models/conan-mini/q4",
        name: "conan-mini · q4",
        note: "Smaller pack; mean cosine 0.998 to the f32 model.",
        plan: None,
    },
    Offer {
        url: "static/models/tiny",
        name: "tiny · random weights",
        note: "A 2-layer test model: random weights, for tests only.",
        plan: None,
    },
    Offer {
        url: "static/models/conan-v2-q4",
        name: "Conan-v2 full size · q4 · random weights, for speed only",
        note: "The real 1.5B architecture with synthetic weights. Not bundled: `conan synth --preset conan-v2 --out v2 && \
               conan convert --from v2 --quant q4 --out web/dist/static/models/conan-v2-q4` puts it here.",
        plan: Some(("conan-v2", "q4")),
    },
];

/// Reload the page on another model (the page's device, CSP and index all follow the URL).
fn open_model(url: &str) {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let search = location.search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    if let Some(p) = &params {
        p.set("model", url);
        let _ = location.set_href(&format!("?{}#model", String::from(p.to_string())));
    }
}

#[derive(Properties, PartialEq)]
struct CardProps {
    card: ModelCard,
    #[prop_or_default]
    limit: Option<u64>,
}

#[function_component(CardTable)]
fn card_table(p: &CardProps) -> Html {
    let c = &p.card;
    html! {
        <table class="results card-table">
            <tbody>
                <tr><th>{ "parameters" }</th><td>{ thousands(c.parameters) }</td></tr>
                { for c.details.iter().map(|(k, v)| html! { <tr><th>{ k }</th><td>{ v }</td></tr> }) }
                <tr><th>{ "download" }</th><td>{ c.download_bytes.map(bytes).unwrap_or_else(|| "unknown until fetched (HF folder)".into()) }</td></tr>
                <tr><th>{ "GPU memory for weights" }</th><td>{ format!("{} (q8 / q4 matrices stay quantized on WebGPU; the token table and norms are f32)", bytes(c.gpu_weight_bytes)) }</td></tr>
                <tr><th>{ "largest GPU buffer" }</th><td>{ match p.limit {
                    Some(l) => format!("{} of this adapter's {} binding limit", bytes(c.largest_buffer_bytes), bytes(l)),
                    None => bytes(c.largest_buffer_bytes),
                } }</td></tr>
                <tr><th>{ "wasm memory while loading" }</th><td>{ format!("about {} (the downloaded files, then host copies of each tensor)", bytes(c.download_bytes.unwrap_or(0) + c.gpu_weight_bytes)) }</td></tr>
            </tbody>
        </table>
    }
}

#[derive(Properties, PartialEq)]
pub struct ModelProps {
    pub ready: bool,
    pub model: Option<ModelSummary>,
    pub backend: Option<BackendInfo>,
    pub state: State,
    pub next_id: u32,
    pub send: Callback<Request>,
    /// Shows an error on this page (a drop that could not be read).
    pub on_error: Callback<String>,
}

#[function_component(ModelPage)]
pub fn model_page(p: &ModelProps) -> Html {
    let url_input = use_node_ref();

    // Inspect every offered model once the worker is up (manifests only: kilobytes).
    {
        let (send, id, ready) = (p.send.clone(), p.next_id, p.ready);
        use_effect_with(ready, move |ready| {
            if *ready {
                for (i, o) in OFFERED.iter().enumerate() {
                    let plan = o.plan.map(|(preset, quant)| PackPlan { preset: preset.into(), quant: quant.into() });
                    send.emit(Request::Inspect { id: id + i as u32, base_url: o.url.to_string(), plan });
                }
            }
        });
    }
    let inspect = {
        let (send, id, url_input) = (p.send.clone(), p.next_id, url_input.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(input) = url_input.cast::<HtmlInputElement>() {
                let url = input.value().trim().trim_end_matches('/').to_string();
                if !url.is_empty() {
                    send.emit(Request::Inspect { id, base_url: url, plan: None });
                }
            }
        })
    };
    // A picked folder (paths "name/…": the label is the folder) or one picked .zip (the label
    // is its file name): the same request either way.
    let on_files = {
        let send = p.send.clone();
        let webgpu = p.backend.as_ref().is_none_or(|b| b.kind == BackendKind::WebGpu);
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let send = send.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(files) = read_files(input.clone()).await
                    && let Some((first, _)) = files.first()
                {
                    let label = first.split('/').next().unwrap_or(first).to_string();
                    send.emit(Request::LoadFiles { label, files, prefer_webgpu: webgpu });
                }
                input.set_value("");
            });
        })
    };
    // Dropped: a model folder, a .zip of one, or its files.
    let on_drop = {
        let (send, view_error) = (p.send.clone(), p.on_error.clone());
        let webgpu = p.backend.as_ref().is_none_or(|b| b.kind == BackendKind::WebGpu);
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            let Some(dropped) = e.data_transfer().map(|d| Dropped::take(&d)) else { return };
            let (send, view_error) = (send.clone(), view_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match dropped.read().await {
                    Ok((label, files)) => send.emit(Request::LoadFiles { label, files, prefer_webgpu: webgpu }),
                    Err(e) => view_error.emit(e),
                }
            });
        })
    };
    let agreement = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::Agreement { id }))
    };

    let v = &p.state;
    let limit = p.backend.as_ref().and_then(|b| b.max_storage_buffer_binding_size);
    let on_gpu = p.backend.as_ref().is_some_and(|b| b.kind == BackendKind::WebGpu);
    let extra: Vec<String> =
        v.inspected.keys().filter(|u| !OFFERED.iter().any(|o| o.url == u.as_str())).cloned().collect();
    html! {
        <>
        <section class="card" id="model-current">
            <h2>{ "Loaded model" }</h2>
            if let Some(m) = &p.model {
                <p>{ &m.source }
                    if m.synthetic { <span class="tag warn">{ "random weights, for speed only" }</span> }
                    <span class="muted small">{ format!(" · fingerprint {}", m.fingerprint) }</span></p>
                <CardTable card={m.card.clone()} limit={limit} />
            } else {
                <p class="pending">{ "Waiting for the model…" }</p>
            }
            if let Some(b) = &p.backend {
                <p class="muted">{ match (b.max_storage_buffer_binding_size, b.max_buffer_size) {
                    (Some(s), Some(m)) => format!("This adapter ({}): maxStorageBufferBindingSize {}, maxBufferSize {}.", b.adapter.clone().or(b.vendor.clone()).unwrap_or_default(), bytes(s), bytes(m)),
                    _ => "CPU backend (flex, wasm): no GPU buffer limits; memory is the wasm heap (up to 4 GB).".into(),
                } }</p>
            }
        </section>
        <section class="card" id="agreement">
            <h2>{ "WebGPU against CPU" }</h2>
            <p class="muted">{ "Embeds six fixed texts on this page's WebGPU model and on a CPU (flex) copy of the same weights. \
                Quantized kernels that silently disagree show up here." }</p>
            <button type="button" id="agreement-run" onclick={agreement} disabled={!p.ready || !on_gpu || v.agreement_running.is_some()}>
                { if v.agreement_running.is_some() { "Comparing…" } else { "Compare backends" } }</button>
            if v.agreement_running.is_some() { <progress class="inline"></progress> }
            if !on_gpu && p.ready { <span class="muted">{ " The model runs on the CPU backend here; nothing to compare." }</span> }
            if let Some(agreement) = &v.agreement {
                <AgreementTable agreement={agreement.clone()} />
            }
        </section>
        <section class="card" id="model-offer">
            <h2>{ "Other models" }</h2>
            <p class="muted">{ "Sizes and fit are read from each pack's manifest before anything large is downloaded. Loading reloads the page on that model." }</p>
            <ul class="model-list">
                { for OFFERED.iter().map(|o| html! {
                    <ModelRow url={o.url.to_string()} name={o.name.to_string()} note={o.note.to_string()} state={v.inspected.get(o.url).cloned()}
                        current={p.model.as_ref().is_some_and(|m| m.source == o.url)} limit={limit} /> }) }
                { for extra.iter().map(|url| html! {
                    <ModelRow url={url.clone()} name={url.clone()} note={"given by you".to_string()} state={v.inspected.get(url).cloned()}
                        current={p.model.as_ref().is_some_and(|m| &m.source == url)} limit={limit} /> }) }
            </ul>
            <form class="row" onsubmit={inspect}>
                <label for="model-url">{ "URL of a pack or HF folder" }</label>
                <input id="model-url" ref={url_input} type="text" spellcheck="false" placeholder="https://… or static/models/…" class="grow" />
                <button type="submit" class="secondary" disabled={!p.ready}>{ "Inspect" }</button>
            </form>
            <div class="row">
                <label for="model-zip">{ "Or a .zip of a model folder:" }</label>
                <input id="model-zip" type="file" accept=".zip" onchange={on_files.clone()} disabled={!p.ready || v.loading_files} />
            </div>
            <div class="drop" id="model-drop" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} ondrop={on_drop}>
                { "…or drop a model folder, its .zip, or its files (config.json, *.safetensors, tokenizer.json), here." }
            </div>
            <div class="row">
                <label for="model-folder">{ "Or a model folder from disk (config.json + *.safetensors + tokenizer.json, or a pack):" }</label>
                <input id="model-folder" type="file" webkitdirectory=true multiple=true onchange={on_files} disabled={!p.ready || v.loading_files} />
                if v.loading_files { <span class="pending"><progress></progress>{ " loading from disk…" }</span> }
            </div>
            if let Some(e) = &v.error { <p class="error" id="model-error" role="alert">{ e }</p> }
        </section>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct RowProps {
    url: String,
    name: String,
    note: String,
    state: Option<Result<ModelCard, String>>,
    current: bool,
    limit: Option<u64>,
}

#[function_component(ModelRow)]
fn model_row(p: &RowProps) -> Html {
    let url = p.url.clone();
    let load = Callback::from(move |_: MouseEvent| open_model(&url));
    let (status, can_load) = match &p.state {
        None => (html! { <span class="pending">{ "reading its manifest…" }</span> }, false),
        Some(Err(e)) => (html! { <span class="muted">{ format!("not available here: {e}") }</span> }, false),
        Some(Ok(card)) if card.estimated => (
            html! { <span class="muted">{ format!("not built on this server · estimated from its config: {} parameters · download {} · GPU weights {}{}{}",
            thousands(card.parameters), card.download_bytes.map(bytes).unwrap_or_else(|| "?".into()), bytes(card.gpu_weight_bytes),
            if card.details.iter().any(|(k, _)| k == "token table") { " · token table in wasm memory" } else { "" },
            card.refusal.as_ref().map(|why| format!(" · would not run on this adapter: {why}")).unwrap_or_default()) }</span> },
            false,
        ),
        Some(Ok(card)) => match &card.refusal {
            Some(why) => (html! { <span class="error">{ format!("cannot run on this adapter: {why}") }</span> }, false),
            None => (
                html! { <span class="muted">{ format!("{} parameters · download {} · GPU weights {}",
                thousands(card.parameters), card.download_bytes.map(bytes).unwrap_or_else(|| "?".into()), bytes(card.gpu_weight_bytes)) }</span> },
                true,
            ),
        },
    };
    html! {
        <li data-url={p.url.clone()} data-available={matches!(&p.state, Some(Ok(c)) if !c.estimated).to_string()}
            data-estimated={matches!(&p.state, Some(Ok(c)) if c.estimated).to_string()}>
            <div><strong>{ &p.name }</strong>
                if let Some(Ok(c)) = &p.state { if c.synthetic { <span class="tag warn">{ "random weights, for speed only" }</span> } }
                if p.current { <span class="tag">{ "loaded" }</span> }</div>
            <div class="muted small">{ &p.note }</div>
            <div class="row compact">{ status }
                if can_load && !p.current { <button type="button" class="secondary" onclick={load}>{ "Load" }</button> }</div>
            if let Some(Ok(card)) = &p.state {
                <details><summary>{ "Details" }</summary><CardTable card={card.clone()} limit={p.limit} /></details>
            }
        </li>
    }
}

#[derive(Properties, PartialEq)]
struct AgreementProps {
    agreement: Agreement,
}

#[function_component(AgreementTable)]
fn agreement_table(props: &AgreementProps) -> Html {
    let p = &props.agreement;
    let min = p.rows.iter().map(|r| r.1).fold(f32::INFINITY, f32::min);
    let ok = min >= 0.9999;
    html! {
        <div id="agreement-result" data-min-cosine={min.to_string()}>
            <p class={if ok { "ok" } else { "error" }}>{ if ok { format!("The backends agree: lowest cosine {min:.7}") }
                else { format!("The backends disagree: lowest cosine {min:.5} (expected ≥ 0.9999)") } }</p>
            <table class="results">
                <thead><tr><th>{ "text" }</th><th>{ "cosine" }</th><th>{ "max |Δ|" }</th></tr></thead>
                <tbody>{ for p.rows.iter().map(|(t, c, d)| html! {
                    <tr><td>{ t }</td><td class="num">{ format!("{c:.7}") }</td><td class="num">{ format!("{d:.1e}") }</td></tr> }) }</tbody>
            </table>
            <p class="muted small">{ format!("WebGPU {:.0} ms, CPU {:.0} ms for the six texts (the CPU copy is built for this check).", p.gpu_ms, p.cpu_ms) }</p>
        </div>
    }
}
