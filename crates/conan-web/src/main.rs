//! The conan web app (UI thread). It holds no model math: it sends requests to the inference
//! worker and shows what comes back — vectors, norms, cosine, benchmark scores, timings.
//!
//! Each page module owns its state: it sees every request sent and claims the responses
//! that are its own. This file starts the worker, routes messages and switches pages.

mod bench;
mod charts;
mod dims;
mod embed;
mod files;
mod format;
mod learn;
mod model;
mod search;
mod status;
mod worker;

use std::cell::RefCell;
use std::rc::Rc;

use conan_protocol::{Request, Response};
use yew::prelude::*;

use crate::bench::BenchPage;
use crate::embed::EmbedPage;
use crate::learn::LearnPage;
use crate::model::ModelPage;
use crate::search::SearchPage;
use crate::status::StatusPanel;
use crate::worker::WorkerHandle;

/// The model the app loads unless `?model=URL` says otherwise.
const DEFAULT_MODEL: &str = "static/models/conan-mini/q8";

#[derive(Clone, Copy, PartialEq)]
enum Page {
    Search,
    Embed,
    Benchmark,
    Model,
    Learn,
}

#[derive(Clone, PartialEq)]
struct AppState {
    /// The id the next request takes.
    next_id: u32,
    status: status::State,
    embed: embed::State,
    bench: bench::State,
    search: search::State,
    model: model::State,
    learn: learn::State,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            next_id: 1,
            status: status::State::default(),
            embed: embed::State::default(),
            bench: bench::State::default(),
            search: search::State::default(),
            model: model::State::default(),
            learn: learn::State::default(),
        }
    }
}

enum Action {
    /// Boxed: a response is far larger than the other actions.
    FromWorker(Box<Response>),
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
        match action {
            Action::Offline(state) => s.status.offline = Some(state),
            Action::ModelError(message) => s.model.error = Some(message),
            Action::Sent(request) => {
                if let Some(id) = request.id() {
                    s.next_id = s.next_id.max(id + 1);
                }
                s.learn.on_sent(&request);
                s.embed.on_sent(&request);
                s.bench.on_sent(&request);
                s.search.on_sent(&request);
                s.model.on_sent(&request);
            }
            Action::FromWorker(response) => {
                // The first page to claim a response keeps it, in this order; a failure no
                // page or the status panel claims is shown on the Embed page.
                let _claimed = s.learn.on_response(&response)
                    || s.model.on_response(&response)
                    || s.search.on_response(&response)
                    || s.bench.on_response(&response)
                    || s.status.on_response(&response)
                    || s.embed.on_response(&response);
            }
        }
        Rc::new(s)
    }
}

async fn register_service_worker() -> Result<(), String> {
    use wasm_bindgen::{JsCast, JsValue, closure::Closure};
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("no window")?;
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return Err("this browser has no service workers here (they need https or localhost)".into());
    }
    let error = |e: wasm_bindgen::JsValue| {
        format!("the offline copy failed: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
    };
    // A failed install (a full disk, a file gone from the server) never settles `ready`; the
    // service worker posts why instead, so race the two. Listening starts before registering
    // (messages are queued until the document has parsed, which it has by then).
    let failed = js_sys::Promise::new(&mut |_resolve, reject| {
        let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let why =
                js_sys::Reflect::get(&event.data(), &"conanOfflineFailed".into()).ok().and_then(|w| w.as_string());
            if let Some(why) = why {
                let _ = reject.call1(&JsValue::NULL, &format!("the browser could not store it ({why})").into());
            }
        });
        let _ = container.add_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        // Once per page: the listener lives as long as the page.
        listener.forget();
    });
    JsFuture::from(container.register("sw.js")).await.map_err(error)?;
    let ready = container.ready().map_err(error)?;
    JsFuture::from(js_sys::Promise::race(&js_sys::Array::of2(&ready, &failed))).await.map_err(error)?;
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
    let state = use_reducer(AppState::default);
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
                state.dispatch(Action::FromWorker(Box::new(response)));
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

    let ready = state.status.ready();
    let model = state.status.model.clone();
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
            <StatusPanel state={state.status.clone()} />
            {
                match *page {
                    Page::Learn => html! { <LearnPage ready={ready} model={model} state={state.learn.clone()} eval={state.bench.eval.clone()}
                        next_id={state.next_id} send={send.clone()} /> },
                    Page::Model => html! { <ModelPage ready={ready} model={model} backend={state.status.backend.clone()}
                        state={state.model.clone()} next_id={state.next_id} send={send.clone()}
                        on_error={{ let state = state.clone(); Callback::from(move |m| state.dispatch(Action::ModelError(m))) }} /> },
                    Page::Search => html! { <SearchPage ready={ready} model={model} state={state.search.clone()}
                        next_id={state.next_id} send={send.clone()} /> },
                    Page::Embed => html! { <EmbedPage ready={ready} model={model} state={state.embed.clone()}
                        next_id={state.next_id} send={send.clone()} /> },
                    Page::Benchmark => html! { <BenchPage state={state.bench.clone()} ready={ready} next_id={state.next_id}
                        matryoshka_dims={model.map(|m| m.matryoshka_dims).unwrap_or_default()} send={send.clone()} /> },
                }
            }
        </main>
    }
}

fn main() {
    // The default Resource Timing buffer keeps 250 entries; the network log needs them all.
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        perf.set_resource_timing_buffer_size(1 << 20);
    }
    yew::Renderer::<App>::new().render();
}
