//! Running a request through a WebGPU device loss: replace the lost device, put the model
//! back on it, say so, and run the interrupted request once more.

use std::cell::RefCell;
use std::rc::Rc;

use conan_model::{Embedder, read_files};
use conan_protocol::{ErrorKind, Request, Response};

use crate::download::FetchSource;
use crate::error::{Result, WorkerError};
use crate::gpu;
use crate::handlers;
use crate::js::post;
use crate::state::{KEEP_FILES_BYTES, ModelOrigin, State, limits_of, load_options};

/// How long a backend error on WebGPU waits for the device to report itself lost.
const LOST_SETTLE_MS: f64 = 2000.0;

/// Run one request. When the WebGPU device was lost before it, replace the device first;
/// when it is lost during it (the request fails and the device says lost), replace the
/// device, say so, and run the request once more on the new one.
pub async fn run(state: &RefCell<State>, request: Request) -> Response {
    if let Some((lost, reason)) = take_lost(state) {
        post(recover(state, lost, reason, None).await);
    }
    let id = request.id();
    let on_gpu = state.borrow().gpu.is_some();
    let again = (on_gpu && worth_retrying(&request)).then(|| request.clone());
    let name = request.name();
    let result = match (handlers::handle(state, request).await, again) {
        // Only a backend failure can come from a lost device; bad input is answered at once.
        (Err(e), Some(again)) if e.kind == ErrorKind::Backend => match lost_meanwhile(state).await {
            Some((lost, reason)) => {
                post(recover(state, lost, reason, Some(name)).await);
                handlers::handle(state, again).await
            }
            None => Err(e),
        },
        (result, _) => result,
    };
    result.unwrap_or_else(|e| e.into_response(id))
}

/// The WebGPU device, taken out of the state, when it says it was lost within
/// [`LOST_SETTLE_MS`] (its `lost` promise can settle a little after the failed read).
async fn lost_meanwhile(state: &RefCell<State>) -> Option<(gpu::Gpu, String)> {
    let gpu = state.borrow().gpu.clone()?;
    gpu::wait_lost(&gpu, LOST_SETTLE_MS).await?;
    take_lost(state)
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
        let (files, origin) = {
            let st = state.borrow();
            (st.files.clone(), st.origin.clone())
        };
        let files: Result<_> = match (files, origin) {
            (Some(files), _) => Ok(files),
            (None, Some(ModelOrigin::Url(url))) => {
                let mut source = FetchSource::new(url);
                source.limits = limits_of(&backend);
                read_files(&source).await.map(Rc::new).map_err(WorkerError::from)
            }
            (None, _) => Err(WorkerError::internal("its files are no longer in memory")),
        };
        let embedder = files.and_then(|files| Ok(Embedder::load(&files, &device, load_options(&backend))?));
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
