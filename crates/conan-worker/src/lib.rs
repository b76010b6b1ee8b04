//! The inference worker: a dedicated Web Worker that owns the model, so the UI thread never
//! blocks. It starts WebGPU through burn-wgpu once per page and falls back to burn's CPU
//! backend (flex, in wasm) when no adapter is available, saying why.
//!
//! Messages are `conan_protocol::{Request, Response}`, handled strictly in arrival order.

mod download;
mod gpu;
mod learn;
mod manager;
mod search;
mod store;

use std::cell::RefCell;
use std::rc::Rc;

use download::{BufferLimits, FetchSource, check_limits};

use conan_eval::{EmbeddingTable, EvalOptions, Task, evaluate};
use conan_model::burn::prelude::Device;
use conan_model::{Embedder, FileSource, read_files};
use conan_protocol::{BackendInfo, EmbedResult, ModelSummary, Request, Response, TaskInfo, TaskSource, TaskSummary};
use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

pub(crate) fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub(crate) fn now_ms() -> f64 {
    scope().performance().map(|p| p.now()).unwrap_or_else(js_sys::Date::now)
}

pub(crate) fn post(response: &Response) {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    match serde::Serialize::serialize(response, &serializer) {
        Ok(value) => {
            let _ = scope().post_message(&value);
        }
        Err(e) => web_sys::console::error_1(&format!("cannot serialise response: {e}").into()),
    }
}

pub(crate) fn js_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Where the bundled benchmark slices live, relative to the page.
const TASKS_URL: &str = "static/tasks";

async fn bundled_names() -> Result<Vec<String>, String> {
    let index = FetchSource::new(TASKS_URL).require("index.json").await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&index).map_err(|e| format!("{TASKS_URL}/index.json: {e}"))
}

async fn bundled_meta(name: &str) -> Result<(FetchSource, Vec<u8>, conan_eval::TaskMeta), String> {
    let src = FetchSource::new(format!("{TASKS_URL}/{name}"));
    let bytes = src.require("task.json").await.map_err(|e| e.to_string())?;
    let meta = serde_json::from_slice(&bytes).map_err(|e| format!("{name}/task.json: {e}"))?;
    Ok((src, bytes, meta))
}

async fn bundled_task(name: &str) -> Result<Task, String> {
    let (src, task_json, meta) = bundled_meta(name).await?;
    let mut files = std::collections::BTreeMap::new();
    files.insert("task.json".to_string(), task_json);
    for file in meta.task_type.files() {
        files.insert(file.to_string(), src.require(file).await.map_err(|e| e.to_string())?);
    }
    Task::from_files(&files).map_err(|e| format!("{name}: {e}"))
}

fn user_tasks(label: &str, files: conan_protocol::Files) -> Result<Vec<Task>, String> {
    let files = conan_protocol::into_vecs(files);
    let with_label = |e: conan_eval::EvalError| format!("{label}: {e}");
    if let [(name, bytes)] = files.as_slice() {
        if name.ends_with(".zip") {
            return Task::from_zip(bytes).map_err(with_label);
        }
    }
    // A picked folder: keep the file names, drop the folder path.
    let files =
        files.into_iter().map(|(path, bytes)| (path.rsplit('/').next().unwrap_or(&path).to_string(), bytes)).collect();
    Ok(vec![Task::from_files(&files).map_err(with_label)?])
}

async fn run_eval(
    embedder: &Embedder,
    id: u32,
    sources: Vec<TaskSource>,
    dims: Option<usize>,
    model: &str,
) -> Result<Response, String> {
    let mut tasks = Vec::new();
    for source in sources {
        match source {
            TaskSource::Bundled { name } => tasks.push(bundled_task(&name).await?),
            TaskSource::Files { label, files } => tasks.extend(user_tasks(&label, files)?),
        }
    }
    let hidden = embedder.config.hidden_size;
    let dims = dims.unwrap_or(hidden);
    embedder.config.check_dims(dims).map_err(|e| e.to_string())?;
    let mut curve_dims: Vec<usize> = embedder.config.matryoshka_dims.iter().copied().filter(|&d| d <= hidden).collect();
    if !curve_dims.contains(&hidden) {
        curve_dims.push(hidden);
    }
    let opts = EvalOptions::default();
    let (mut results, mut summary) = (Vec::new(), Vec::new());
    let mut curve: Vec<(usize, Vec<f64>)> = curve_dims.iter().map(|&d| (d, vec![])).collect();
    for task in &tasks {
        let start = now_ms();
        let texts = task.texts();
        let mut vectors = Vec::with_capacity(texts.len());
        // Embed at full size once; every dims below is a re-normalised prefix.
        for chunk in texts.chunks(64) {
            post(&Response::EvalProgress {
                id,
                task: task.meta.name.clone(),
                stage: "embedding".into(),
                done: vectors.len(),
                total: texts.len(),
            });
            vectors.extend(embedder.embed(chunk, None).await.map_err(|e| format!("{}: {e}", task.meta.name))?.vectors);
        }
        post(&Response::EvalProgress {
            id,
            task: task.meta.name.clone(),
            stage: "scoring".into(),
            done: texts.len(),
            total: texts.len(),
        });
        let full = EmbeddingTable::new(&texts, vectors).map_err(|e| e.to_string())?;
        let truncated;
        let table = if dims == hidden {
            &full
        } else {
            truncated = full.truncated(dims);
            &truncated
        };
        let scores = evaluate(task, table, &opts).map_err(|e| format!("{}: {e}", task.meta.name))?;
        let seconds = (now_ms() - start) / 1000.0;
        for (d, points) in &mut curve {
            let s = if *d == dims {
                scores.main_score
            } else {
                evaluate(task, &full.truncated(*d), &opts).map_err(|e| e.to_string())?.main_score
            };
            points.push(s);
        }
        results.push(conan_eval::results::task_result(task, &scores, seconds, model, dims));
        summary.push(TaskSummary {
            name: task.meta.name.clone(),
            task_type: format!("{:?}", task.meta.task_type).to_lowercase(),
            main_metric: scores.main_metric.clone(),
            main_score: scores.main_score,
            texts: texts.len(),
            seconds,
        });
    }
    Ok(Response::EvalDone {
        id,
        results_json: serde_json::to_string_pretty(&results).map_err(|e| e.to_string())? + "\n",
        summary,
        curve,
    })
}

#[derive(Default)]
struct State {
    device: Option<(Device, BackendInfo)>,
    /// The WebGPU device behind `device`, watched for loss; `None` on the CPU.
    gpu: Option<gpu::Gpu>,
    /// WebGPU devices lost this session.
    losses: u32,
    embedder: Option<Rc<Embedder>>,
    model_source: String,
    /// Where the loaded model came from, to put it on a fresh device after a loss when
    /// its files are not kept (`files`).
    model_url: Option<String>,
    fingerprint: String,
    files: Option<Rc<conan_model::ModelFiles>>,
    /// The search index for the loaded model, built on the first OpenSearch.
    search: Option<search::Search>,
}

/// The page's one device, started on first use (burn's wgpu runtime starts once per page).
async fn device_for(state: &RefCell<State>, prefer_webgpu: bool) -> (Device, BackendInfo) {
    if state.borrow().device.is_none() {
        let (device, backend, gpu) = gpu::start(prefer_webgpu).await;
        let mut st = state.borrow_mut();
        st.device = Some((device, backend));
        st.gpu = gpu;
    }
    state.borrow().device.clone().expect("set above")
}

fn limits_of(backend: &BackendInfo) -> BufferLimits {
    if backend.kind != "webgpu" {
        return BufferLimits::default();
    }
    BufferLimits {
        max_storage_buffer_binding_size: backend.max_storage_buffer_binding_size,
        max_buffer_size: backend.max_buffer_size,
        q4_as_q8: backend.q4_as_q8,
    }
}

/// WebGPU multiplies by a pack's q8 / q4 matrices directly and keeps a token table larger
/// than the adapter binds at once in wasm memory; the CPU backend gets f32.
fn load_options(backend: &BackendInfo) -> conan_model::LoadOptions {
    if backend.kind == "webgpu" {
        download::webgpu_options(limits_of(backend))
    } else {
        conan_model::LoadOptions::default()
    }
}

/// Files kept for the agreement check's CPU copy and for a fresh device after a loss (a
/// second download would be needed otherwise); larger models from a URL are read again
/// (packs from the Cache API), models from disk are always kept.
const KEEP_FILES_BYTES: usize = 256 << 20;

/// Put a read model on the device and make it the current one.
fn install(
    state: &RefCell<State>,
    files: conan_model::ModelFiles,
    source: String,
    from_url: bool,
    device: Device,
    backend: BackendInfo,
    start: f64,
    download: Option<conan_protocol::DownloadSummary>,
) -> Response {
    let fingerprint = files.fingerprint();
    let card = manager::loaded_card(&files, limits_of(&backend));
    match Embedder::load(&files, &device, load_options(&backend)) {
        Ok(embedder) => {
            let c = &embedder.config;
            let model = ModelSummary {
                source,
                model_type: c.model_type.clone(),
                architecture: conan_model::model::describe(c),
                hidden_size: c.hidden_size,
                parameters: c.num_params(),
                matryoshka_dims: c.matryoshka_dims.clone(),
                synthetic: c.synthetic,
                fingerprint: fingerprint.clone(),
                card,
            };
            let size: usize = files.shards.iter().map(|(_, b)| b.len()).sum();
            let mut st = state.borrow_mut();
            st.embedder = Some(Rc::new(embedder));
            st.files = (size <= KEEP_FILES_BYTES || !from_url).then(|| Rc::new(files));
            st.model_url = from_url.then(|| model.source.clone());
            st.model_source = model.source.clone();
            st.fingerprint = fingerprint;
            st.search = None; // another model's vectors are not comparable
            Response::Loaded { model, backend, load_ms: now_ms() - start, download }
        }
        // Named like a read error, so the user knows which model was refused.
        Err(e) => Response::Failed { id: None, message: format!("{}: {e}", source.trim_end_matches(" (from disk)")) },
    }
}

/// Return a search index taken out for a change, and answer with its new state or the error.
fn put_back(state: &RefCell<State>, search: search::Search, id: u32, result: Result<(), String>) -> Response {
    let response = match result {
        Ok(()) => search.info(id),
        Err(message) => Response::Failed { id: Some(id), message },
    };
    state.borrow_mut().search = Some(search);
    response
}

/// Replace a lost WebGPU device and put the loaded model back on it. The search index
/// (vectors in wasm memory and IndexedDB) and the user's documents never live on the
/// device, so they stay exactly as they were.
async fn recover(state: &RefCell<State>, lost: gpu::Gpu, reason: String, retried: Option<&str>) -> Response {
    let losses = {
        let mut st = state.borrow_mut();
        st.losses += 1;
        st.losses
    };
    let (device, mut backend, fresh) = gpu::replace(&lost, losses).await;
    drop(lost);
    let mut outcome = backend.notice.take().unwrap_or_default();
    let had_model = state.borrow().embedder.is_some();
    if had_model {
        let (files, url) = {
            let st = state.borrow();
            (st.files.clone(), st.model_url.clone())
        };
        let files = match (files, url) {
            (Some(files), _) => Ok(files),
            (None, Some(url)) => {
                let mut source = FetchSource::new(url);
                source.limits = limits_of(&backend);
                read_files(&source).await.map(Rc::new).map_err(|e| e.to_string())
            }
            (None, None) => Err("its files are no longer in memory".to_string()),
        };
        let embedder =
            files.and_then(|files| Embedder::load(&files, &device, load_options(&backend)).map_err(|e| e.to_string()));
        let mut st = state.borrow_mut();
        match embedder {
            Ok(embedder) => st.embedder = Some(Rc::new(embedder)),
            Err(e) => {
                st.embedder = None;
                outcome.push_str(&format!("; the model could not be put back ({e}), so load it again"));
            }
        }
    }
    if let Some(request) = retried {
        outcome.push_str(&format!("; the interrupted {request} runs again"));
    }
    backend.notice = Some(format!(
        "WebGPU lost its device ({reason}); {outcome}. Your documents and the search index are untouched."
    ));
    let mut st = state.borrow_mut();
    st.device = Some((device, backend.clone()));
    st.gpu = fresh;
    Response::DeviceLost { reason, backend, retried: retried.map(str::to_string) }
}

/// The WebGPU device, taken out of the state, once it has been lost; and why.
fn take_lost(state: &RefCell<State>) -> Option<(gpu::Gpu, String)> {
    let mut st = state.borrow_mut();
    let reason = st.gpu.as_ref()?.lost()?;
    Some((st.gpu.take()?, reason))
}

/// Whether to keep a copy of `request` for a second try on a fresh device: not the fault
/// itself, and not files from disk too large to hold twice.
fn worth_retrying(request: &Request) -> bool {
    match request {
        Request::LoseDevice { .. } | Request::LimitStorage { .. } => false,
        Request::LoadFiles { files, .. } => files.iter().map(|(_, b)| b.len()).sum::<usize>() <= KEEP_FILES_BYTES,
        _ => true,
    }
}

/// How long a backend error on WebGPU waits for the device to report itself lost.
const LOST_SETTLE_MS: f64 = 2000.0;

/// Run one request. When the WebGPU device was lost before it, replace the device first;
/// when it is lost during it (the request fails and the device says lost), replace the
/// device, say so, and run the request once more on the new one.
async fn run(state: &RefCell<State>, request: Request) -> Response {
    if let Some((lost, reason)) = take_lost(state) {
        post(&recover(state, lost, reason, None).await);
    }
    let on_gpu = state.borrow().gpu.is_some();
    let again = (on_gpu && worth_retrying(&request)).then(|| request.clone());
    let kind = request.kind();
    let response = handle(state, request).await;
    // Only a backend error can come from a lost device; bad input is answered at once.
    let (Some(again), Response::Failed { message, .. }) = (again, &response) else {
        return response;
    };
    if !message.contains("backend error") {
        return response;
    }
    let lost = match state.borrow().gpu.as_ref() {
        Some(gpu) => gpu.clone(),
        None => return response,
    };
    if gpu::wait_lost(&lost, LOST_SETTLE_MS).await.is_none() {
        return response;
    }
    match take_lost(state) {
        Some((lost, reason)) => {
            post(&recover(state, lost, reason, Some(kind)).await);
            handle(state, again).await
        }
        None => response,
    }
}

fn no_model(id: u32) -> Response {
    Response::Failed { id: Some(id), message: "no model is loaded yet".into() }
}

async fn handle(state: &RefCell<State>, request: Request) -> Response {
    match request {
        Request::Load { base_url, prefer_webgpu } => {
            let start = now_ms();
            let (device, backend) = device_for(state, prefer_webgpu).await;
            post(&Response::Status { message: format!("loading model from {base_url}") });
            let mut source = FetchSource::new(base_url.clone());
            source.limits = limits_of(&backend);
            match read_files(&source).await {
                Ok(files) => {
                    let download = files.pack.is_some().then(|| source.summary.take());
                    install(state, files, base_url, true, device, backend, start, download)
                }
                Err(e) => Response::Failed { id: None, message: e.to_string() },
            }
        }
        Request::LoadFiles { label, files, prefer_webgpu } => {
            let files = conan_protocol::into_vecs(files);
            let start = now_ms();
            let (device, backend) = device_for(state, prefer_webgpu).await;
            let read = async {
                let source = match files.as_slice() {
                    [(name, bytes)] if name.to_lowercase().ends_with(".zip") => {
                        conan_model::MemorySource::from_zip(label.clone(), bytes)?
                    }
                    _ => conan_model::MemorySource::new(label.clone(), files),
                };
                let files = read_files(&source).await?;
                // Files from disk skip the download check: refuse what the adapter cannot hold.
                check_limits(&files.config, limits_of(&backend)).map_err(conan_model::ModelError::Weights)?;
                Ok::<_, conan_model::ModelError>(files)
            };
            match read.await {
                Ok(files) => install(state, files, format!("{label} (from disk)"), false, device, backend, start, None),
                Err(e) => Response::Failed { id: None, message: format!("{label}: {e}") },
            }
        }
        Request::Inspect { id, base_url, plan } => {
            let limits = state.borrow().device.as_ref().map(|(_, b)| limits_of(b)).unwrap_or_default();
            manager::inspect(id, base_url, plan, limits)
                .await
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::Agreement { id } => {
            let (embedder, files, kind) = {
                let st = state.borrow();
                (st.embedder.clone(), st.files.clone(), st.device.as_ref().map(|(_, b)| b.kind.clone()))
            };
            let (Some(embedder), Some(files)) = (embedder, files) else { return no_model(id) };
            if kind.as_deref() != Some("webgpu") {
                return Response::Failed {
                    id: Some(id),
                    message: "the model already runs on the CPU backend, so there is no WebGPU result to compare"
                        .into(),
                };
            }
            manager::agreement(id, &embedder, &files)
                .await
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::ListTasks => {
            let listed = async {
                let mut tasks = Vec::new();
                // Only task.json: the data files are fetched when a task runs.
                for name in bundled_names().await? {
                    let (_, _, meta) = bundled_meta(&name).await?;
                    tasks.push(TaskInfo {
                        name,
                        task_type: format!("{:?}", meta.task_type).to_lowercase(),
                        languages: meta.languages,
                        description: meta.description,
                        license: meta.license,
                    });
                }
                Ok::<_, String>(tasks)
            };
            match listed.await {
                Ok(tasks) => Response::Tasks { tasks },
                Err(message) => Response::Failed { id: None, message },
            }
        }
        Request::Eval { id, tasks, dims } => {
            let (embedder, model) = {
                let st = state.borrow();
                (st.embedder.clone(), st.model_source.clone())
            };
            let Some(embedder) = embedder else {
                return Response::Failed { id: Some(id), message: "no model is loaded yet".into() };
            };
            run_eval(&embedder, id, tasks, dims, &model)
                .await
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::OpenSearch { id } => {
            let (embedder, fingerprint, open) = {
                let st = state.borrow();
                (st.embedder.clone(), st.fingerprint.clone(), st.search.is_some())
            };
            let Some(embedder) = embedder else {
                return no_model(id);
            };
            if !open {
                match search::Search::open(id, &embedder, &fingerprint).await {
                    Ok(s) => state.borrow_mut().search = Some(s),
                    Err(message) => {
                        return Response::Failed { id: Some(id), message };
                    }
                }
            }
            state.borrow().search.as_ref().expect("opened above").info(id)
        }
        Request::Search { id, query, dims, k } => {
            let Some(embedder) = state.borrow().embedder.clone() else {
                return no_model(id);
            };
            let taken = state.borrow_mut().search.take();
            let Some(search) = taken else {
                return Response::Failed { id: Some(id), message: "the search index is not open yet".into() };
            };
            let response = search.search(&embedder, id, query, dims, k).await;
            state.borrow_mut().search = Some(search);
            response.unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::AddDocuments { id, .. } | Request::ForgetDocuments { id } if state.borrow().search.is_none() => {
            Response::Failed { id: Some(id), message: "the search index is not open yet".into() }
        }
        Request::AddDocuments { id, files } => {
            let Some(embedder) = state.borrow().embedder.clone() else {
                return no_model(id);
            };
            let mut search = state.borrow_mut().search.take().expect("checked above");
            let result = search.add(&embedder, id, conan_protocol::into_vecs(files)).await;
            put_back(state, search, id, result)
        }
        Request::ForgetDocuments { id } => {
            let mut search = state.borrow_mut().search.take().expect("checked above");
            let result = search.forget().await;
            put_back(state, search, id, result)
        }
        Request::SpeedCheck { id, passages } => {
            let Some(embedder) = state.borrow().embedder.clone() else {
                return no_model(id);
            };
            search::speed_check(id, passages, embedder.config.hidden_size, &embedder.config.matryoshka_dims)
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::NetworkLog { id } => Response::NetworkLog { id, urls: resource_urls() },
        Request::LimitStorage { id, bytes } => {
            store::limit_storage(bytes);
            Response::FaultArmed { id }
        }
        Request::LoseDevice { id, after_ms } => match &state.borrow().gpu {
            Some(gpu) => match gpu.destroy_after(after_ms) {
                Ok(()) => Response::FaultArmed { id },
                Err(message) => Response::Failed { id: Some(id), message },
            },
            None => Response::Failed {
                id: Some(id),
                message: "the model runs on the CPU backend: there is no WebGPU device to lose".into(),
            },
        },
        Request::SoftMask { id, len, alphas } => {
            learn::soft_mask(id, len, alphas).unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::Tokens { id, text } => {
            let Some(embedder) = state.borrow().embedder.clone() else { return no_model(id) };
            learn::tokens(id, &embedder, &text).unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::Attention { id, text, layer } => {
            let Some(embedder) = state.borrow().embedder.clone() else { return no_model(id) };
            learn::attention(id, &embedder, &text, layer)
                .await
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::QuantErrors { id } => {
            let Some(files) = state.borrow().files.clone() else {
                return Response::Failed {
                    id: Some(id),
                    message: "the loaded model's weights are not kept in memory (over 256 MB), so they cannot be re-quantized here".into(),
                };
            };
            learn::quant_errors(id, &files).unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::Projection { id, pairs } => {
            let Some(embedder) = state.borrow().embedder.clone() else { return no_model(id) };
            learn::projection(id, &embedder, pairs)
                .await
                .unwrap_or_else(|message| Response::Failed { id: Some(id), message })
        }
        Request::Embed { id, texts, dims } => {
            let start = now_ms();
            let Some(embedder) = state.borrow().embedder.clone() else {
                return Response::Failed { id: Some(id), message: "no model is loaded yet".into() };
            };
            let result = embedder.embed(&texts, dims).await;
            match result {
                Ok(out) => {
                    let norms = out.vectors.iter().map(|v| dot(v, v).sqrt()).collect();
                    let cosine = match out.vectors.as_slice() {
                        [a, b, ..] => Some(dot(a, b)),
                        _ => None,
                    };
                    Response::Embedded(EmbedResult {
                        id,
                        dims: out.dims,
                        vectors: out.vectors,
                        norms,
                        cosine,
                        tokens: out.tokens,
                        truncated: out.truncated,
                        embed_ms: now_ms() - start,
                        wasm_heap_bytes: wasm_heap_bytes(),
                        device_bytes: embedder.device.memory_pool_usage().map(|u| u.bytes_reserved),
                    })
                }
                Err(e) => Response::Failed { id: Some(id), message: e.to_string() },
            }
        }
    }
}

/// URLs of every fetch this worker made (its own script and wasm included).
fn resource_urls() -> Vec<String> {
    let Some(perf) = scope().performance() else { return vec![] };
    perf.get_entries_by_type("resource")
        .iter()
        .filter_map(|e| e.dyn_into::<web_sys::PerformanceEntry>().ok())
        .map(|e| e.name())
        .collect()
}

/// Bytes of this worker's wasm memory: it never shrinks, so it is the peak so far.
fn wasm_heap_bytes() -> u64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64
}

/// Vectors arrive L2-normalised, so their dot product is the cosine.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[wasm_bindgen(start)]
pub fn start() {
    let (tx, mut rx) = mpsc::unbounded::<JsValue>();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let _ = tx.unbounded_send(event.data());
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The default buffer keeps 250 entries; the network log must see every request.
    if let Some(perf) = scope().performance() {
        perf.set_resource_timing_buffer_size(1 << 20);
    }
    on_message.forget(); // lives as long as the worker

    wasm_bindgen_futures::spawn_local(async move {
        let state = RefCell::new(State::default());
        while let Some(message) = rx.next().await {
            let response = match serde_wasm_bindgen::from_value::<Request>(message) {
                Ok(request) => run(&state, request).await,
                Err(e) => Response::Failed { id: None, message: format!("malformed request: {e}") },
            };
            post(&response);
        }
    });
    post(&Response::Ready);
}
