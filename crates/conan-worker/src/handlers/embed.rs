//! The Embed page: vectors for the user's texts, with their norms, the cosine of the first
//! two and what the run cost.

use std::cell::RefCell;

use conan_index::flat::dot;
use conan_protocol::{EmbedResult, Response};

use crate::error::{Result, WorkerError};
use crate::js::{now_ms, wasm_heap_bytes};
use crate::state::State;

pub async fn embed(state: &RefCell<State>, id: u32, texts: Vec<String>, dims: Option<usize>) -> Result<Response> {
    let start = now_ms();
    let (embedder, pool) = {
        let st = state.borrow();
        (st.embedder()?, st.pool())
    };
    let out = pool.embed(&embedder, &texts, dims).await?;
    let norms = out.vectors.iter().map(|v| dot(v, v).sqrt()).collect();
    // Vectors arrive L2-normalised, so their dot product is the cosine.
    let cosine = match out.vectors.as_slice() {
        [a, b, ..] => Some(dot(a, b)),
        _ => None,
    };
    Ok(Response::Embedded(EmbedResult {
        id,
        dims: out.dims,
        vectors: out.vectors.concat(),
        norms,
        cosine,
        tokens: out.tokens,
        truncated: out.truncated,
        embed_ms: now_ms() - start,
        workers: pool.last_used(),
        wasm_heap_bytes: wasm_heap_bytes(),
        device_bytes: embedder.device.memory_pool_usage().map(|u| u.bytes_reserved),
    }))
}

/// Use `count` workers for the loaded model (see `pool`); answers, once their helpers have
/// loaded it, with the workers ready.
pub async fn workers(state: &RefCell<State>, id: u32, count: usize) -> Result<Response> {
    let pool = state.borrow().pool.clone().ok_or_else(WorkerError::no_model)?;
    Ok(Response::Workers { id, count: pool.set_workers(count).await })
}
