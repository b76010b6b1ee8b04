//! Where each weight lives on a device, decided once for the CLI and the worker alike: q8 /
//! q4 matrices kept quantized where the backend multiplies by them, q4 as q8 where the q4
//! kernel cannot launch, a token table too large for one device buffer kept on the host,
//! and the device bytes all that takes.

use std::collections::HashMap;

use crate::checkpoint::{ModelFiles, checked_tensors};
use crate::config::Config;
use crate::error::ModelError;
use crate::names::TOKEN_TABLE;
use crate::pack::read_pack;
use crate::weights::{BLOCK, Encoding, LoadedTensors, QuantBits, QuantMatrix};

/// How [`crate::Embedder::load`] puts weights on the device.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Keep a pack's q8 / q4 matrices quantized on the device and multiply by them directly
    /// (cubecl backends: wgpu, WebGPU). Off for burn's CPU backend, which would dequantize
    /// the whole weight again in every matmul.
    pub quantized_matmul: bool,
    /// Keep the token table in host memory and gather its rows there (see [`HostTable`])
    /// when as f32 it would take more than this many bytes of one device buffer.
    pub max_table_bytes: Option<u64>,
    /// Put a pack's q4 matrices on the device as q8 codes (lossless: a q4 value is a q8
    /// value under the same block scale), at twice the q4 bytes. For adapters where
    /// cubecl's q4 matmul cannot launch: see [`q4_matmul_fits`].
    pub q4_as_q8: bool,
    /// Multiply by the projections on the host with packed kernels ([`crate::host_gemm`]),
    /// a pack's q8 / q4 matrices as this says: for burn's CPU backend, whose own matmul
    /// repacks each weight on every call.
    pub host_gemm: Option<HostGemm>,
    /// Pad each pass's token count up to a multiple of this (0 or 1: to its longest text).
    /// A GPU compiles kernels for each new sequence length it meets (1.7 s each on
    /// SwiftShader, BENCHMARKS.md), so fewer lengths mean fewer waits, while a few padding
    /// tokens cost it nothing measurable; on the CPU they are real work, so 1 there.
    pub seq_multiple: usize,
}

/// How the host's kernels multiply by a pack's q8 / q4 matrices (f32 / f16 / bf16 weights
/// always run in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostGemm {
    /// int8 × int8 → int32, as ONNX Runtime's dynamic quantization: the fastest, within
    /// cosine 0.999 of f32 (`tests/mini.rs`).
    Int8,
    /// Dequantized once when loaded, then f32: the pack's values exactly, as a GPU or an
    /// ONNX export computes them.
    F32,
}

/// What a GPU adapter allows one weight buffer, as WebGPU reports it (`None`: not said).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GpuLimits {
    pub max_storage_buffer_binding_size: Option<u64>,
    pub max_buffer_size: Option<u64>,
    /// q4 matrices go to this adapter as q8 ([`q4_matmul_fits`] said no).
    pub q4_as_q8: bool,
}

/// [`LoadOptions::seq_multiple`] on a GPU: a search query (rarely over 16 tokens) always
/// runs at one length, which loading the model has already compiled for.
pub const GPU_SEQ_MULTIPLE: usize = 16;

/// WebGPU's default `maxStorageBufferBindingSize`, assumed where the adapter says nothing.
const DEFAULT_BINDING: u64 = 128 << 20;

impl GpuLimits {
    /// The most bytes one weight buffer may take: a token table larger than this stays on
    /// the host.
    pub fn table_limit(&self) -> u64 {
        [self.max_storage_buffer_binding_size, self.max_buffer_size]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(DEFAULT_BINDING)
    }
}

impl LoadOptions {
    /// burn's CPU backend: projections packed for the host's kernels (q8 / q4 as int8),
    /// everything else as f32.
    pub fn cpu() -> Self {
        Self { host_gemm: Some(HostGemm::Int8), ..Self::default() }
    }

    /// [`Self::cpu`] with a pack's q8 / q4 matrices multiplied in f32.
    pub fn cpu_f32() -> Self {
        Self { host_gemm: Some(HostGemm::F32), ..Self::default() }
    }

    /// A GPU adapter with `limits`: q8 / q4 matrices stay quantized (q4 as q8 where the
    /// adapter needs it), and a token table over [`GpuLimits::table_limit`] stays on the host.
    pub fn gpu(limits: GpuLimits) -> Self {
        Self {
            quantized_matmul: true,
            max_table_bytes: Some(limits.table_limit()),
            q4_as_q8: limits.q4_as_q8,
            host_gemm: None,
            seq_multiple: GPU_SEQ_MULTIPLE,
        }
    }

    /// Whether `config`'s token table goes to the host.
    pub fn host_table(&self, config: &Config) -> bool {
        let bytes = config.vocab_size as u64 * config.hidden_size as u64 * 4;
        self.max_table_bytes.is_some_and(|max| bytes > max)
    }
}

/// A weight buffer larger than the adapter binds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "this model needs a {:.1} MB GPU buffer for {tensor} but this adapter's {limit} is {:.1} MB",
    *need as f64 / 1e6,
    *allowed as f64 / 1e6
)]
pub struct BufferTooLarge {
    pub tensor: String,
    pub need: u64,
    /// The WebGPU limit's name.
    pub limit: &'static str,
    pub allowed: u64,
}

impl From<BufferTooLarge> for ModelError {
    fn from(e: BufferTooLarge) -> Self {
        ModelError::Weights(e.to_string())
    }
}

/// The largest weight buffer `config` puts on an adapter with `limits` (name, bytes as f32:
/// an upper bound for a quantized matrix). A token table kept on the host does not count.
pub fn largest_buffer(config: &Config, limits: GpuLimits) -> (String, u64) {
    let hosted = LoadOptions::gpu(limits).host_table(config);
    config
        .tensor_shapes()
        .into_iter()
        .filter(|(n, _)| !(hosted && n == TOKEN_TABLE))
        .map(|(n, shape)| (n, shape.iter().map(|&d| d as u64).product::<u64>() * 4))
        .max_by_key(|(_, b)| *b)
        .unwrap_or_default()
}

/// Refuse a model whose largest weight buffer the adapter cannot bind; else that buffer's bytes.
pub fn check_limits(config: &Config, limits: GpuLimits) -> Result<u64, BufferTooLarge> {
    let (tensor, need) = largest_buffer(config, limits);
    for (limit, value) in [
        ("maxStorageBufferBindingSize", limits.max_storage_buffer_binding_size),
        ("maxBufferSize", limits.max_buffer_size),
    ] {
        if let Some(allowed) = value.filter(|&v| need > v) {
            return Err(BufferTooLarge { tensor, need, limit, allowed });
        }
    }
    Ok(need)
}

/// The adapter facts [`q4_matmul_fits`] needs, as cubecl reads them: the narrowest
/// subgroup (plane) and the device's workgroup memory.
#[cfg(feature = "wgpu")]
pub fn q4_matmul_fits_on(setup: &burn::tensor::wgpu::WgpuSetup) -> bool {
    let plane = setup.adapter.get_info().subgroup_min_size;
    q4_matmul_fits(plane, setup.device.limits().max_compute_workgroup_storage_size as u64)
}

/// Whether burn's matmul by a q4 matrix launches on an adapter whose planes (subgroups) are
/// `plane_size` wide (0: not reported) and whose workgroups get `workgroup_bytes` of shared
/// memory. cubek-matmul 0.3.1 (burn 0.22) picks one kernel for quantized weights: 8 planes
/// as a near-square stage of units, each with an 8 × 8 output tile for q4 (8 values per
/// u32), and only shrinks the partition when over budget, not that output stage. Its
/// smallest q4 kernel therefore needs 4 · 64 · (8P + stage rows + stage columns) bytes:
/// 73,728 at P = 32 (NVIDIA, which gives 49,152: the H200 run in BENCHMARKS.md), 20,480 at
/// P = 8. A failed launch is a panic inside burn, so this is checked before loading. q8
/// (4 × 4 tiles) needs a quarter of the output stage and fits everywhere seen so far.
pub fn q4_matmul_fits(plane_size: u32, workgroup_bytes: u64) -> bool {
    // cubecl-wgpu takes 8 when the adapter reports no subgroup size.
    let plane = if plane_size == 0 { 8 } else { plane_size as u64 };
    let units = 8 * plane;
    let rows = (1..=units).take_while(|d| d * d <= units).filter(|d| units % d == 0).max().unwrap_or(1);
    4 * 64 * (units + rows + units / rows) <= workgroup_bytes
}

/// Bytes of `config`'s weights on a device loaded with `options`, each tensor encoded as
/// `encoding` says: with `quantized_matmul` q8 / q4 matrices are their codes (q4 as q8 where
/// `q4_as_q8`) plus one f32 scale per block, with [`HostGemm::Int8`] int8 codes plus one f32
/// scale per row; the token table (gathered, not multiplied),
/// norms and everything else are f32.
pub fn device_bytes(config: &Config, encoding: impl Fn(&str, &[usize]) -> Encoding, options: LoadOptions) -> u64 {
    config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let n = shape.iter().map(|&d| d as u64).product::<u64>();
            let multiplied = options.quantized_matmul && name != TOKEN_TABLE;
            let host_int8 = options.host_gemm == Some(HostGemm::Int8) && name != TOKEN_TABLE;
            match encoding(name, shape) {
                // int8 codes and one f32 scale per row (output).
                Encoding::Q8 | Encoding::Q4 if host_int8 => n + shape[0] as u64 * 4,
                Encoding::Q4 if multiplied && !options.q4_as_q8 => n / 2 + n / BLOCK as u64 * 4,
                Encoding::Q8 | Encoding::Q4 if multiplied => n + n / BLOCK as u64 * 4,
                _ => n * 4,
            }
        })
        .sum()
}

/// The checkpoint's tensors for putting on a device: checked f32 tensors, except that a
/// pack's q8 / q4 tensors stay as stored where `options` multiply by them directly
/// (matrices) or gather from them on the host (the token table).
pub fn device_tensors(files: &ModelFiles, options: LoadOptions) -> Result<LoadedTensors, ModelError> {
    let host_table = options.host_table(&files.config);
    let keep = |name: &str| {
        if name == TOKEN_TABLE {
            host_table
        } else {
            options.quantized_matmul || options.host_gemm == Some(HostGemm::Int8)
        }
    };
    let mut tensors = match &files.pack {
        Some(manifest) => read_pack(manifest, &files.shards, keep)?,
        None => LoadedTensors { dense: checked_tensors(&files.config, &files.shards)?, quantized: HashMap::new() },
    };
    if options.q4_as_q8 {
        for (name, q) in tensors.quantized.iter_mut() {
            // The table is gathered on the host, never multiplied: it stays as stored.
            if q.bits == QuantBits::Q4 && name != TOKEN_TABLE {
                *q = q.to_q8();
            }
        }
    }
    Ok(tensors)
}

/// The token table kept in host memory: each batch's rows are gathered here and uploaded as
/// `[batch, seq, hidden]`. For tables larger than one device buffer may be (the full
/// Conan-v2 table is 2.15 GB as f32; WebGPU adapters bind 128 MiB to a few GiB). Rows stay
/// as the checkpoint stores them, so a q8 table holds a quarter of its f32 bytes.
pub enum HostTable {
    F32 { values: Vec<f32>, cols: usize },
    Quantized(QuantMatrix),
}

impl HostTable {
    /// The rows of `ids`, one after another, as f32. Ids are checked against the vocabulary
    /// before they come here.
    pub fn rows(&self, ids: &[u32]) -> Vec<f32> {
        match self {
            HostTable::F32 { values, cols } => {
                ids.iter().flat_map(|&id| &values[id as usize * cols..(id as usize + 1) * cols]).copied().collect()
            }
            HostTable::Quantized(q) => {
                let mut out = Vec::with_capacity(ids.len() * q.cols);
                for &id in ids {
                    q.row_into(id as usize, &mut out);
                }
                out
            }
        }
    }

    pub fn bytes(&self) -> u64 {
        match self {
            HostTable::F32 { values, .. } => values.len() as u64 * 4,
            HostTable::Quantized(q) => q.bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::PackOptions;

    #[test]
    fn q4_matmul_fits_matches_the_kernels_seen() {
        // NVIDIA over Vulkan: 32-wide planes, 48 KiB: the q4 kernel asked for 73,728 bytes.
        assert!(!q4_matmul_fits(32, 49_152));
        assert!(q4_matmul_fits(32, 73_728));
        assert!(!q4_matmul_fits(32, 73_727));
        // 8-wide planes (and no reported size, which cubecl treats as 8): 20,480 bytes.
        assert!(q4_matmul_fits(8, 32_768));
        assert!(q4_matmul_fits(0, 20_480));
        assert!(!q4_matmul_fits(8, 16_384));
        // 4-wide planes: a 4 × 8 stage, 11,264 bytes.
        assert!(q4_matmul_fits(4, 11_264));
        assert!(!q4_matmul_fits(4, 11_263));
    }

    #[test]
    fn device_bytes_of_the_full_size_q4_pack() {
        let c = Config::conan_v2();
        let opts = PackOptions::new(Encoding::Q4);
        let gpu = LoadOptions { quantized_matmul: true, ..Default::default() };
        let q4 = device_bytes(&c, |n, s| opts.encoding_of(n, s), gpu);
        let table = 150_000 * 3584 * 4;
        // The body: 961,544,192 matrix values at 4 bits plus an f32 scale per 32; 60,928 norm values.
        let body = 961_544_192 / 2 + 961_544_192 / 32 * 4 + 60_928 * 4;
        assert_eq!(q4, table + body);
        assert!(body < 602_000_000, "{body}");
        assert_eq!(device_bytes(&c, |n, s| opts.encoding_of(n, s), LoadOptions::default()), c.num_params() * 4);
        // An adapter that takes q4 as q8: a byte per matrix value.
        let as_q8 = device_bytes(&c, |n, s| opts.encoding_of(n, s), LoadOptions { q4_as_q8: true, ..gpu });
        assert_eq!(as_q8, q4 + 961_544_192 / 2);
    }

    #[test]
    fn gpu_limits_decide_the_table_and_refuse_oversized_buffers() {
        let c = Config::conan_v2();
        // No limits reported: WebGPU's 128 MiB default; the 2.15 GB table goes to the host.
        let unknown = GpuLimits::default();
        assert_eq!(unknown.table_limit(), 128 << 20);
        assert!(LoadOptions::gpu(unknown).host_table(&c));
        let big =
            GpuLimits { max_storage_buffer_binding_size: Some(4 << 30), max_buffer_size: Some(3 << 30), ..unknown };
        assert_eq!(big.table_limit(), 3 << 30);
        assert!(!LoadOptions::gpu(big).host_table(&c));
        // With the table hosted, the largest buffer is an FFN matrix: 8192 × 3584 f32.
        assert_eq!(largest_buffer(&c, unknown).1, 8192 * 3584 * 4);
        let small = GpuLimits { max_storage_buffer_binding_size: Some(100 << 20), ..unknown };
        let err = check_limits(&c, small).unwrap_err();
        assert_eq!(err.limit, "maxStorageBufferBindingSize");
        assert!(err.to_string().starts_with("this model needs a 117.4 MB GPU buffer for "), "{err}");
        assert_eq!(check_limits(&c, unknown), Ok(8192 * 3584 * 4));
    }
}
