//! The worker's few touch points with the browser: its global scope, the clock, posting a
//! response, and what it can read about itself (its fetches, its memory).

use conan_protocol::Response;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::DedicatedWorkerGlobalScope;

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub fn now_ms() -> f64 {
    scope().performance().map(|p| p.now()).unwrap_or_else(js_sys::Date::now)
}

/// Post `response` to the page. Its bulk float arrays (vectors, maps) go beside the
/// serialised message as transferred `Float32Array`s under their own field names.
pub fn post(mut response: Response) {
    let bulk: Vec<(&str, Vec<f32>)> =
        response.bulk_floats().into_iter().map(|(name, floats)| (name, std::mem::take(floats))).collect();
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    let value = match serde::Serialize::serialize(&response, &serializer) {
        Ok(value) => value,
        Err(e) => return web_sys::console::error_1(&format!("cannot serialise response: {e}").into()),
    };
    let transfer = js_sys::Array::new();
    for (name, floats) in bulk {
        let array = js_sys::Float32Array::new_with_length(floats.len() as u32);
        array.copy_from(&floats);
        let _ = js_sys::Reflect::set(&value, &name.into(), &array);
        transfer.push(&array.buffer());
    }
    if let Err(e) = scope().post_message_with_transfer(&value, &transfer) {
        web_sys::console::error_1(&e);
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
