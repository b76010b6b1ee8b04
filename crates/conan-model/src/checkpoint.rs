//! A model's files, read and checked: a conan pack (`manifest.json` and verified shards) or
//! a Hugging Face folder (`config.json`, optional `1_Pooling/config.json`, `tokenizer.json`,
//! and `model.safetensors` or a sharded `model.safetensors.index.json`). A Hugging Face
//! checkpoint's tensors are checked against the config before any is used, so a bad one is
//! refused whole with the tensor's name and both shapes.

use std::collections::{BTreeMap, HashMap};

use safetensors::SafeTensors;
use serde::Deserialize;

use crate::config::{Config, Pooling};
use crate::error::ModelError;
use crate::names::ignorable;
use crate::pack::{Manifest, read_tensors, sha256_hex};
use crate::source::{FileSource, MAX_JSON_BYTES, MAX_TOKENIZER_BYTES, MAX_WEIGHTS_FILE_BYTES};
use crate::weights::{HostTensor, decode_floats, parse_safetensors};

/// Everything a model needs, read but not yet checked against a device.
pub struct ModelFiles {
    pub config: Config,
    pub tokenizer_json: Vec<u8>,
    /// `(file name, bytes)` of each safetensors shard (HF checkpoint or pack).
    pub shards: Vec<(String, Vec<u8>)>,
    /// Set when the folder is a conan pack; its shards are already size- and hash-checked.
    pub pack: Option<Manifest>,
}

impl ModelFiles {
    /// A short hash that changes whenever the vectors could: the config, the tokenizer and
    /// every weight byte. Stored search indexes are keyed by it, so a changed model never
    /// serves stale vectors. A pack's shards are named by their manifest hashes (already
    /// verified), so only an HF folder's weights are hashed here.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&self.config).unwrap_or_default());
        h.update(sha256_hex(&self.tokenizer_json));
        match &self.pack {
            Some(m) => m.shards.iter().for_each(|s| h.update(&s.sha256)),
            None => self.shards.iter().for_each(|(_, b)| h.update(sha256_hex(b))),
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ModelError> {
    std::str::from_utf8(bytes).map_err(|e| ModelError::Config(format!("{what} is not UTF-8: {e}")))
}

/// Read a model's files: a conan pack (`manifest.json`) or a Hugging Face folder. The
/// config is validated, pack shards are verified; tensors are checked in [`host_tensors`].
pub async fn read_files(src: &impl FileSource) -> Result<ModelFiles, ModelError> {
    if let Some(bytes) = src.read("manifest.json", MAX_JSON_BYTES).await? {
        let manifest = Manifest::from_json(&bytes)?;
        let tokenizer_json = src.require(&manifest.tokenizer, MAX_TOKENIZER_BYTES).await?;
        src.before_shards(&manifest).await?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for entry in &manifest.shards {
            shards.push((entry.file.clone(), src.read_shard(entry).await?));
        }
        return Ok(ModelFiles { config: manifest.config.clone(), tokenizer_json, shards, pack: Some(manifest) });
    }
    let config_bytes = src.require("config.json", MAX_JSON_BYTES).await?;
    let mut config = Config::from_json(utf8(&config_bytes, "config.json")?)?;

    // sentence-transformers' pooling file overrides the family default.
    if config.pooling.is_none()
        && let Some(bytes) = src.read("1_Pooling/config.json", MAX_JSON_BYTES).await?
    {
        let p: PoolingConfig =
            serde_json::from_slice(&bytes).map_err(|e| ModelError::Config(format!("1_Pooling/config.json: {e}")))?;
        config.pooling = Some(match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token, p.pooling_mode_lasttoken) {
            (true, false, false) => Pooling::Mean,
            (false, true, false) => Pooling::Cls,
            (false, false, true) => Pooling::LastToken,
            _ => {
                return Err(ModelError::Config(
                    "1_Pooling/config.json must enable exactly one of mean, cls, lasttoken".into(),
                ));
            }
        });
    }

    let tokenizer_json = src.require("tokenizer.json", MAX_TOKENIZER_BYTES).await?;

    let shards = match src.read("model.safetensors.index.json", MAX_JSON_BYTES).await? {
        Some(bytes) => {
            let index: ShardIndex = serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Weights(format!("model.safetensors.index.json: {e}")))?;
            let mut files: Vec<String> = index.weight_map.into_values().collect();
            files.sort();
            files.dedup();
            let mut shards = Vec::with_capacity(files.len());
            for file in files {
                if !conan_fs::plain_file_name(&file) {
                    return Err(ModelError::Weights(format!("shard name {file:?} leaves the model folder")));
                }
                let bytes = src.require(&file, MAX_WEIGHTS_FILE_BYTES).await?;
                shards.push((file, bytes));
            }
            shards
        }
        None => {
            vec![("model.safetensors".to_string(), src.require("model.safetensors", MAX_WEIGHTS_FILE_BYTES).await?)]
        }
    };
    Ok(ModelFiles { config, tokenizer_json, shards, pack: None })
}

/// The checkpoint's tensors as f32 in HF layout, each checked against the config.
pub fn host_tensors(files: &ModelFiles) -> Result<HashMap<String, HostTensor>, ModelError> {
    match &files.pack {
        Some(manifest) => read_tensors(manifest, &files.shards),
        None => checked_tensors(&files.config, &files.shards),
    }
}

/// The checkpoint's tensors by name (without `model.`), checked against `config`:
/// every expected tensor present once with its exact shape, nothing unexpected, a float
/// dtype, and finite values.
pub(crate) fn checked_tensors(
    config: &Config,
    shards: &[(String, Vec<u8>)],
) -> Result<HashMap<String, HostTensor>, ModelError> {
    let parsed: Vec<(&str, SafeTensors)> = shards
        .iter()
        .map(|(file, bytes)| parse_safetensors(file, bytes).map(|st| (file.as_str(), st)))
        .collect::<Result<_, _>>()?;

    let mut views = HashMap::new();
    for (file, st) in &parsed {
        for (raw_name, view) in st.iter() {
            let name = raw_name.strip_prefix("model.").unwrap_or(raw_name);
            if ignorable(name) {
                continue;
            }
            if views.insert(name.to_string(), (*file, raw_name, view)).is_some() {
                return Err(ModelError::Weights(format!("tensor {name} appears more than once")));
            }
        }
    }

    let expected = config.tensor_shapes();
    let mut out = HashMap::with_capacity(expected.len());
    for (name, shape) in expected {
        let Some((file, raw_name, view)) = views.remove(&name) else {
            return Err(ModelError::Weights(format!(
                "missing tensor {name} (expected shape {shape:?}) in {}",
                shards.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        if view.shape() != shape.as_slice() {
            return Err(ModelError::Weights(format!(
                "tensor {raw_name} in {file} has shape {:?} but the config needs {shape:?}",
                view.shape()
            )));
        }
        let values = decode_floats(view.dtype(), view.data()).map_err(|dtype| {
            ModelError::Weights(format!("tensor {raw_name} in {file} has dtype {dtype}; expected F32, F16 or BF16"))
        })?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Weights(format!(
                "tensor {raw_name} in {file} holds a non-finite value ({}) at element {i}",
                values[i]
            )));
        }
        out.insert(name, HostTensor { values, shape });
    }
    if let Some((name, (file, _, view))) = views.iter().min_by_key(|(n, _)| n.as_str()) {
        return Err(ModelError::Weights(format!(
            "unexpected tensor {name} {:?} in {file}: the config does not use it",
            view.shape()
        )));
    }
    Ok(out)
}
