//! The Search page: the index over the corpus and the user's documents, queries, the speed
//! check, and the list of URLs this worker fetched.

use std::cell::RefCell;

use conan_protocol::{Files, Response};

use crate::error::{Result, WorkerError};
use crate::index::{self, SearchIndex};
use crate::js::resource_urls;
use crate::state::{State, put_back};

/// Open the index for the loaded model (once: later calls report the open one).
pub async fn open(state: &RefCell<State>, id: u32) -> Result<Response> {
    let (embedder, pool, fingerprint, open) = {
        let st = state.borrow();
        (st.embedder()?, st.pool(), st.fingerprint.clone(), st.search.is_some())
    };
    if !open {
        let search = SearchIndex::open(id, &embedder, &pool, &fingerprint).await?;
        state.borrow_mut().search = Some(search);
    }
    Ok(state.borrow().search.as_ref().expect("opened above").info(id))
}

pub async fn search(state: &RefCell<State>, id: u32, query: String, dims: Option<usize>, k: usize) -> Result<Response> {
    let embedder = state.borrow().embedder()?;
    let taken = state.borrow_mut().search.take();
    let search = taken.ok_or_else(WorkerError::no_index)?;
    let response = search.search(&embedder, id, query, dims, k).await;
    state.borrow_mut().search = Some(search);
    response
}

/// The index, taken out of the state for a change (put back by `put_back`).
fn take_index(state: &RefCell<State>) -> Result<SearchIndex> {
    state.borrow_mut().search.take().ok_or_else(WorkerError::no_index)
}

pub async fn add_documents(state: &RefCell<State>, id: u32, files: Files) -> Result<Response> {
    if state.borrow().search.is_none() {
        return Err(WorkerError::no_index());
    }
    let (embedder, pool) = {
        let st = state.borrow();
        (st.embedder()?, st.pool())
    };
    let mut search = take_index(state)?;
    let result = search.add(&embedder, &pool, id, conan_protocol::into_vecs(files)).await;
    put_back(state, search, id, result)
}

pub async fn forget_documents(state: &RefCell<State>, id: u32) -> Result<Response> {
    let mut search = take_index(state)?;
    let result = search.forget().await;
    put_back(state, search, id, result)
}

pub fn speed_check(state: &RefCell<State>, id: u32, passages: usize, sentences: usize) -> Result<Response> {
    let embedder = state.borrow().embedder()?;
    index::speed_check(id, passages, sentences, embedder.config.hidden_size, &embedder.config.matryoshka_dims)
}

pub fn network_log(id: u32) -> Response {
    Response::NetworkLog { id, urls: resource_urls() }
}
