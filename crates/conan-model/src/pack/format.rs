//! A pack's format: `manifest.json` (format, config, tokenizer file, quantization, every
//! tensor's encoding and where its rows live) and the shards' sizes and hashes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ModelError;
use crate::weights::Encoding;

/// WebGPU's default `maxStorageBufferBindingSize`.
pub const SHARD_LIMIT: usize = 128 << 20;
pub const FORMAT: &str = "conan-pack";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub shard: usize,
    /// Rows `start..end` of the tensor.
    pub rows: [usize; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub encoding: Encoding,
    pub shape: Vec<usize>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// What matrices were asked to become: f32, f16, q8 or q4.
    pub scheme: Encoding,
    /// The token-embedding table's encoding.
    pub table: Encoding,
    pub block_size: usize,
    pub scale_dtype: String,
    pub symmetric: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub config: Config,
    pub tokenizer: String,
    pub quantization: Quantization,
    pub parameters: u64,
    pub tensors: BTreeMap<String, TensorEntry>,
    pub shards: Vec<ShardEntry>,
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Weights(format!("manifest.json: {e}")))?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(ModelError::Weights(format!(
                "manifest.json: format {:?} version {} is not {FORMAT} version {VERSION}",
                m.format, m.version
            )));
        }
        m.config.validate()?;
        for (i, s) in m.shards.iter().enumerate() {
            if !plain_file_name(&s.file) {
                return Err(ModelError::Weights(format!(
                    "manifest.json: shard {i} has an unsafe file name {:?}",
                    s.file
                )));
            }
        }
        // The loader reads this name inside the model folder (or below its URL): it must
        // not reach outside it.
        if !plain_file_name(&m.tokenizer) {
            return Err(ModelError::Weights(format!(
                "manifest.json: the tokenizer {:?} is not a plain file name inside the model folder",
                m.tokenizer
            )));
        }
        Ok(m)
    }

    /// Total bytes of all shards, what a browser downloads besides the tokenizer.
    /// Saturating: sizes come from a file, and a wrapped sum (2^64 − 100 plus 200 is 100)
    /// would pass a size check that the real download then blows through.
    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().fold(0u64, |sum, s| sum.saturating_add(s.bytes))
    }
}

pub use conan_fs::plain_file_name;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Check a shard's bytes against its manifest entry.
pub fn verify_shard(entry: &ShardEntry, bytes: &[u8]) -> Result<(), ModelError> {
    if bytes.len() as u64 != entry.bytes {
        return Err(ModelError::Weights(format!(
            "shard {} is {} bytes but the manifest says {} (truncated or replaced)",
            entry.file,
            bytes.len(),
            entry.bytes
        )));
    }
    let hash = sha256_hex(bytes);
    if hash != entry.sha256 {
        return Err(ModelError::Weights(format!(
            "shard {} fails its SHA-256 check (got {}, manifest says {})",
            entry.file,
            &hash[..16],
            &entry.sha256[..entry.sha256.len().min(16)]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokenizer_outside_the_folder_is_refused() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/models/conan-mini/q8/manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(Manifest::from_json(m.to_string().as_bytes()).is_ok());
        for bad in ["../outside/tok.json", "/etc/passwd"] {
            m["tokenizer"] = bad.into();
            let err = Manifest::from_json(m.to_string().as_bytes()).err().unwrap().to_string();
            assert!(err.contains("not a plain file name"), "{err}");
        }
    }

    #[test]
    fn shard_sizes_that_overflow_do_not_wrap() {
        let shard = |bytes| ShardEntry { file: "s".into(), bytes, sha256: String::new() };
        let quantization = Quantization {
            scheme: Encoding::Q8,
            table: Encoding::Q8,
            block_size: 32,
            scale_dtype: "f16".into(),
            symmetric: true,
        };
        let mut m = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            config: Config::tiny(),
            tokenizer: "tokenizer.json".into(),
            quantization,
            parameters: 0,
            tensors: BTreeMap::new(),
            shards: vec![shard(u64::MAX - 99), shard(200)],
        };
        assert_eq!(m.total_bytes(), u64::MAX);
        m.shards = vec![shard(100), shard(200)];
        assert_eq!(m.total_bytes(), 300);
    }
}
