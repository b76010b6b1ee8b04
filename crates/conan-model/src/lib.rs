//! tokens → model → vectors: the Conan-Embedding-v2 architecture in burn.
//!
//! Modules depend in one direction, leaves first:
//! - [`error`], [`names`] (the one table of tensor names): leaves.
//! - [`config`]: one `Config` for Conan and its open relatives (Llama, Qwen2, Qwen3).
//! - [`weights`]: host tensors, quantized matrices, encodings, safetensors decoding.
//! - [`pack`]: quantized model packs (manifest + hashed shards ≤ 128 MiB): format, write, read.
//! - [`source`]: where files come from (folder, memory, zip); [`checkpoint`]: a model's
//!   files read and checked (pack or Hugging Face folder).
//! - [`placement`]: which weights go where on a device (one policy for CLI and worker).
//! - [`host_gemm`]: the CPU backend's projections, packed once and multiplied on the host
//!   (f32, or int8 for q8 / q4 packs).
//! - [`model`]: the forward pass (attention, RoPE, masks, pooling), made from a config.
//! - [`build`]: checked tensors → a model on a device.
//! - [`embed`]: tokenizer + model on one device.
//! - [`synth`]: seeded random checkpoints; [`save`]: modules back to Hugging Face layout.

pub mod build;
pub mod checkpoint;
pub mod config;
pub mod embed;
pub mod error;
pub mod host_gemm;
pub mod model;
pub mod names;
pub mod onnx;
pub mod pack;
pub mod placement;
pub mod save;
pub mod source;
pub mod synth;
pub mod weights;

pub use build::{build_model, build_placed};
pub use burn;
pub use checkpoint::{ModelFiles, host_tensors, read_files};
pub use config::{Config, Pooling};
pub use embed::{AttentionMap, Embedder, Embeddings, length_sorted_batches};
pub use error::ModelError;
pub use model::{AttentionMode, ConanModel, TokenInput, soft_mask_bias};
pub use names::TOKEN_TABLE;
#[cfg(feature = "wgpu")]
pub use placement::q4_matmul_fits_on;
pub use placement::{GpuLimits, HostGemm, HostTable, LoadOptions, q4_matmul_fits};
pub use source::{DirSource, FileSource, MemorySource};
pub use weights::HostTensor;
