//! The inference worker: a dedicated Web Worker that owns the model, so the UI thread never
//! blocks. It starts WebGPU through burn-wgpu once per page and falls back to burn's CPU
//! backend (flex, in wasm) when no adapter is available, saying why.
//!
//! Messages are `conan_protocol::{Request, Response}`, handled strictly in arrival order:
//! `recovery::run` runs each through `handlers` and survives a lost WebGPU device.

mod cards;
mod download;
mod error;
mod gpu;
mod handlers;
mod index;
mod js;
mod pool;
mod recovery;
mod state;
mod store;
mod tasks;

use std::cell::RefCell;
use std::pin::pin;

use conan_protocol::{Request, Response};
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{Either, select};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::MessageEvent;

use crate::error::WorkerError;
use crate::js::{post, scope, sleep_ms};
use crate::state::State;

// Static constructors (cubecl's compiler registers its operations with `inventory`). A
// module whose exports never call these is linked "command-style": wasm-ld then makes every
// export run all constructors first, and the JS glue calls exports for each value that
// crosses into wasm; that cost about 1 ms per value (7.5 s to post 8,192 floats). Running
// them once here, from the start export, makes the linker leave the exports alone.
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// How long the worker waits for another request before warming a loaded model up: the
/// page's own follow-up (the Search page opens its index) comes within a few frames.
const IDLE_MS: i32 = 250;

#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: called once, first, before any other export runs; the constructors only
    // register statics (inventory's are idempotent besides).
    unsafe { __wasm_call_ctors() };
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
        let mut warm_up = false;
        loop {
            let next = rx.next();
            let message = if warm_up {
                // Warm the model up once no request has come for IDLE_MS (handlers::warm_up).
                match select(next, pin!(sleep_ms(IDLE_MS))).await {
                    Either::Left((message, _)) => message,
                    Either::Right(((), next)) => {
                        warm_up = false;
                        handlers::warm_up(&state).await;
                        next.await
                    }
                }
            } else {
                next.await
            };
            let Some(message) = message else { break };
            let response = match serde_wasm_bindgen::from_value::<Request>(message) {
                Ok(request) => recovery::run(&state, request).await,
                Err(e) => WorkerError::bad_input(format!("malformed request: {e}")).into_response(None),
            };
            warm_up = handlers::warm_up_after(&response).unwrap_or(warm_up);
            post(response);
        }
    });
    post(Response::Ready);
}
