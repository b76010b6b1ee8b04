//! Fault injection, for tests and for trying the recovery by hand.

use std::cell::RefCell;

use conan_protocol::{ErrorKind, Response};

use crate::error::{Result, WorkerError};
use crate::state::State;
use crate::store;

/// Destroy the WebGPU device `after_ms` from now, as a driver reset would.
pub fn lose_device(state: &RefCell<State>, id: u32, after_ms: u32) -> Result<Response> {
    match &state.borrow().gpu {
        Some(gpu) => gpu.destroy_after(after_ms).map(|()| Response::FaultArmed { id }),
        None => Err(WorkerError::new(
            ErrorKind::Unsupported,
            "the model runs on the CPU backend: there is no WebGPU device to lose",
        )),
    }
}

/// Let IndexedDB take at most `bytes` more, as a nearly full disk would.
pub fn limit_storage(id: u32, bytes: u64) -> Response {
    store::limit_storage(bytes);
    Response::FaultArmed { id }
}
