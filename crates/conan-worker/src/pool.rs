//! Helper workers for the CPU backend. The shipped wasm runs on one thread (wasm threads
//! need a standard library built with atomics, which stable Rust does not ship), so large
//! embedding jobs are cut into parts shared with copies of this worker, each holding its own
//! copy of the model, while this worker embeds parts too. Who embeds a part does not change
//! its vectors: the same texts, padded the same way, through the same code.
//!
//! Helpers start on the first job that can use them and load the model while this worker
//! already embeds; a helper that fails to start, loads another model or dies hands its part
//! back, and this worker embeds it (and reports its error, if it has one).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use conan_model::{Embedder, Embeddings, ModelError};
use conan_protocol::js::{request_to_js, response_from_js};
use conan_protocol::{Request, Response};
use futures::StreamExt;
use futures::channel::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::js::{js_error, scope};

/// Each helper holds a whole copy of the model: larger ones embed on this worker alone.
pub const MAX_MODEL_BYTES: usize = 64 << 20;
/// At most this many workers embed at once, this one included.
pub const MAX_WORKERS: usize = 4;
/// Fewer texts than this per part are not worth a helper's round trip.
const MIN_TEXTS_PER_PART: usize = 4;

/// What the model's helpers need, and the helpers themselves once started.
pub struct Pool {
    /// Where helpers fetch the model (the browser cache has it by then); `None` for a model
    /// from disk, a large one, or the WebGPU backend: this worker embeds alone.
    base_url: Option<String>,
    fingerprint: String,
    /// Workers that embed, this one included.
    workers: Cell<usize>,
    /// Workers that embedded at least one part of the last job.
    used: Cell<usize>,
    inner: RefCell<Option<Inner>>,
}

/// A message from the helper with id `.0`.
type Note = (usize, Result<Response, String>);

struct Inner {
    helpers: Vec<Helper>,
    /// Every helper's messages. `outbox` is kept here too, so the channel never closes: a
    /// part handed out comes back as an answer, a failure or a crash (`onerror`).
    inbox: mpsc::UnboundedReceiver<Note>,
    outbox: mpsc::UnboundedSender<Note>,
    /// The next helper's id. Helpers are named by id, not position: a dead one is dropped
    /// from `helpers`, and the others' messages must still find them.
    next_id: usize,
}

impl Default for Inner {
    fn default() -> Self {
        let (outbox, inbox) = mpsc::unbounded();
        Self { helpers: vec![], inbox, outbox, next_id: 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Starting,
    Loading,
    Idle,
    Busy(usize),
    Gone,
}

struct Helper {
    id: usize,
    worker: Worker,
    /// The model it loads once started.
    base_url: String,
    phase: Phase,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Pool {
    /// The pool for a model loaded from `base_url` (`None`: from disk) of `model_bytes`,
    /// with `fingerprint`; helpers only on the CPU backend.
    pub fn new(base_url: Option<String>, fingerprint: String, model_bytes: usize, on_cpu: bool) -> Self {
        let base_url = base_url.filter(|_| on_cpu && model_bytes <= MAX_MODEL_BYTES);
        let workers = if base_url.is_some() { default_workers() } else { 1 };
        Self {
            base_url,
            fingerprint,
            workers: Cell::new(workers),
            used: Cell::new(0),
            inner: RefCell::new(Some(Inner::default())),
        }
    }

    /// A pool that never starts helpers.
    pub fn single() -> Self {
        Self::new(None, String::new(), 0, false)
    }

    /// Workers that embed, this one included.
    pub fn workers(&self) -> usize {
        self.workers.get()
    }

    /// Workers that embedded at least one part of the last job, this one included.
    pub fn last_used(&self) -> usize {
        self.used.get()
    }

    /// Use `count` workers (clamped to 1..=[`MAX_WORKERS`], and 1 where helpers cannot
    /// run): helpers beyond it are stopped, missing ones started and waited for. Returns the
    /// workers ready, this one included.
    pub async fn set_workers(&self, count: usize) -> usize {
        let count = if self.base_url.is_some() { count.clamp(1, MAX_WORKERS) } else { 1 };
        self.workers.set(count);
        let mut inner = self.inner.borrow_mut().take().unwrap_or_default();
        inner.helpers.truncate(count - 1);
        if let Some(url) = self.base_url.as_deref() {
            inner.start(count - 1, url);
            inner.wait_started(&self.fingerprint).await;
        }
        let ready = 1 + inner.helpers.iter().filter(|h| h.phase == Phase::Idle).count();
        *self.inner.borrow_mut() = Some(inner);
        ready
    }

    /// Embed `texts` like [`Embedder::embed`], in up to [`Pool::workers`] contiguous parts
    /// embedded at once.
    pub async fn embed(
        &self,
        embedder: &Embedder,
        texts: &[String],
        dims: Option<usize>,
    ) -> Result<Embeddings, ModelError> {
        if texts.is_empty() {
            return embedder.embed(texts, dims).await; // its error for no texts
        }
        let parts = self.workers().min(texts.len() / MIN_TEXTS_PER_PART).max(1);
        let size = texts.len().div_ceil(parts).max(1);
        let jobs: Vec<Vec<String>> = texts.chunks(size).map(<[String]>::to_vec).collect();
        let mut out = Embeddings { dims: 0, vectors: vec![], tokens: vec![], truncated: vec![] };
        for (i, part) in self.run(embedder, &jobs, dims, |_, _| {}).await.into_iter().enumerate() {
            let part = part.map_err(|e| e.offset(i * size))?;
            out.dims = part.dims;
            out.vectors.extend(part.vectors);
            out.tokens.extend(part.tokens);
            out.truncated.extend(part.truncated);
        }
        Ok(out)
    }

    /// [`Embedder::embed_flat`] with the batches shared among the workers: full-width
    /// vectors of `texts`, row-major in input order; `progress(done, total)` in texts.
    pub async fn embed_flat(
        &self,
        embedder: &Embedder,
        texts: &[&str],
        chunk: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>, ModelError> {
        let width = embedder.config.hidden_size;
        let batches = conan_model::length_sorted_batches(texts, chunk);
        let jobs: Vec<Vec<String>> =
            batches.iter().map(|b| b.iter().map(|&i| texts[i].to_string()).collect()).collect();
        // Batches finish in any order; all but the last hold `chunk` texts.
        let total = texts.len();
        let results =
            self.run(embedder, &jobs, None, |done, _| progress((done * chunk.max(1)).min(total), total)).await;
        let mut out = vec![0.0f32; texts.len() * width];
        for (batch, result) in batches.iter().zip(results) {
            for (&i, v) in batch.iter().zip(result?.vectors) {
                out[i * width..(i + 1) * width].copy_from_slice(&v);
            }
        }
        Ok(out)
    }

    /// Embed each job (a list of texts, as [`Embedder::embed`] takes them); results in job
    /// order. `progress(jobs done, jobs)` after each.
    pub async fn run(
        &self,
        embedder: &Embedder,
        jobs: &[Vec<String>],
        dims: Option<usize>,
        mut progress: impl FnMut(usize, usize),
    ) -> Vec<Result<Embeddings, ModelError>> {
        let mut inner = self.inner.borrow_mut().take().unwrap_or_default();
        let wanted = if jobs.len() > 1 { self.workers() } else { 1 };
        if let Some(url) = self.base_url.as_deref() {
            inner.start(wanted.saturating_sub(1), url);
        }
        let (results, used) = inner.run(embedder, jobs, dims, &self.fingerprint, &mut progress).await;
        *self.inner.borrow_mut() = Some(inner);
        self.used.set(used);
        results
    }
}

impl Inner {
    /// Start helpers until there are `count` that have not failed.
    fn start(&mut self, count: usize, base_url: &str) {
        self.helpers.retain(|h| h.phase != Phase::Gone);
        while self.helpers.len() < count {
            self.next_id += 1;
            match Helper::spawn(self.next_id, self.outbox.clone(), base_url) {
                Ok(helper) => self.helpers.push(helper),
                Err(e) => {
                    web_sys::console::warn_1(&format!("no CPU helper worker: {e}").into());
                    return;
                }
            }
        }
    }

    async fn run(
        &mut self,
        embedder: &Embedder,
        jobs: &[Vec<String>],
        dims: Option<usize>,
        fingerprint: &str,
        progress: &mut impl FnMut(usize, usize),
    ) -> (Vec<Result<Embeddings, ModelError>>, usize) {
        let mut run = Run {
            results: jobs.iter().map(|_| None).collect(),
            queue: (0..jobs.len()).collect(),
            used: vec![false; self.helpers.len() + 1],
            done: 0,
        };
        while run.done < jobs.len() {
            while let Ok(note) = self.inbox.try_recv() {
                self.take(note, &mut run, fingerprint, progress);
            }
            if run.done == jobs.len() {
                break; // the last parts came in just now
            }
            // This worker keeps the first part for itself: a job of one part never waits
            // on a helper's round trip.
            let mine = run.queue.pop_front();
            self.hand_out(jobs, dims, &mut run.queue);
            if let Some(job) = mine {
                run.used[0] = true;
                run.results[job] = Some(embedder.embed(&jobs[job], dims).await);
                run.done += 1;
                progress(run.done, jobs.len());
                if self.helpers.iter().any(|h| h.phase != Phase::Gone) {
                    next_task().await; // lets the helpers' answers in
                }
            } else if let Some(note) = self.inbox.next().await {
                // Every part not done is out with a helper: wait for one to answer.
                self.take(note, &mut run, fingerprint, progress);
            }
        }
        let used = run.used.iter().filter(|&&u| u).count();
        (run.results.into_iter().map(|r| r.expect("every part is done")).collect(), used)
    }

    /// Wait until every helper has loaded the model or failed to.
    async fn wait_started(&mut self, fingerprint: &str) {
        let mut run =
            Run { results: vec![], queue: VecDeque::new(), used: vec![false; self.helpers.len() + 1], done: 0 };
        while self.helpers.iter().any(|h| matches!(h.phase, Phase::Starting | Phase::Loading)) {
            let Some(note) = self.inbox.next().await else { return };
            self.take(note, &mut run, fingerprint, &mut |_, _| {});
        }
    }

    /// Give each idle helper the next part.
    fn hand_out(&mut self, jobs: &[Vec<String>], dims: Option<usize>, queue: &mut VecDeque<usize>) {
        for helper in &mut self.helpers {
            if helper.phase != Phase::Idle {
                continue;
            }
            let Some(job) = queue.pop_front() else { return };
            let request = Request::Embed { id: job as u32, texts: jobs[job].clone(), dims };
            if helper.send(&request) {
                helper.phase = Phase::Busy(job);
            } else {
                queue.push_front(job);
                helper.phase = Phase::Gone;
            }
        }
    }

    /// Act on one helper's message.
    fn take(&mut self, (id, message): Note, run: &mut Run, fingerprint: &str, progress: &mut impl FnMut(usize, usize)) {
        // Its position is stable during a run (helpers are dropped only between runs).
        let Some(index) = self.helpers.iter().position(|h| h.id == id) else { return };
        let helper = &mut self.helpers[index];
        helper.phase = match (helper.phase, message) {
            (Phase::Gone, _) => Phase::Gone,
            (Phase::Starting, Ok(Response::Ready)) => {
                // prefer_webgpu false: a helper only ever embeds on the CPU; and alone (one
                // worker), or each helper would start helpers of its own.
                let load = Request::Load { base_url: helper.base_url.clone(), prefer_webgpu: false };
                let alone = Request::Workers { id: 0, count: 1 };
                if helper.send(&load) && helper.send(&alone) { Phase::Loading } else { Phase::Gone }
            }
            (Phase::Loading, Ok(Response::Loaded { model, .. })) if model.fingerprint == fingerprint => Phase::Idle,
            (Phase::Busy(job), Ok(Response::Embedded(r))) if r.id as usize == job => {
                let dims = r.dims.max(1);
                let vectors = r.vectors.chunks(dims).map(<[f32]>::to_vec).collect();
                run.results[job] =
                    Some(Ok(Embeddings { dims: r.dims, vectors, tokens: r.tokens, truncated: r.truncated }));
                run.used[index + 1] = true;
                run.done += 1;
                progress(run.done, run.results.len());
                Phase::Idle
            }
            // Progress of a load or a download, and the answer to `alone`: keep waiting.
            (phase, Ok(Response::Status { .. } | Response::Download { .. } | Response::Workers { .. })) => phase,
            // Anything else (a failure, another model, a crash): this worker does the part,
            // and reports its error if it has the same one.
            (phase, other) => {
                if let Phase::Busy(job) = phase {
                    run.queue.push_front(job);
                }
                if let Err(e) | Ok(Response::Failed { message: e, .. }) = &other {
                    web_sys::console::warn_1(&format!("CPU helper {id} stopped: {e}").into());
                }
                Phase::Gone
            }
        };
        if helper.phase == Phase::Gone {
            helper.worker.terminate();
        }
    }
}

/// One job's parts: their results, those not yet handed out, who embedded any (this worker,
/// then each helper by position), how many are done.
struct Run {
    results: Vec<Option<Result<Embeddings, ModelError>>>,
    queue: VecDeque<usize>,
    used: Vec<bool>,
    done: usize,
}

impl Helper {
    fn spawn(id: usize, outbox: mpsc::UnboundedSender<Note>, base_url: &str) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        // Relative to this worker's own script, which sits beside worker.js.
        let worker = Worker::new_with_options("worker.js", &options).map_err(|e| js_error(&e))?;
        let tx = outbox.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let _ = tx.unbounded_send((id, response_from_js(event.data()).map_err(|e| e.to_string())));
        });
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            event.prevent_default();
            let _ = outbox.unbounded_send((id, Err(format!("the helper worker failed: {}", event.message()))));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Self {
            id,
            worker,
            base_url: base_url.to_string(),
            phase: Phase::Starting,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Post `request`; false when it could not be sent.
    fn send(&self, request: &Request) -> bool {
        request_to_js(request).ok().is_some_and(|value| self.worker.post_message(&value).is_ok())
    }
}

/// The cores the browser reports, within 1..=[`MAX_WORKERS`].
fn default_workers() -> usize {
    let cores = scope().navigator().hardware_concurrency();
    if cores.is_finite() { (cores as usize).clamp(1, MAX_WORKERS) } else { 1 }
}

/// Wait for the next turn of the event loop, so messages that arrived meanwhile are read.
async fn next_task() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback(&resolve);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
