//! One handler per request, grouped by the page (or the tests) that send it. Each answers
//! with its response or a [`WorkerError`](crate::error::WorkerError); `recovery::run` turns
//! the error into `Response::Failed` with the request's id.

mod embed;
mod eval;
mod faults;
mod learn;
mod model;
mod search;

use std::cell::RefCell;

use conan_protocol::{BackendKind, Request, Response};

use crate::error::Result;
use crate::state::State;

pub use model::warm_up;

pub async fn handle(state: &RefCell<State>, request: Request) -> Result<Response> {
    match request {
        Request::Load { base_url, prefer_webgpu } => model::load(state, base_url, prefer_webgpu).await,
        Request::LoadFiles { label, files, prefer_webgpu } => {
            model::load_files(state, label, files, prefer_webgpu).await
        }
        Request::Inspect { id, base_url, plan } => model::inspect(state, id, base_url, plan).await,
        Request::Agreement { id } => model::agreement(state, id).await,
        Request::Embed { id, texts, dims } => embed::embed(state, id, texts, dims).await,
        Request::ListTasks => eval::list_tasks().await,
        Request::Eval { id, tasks, dims } => eval::eval(state, id, tasks, dims).await,
        Request::OpenSearch { id } => search::open(state, id).await,
        Request::Search { id, query, dims, k } => search::search(state, id, query, dims, k).await,
        Request::AddDocuments { id, files } => search::add_documents(state, id, files).await,
        Request::ForgetDocuments { id } => search::forget_documents(state, id).await,
        Request::SpeedCheck { id, passages, sentences } => search::speed_check(state, id, passages, sentences),
        Request::NetworkLog { id } => Ok(search::network_log(id)),
        Request::Tokens { id, text } => learn::tokens(state, id, &text),
        Request::SoftMask { id, len, alphas } => learn::soft_mask(id, len, alphas),
        Request::Attention { id, text, layer } => learn::attention(state, id, &text, layer).await,
        Request::Projection { id, pairs } => learn::projection(state, id, pairs).await,
        Request::QuantErrors { id } => learn::quant_errors(state, id),
        Request::LoseDevice { id, after_ms } => faults::lose_device(state, id, after_ms),
        Request::LimitStorage { id, bytes } => Ok(faults::limit_storage(id, bytes)),
        Request::Workers { id, count } => embed::workers(state, id, count).await,
    }
}

/// After a response is posted: whether the model it reports loaded should be warmed up
/// ([`warm_up`]): `Some(true)` on WebGPU, `Some(false)` on the CPU, `None` when the response
/// loaded no model (whatever was pending stays so).
pub fn warm_up_after(response: &Response) -> Option<bool> {
    match response {
        Response::Loaded { backend, .. } => Some(backend.kind == BackendKind::WebGpu),
        _ => None,
    }
}
