//! The UI side of the inference worker: starts `worker.js` (which loads conan-worker's
//! wasm) as a module worker and turns its messages into `Response`s.

use conan_protocol::js::{request_to_js, response_from_js};
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
            let response = response_from_js(event.data()).unwrap_or_else(|e| Response::Failed {
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
        match request_to_js(request) {
            Ok(value) => {
                if let Err(e) = self.worker.post_message(&value) {
                    web_sys::console::error_1(&e);
                }
            }
            Err(e) => web_sys::console::error_1(&format!("cannot serialise request: {e}").into()),
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
