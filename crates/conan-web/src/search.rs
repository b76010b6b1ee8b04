//! The Search page: cross-lingual search over the bundled corpus and the user's own
//! documents. Everything heavy (embedding, the vector scan, IndexedDB) runs in the worker;
//! this page only sends requests and shows what comes back.

use conan_protocol::{IndexInfo, ModelSummary, Request, Response, SearchResult};
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::files::read_files;
use crate::format::{bytes as format_bytes, thousands};

/// What the Search page knows, kept in the app state (responses arrive there).
#[derive(Clone, PartialEq, Default)]
pub struct State {
    pub index: Option<IndexInfo>,
    /// An OpenSearch / AddDocuments / ForgetDocuments in flight.
    pub working: Option<IndexJob>,
    pub progress: Option<IndexProgress>,
    pub searching: Option<u32>,
    pub result: Option<SearchResult>,
    pub error: Option<String>,
    pub speed_running: Option<u32>,
    pub speed: Option<SpeedCheck>,
    pub network_pending: Option<u32>,
    pub network: Option<NetworkLog>,
}

/// A request that changes the index, and what it is doing, for the progress line.
#[derive(Clone, PartialEq)]
pub struct IndexJob {
    pub id: u32,
    pub what: String,
}

/// How far the index's embedding has come.
#[derive(Clone, PartialEq)]
pub struct IndexProgress {
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

/// A timed sentence-window search over random vectors.
#[derive(Clone, PartialEq)]
pub struct SpeedCheck {
    pub passages: usize,
    pub sentences: usize,
    pub width: usize,
    pub bytes: u64,
    /// (dims, median milliseconds of a top-10 search)
    pub rows: Vec<(usize, f64)>,
}

/// URLs fetched this session.
#[derive(Clone, PartialEq)]
pub struct NetworkLog {
    /// By the page.
    pub page: Vec<String>,
    /// By the inference worker.
    pub worker: Vec<String>,
}

/// URLs this page has fetched (navigation and resources, from Resource Timing).
fn page_requests() -> Vec<String> {
    let Some(perf) = web_sys::window().and_then(|w| w.performance()) else { return vec![] };
    ["navigation", "resource"]
        .into_iter()
        .flat_map(|kind| perf.get_entries_by_type(kind).iter().collect::<Vec<_>>())
        .filter_map(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::PerformanceEntry>(e).ok())
        .map(|e| e.name())
        .collect()
}

fn origin_of(url: &str) -> String {
    web_sys::Url::new(url).map(|u| u.origin()).unwrap_or_else(|_| url.to_string())
}

impl State {
    fn start(&mut self, id: u32, what: &str) {
        self.working = Some(IndexJob { id, what: what.into() });
        self.progress = None;
        self.error = None;
    }

    fn working_id(&self) -> Option<u32> {
        self.working.as_ref().map(|w| w.id)
    }

    pub fn on_sent(&mut self, request: &Request) {
        match request {
            Request::OpenSearch { id } => self.start(*id, "Building the search index"),
            Request::AddDocuments { id, .. } => self.start(*id, "Adding your documents"),
            Request::ForgetDocuments { id } => self.start(*id, "Forgetting your documents"),
            Request::Search { id, .. } => {
                self.searching = Some(*id);
                self.error = None;
            }
            Request::NetworkLog { id } => self.network_pending = Some(*id),
            Request::SpeedCheck { id, .. } => {
                self.speed_running = Some(*id);
                self.speed = None;
            }
            _ => {}
        }
    }

    /// Takes what answers its own requests; a newly loaded model starts the page afresh
    /// (another model's index does not apply) and goes on to the other pages.
    pub fn on_response(&mut self, response: &Response) -> bool {
        match response {
            Response::Loaded { .. } => {
                *self = Self::default();
                return false;
            }
            Response::IndexProgress { id, stage, done, total } if self.working_id() == Some(*id) => {
                self.progress = Some(IndexProgress { stage: stage.clone(), done: *done, total: *total });
            }
            Response::IndexReady { id, index } if self.working_id() == Some(*id) => {
                self.index = Some(index.clone());
                self.working = None;
                self.progress = None;
            }
            Response::SearchResults(result) if self.searching == Some(result.id) => {
                self.searching = None;
                self.result = Some(result.clone());
            }
            Response::SpeedChecked { id, passages, sentences, width, bytes, rows }
                if self.speed_running == Some(*id) =>
            {
                self.speed_running = None;
                self.speed = Some(SpeedCheck {
                    passages: *passages,
                    sentences: *sentences,
                    width: *width,
                    bytes: *bytes,
                    rows: rows.clone(),
                });
            }
            Response::NetworkLog { id, urls } if self.network_pending == Some(*id) => {
                self.network_pending = None;
                self.network = Some(NetworkLog { page: page_requests(), worker: urls.clone() });
            }
            Response::Failed { id: Some(id), message, .. } if self.owns(*id) => self.fail(*id, message.clone()),
            _ => return false,
        }
        true
    }

    /// Whether a failure with this request id is the Search page's to show.
    fn owns(&self, id: u32) -> bool {
        self.working_id() == Some(id) || self.searching == Some(id) || self.speed_running == Some(id)
    }

    fn fail(&mut self, id: u32, message: String) {
        if self.working_id() == Some(id) {
            self.working = None;
            self.progress = None;
        }
        if self.searching == Some(id) {
            self.searching = None;
        }
        if self.speed_running == Some(id) {
            self.speed_running = None;
        }
        self.error = Some(message);
    }
}

#[derive(Properties, PartialEq)]
pub struct SearchProps {
    pub ready: bool,
    pub model: Option<ModelSummary>,
    pub state: State,
    pub next_id: u32,
    pub send: Callback<Request>,
}

const EXAMPLES: [&str; 4] =
    ["我们明天去北京看长城。", "Where is the train station?", "我喜欢喝茶。", "He is learning to cook."];
const SPEED_PASSAGES: usize = 50_000;
/// Sentence vectors per passage in the speed check (the Search page's passages hold 3 to 6).
const SPEED_SENTENCES: usize = 5;

#[function_component(SearchPage)]
pub fn search_page(p: &SearchProps) -> Html {
    let query = use_node_ref();
    let paste = use_node_ref();
    let dims = use_state(|| None::<usize>);
    let k = use_state(|| 10usize);
    let upload_error = use_state(|| None::<String>);

    // Open (or restore) the index once a model is ready; a failure waits for the user.
    {
        let send = p.send.clone();
        let want = p.ready && p.state.index.is_none() && p.state.working.is_none() && p.state.error.is_none();
        let id = p.next_id;
        use_effect_with(want, move |want| {
            if *want {
                send.emit(Request::OpenSearch { id });
            }
        });
    }

    let index_ready = p.state.index.is_some() && p.state.working.is_none();
    let run = {
        let (query, dims, k, send, id) = (query.clone(), dims.clone(), k.clone(), p.send.clone(), p.next_id);
        Callback::from(move |text: Option<String>| {
            let Some(input) = query.cast::<HtmlInputElement>() else {
                return;
            };
            if let Some(t) = text {
                input.set_value(&t);
            }
            send.emit(Request::Search { id, query: input.value(), dims: *dims, k: *k });
        })
    };
    let on_submit = {
        let run = run.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            run.emit(None);
        })
    };
    let on_dims = {
        let dims = dims.clone();
        Callback::from(move |e: Event| dims.set(e.target_unchecked_into::<HtmlSelectElement>().value().parse().ok()))
    };
    let on_k = {
        let k = k.clone();
        Callback::from(move |e: Event| {
            k.set(e.target_unchecked_into::<HtmlSelectElement>().value().parse().unwrap_or(10))
        })
    };
    let add_paste = {
        let (paste, send, id, upload_error) = (paste.clone(), p.send.clone(), p.next_id, upload_error.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(area) = paste.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let text = area.value();
            if text.trim().is_empty() {
                upload_error.set(Some("paste some text first".into()));
                return;
            }
            upload_error.set(None);
            let name =
                format!("pasted text {}.txt", String::from(js_sys::Date::new_0().to_locale_time_string("en-GB")));
            send.emit(Request::AddDocuments { id, files: conan_protocol::files([(name, text.into_bytes())]) });
            area.set_value("");
        })
    };
    let on_files = {
        let (send, id, upload_error) = (p.send.clone(), p.next_id, upload_error.clone());
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let (send, upload_error) = (send.clone(), upload_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match read_files(input.clone()).await {
                    Ok(files) if !files.is_empty() => {
                        upload_error.set(None);
                        send.emit(Request::AddDocuments { id, files });
                    }
                    Ok(_) => {}
                    Err(e) => upload_error.set(Some(e)),
                }
                input.set_value("");
            });
        })
    };
    let forget = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::ForgetDocuments { id }))
    };
    let retry = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::OpenSearch { id }))
    };
    let network = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::NetworkLog { id }))
    };
    let speed = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| {
            send.emit(Request::SpeedCheck { id, passages: SPEED_PASSAGES, sentences: SPEED_SENTENCES })
        })
    };

    let v = &p.state;
    let searching = v.searching.is_some();
    let selected_dims = (*dims).or(v.index.as_ref().map(|i| i.width));
    html! {
        <>
        <section class="card" id="search">
            <h2>{ "Search" }</h2>
            // The query box first: on a phone it is the first thing under the status line,
            // what the page does right below it.
            <form class="row search-row" onsubmit={on_submit}>
                <label for="query" class="sr-only">{ "Query" }</label>
                <input id="query" ref={query} type="search" placeholder="输入查询 · type a query" autocomplete="off" />
                <label for="search-dims">{ "Dims" }</label>
                <select id="search-dims" onchange={on_dims}>
                    { for v.index.iter().flat_map(|i| i.tradeoff.iter().rev()).map(|r| html! {
                        <option value={r.dims.to_string()} selected={Some(r.dims) == selected_dims}>{ r.dims }</option> }) }
                </select>
                <label for="k">{ "Top" }</label>
                <select id="k" onchange={on_k}>
                    { for [5usize, 10, 20, 50].into_iter().map(|n| html! { <option value={n.to_string()} selected={n == *k}>{ n }</option> }) }
                </select>
                <button id="search-go" type="submit" disabled={!index_ready || searching}>{ if searching { "Searching…" } else { "Search" } }</button>
            </form>
            <p class="examples muted">{ "Try: " }
                { for EXAMPLES.iter().map(|ex| {
                    let run = run.clone();
                    let text = ex.to_string();
                    html! { <button type="button" class="chip" disabled={!index_ready || searching}
                        onclick={Callback::from(move |_: MouseEvent| run.emit(Some(text.clone())))}>{ *ex }</button> }
                }) }
            </p>
            <p class="muted">{ "Ask in Chinese or English; passages in the other language are found by meaning. The query, the corpus and your documents never leave this page." }</p>
            if let Some(e) = &v.error {
                <p class="error" id="search-error" role="alert">{ e }
                    if v.index.is_none() { <button type="button" class="secondary" onclick={retry}>{ "Try again" }</button> }
                </p>
            }
            if let Some(r) = &v.result { <Results result={r.clone()} /> }
            if !p.ready { <p class="pending">{ "Waiting for the model…" }</p> }
            if let Some(job) = &v.working {
                <div class="progress" id="index-progress">
                    <progress max={v.progress.as_ref().map(|x| x.total.max(1)).unwrap_or(1).to_string()}
                              value={v.progress.as_ref().map(|x| x.done).unwrap_or(0).to_string()}></progress>
                    <span class="muted">{ match &v.progress {
                        Some(IndexProgress { stage, done, total }) => format!("{stage}: {} of {}", thousands(*done), thousands(*total)),
                        None => format!("{}…", job.what),
                    } }</span>
                </div>
            }
            if let Some(i) = &v.index {
                <p class="muted" id="index-info" data-passages={(i.corpus_passages + i.user_passages).to_string()}
                   data-user={i.user_passages.to_string()} data-restored={i.restored.to_string()} data-shipped={i.shipped.to_string()} data-embedded={i.embedded.to_string()}
                   data-persistent={i.persistent.to_string()} data-sentences={i.sentences.to_string()} data-vector-bytes={i.vector_bytes.to_string()}>
                    { format!("{} passages ({} bundled, {} yours) and {} sentence vectors · {}-d · {} of int8 vectors · ",
                        thousands(i.corpus_passages + i.user_passages), thousands(i.corpus_passages), thousands(i.user_passages),
                        thousands(i.sentences), i.width, format_bytes(i.vector_bytes)) }
                    { vectors_origin(i) }
                    { if i.persistent { " · stored in IndexedDB" } else { " · kept in memory only" } }
                </p>
                { for i.notices.iter().map(|n| html! { <p class="notice">{ n }</p> }) }
            }
        </section>
        <section class="card" id="tradeoff">
            <h2>{ "Matryoshka: dims against speed and quality" }</h2>
            <p class="muted">{ "The same vectors, cut to their first dims and re-normalised. Measured on the open index in this page: \
                search time of one query, and how often a Chinese corpus sentence finds its English translation first." }</p>
            if let Some(i) = &v.index {
                <table class="results">
                    <thead><tr><th>{ "dims" }</th><th>{ "index size" }</th><th>{ "search" }</th><th>{ "zh→en translation first" }</th></tr></thead>
                    <tbody>
                    { for i.tradeoff.iter().map(|r| html! {
                        <tr class={classes!((Some(r.dims) == selected_dims).then_some("selected"))} data-dims={r.dims.to_string()}>
                            <td class="num">{ r.dims }</td>
                            <td class="num">{ format_bytes(r.index_bytes) }</td>
                            <td class="num">{ format!("{:.2} ms", r.search_ms) }</td>
                            <td class="num">{ r.translation_top1.map(|x| format!("{:.1}%", 100.0 * x)).unwrap_or_else(|| "–".into()) }</td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            }
            <div class="row">
                <button type="button" class="secondary" id="speed-check" onclick={speed} disabled={!p.ready || v.speed_running.is_some()}>
                    { format!("Speed check: search {} random passages with {} sentences each", thousands(SPEED_PASSAGES), SPEED_SENTENCES) }</button>
                if v.speed_running.is_some() { <progress class="inline"></progress><span class="pending">{ " building and timing…" }</span> }
            </div>
            if let Some(SpeedCheck { passages, sentences, width, bytes, rows }) = &v.speed {
                <p class="muted" id="speed-result" data-bytes={bytes.to_string()}>
                    { format!(
                        "Sentence-window search over {} passages and {} sentence vectors ({}-d, int8: {}) in this worker (wasm), median of 7: ",
                        thousands(*passages), thousands(*sentences), width, format_bytes(*bytes)
                    ) }
                    { rows.iter().map(|(d, ms)| format!("{d} dims {ms:.1} ms")).collect::<Vec<_>>().join(" · ") }</p>
            }
        </section>
        <section class="card" id="documents">
            <h2>{ "Your documents" }</h2>
            <p class="muted">{ "Embedded here and stored only in this browser (IndexedDB). Nothing is uploaded anywhere." }</p>
            <label for="paste">{ "Paste text" }</label>
            <textarea id="paste" ref={paste} rows="3" placeholder="One passage per paragraph · 每段一个段落" />
            <div class="row">
                <button type="button" id="add-paste" onclick={add_paste} disabled={!index_ready}>{ "Add text" }</button>
                <label for="doc-files" class="file-label">{ "or files:" }</label>
                <input id="doc-files" type="file" multiple=true accept=".txt,.md,.jsonl,.csv" onchange={on_files.clone()} disabled={!index_ready} />
            </div>
            <div class="row">
                // An index built natively (`conan index build`): its vectors are used as they are.
                <label for="index-folder" class="file-label">{ "or open an index folder (conan index build):" }</label>
                <input id="index-folder" type="file" webkitdirectory=true multiple=true onchange={on_files} disabled={!index_ready} />
            </div>
            <p class="muted small" id="split-rule">{ v.index.as_ref().map(|i| i.split_rule.clone()).unwrap_or_default() }</p>
            <p class="muted small" id="window-rule">{ v.index.as_ref().map(|i| format!("Each sentence of a passage is embedded too: {}; the sentence that decided it is highlighted.", i.window_rule)).unwrap_or_default() }</p>
            if let Some(e) = &*upload_error { <p class="error" role="alert">{ e }</p> }
            if let Some(i) = &v.index {
                if i.documents.is_empty() {
                    <p class="muted" id="doc-list" data-count="0">{ "No documents of yours yet." }</p>
                } else {
                    <ul class="task-list" id="doc-list" data-count={i.documents.len().to_string()}>
                        { for i.documents.iter().map(|d| html! { <li>{ &d.name }<span class="muted">{ format!(" · {} passage(s)", d.passages) }</span></li> }) }
                    </ul>
                }
                <button type="button" class="danger" id="forget" onclick={forget} disabled={!index_ready || i.documents.is_empty()}>
                    { "Forget my documents" }</button>
            }
        </section>
        <section class="card" id="privacy">
            <h2>{ "Where this page has talked to" }</h2>
            <p class="muted">{ "Every request of this visit, from the page and from its inference worker (the browser's Resource Timing records).                 The Content-Security-Policy allows only this site, plus a model URL you give explicitly." }</p>
            <button type="button" class="secondary" id="network-check" onclick={network} disabled={!p.ready || v.network_pending.is_some()}>
                { "List this visit's requests" }</button>
            if let Some(log) = &v.network { <NetworkView page={log.page.clone()} worker={log.worker.clone()} /> }
        </section>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct NetworkProps {
    page: Vec<String>,
    worker: Vec<String>,
}

#[function_component(NetworkView)]
fn network_view(p: &NetworkProps) -> Html {
    let own = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    let mut by_origin = std::collections::BTreeMap::<String, usize>::new();
    for url in p.page.iter().chain(&p.worker) {
        *by_origin.entry(origin_of(url)).or_default() += 1;
    }
    let foreign: usize = by_origin.iter().filter(|(o, _)| **o != own).map(|(_, n)| n).sum();
    let total = p.page.len() + p.worker.len();
    html! {
        <div id="network" data-total={total.to_string()} data-page={p.page.len().to_string()} data-worker={p.worker.len().to_string()}
             data-foreign={foreign.to_string()}>
            if foreign == 0 {
                <p class="ok">{ format!("{total} requests ({} by the page, {} by the worker), all to {own}", p.page.len(), p.worker.len()) }</p>
            } else {
                <p class="error" role="alert">{ format!("{foreign} of {total} requests went to another origin") }</p>
            }
            <details>
                <summary>{ "By origin" }</summary>
                <ul>{ for by_origin.iter().map(|(o, n)| html! { <li>{ format!("{o}: {n}") }</li> }) }</ul>
            </details>
            <details>
                <summary>{ "Every URL" }</summary>
                <pre id="network-urls">{ p.page.iter().chain(&p.worker).cloned().collect::<Vec<_>>().join("\n") }</pre>
            </details>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ResultsProps {
    result: SearchResult,
}

#[function_component(Results)]
fn results(p: &ResultsProps) -> Html {
    let r = &p.result;
    html! {
        <div id="search-results" data-id={r.id.to_string()} data-query-lang={r.query_lang.clone()}>
            <p class="muted" id="latency">
                { format!("“{}” ({}, {} tokens{}) · tokenize {:.1} ms · embed {:.1} ms · search {:.2} ms over {} passages at {} dims",
                    r.query, r.query_lang, r.tokens, if r.truncated { ", truncated" } else { "" },
                    r.tokenize_ms, r.embed_ms, r.search_ms, thousands(r.passages), r.dims) }
            </p>
            <ol class="hits" id="hits">
                { for r.hits.iter().map(|h| html! {
                    <li class="hit" data-lang={h.lang.clone()} data-cross={h.cross_lingual.to_string()} data-yours={h.yours.to_string()}>
                        <span class="score" title="cosine similarity">{ format!("{:.3}", h.score) }</span>
                        <span class="hit-text" lang={h.lang.clone()}>{ highlighted(&h.text, h.sentence) }</span>
                        <span class="hit-meta">
                            <span class={classes!("tag", format!("lang-{}", h.lang))}>{ &h.lang }</span>
                            if h.cross_lingual { <span class="tag cross">{ "cross-lingual" }</span> }
                            if h.yours { <span class="tag yours">{ "yours" }</span> }
                            <span class="muted small">{ format!(" {}", h.source) }</span>
                        </span>
                    </li>
                }) }
            </ol>
        </div>
    }
}

/// `text` with the byte range `sentence` marked, when it is a valid range of it.
fn highlighted(text: &str, sentence: Option<(usize, usize)>) -> Html {
    let parts = sentence.and_then(|(a, b)| Some((text.get(..a)?, text.get(a..b)?, text.get(b..)?)));
    match parts {
        Some((before, mark, after)) => html! { <>{ before }<mark class="sentence">{ mark }</mark>{ after }</> },
        None => html! { { text } },
    }
}

/// Where the index's vectors came from this time, e.g. "4,585 shipped with the app, 5
/// restored from this browser's IndexedDB in 0.3 s".
fn vectors_origin(i: &IndexInfo) -> String {
    let parts: Vec<String> = [
        (i.shipped, "shipped with the app"),
        (i.restored, "restored from this browser's IndexedDB"),
        (i.embedded, "embedded here"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{} {what}", thousands(n)))
    .collect();
    format!("{} in {:.1} s", if parts.is_empty() { "nothing to load".to_string() } else { parts.join(", ") }, i.seconds)
}
