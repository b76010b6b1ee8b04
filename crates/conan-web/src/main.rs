//! The conan web app (UI thread). It holds no model math: it sends requests to the inference
//! worker and shows what comes back — vectors, norms, cosine, benchmark scores, timings.

mod bench;
mod charts;
mod files;
mod learn;
mod model;
mod panels;
mod search;
mod worker;

use std::cell::RefCell;
use std::rc::Rc;

use conan_protocol::{
    BackendInfo, DownloadSummary, EmbedResult, ModelSummary, Request, Response, TaskInfo, TaskSummary,
};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::bench::BenchPage;
use crate::learn::{LearnPage, LearnView};
use crate::model::{ModelPage, ModelView};
use crate::panels::{DownloadProgress, ResultView, StatusPanel};
use crate::search::{SearchPage, SearchView};
use crate::worker::WorkerHandle;

/// The model the app loads unless `?model=URL` says otherwise.
const DEFAULT_MODEL: &str = "static/models/conan-mini/q8";

#[derive(Clone, PartialEq)]
pub enum Phase {
    Starting,
    Loading(String),
    Ready,
    Failed(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Page {
    Search,
    Embed,
    Benchmark,
    Model,
    Learn,
}

#[derive(Clone, PartialEq, Default)]
pub struct EvalProgress {
    pub task: Option<String>,
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

#[derive(Clone, PartialEq)]
pub struct EvalView {
    pub summary: Vec<TaskSummary>,
    pub curve: Vec<(usize, Vec<f64>)>,
    pub results_json: String,
}

#[derive(Clone, PartialEq)]
pub struct EvalState {
    pub running_id: Option<u32>,
    pub running: Option<EvalProgress>,
    pub view: Option<EvalView>,
    pub error: Option<String>,
}

#[derive(Clone, PartialEq)]
struct AppState {
    phase: Phase,
    backend: Option<BackendInfo>,
    model: Option<ModelSummary>,
    load_ms: Option<f64>,
    download: Option<DownloadSummary>,
    progress: Option<DownloadProgress>,
    result: Option<EmbedResult>,
    /// Texts of the last embed request, shown beside their vectors.
    last_texts: Vec<String>,
    error: Option<String>,
    busy: bool,
    next_id: u32,
    tasks: Vec<TaskInfo>,
    eval: EvalState,
    search: SearchView,
    model_view: ModelView,
    learn: LearnView,
    offline: Option<Result<(), String>>,
}

enum Action {
    FromWorker(Response),
    Sent(Request),
    /// The service worker's offline copy is ready, or why there is none.
    Offline(Result<(), String>),
    /// Something the Model page could not read before the worker saw it.
    ModelError(String),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        if let Action::Sent(r) = &action {
            if let Some(id) = r.id() {
                s.next_id = s.next_id.max(id + 1);
            }
        }
        if let Action::Sent(r) = &action {
            if let Some(section) = learn::section(r) {
                s.learn.pending.push(section);
                s.learn.error = None;
            }
        }
        match action {
            Action::Offline(state) => s.offline = Some(state),
            Action::ModelError(message) => s.model_view.error = Some(message),
            Action::Sent(Request::Embed { texts, .. }) => {
                s.busy = true;
                s.error = None;
                s.last_texts = texts;
            }
            Action::Sent(Request::Eval { id, .. }) => {
                s.eval.running_id = Some(id);
                s.eval.running = Some(EvalProgress::default());
                s.eval.error = None;
            }
            Action::Sent(Request::OpenSearch { id }) => s.search.start(id, "Building the search index"),
            Action::Sent(Request::AddDocuments { id, .. }) => s.search.start(id, "Adding your documents"),
            Action::Sent(Request::ForgetDocuments { id }) => s.search.start(id, "Forgetting your documents"),
            Action::Sent(Request::Search { id, .. }) => {
                s.search.searching = Some(id);
                s.search.error = None;
            }
            Action::Sent(Request::NetworkLog { id }) => s.search.network_pending = Some(id),
            Action::Sent(Request::Inspect { id, base_url, .. }) => {
                s.model_view.inspected.remove(&base_url);
                s.model_view.inspecting.insert(id, base_url);
            }
            Action::Sent(Request::Agreement { id }) => {
                s.model_view.agreement_running = Some(id);
                s.model_view.agreement = None;
                s.model_view.error = None;
            }
            Action::Sent(Request::LoadFiles { .. }) => {
                s.model_view.loading_files = true;
                s.model_view.error = None;
            }
            Action::Sent(Request::SpeedCheck { id, .. }) => {
                s.search.speed_running = Some(id);
                s.search.speed = None;
            }
            Action::Sent(_) => {}
            Action::FromWorker(response) => match response {
                Response::Ready => s.phase = Phase::Loading("starting the backend".into()),
                Response::Status { message } => {
                    if !matches!(s.phase, Phase::Ready) {
                        s.phase = Phase::Loading(message);
                    }
                }
                Response::Loaded { model, backend, load_ms, download } => {
                    s.phase = Phase::Ready;
                    s.model = Some(model);
                    s.backend = Some(backend);
                    s.load_ms = Some(load_ms);
                    s.download = download;
                    s.progress = None;
                    s.search = SearchView::default(); // another model's index does not apply
                    s.model_view.loading_files = false;
                    s.model_view.agreement = None;
                }
                // The worker already put the model on a new device and reruns what was
                // interrupted; the status panel shows the backend's notice saying so.
                Response::DeviceLost { backend, .. } => s.backend = Some(backend),
                Response::FaultArmed { .. } => {}
                Response::Download { file, loaded, total, files_done, files, bytes_per_s } => {
                    s.progress = Some(DownloadProgress { file, loaded, total, files_done, files, bytes_per_s });
                }
                Response::Embedded(result) => {
                    s.busy = false;
                    s.result = Some(result);
                }
                Response::Tasks { tasks } => s.tasks = tasks,
                Response::EvalProgress { id, task, stage, done, total } if Some(id) == s.eval.running_id => {
                    s.eval.running = Some(EvalProgress { task: Some(task), stage, done, total });
                }
                Response::EvalProgress { .. } => {}
                Response::EvalDone { id, results_json, summary, curve } if Some(id) == s.eval.running_id => {
                    s.eval.running = None;
                    s.eval.running_id = None;
                    s.eval.view = Some(EvalView { summary, curve, results_json });
                }
                Response::EvalDone { .. } => {}
                Response::IndexProgress { id, stage, done, total } if s.search.working_id() == Some(id) => {
                    s.search.progress = Some((stage, done, total));
                }
                Response::IndexProgress { .. } => {}
                Response::IndexReady { id, index } if s.search.working_id() == Some(id) => {
                    s.search.index = Some(index);
                    s.search.working = None;
                    s.search.progress = None;
                }
                Response::IndexReady { .. } => {}
                Response::SearchResults(result) if s.search.searching == Some(result.id) => {
                    s.search.searching = None;
                    s.search.result = Some(result);
                }
                Response::SearchResults(_) => {}
                Response::SpeedChecked { id, passages, width, rows } if s.search.speed_running == Some(id) => {
                    s.search.speed_running = None;
                    s.search.speed = Some((passages, width, rows));
                }
                Response::SpeedChecked { .. } => {}
                Response::NetworkLog { id, urls } if s.search.network_pending == Some(id) => {
                    s.search.network_pending = None;
                    s.search.network = Some((search::page_requests(), urls));
                }
                Response::NetworkLog { .. } => {}
                Response::Tokens { id, tokens } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.tokens = Some(tokens);
                }
                Response::SoftMask { id, len, maps } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.soft_mask = Some((len, maps));
                }
                Response::Attention { id, layer, tokens, heads, bidirectional, causal } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.attention = Some((layer, tokens, heads, bidirectional, causal));
                }
                Response::Projection { id, points, explained } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.projection = Some((points, explained));
                }
                Response::QuantErrors { id, tensor, source, histograms } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.quant = Some((tensor, source, histograms));
                }
                Response::Tokens { .. }
                | Response::SoftMask { .. }
                | Response::Attention { .. }
                | Response::Projection { .. }
                | Response::QuantErrors { .. } => {}
                Response::Failed { id: Some(id), message } if s.learn.owns(id) => {
                    s.learn.done(id);
                    s.learn.error = Some(message);
                }
                Response::Inspected { id, base_url, card } => {
                    s.model_view.inspecting.remove(&id);
                    s.model_view.inspected.insert(base_url, Ok(card));
                }
                Response::Agreement { id, rows, gpu_ms, cpu_ms } if s.model_view.agreement_running == Some(id) => {
                    s.model_view.agreement_running = None;
                    s.model_view.agreement = Some((rows, gpu_ms, cpu_ms));
                }
                Response::Agreement { .. } => {}
                Response::Failed { id: Some(id), message } if s.model_view.inspecting.contains_key(&id) => {
                    let url = s.model_view.inspecting.remove(&id).expect("checked");
                    s.model_view.inspected.insert(url, Err(message));
                }
                Response::Failed { id: Some(id), message } if s.model_view.agreement_running == Some(id) => {
                    s.model_view.agreement_running = None;
                    s.model_view.error = Some(message);
                }
                Response::Failed { id: None, message } if s.model_view.loading_files => {
                    // The previous model stays loaded; say why the new one was not.
                    s.model_view.loading_files = false;
                    s.model_view.error = Some(message);
                }
                Response::Failed { id: Some(id), message } if s.search.owns(id) => {
                    s.search.fail(id, message);
                }
                Response::Failed { id: Some(id), message } if Some(id) == s.eval.running_id => {
                    s.eval.running = None;
                    s.eval.running_id = None;
                    s.eval.error = Some(message);
                }
                Response::Failed { id: None, message } if !matches!(s.phase, Phase::Ready) => {
                    s.phase = Phase::Failed(message);
                    s.progress = None;
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

async fn register_service_worker() -> Result<(), String> {
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("no window")?;
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return Err("this browser has no service workers here (they need https or localhost)".into());
    }
    let error = |e: wasm_bindgen::JsValue| {
        format!("the offline copy failed: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
    };
    JsFuture::from(container.register("sw.js")).await.map_err(error)?;
    JsFuture::from(container.ready().map_err(error)?).await.map_err(error)?;
    Ok(())
}

fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

fn initial_page() -> Page {
    match web_sys::window().and_then(|w| w.location().hash().ok()).as_deref() {
        Some("#benchmark") => Page::Benchmark,
        Some("#embed") => Page::Embed,
        Some("#model") => Page::Model,
        Some("#learn") => Page::Learn,
        _ => Page::Search,
    }
}

#[function_component(App)]
fn app() -> Html {
    let state = use_reducer(|| AppState {
        phase: Phase::Starting,
        backend: None,
        model: None,
        load_ms: None,
        download: None,
        progress: None,
        result: None,
        last_texts: vec![],
        error: None,
        busy: false,
        next_id: 1,
        tasks: vec![],
        search: SearchView::default(),
        model_view: ModelView::default(),
        learn: LearnView::default(),
        offline: None,
        eval: EvalState { running_id: None, running: None, view: None, error: None },
    });
    let page = use_state(initial_page);

    // Register the service worker; `ready` resolves once it has cached the app, the default
    // model and the corpus (its install step), so the page can say it works offline.
    {
        let state = state.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                state.dispatch(Action::Offline(register_service_worker().await));
            });
        });
    }
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
                        // Fault injection for tests: `?storage-limit=BYTES` acts as a nearly
                        // full disk (see Request::LimitStorage).
                        if let Some(bytes) = query_param("storage-limit").and_then(|b| b.parse().ok()) {
                            w.send(&Request::LimitStorage { id: 0, bytes });
                        }
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

    // Every request goes through here, so the state knows what is in flight.
    let send = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |request: Request| {
            if let Some(w) = worker.borrow().as_ref() {
                w.send(&request);
                state.dispatch(Action::Sent(request));
            }
        })
    };

    let nav = |target: Page, label: &'static str, hash: &'static str| {
        let page = page.clone();
        let current = *page == target;
        let onclick = Callback::from(move |_: MouseEvent| {
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_hash(hash);
            }
            page.set(target);
        });
        html! { <button class={classes!("tab", current.then_some("active"))} aria-current={current.then_some("page")} {onclick}>{ label }</button> }
    };

    let ready = state.phase == Phase::Ready;
    html! {
        <main class="app">
            <header>
                <h1>{ "conan-web" }</h1>
                <p class="tagline">{ "Conan-Embedding-v2 architecture in your browser: burn on WebGPU, in a worker, nothing leaves the page." }</p>
                <nav class="tabs" aria-label="pages">
                    { nav(Page::Search, "Search", "#search") }
                    { nav(Page::Embed, "Embed", "#embed") }
                    { nav(Page::Benchmark, "Benchmark", "#benchmark") }
                    { nav(Page::Model, "Model", "#model") }
                    { nav(Page::Learn, "Learn", "#learn") }
                </nav>
            </header>
            <StatusPanel offline={state.offline.clone()} phase={state.phase.clone()} backend={state.backend.clone()} model={state.model.clone()} load_ms={state.load_ms}
                download={state.download.clone()} progress={state.progress.clone()} />
            {
                match *page {
                    Page::Learn => html! { <LearnPage ready={ready} model={state.model.clone()} view={state.learn.clone()} eval={state.eval.clone()}
                        next_id={state.next_id} send={send.clone()} /> },
                    Page::Model => html! { <ModelPage ready={ready} model={state.model.clone()} backend={state.backend.clone()}
                        view={state.model_view.clone()} next_id={state.next_id} send={send.clone()}
                        on_error={{ let state = state.clone(); Callback::from(move |m| state.dispatch(Action::ModelError(m))) }} /> },
                    Page::Search => html! { <SearchPage ready={ready} model={state.model.clone()} view={state.search.clone()}
                        next_id={state.next_id} send={send.clone()} /> },
                    Page::Embed => html! { <EmbedPage ready={ready} busy={state.busy} next_id={state.next_id}
                        model={state.model.clone()} result={state.result.clone()} texts={state.last_texts.clone()}
                        error={state.error.clone()} send={send.clone()} /> },
                    Page::Benchmark => html! { <BenchPage tasks={state.tasks.clone()} eval={state.eval.clone()} ready={ready} next_id={state.next_id}
                        matryoshka_dims={state.model.as_ref().map(|m| m.matryoshka_dims.clone()).unwrap_or_default()} send={send.clone()} /> },
                }
            }
        </main>
    }
}

#[derive(Properties, PartialEq)]
struct EmbedProps {
    ready: bool,
    busy: bool,
    next_id: u32,
    model: Option<ModelSummary>,
    result: Option<EmbedResult>,
    texts: Vec<String>,
    error: Option<String>,
    send: Callback<Request>,
}

#[function_component(EmbedPage)]
fn embed_page(p: &EmbedProps) -> Html {
    let text_a = use_node_ref();
    let text_b = use_node_ref();
    let dims = use_state(|| None::<usize>);

    let on_embed = {
        let (text_a, text_b, dims, send, id) =
            (text_a.clone(), text_b.clone(), dims.clone(), p.send.clone(), p.next_id);
        Callback::from(move |_: ()| {
            let read = |r: &NodeRef| r.cast::<HtmlTextAreaElement>().map(|t| t.value()).unwrap_or_default();
            let mut texts = vec![read(&text_a)];
            let b = read(&text_b);
            if !b.is_empty() {
                texts.push(b);
            }
            send.emit(Request::Embed { id, texts, dims: *dims });
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
            dims.set(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse().ok());
        })
    };

    html! {
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
                    { for p.model.iter().flat_map(|m| m.matryoshka_dims.clone()).map(|d| html! { <option value={d.to_string()}>{ d }</option> }) }
                </select>
                <button id="embed" onclick={on_click} disabled={!p.ready || p.busy}>
                    { if p.busy { "Embedding…" } else { "Embed (Ctrl+Enter)" } }
                </button>
            </div>
            if let Some(error) = &p.error {
                <p class="error" id="embed-error" role="alert">{ error }</p>
            }
            if let Some(result) = &p.result {
                <ResultView result={result.clone()} texts={p.texts.clone()} />
            }
        </section>
    }
}

fn main() {
    // The default Resource Timing buffer keeps 250 entries; the network log needs them all.
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        perf.set_resource_timing_buffer_size(1 << 20);
    }
    yew::Renderer::<App>::new().render();
}
