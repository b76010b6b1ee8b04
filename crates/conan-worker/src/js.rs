//! The worker's few touch points with the browser: its global scope, the clock, posting a
//! response, and what it can read about itself (its fetches, its memory).

use conan_protocol::Response;
use conan_protocol::js::response_to_js;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::DedicatedWorkerGlobalScope;

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub fn now_ms() -> f64 {
    scope().performance().map(|p| p.now()).unwrap_or_else(js_sys::Date::now)
}

/// Post `response` to the page, its bulk float arrays transferred (see
/// [`conan_protocol::js::response_to_js`]).
pub fn post(response: Response) {
    match response_to_js(response) {
        Ok((value, transfer)) => {
            if let Err(e) = scope().post_message_with_transfer(&value, &transfer) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&format!("cannot serialise response: {e}").into()),
    }
}

/// A thrown JS value as text: an Error's message, a string, or its debug form.
pub fn js_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// URLs of every fetch this worker made (its own script and wasm included).
pub fn resource_urls() -> Vec<String> {
    let Some(perf) = scope().performance() else { return vec![] };
    perf.get_entries_by_type("resource")
        .iter()
        .filter_map(|e| e.dyn_into::<web_sys::PerformanceEntry>().ok())
        .map(|e| e.name())
        .collect()
}

/// Bytes of this worker's wasm memory: it never shrinks, so it is the peak so far.
pub fn wasm_heap_bytes() -> u64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64
}

/// Resolves after `ms` milliseconds (a timer on the worker's event loop).
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
