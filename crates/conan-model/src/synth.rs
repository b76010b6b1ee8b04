//! Seeded random checkpoints in Hugging Face layout, so full-size speed and memory work
//! needs no real weights. Tensors are generated lazily while the file is written, one at
//! a time, so a 1.5B-parameter checkpoint never sits in memory twice.

use std::borrow::Cow;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use safetensors::{Dtype, View};

use crate::config::{Config, Pooling};
use crate::error::ModelError;
use crate::names::TOKEN_TABLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightDtype {
    F32,
    F16,
    BF16,
}

impl WeightDtype {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(Self::F32),
            "f16" => Some(Self::F16),
            "bf16" => Some(Self::BF16),
            _ => None,
        }
    }

    fn safetensors(self) -> Dtype {
        match self {
            Self::F32 => Dtype::F32,
            Self::F16 => Dtype::F16,
            Self::BF16 => Dtype::BF16,
        }
    }

    fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
        }
    }
}

/// One tensor, generated when the writer asks for its bytes.
struct SynthTensor {
    dtype: WeightDtype,
    shape: Vec<usize>,
    seed: u64,
    stream: u64,
    /// value = center + spread · u, u uniform in [-1, 1)
    center: f32,
    spread: f32,
}

impl SynthTensor {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

impl View for SynthTensor {
    fn dtype(&self) -> Dtype {
        self.dtype.safetensors()
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        // One ChaCha stream per tensor: a tensor's values do not depend on the others.
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.stream);
        let mut out = Vec::with_capacity(self.len() * self.dtype.bytes());
        for _ in 0..self.len() {
            let u = (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
            let v = self.center + self.spread * u;
            match self.dtype {
                WeightDtype::F32 => out.extend_from_slice(&v.to_le_bytes()),
                WeightDtype::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                WeightDtype::BF16 => out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            }
        }
        Cow::Owned(out)
    }

    fn data_len(&self) -> usize {
        self.len() * self.dtype.bytes()
    }
}

/// Write `config.json` (marked synthetic), `model.safetensors` and `tokenizer.json` to
/// `out`. Returns the number of bytes of weights written.
pub fn write_synthetic(
    config: &Config,
    seed: u64,
    dtype: WeightDtype,
    tokenizer_json: &str,
    out: &Path,
) -> Result<u64, ModelError> {
    config.validate()?;
    let io = ModelError::io;
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;

    let mut config = config.clone();
    config.synthetic = true;
    if config.model_type != "conan" {
        // The open relatives state pooling the sentence-transformers way.
        let pooling = config.pooling();
        config.pooling = None;
        let dir = out.join("1_Pooling");
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let flags = serde_json::json!({
            "word_embedding_dimension": config.hidden_size,
            "pooling_mode_cls_token": pooling == Pooling::Cls,
            "pooling_mode_mean_tokens": pooling == Pooling::Mean,
            "pooling_mode_lasttoken": pooling == Pooling::LastToken,
        });
        let path = dir.join("config.json");
        std::fs::write(&path, serde_json::to_string_pretty(&flags).unwrap() + "\n").map_err(|e| io(&path, e))?;
    }
    let tensors: Vec<(String, SynthTensor)> = config
        .tensor_shapes()
        .into_iter()
        .enumerate()
        .map(|(stream, (name, shape))| {
            let (center, spread) = if name.ends_with("norm.weight") {
                (1.0, 0.2) // norm gains near 1, but not exactly, so the test sees them
            } else if name.ends_with(".bias") {
                (0.0, 0.1)
            } else if name == TOKEN_TABLE {
                (0.0, 1.0)
            } else {
                // Uniform with variance 1/fan_in keeps activations O(1) through the stack.
                (0.0, (3.0 / shape[1] as f32).sqrt())
            };
            let tensor = SynthTensor { dtype, shape, seed, stream: stream as u64, center, spread };
            (format!("model.{name}"), tensor)
        })
        .collect();
    let bytes: u64 = tensors.iter().map(|(_, t)| t.data_len() as u64).sum();

    let weights = out.join("model.safetensors");
    safetensors::serialize_to_file(tensors, None, &weights)
        .map_err(|e| ModelError::from_safetensors_write(&weights, e))?;
    let config_path = out.join("config.json");
    std::fs::write(&config_path, config.to_json() + "\n").map_err(|e| io(&config_path, e))?;
    let tok_path = out.join("tokenizer.json");
    std::fs::write(&tok_path, tokenizer_json).map_err(|e| io(&tok_path, e))?;
    Ok(bytes)
}

/// `count` token ids below `vocab` from a fixed LCG: the ids `conan bench` and the `pass`
/// example time, the same on every run, backend and target (`tools/bench_ids.py` mirrors it).
pub fn bench_ids(count: usize, vocab: usize) -> Vec<u32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % vocab as u64) as u32
        })
        .collect()
}
