//! Model packs: what the browser downloads. A folder with `manifest.json` and safetensors
//! shards of at most [`SHARD_LIMIT`] bytes, each listed with size and SHA-256.
//!
//! Encodings (per tensor; vectors such as norms and biases always stay f32):
//! - `f32`, `f16`: plain values.
//! - `q8`: symmetric per-block int8, blocks of [`BLOCK`] along the input dimension (the
//!   columns of an HF `[out, in]` matrix), one f16 scale per block: `w ≈ q · s`, q ∈ [−127, 127].
//! - `q4`: the same with 4-bit q ∈ [−8, 7], two per byte (low nibble first), stored as q + 8.
//!
//! A tensor larger than a shard is split by rows into parts. Loading checks every shard's
//! size and hash before anything is decoded, so a damaged pack is refused whole.
//!
//! - [`format`]: the manifest and shard checks.
//! - [`quant`]: block quantization.
//! - [`write`]: writing a pack and estimating its size.
//! - [`read`]: decoding a verified pack's tensors.

pub mod format;
pub mod quant;
pub mod read;
pub mod write;

pub use crate::weights::{BLOCK, Encoding, QuantBits, QuantMatrix};
pub use format::{
    FORMAT, Manifest, Part, Quantization, SHARD_LIMIT, ShardEntry, TensorEntry, VERSION, sha256_hex, verify_shard,
};
pub use quant::round_trip;
pub use read::{read_pack, read_tensors};
pub use write::{PackOptions, estimate_bytes, write_pack};
