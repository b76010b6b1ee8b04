//! The worker's compute device: WebGPU through burn-wgpu when the browser has an adapter,
//! burn's CPU backend (flex, in wasm) otherwise, and a fresh device when WebGPU loses one.
//!
//! A lost device (driver reset, crashed GPU process, `GPUDevice.destroy()`) is reported by
//! its `lost` promise. cubecl then fails every read on it, so the running request fails;
//! the worker asks here for a fresh device, puts the model back on it and runs the request
//! again. burn's runtime registers a device once per selector, so every device after the
//! first is acquired here and handed to burn as an existing setup.

use std::sync::{Arc, OnceLock};

use conan_model::burn::prelude::Device;
use conan_model::burn::tensor::wgpu::{WgpuBackend, WgpuSetup, wgpu};
use conan_protocol::{BackendInfo, BackendKind};
use js_sys::Reflect;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{Result, WorkerError};
use crate::js::{js_error, now_ms, scope, sleep_ms};

/// After this many lost devices in one session the worker stops trusting WebGPU and
/// continues on the CPU: a GPU that keeps failing would otherwise fail every run.
const WEBGPU_LOSSES_BEFORE_CPU: u32 = 2;

/// A WebGPU device in use, with what is needed to replace it.
#[derive(Clone)]
pub struct Gpu {
    setup: WgpuSetup,
    /// Set once by the device's `lost` promise: why it was lost.
    lost: Arc<OnceLock<String>>,
}

impl Gpu {
    fn watch(setup: WgpuSetup) -> Self {
        let lost = Arc::new(OnceLock::new());
        let flag = lost.clone();
        // On WebGPU each callback is one more `.then` on the `lost` promise, so cubecl's own
        // (which poisons the device for its reads) keeps running too.
        setup.device.set_device_lost_callback(move |reason, message| {
            let _ = flag.set(format!("{reason:?}: {message}"));
        });
        Self { setup, lost }
    }

    /// Why the device was lost, once it has been.
    pub fn lost(&self) -> Option<String> {
        self.lost.get().cloned()
    }

    /// Destroy the device `after_ms` from now (fault injection).
    pub fn destroy_after(&self, after_ms: u32) -> Result<()> {
        let device = self.setup.device.clone();
        let destroy = Closure::once_into_js(move || device.destroy());
        scope()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                destroy.unchecked_ref(),
                after_ms.min(i32::MAX as u32) as i32,
            )
            .map(|_| ())
            .map_err(|e| WorkerError::internal(format!("cannot arm the timer: {}", js_error(&e))))
    }
}

/// What the browser says about its WebGPU adapter (`GPUAdapter.info` and `.limits`).
struct AdapterProbe {
    vendor: Option<String>,
    architecture: Option<String>,
    description: Option<String>,
    max_storage_buffer_binding_size: Option<u64>,
    max_buffer_size: Option<u64>,
}

fn js_string(obj: &JsValue, key: &str) -> Option<String> {
    Reflect::get(obj, &key.into()).ok().and_then(|v| v.as_string()).filter(|s| !s.is_empty())
}

fn js_u64(obj: &JsValue, key: &str) -> Option<u64> {
    Reflect::get(obj, &key.into()).ok().and_then(|v| v.as_f64()).map(|v| v as u64)
}

/// Ask the browser for an adapter before burn does: burn would fail without one too, but
/// asking here lets us say precisely why we fall back, and read the adapter's limits.
async fn probe_webgpu() -> Result<AdapterProbe, String> {
    let navigator = scope().navigator();
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    }
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise = request.call0(&gpu).map_err(|e| format!("requestAdapter failed: {}", js_error(&e)))?;
    let adapter = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|e| format!("requestAdapter failed: {}", js_error(&e)))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU is present but offers no adapter".into());
    }
    let info = Reflect::get(&adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let limits = Reflect::get(&adapter, &"limits".into()).unwrap_or(JsValue::UNDEFINED);
    Ok(AdapterProbe {
        vendor: js_string(&info, "vendor"),
        architecture: js_string(&info, "architecture"),
        description: js_string(&info, "description").or_else(|| js_string(&info, "device")),
        max_storage_buffer_binding_size: js_u64(&limits, "maxStorageBufferBindingSize"),
        max_buffer_size: js_u64(&limits, "maxBufferSize"),
    })
}

fn webgpu_info(probe: AdapterProbe, setup: &WgpuSetup, start: f64) -> BackendInfo {
    BackendInfo {
        kind: BackendKind::WebGpu,
        adapter: probe.description,
        vendor: probe.vendor,
        architecture: probe.architecture,
        max_storage_buffer_binding_size: probe.max_storage_buffer_binding_size,
        max_buffer_size: probe.max_buffer_size,
        q4_as_q8: !conan_model::q4_matmul_fits_on(setup),
        notice: None,
        init_ms: now_ms() - start,
        workers: 1,
    }
}

/// The CPU backend, with `notice` saying why it is used rather than WebGPU.
fn cpu_backend(notice: String, start: f64) -> (Device, BackendInfo, Option<Gpu>) {
    let info = BackendInfo {
        kind: BackendKind::Cpu,
        adapter: None,
        vendor: None,
        architecture: None,
        max_storage_buffer_binding_size: None,
        max_buffer_size: None,
        q4_as_q8: false,
        notice: Some(notice),
        init_ms: now_ms() - start,
        // Set when a model is loaded: helpers depend on the model (`pool`).
        workers: 1,
    };
    (Device::flex(), info, None)
}

/// The session's first device.
pub async fn start(prefer_webgpu: bool) -> (Device, BackendInfo, Option<Gpu>) {
    let start = now_ms();
    if !prefer_webgpu {
        return cpu_backend("CPU backend chosen by the user".into(), start);
    }
    let probe = match probe_webgpu().await {
        Ok(probe) => probe,
        Err(reason) => {
            return cpu_backend(format!("{reason}; running on the CPU backend (flex, wasm) instead"), start);
        }
    };
    match Device::wgpu_options().graphics_api(WgpuBackend::WebGpu).init_with_setup_async().await {
        Ok((device, setup)) => (device, webgpu_info(probe, &setup, start), Some(Gpu::watch(setup))),
        Err(e) => {
            cpu_backend(format!("WebGPU failed to start ({e}); running on the CPU backend (flex, wasm) instead"), start)
        }
    }
}

/// A device to replace `lost`: a fresh WebGPU device on a newly requested adapter (a
/// WebGPU adapter hands out one device only), or the CPU after repeated losses or when
/// no fresh device comes up. `losses` counts this one.
pub async fn replace(lost: &Gpu, losses: u32) -> (Device, BackendInfo, Option<Gpu>) {
    let start = now_ms();
    if losses >= WEBGPU_LOSSES_BEFORE_CPU {
        return cpu_backend(
            format!(
                "after {losses} lost devices this session the model runs on the CPU backend (flex, wasm) from now on"
            ),
            start,
        );
    }
    match fresh_webgpu(&lost.setup).await {
        Ok((device, gpu, probe)) => {
            let mut info = webgpu_info(probe, &gpu.setup, start);
            info.notice = Some("the model runs on a fresh WebGPU device".into());
            (device, info, Some(gpu))
        }
        Err(e) => cpu_backend(
            format!("no fresh WebGPU device came up ({e}), so the model runs on the CPU backend (flex, wasm)"),
            start,
        ),
    }
}

async fn fresh_webgpu(old: &WgpuSetup) -> Result<(Device, Gpu, AdapterProbe), String> {
    let probe = probe_webgpu().await?;
    let adapter = old
        .instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("requestAdapter failed: {e}"))?;
    // What cubecl asks for its own WebGPU devices: everything the adapter offers.
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: None,
            required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("requestDevice failed: {e}"))?;
    let setup = WgpuSetup { instance: old.instance.clone(), adapter, device, queue, backend: old.backend };
    let gpu = Gpu::watch(setup.clone());
    let device =
        Device::wgpu_options().setup(setup).init().map_err(|e| format!("burn could not take the new device: {e}"))?;
    Ok((device, gpu, probe))
}

/// Wait up to `max_ms` for the device to say it was lost: the `lost` promise can settle a
/// little after the read that failed because of it.
pub async fn wait_lost(gpu: &Gpu, max_ms: f64) -> Option<String> {
    let start = now_ms();
    loop {
        if let Some(reason) = gpu.lost() {
            return Some(reason);
        }
        if now_ms() - start > max_ms {
            return None;
        }
        sleep_ms(10).await;
    }
}
