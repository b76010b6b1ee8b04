//! The UI side of the inference worker: starts `worker.js` (which loads conan-worker's
//! wasm) as a module worker and turns its messages into `Response`s.

use conan_protocol::{ErrorKind, Request, Response};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// A running worker; dropping it terminates the worker.
pub struct WorkerHandle {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl WorkerHandle {
    pub fn spawn(on_response: impl Fn(Response) + 'static) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options("./worker.js", &options)
            .map_err(|e| format!("cannot start the inference worker: {e:?}"))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let response = read_response(event.data()).unwrap_or_else(|e| Response::Failed {
                id: None,
                kind: ErrorKind::Internal,
                message: format!("unreadable message from the worker: {e}"),
            });
            on_response(response);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Self { worker, _on_message: on_message })
    }

    pub fn send(&self, request: &Request) {
        match serde_wasm_bindgen::to_value(request) {
            Ok(value) => {
                if let Err(e) = self.worker.post_message(&value) {
                    web_sys::console::error_1(&e);
                }
            }
            Err(e) => web_sys::console::error_1(&format!("cannot serialise request: {e}").into()),
        }
    }
}

/// A message from the worker: its bulk floats arrive as `Float32Array`s beside the
/// serialised fields (see `Response::bulk_floats`) and are copied in whole.
fn read_response(data: JsValue) -> Result<Response, serde_wasm_bindgen::Error> {
    let mut bulk = Vec::new();
    for name in Response::BULK_FLOAT_FIELDS {
        let key = JsValue::from_str(name);
        if let Ok(array) = js_sys::Reflect::get(&data, &key).and_then(|v| v.dyn_into::<js_sys::Float32Array>()) {
            bulk.push((name, array.to_vec()));
            // Deserialised as an empty list; the floats are put back below.
            let _ = js_sys::Reflect::set(&data, &key, &js_sys::Array::new());
        }
    }
    let mut response = serde_wasm_bindgen::from_value::<Response>(data)?;
    for (name, slot) in response.bulk_floats() {
        if let Some(i) = bulk.iter().position(|(n, _)| *n == name) {
            *slot = bulk.swap_remove(i).1;
        }
    }
    Ok(response)
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
