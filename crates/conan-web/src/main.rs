//! The conan web app (UI thread). It holds no model math: it sends texts to the inference
//! worker and shows what comes back — vectors, norms, cosine, backend and timings.

mod worker;

use std::cell::RefCell;
use std::rc::Rc;

use conan_protocol::{BackendInfo, EmbedResult, ModelSummary, Request, Response};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::worker::WorkerHandle;

/// The model the app loads unless `?model=URL` says otherwise.
const DEFAULT_MODEL: &str = "static/models/tiny";

#[derive(Clone, PartialEq)]
enum Phase {
    Starting,
    Loading(String),
    Ready,
    Failed(String),
}

#[derive(Clone, PartialEq)]
struct AppState {
    phase: Phase,
    backend: Option<BackendInfo>,
    model: Option<ModelSummary>,
    load_ms: Option<f64>,
    result: Option<EmbedResult>,
    /// Texts of the last request, shown beside their vectors.
    last_texts: Vec<String>,
    error: Option<String>,
    busy: bool,
    next_id: u32,
}

enum Action {
    FromWorker(Response),
    Sent(Vec<String>),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Sent(texts) => {
                s.busy = true;
                s.error = None;
                s.last_texts = texts;
                s.next_id += 1;
            }
            Action::FromWorker(response) => match response {
                Response::Ready => s.phase = Phase::Loading("starting the backend".into()),
                Response::Status { message } => {
                    if !matches!(s.phase, Phase::Ready) {
                        s.phase = Phase::Loading(message);
                    }
                }
                Response::Loaded {
                    model,
                    backend,
                    load_ms,
                } => {
                    s.phase = Phase::Ready;
                    s.model = Some(model);
                    s.backend = Some(backend);
                    s.load_ms = Some(load_ms);
                }
                Response::Embedded(result) => {
                    s.busy = false;
                    s.result = Some(result);
                }
                Response::Failed { id: None, message } if !matches!(s.phase, Phase::Ready) => {
                    s.phase = Phase::Failed(message);
                }
                Response::Failed { message, .. } => {
                    s.busy = false;
                    s.error = Some(message);
                }
            },
        }
        Rc::new(s)
    }
}

fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

#[function_component(App)]
fn app() -> Html {
    let state = use_reducer(|| AppState {
        phase: Phase::Starting,
        backend: None,
        model: None,
        load_ms: None,
        result: None,
        last_texts: vec![],
        error: None,
        busy: false,
        next_id: 1,
    });
    let worker: Rc<RefCell<Option<WorkerHandle>>> = use_mut_ref(|| None);

    {
        let state = state.clone();
        let worker = worker.clone();
        use_effect_with((), move |_| {
            let slot = worker.clone();
            let spawned = WorkerHandle::spawn(move |response| {
                if matches!(response, Response::Ready) {
                    let base_url = query_param("model").unwrap_or_else(|| DEFAULT_MODEL.into());
                    let prefer_webgpu = query_param("backend").as_deref() != Some("cpu");
                    if let Some(w) = slot.borrow().as_ref() {
                        w.send(&Request::Load { base_url, prefer_webgpu });
                    }
                }
                state.dispatch(Action::FromWorker(response));
            });
            match spawned {
                Ok(handle) => *worker.borrow_mut() = Some(handle),
                Err(message) => web_sys::console::error_1(&message.into()),
            }
            move || drop(worker.borrow_mut().take())
        });
    }

    let text_a = use_node_ref();
    let text_b = use_node_ref();
    let dims = use_state(|| None::<usize>);

    let on_embed = {
        let (state, worker, text_a, text_b, dims) = (state.clone(), worker.clone(), text_a.clone(), text_b.clone(), dims.clone());
        Callback::from(move |_: ()| {
            let read = |r: &NodeRef| r.cast::<HtmlTextAreaElement>().map(|t| t.value()).unwrap_or_default();
            let mut texts = vec![read(&text_a)];
            let b = read(&text_b);
            if !b.is_empty() {
                texts.push(b);
            }
            if let Some(w) = worker.borrow().as_ref() {
                w.send(&Request::Embed {
                    id: state.next_id,
                    texts: texts.clone(),
                    dims: *dims,
                });
                state.dispatch(Action::Sent(texts));
            }
        })
    };
    let on_click = on_embed.reform(|_: MouseEvent| ());
    let on_key = {
        let on_embed = on_embed.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
                e.prevent_default();
                on_embed.emit(());
            }
        })
    };
    let on_dims = {
        let dims = dims.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            dims.set(value.parse().ok());
        })
    };

    let ready = state.phase == Phase::Ready;
    html! {
        <main class="app">
            <header>
                <h1>{ "conan-web" }</h1>
                <p class="tagline">{ "Conan-Embedding-v2 architecture in your browser: burn on WebGPU, in a worker, nothing leaves the page." }</p>
            </header>
            <StatusPanel phase={state.phase.clone()} backend={state.backend.clone()} model={state.model.clone()} load_ms={state.load_ms} />
            <section class="card">
                <h2>{ "Embed" }</h2>
                <label for="text-a">{ "Text A" }</label>
                <textarea id="text-a" ref={text_a} rows="2" onkeydown={on_key.clone()} placeholder="Type English or 中文 …" defaultvalue="The weather is lovely today." />
                <label for="text-b">{ "Text B (optional: cosine similarity with A)" }</label>
                <textarea id="text-b" ref={text_b} rows="2" onkeydown={on_key} placeholder="今天天气很好。" defaultvalue="今天天气很好。" />
                <div class="row">
                    <label for="dims">{ "Dimensions" }</label>
                    <select id="dims" onchange={on_dims}>
                        <option value="" selected=true>{ "full" }</option>
                        { for state.model.iter().flat_map(|m| m.matryoshka_dims.clone()).map(|d| html! { <option value={d.to_string()}>{ d }</option> }) }
                    </select>
                    <button id="embed" onclick={on_click} disabled={!ready || state.busy}>
                        { if state.busy { "Embedding…" } else { "Embed (Ctrl+Enter)" } }
                    </button>
                </div>
                if let Some(error) = &state.error {
                    <p class="error" id="embed-error" role="alert">{ error }</p>
                }
                if let Some(result) = &state.result {
                    <ResultView result={result.clone()} texts={state.last_texts.clone()} />
                }
            </section>
        </main>
    }
}

#[derive(Properties, PartialEq)]
struct StatusProps {
    phase: Phase,
    backend: Option<BackendInfo>,
    model: Option<ModelSummary>,
    load_ms: Option<f64>,
}

#[function_component(StatusPanel)]
fn status_panel(p: &StatusProps) -> Html {
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
            <p>{ status }</p>
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
struct ResultProps {
    result: EmbedResult,
    texts: Vec<String>,
}

#[function_component(ResultView)]
fn result_view(p: &ResultProps) -> Html {
    let r = &p.result;
    html! {
        <div class="result" id="result" data-id={r.id.to_string()}>
            <p class="muted">{ format!("{} vector(s) of {} dims in {:.1} ms", r.vectors.len(), r.dims, r.embed_ms) }</p>
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

fn main() {
    yew::Renderer::<App>::new().render();
}
