//! tokens → model → vectors: the Conan-Embedding-v2 architecture in burn.
//!
//! - [`config`]: one `Config` for Conan and its open relatives (Llama, Qwen2, Qwen3).
//! - [`model`]: the backend-generic forward pass.
//! - [`load`]: Hugging Face checkpoints (safetensors, sharded or not) → modules.
//! - [`embed`]: tokenizer + model on one device.
//! - [`pack`]: quantized model packs (manifest + hashed shards ≤ 128 MiB).
//! - [`synth`]: seeded random checkpoints for speed and memory work.
//! - [`save`]: modules back to Hugging Face layout (for trained models).

pub mod config;
pub mod embed;
pub mod error;
pub mod load;
pub mod model;
pub mod pack;
pub mod save;
pub mod synth;

pub use burn;
pub use config::{Config, Pooling, TOKEN_TABLE};
#[cfg(feature = "wgpu")]
pub use embed::q4_matmul_fits_on;
pub use embed::{AttentionMap, Embedder, Embeddings, HostTable, LoadOptions, q4_matmul_fits};
pub use error::ModelError;
pub use load::{DirSource, FileSource, HostTensor, MemorySource, ModelFiles, build_model, host_tensors, read_files};
pub use model::{AttentionMode, ConanModel, soft_mask_bias};
