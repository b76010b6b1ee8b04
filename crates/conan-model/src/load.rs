//! Loading a Hugging Face–layout checkpoint: `config.json`, optional
//! `1_Pooling/config.json`, `tokenizer.json`, and `model.safetensors` or a sharded
//! `model.safetensors.index.json`. Files come from a [`FileSource`] (a folder natively, HTTP
//! in the browser); the tensors are checked against the config before any is uploaded, so
//! a bad checkpoint is refused whole with the tensor's name and both shapes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use burn::module::Param;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::config::{Config, Pooling, TOKEN_TABLE};
use crate::embed::HostTable;
use crate::error::ModelError;
use crate::model::{Attention, ConanModel, Layer, Mlp};
use crate::pack::{Manifest, PackTensors, QuantMatrix, ShardEntry, verify_shard};

/// Where a model's files come from. Paths are relative to the model root, `/`-separated.
#[allow(async_fn_in_trait)] // used on one thread (the browser worker or the CLI)
pub trait FileSource {
    /// The file's bytes, or `Ok(None)` when it does not exist.
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ModelError>;
    /// Where the files come from, for messages.
    fn describe(&self) -> String;

    /// The file's bytes; a missing file is an error naming it.
    async fn require(&self, path: &str) -> Result<Vec<u8>, ModelError> {
        self.read(path).await?.ok_or_else(|| ModelError::Io(format!("{}: {path} not found", self.describe())))
    }

    /// Called once a pack's manifest is read, before any shard is: a source can refuse a
    /// pack the device cannot hold, or announce the download, before fetching anything.
    async fn before_shards(&self, _manifest: &Manifest) -> Result<(), ModelError> {
        Ok(())
    }

    /// One pack shard, already checked against its size and SHA-256. A caching source
    /// overrides this to serve verified copies and refetch bad ones.
    async fn read_shard(&self, entry: &ShardEntry) -> Result<Vec<u8>, ModelError> {
        let bytes = self
            .read(&entry.file)
            .await?
            .ok_or_else(|| ModelError::Weights(format!("shard {} is missing from {}", entry.file, self.describe())))?;
        verify_shard(entry, &bytes)?;
        Ok(bytes)
    }
}

/// A model folder held in memory (e.g. picked from disk in the browser). Paths may carry
/// the picked folder's name as a common first component; it is ignored.
pub struct MemorySource {
    pub label: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl MemorySource {
    pub fn new(label: impl Into<String>, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let files: Vec<(String, Vec<u8>)> = files.into_iter().collect();
        let first = |p: &str| p.split_once('/').map(|(a, _)| a.to_string());
        let common = files
            .first()
            .and_then(|(p, _)| first(p))
            .filter(|c| files.iter().all(|(p, _)| first(p).as_deref() == Some(c)));
        let files = files
            .into_iter()
            .map(|(p, b)| match &common {
                Some(c) => (p[c.len() + 1..].to_string(), b),
                None => (p, b),
            })
            .collect();
        Self { label: label.into(), files }
    }
}

impl MemorySource {
    /// A model folder packed in a zip (at its root or inside one folder). Entries are read
    /// whole; the archive may hold at most 3 GiB uncompressed (wasm has 4 GiB in all), and
    /// a size field past that is refused before anything is allocated.
    pub fn from_zip(label: impl Into<String>, bytes: &[u8]) -> Result<Self, ModelError> {
        const MAX_TOTAL: u64 = 3 << 30;
        let label = label.into();
        let bad = |e: zip::result::ZipError| ModelError::Io(format!("{label}: not a readable zip ({e})"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
        let mut files = Vec::new();
        let mut total = 0u64;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(bad)?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().map_err(bad)?.to_string();
            total = total.saturating_add(entry.size());
            if total > MAX_TOTAL {
                return Err(ModelError::Io(format!(
                    "{label}: more than {} GiB uncompressed; load the folder instead",
                    MAX_TOTAL >> 30
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, MAX_TOTAL), &mut data)
                .map_err(|e| ModelError::Io(format!("{label}: {name}: {e}")))?;
            files.push((name, data));
        }
        if files.is_empty() {
            return Err(ModelError::Io(format!("{label}: the zip holds no files")));
        }
        Ok(Self::new(label, files))
    }
}

impl FileSource for MemorySource {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ModelError> {
        Ok(self.files.get(path).cloned())
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// A model folder on disk.
pub struct DirSource(pub PathBuf);

impl FileSource for DirSource {
    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ModelError> {
        let full = self.0.join(path);
        match std::fs::read(&full) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ModelError::Io(format!("{}: {e}", full.display()))),
        }
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }
}

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
        h.update(crate::pack::sha256_hex(&self.tokenizer_json));
        match &self.pack {
            Some(m) => m.shards.iter().for_each(|s| h.update(&s.sha256)),
            None => self.shards.iter().for_each(|(_, b)| h.update(crate::pack::sha256_hex(b))),
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
    if let Some(bytes) = src.read("manifest.json").await? {
        let manifest = Manifest::from_json(&bytes)?;
        let tokenizer_json = src.require(&manifest.tokenizer).await?;
        src.before_shards(&manifest).await?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        for entry in &manifest.shards {
            shards.push((entry.file.clone(), src.read_shard(entry).await?));
        }
        return Ok(ModelFiles { config: manifest.config.clone(), tokenizer_json, shards, pack: Some(manifest) });
    }
    let config_bytes = src.require("config.json").await?;
    let mut config = Config::from_json(utf8(&config_bytes, "config.json")?)?;

    // sentence-transformers' pooling file overrides the family default.
    if config.pooling.is_none() {
        if let Some(bytes) = src.read("1_Pooling/config.json").await? {
            let p: PoolingConfig = serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Config(format!("1_Pooling/config.json: {e}")))?;
            config.pooling =
                Some(match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token, p.pooling_mode_lasttoken) {
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
    }

    let tokenizer_json = src.require("tokenizer.json").await?;

    let shards = match src.read("model.safetensors.index.json").await? {
        Some(bytes) => {
            let index: ShardIndex = serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Weights(format!("model.safetensors.index.json: {e}")))?;
            let mut files: Vec<String> = index.weight_map.into_values().collect();
            files.sort();
            files.dedup();
            let mut shards = Vec::with_capacity(files.len());
            for file in files {
                if file.contains("..") || file.starts_with('/') {
                    return Err(ModelError::Weights(format!("shard name {file:?} leaves the model folder")));
                }
                let bytes = src.require(&file).await?;
                shards.push((file, bytes));
            }
            shards
        }
        None => vec![("model.safetensors".to_string(), src.require("model.safetensors").await?)],
    };
    Ok(ModelFiles { config, tokenizer_json, shards, pack: None })
}

/// The checkpoint's tensors as f32 in HF layout, each checked against the config.
pub fn host_tensors(files: &ModelFiles) -> Result<HashMap<String, HostTensor>, ModelError> {
    match &files.pack {
        Some(manifest) => crate::pack::read_tensors(manifest, &files.shards),
        None => checked_tensors(&files.config, &files.shards),
    }
}

/// The checkpoint's tensors for putting on a device: as [`host_tensors`], except that a
/// pack's q8 / q4 tensors stay as stored where `options` multiply by them directly
/// (matrices) or gather from them on the host (the token table).
pub fn device_tensors(files: &ModelFiles, options: crate::LoadOptions) -> Result<PackTensors, ModelError> {
    let host_table = options.host_table(&files.config);
    let keep = |name: &str| if name == TOKEN_TABLE { host_table } else { options.quantized_matmul };
    let mut tensors = match &files.pack {
        Some(manifest) => crate::pack::read_pack(manifest, &files.shards, keep)?,
        None => PackTensors { f32: checked_tensors(&files.config, &files.shards)?, quantized: HashMap::new() },
    };
    if options.q4_as_q8 {
        for (name, q) in tensors.quantized.iter_mut() {
            // The table is gathered on the host, never multiplied: it stays as stored.
            if q.bits4 && name != TOKEN_TABLE {
                *q = q.to_q8();
            }
        }
    }
    Ok(tensors)
}

/// Tensors some checkpoints carry that an encoder does not use.
fn ignorable(name: &str) -> bool {
    name == "lm_head.weight" || name.ends_with("rotary_emb.inv_freq")
}

/// A checked tensor, as f32 in the checkpoint's (HF) layout.
pub struct HostTensor {
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
}

/// One safetensors file (a checkpoint's or a pack's shard), parsed with its name in any error.
pub(crate) fn parse_safetensors<'a>(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>, ModelError> {
    if let Some(name) = duplicate_tensor(bytes) {
        return Err(ModelError::Weights(format!("{file}: tensor {name} appears more than once in the header")));
    }
    SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::Weights(format!("{file}: not a valid safetensors file: {e}")))
}

/// A safetensors header that names one tensor twice: JSON parsers keep the last value, so
/// the safetensors crate would silently use one of the two. Refuse it instead.
fn duplicate_tensor(bytes: &[u8]) -> Option<String> {
    struct Keys(Option<String>);
    impl<'de> serde::de::Visitor<'de> for &mut Keys {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    self.0 = Some(key);
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    let mut keys = Keys(None);
    // A header that is not a JSON object is left for the safetensors crate to report.
    serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_slice(header), &mut keys).ok()?;
    keys.0
}

/// The checkpoint's tensors by name (without `model.`), checked against `config`:
/// every expected tensor present once with its exact shape, nothing unexpected, a float
/// dtype, and finite values.
fn checked_tensors(config: &Config, shards: &[(String, Vec<u8>)]) -> Result<HashMap<String, HostTensor>, ModelError> {
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
        let values = to_f32(view.dtype(), view.data()).map_err(|dtype| {
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

fn to_f32(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, Dtype> {
    Ok(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(other),
    })
}

/// Builds modules from checked host tensors.
struct Builder<'a> {
    tensors: HashMap<String, HostTensor>,
    quantized: HashMap<String, QuantMatrix>,
    device: &'a Device,
}

impl Builder<'_> {
    fn take(&mut self, name: &str) -> HostTensor {
        if let Some(q) = self.quantized.remove(name) {
            return HostTensor { values: q.dequantize(), shape: vec![q.rows, q.cols] };
        }
        // checked_tensors guaranteed presence; a miss here is a bug in this file.
        self.tensors.remove(name).unwrap_or_else(|| panic!("tensor {name} was not checked"))
    }

    fn vector(&mut self, name: &str) -> Param<Tensor<1>> {
        let t = self.take(name);
        Param::from_tensor(Tensor::from_data(TensorData::new(t.values, [t.shape[0]]), self.device))
    }

    /// HF stores projections as `[out, in]`; burn's `Linear` multiplies by `[in, out]`.
    fn linear(&mut self, prefix: &str, bias: bool) -> Linear {
        let weight = match self.quantized.remove(&format!("{prefix}.weight")) {
            Some(q) => quantized_weight(&q, self.device),
            None => {
                let t = self.take(&format!("{prefix}.weight"));
                let (rows, cols) = (t.shape[0], t.shape[1]);
                let mut transposed = vec![0.0f32; rows * cols];
                for r in 0..rows {
                    for c in 0..cols {
                        transposed[c * rows + r] = t.values[r * cols + c];
                    }
                }
                Tensor::from_data(TensorData::new(transposed, [cols, rows]), self.device)
            }
        };
        Linear { weight: Param::from_tensor(weight), bias: bias.then(|| self.vector(&format!("{prefix}.bias"))) }
    }

    fn rms_norm(&mut self, name: &str, eps: f64) -> RmsNorm {
        RmsNorm { gamma: self.vector(name), epsilon: eps }
    }
}

/// A pack's q8 / q4 matrix as a burn block-quantized tensor `[in, out]`. The codes and
/// scales go to the device as stored (the transpose only swaps strides on cubecl), and
/// cubecl's matmul dequantizes blocks while it loads them, so device memory holds q8 / q4.
fn quantized_weight(q: &QuantMatrix, device: &Device) -> Tensor<2> {
    let scheme = QuantScheme::default()
        .with_value(if q.bits4 { QuantValue::Q4S } else { QuantValue::Q8S })
        .with_store(QuantStore::PackedU32(0))
        // f32 scales: f16 ones would need WebGPU's shader-f16, which many adapters lack.
        .per_block([crate::pack::BLOCK as u8], ScaleDtype::F32);
    // burn's q4 nibble is q in two's complement, the pack's is q + 8: flipping bit 3 of
    // each nibble turns one into the other. Both put the even column in the low nibble.
    let mut bytes: Vec<u8> = if q.bits4 { q.codes.iter().map(|b| b ^ 0x88).collect() } else { q.codes.clone() };
    bytes.extend(q.scales_f32().flat_map(f32::to_ne_bytes));
    let data = TensorData::from_bytes_vec(bytes, [q.rows, q.cols], DType::QFloat(scheme));
    Tensor::<2>::from_data(data, device).transpose()
}

/// Upload checked tensors (see [`host_tensors`]) to `device` as a model.
pub fn build_model(
    config: &Config,
    tensors: HashMap<String, HostTensor>,
    device: &Device,
) -> Result<ConanModel, ModelError> {
    let tensors = PackTensors { f32: tensors, quantized: HashMap::new() };
    build_model_from(config, tensors, device, false).map(|(model, _)| model)
}

/// [`build_model`] for tensors from [`device_tensors`]: quantized matrices become
/// block-quantized weights. With `host_table` the token table stays in host memory as
/// stored and is returned beside the model; otherwise it goes to the device as f32 (it is
/// gathered, not multiplied).
pub fn build_model_from(
    config: &Config,
    tensors: PackTensors,
    device: &Device,
    host_table: bool,
) -> Result<(ConanModel, Option<HostTable>), ModelError> {
    let mut b = Builder { tensors: tensors.f32, quantized: tensors.quantized, device };
    let eps = config.rms_norm_eps;

    let (embed_tokens, host) = if host_table {
        let table = match b.quantized.remove(TOKEN_TABLE) {
            Some(q) => HostTable::Quantized(q),
            None => {
                let t = b.take(TOKEN_TABLE);
                HostTable::F32 { cols: t.shape[1], values: t.values }
            }
        };
        (None, Some(table))
    } else {
        let embed = b.take(TOKEN_TABLE);
        let table = Embedding {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(embed.values, [embed.shape[0], embed.shape[1]]),
                device,
            )),
        };
        (Some(table), None)
    };
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let p = format!("layers.{i}");
            Layer {
                input_layernorm: b.rms_norm(&format!("{p}.input_layernorm.weight"), eps),
                self_attn: Attention {
                    q_proj: b.linear(&format!("{p}.self_attn.q_proj"), config.qkv_bias()),
                    k_proj: b.linear(&format!("{p}.self_attn.k_proj"), config.qkv_bias()),
                    v_proj: b.linear(&format!("{p}.self_attn.v_proj"), config.qkv_bias()),
                    o_proj: b.linear(&format!("{p}.self_attn.o_proj"), config.o_bias()),
                    q_norm: config.qk_norm().then(|| b.rms_norm(&format!("{p}.self_attn.q_norm.weight"), eps)),
                    k_norm: config.qk_norm().then(|| b.rms_norm(&format!("{p}.self_attn.k_norm.weight"), eps)),
                    num_heads: config.num_attention_heads,
                    num_kv_heads: config.kv_heads(),
                    head_dim: config.head_dim(),
                },
                post_attention_layernorm: b.rms_norm(&format!("{p}.post_attention_layernorm.weight"), eps),
                mlp: Mlp {
                    gate_proj: b.linear(&format!("{p}.mlp.gate_proj"), false),
                    up_proj: b.linear(&format!("{p}.mlp.up_proj"), false),
                    down_proj: b.linear(&format!("{p}.mlp.down_proj"), false),
                },
            }
        })
        .collect();
    let norm = b.rms_norm("norm.weight", eps);
    let model = ConanModel {
        embed_tokens,
        layers,
        norm,
        rope_theta: config.rope_theta,
        causal: config.is_causal(),
        pooling: config.pooling(),
    };
    Ok((model, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_drops_the_picked_folder_name() {
        let src = MemorySource::new(
            "picked",
            [("m/config.json".to_string(), b"{}".to_vec()), ("m/sub/x".to_string(), vec![1])],
        );
        assert!(src.files.contains_key("config.json") && src.files.contains_key("sub/x"));
        let flat = MemorySource::new("picked", [("config.json".to_string(), vec![]), ("a/b".to_string(), vec![])]);
        assert!(flat.files.contains_key("a/b"), "no common folder, nothing stripped");
    }

    #[test]
    fn zipped_model_folders_load_like_folders() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static/models/tiny");
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        for name in ["config.json", "tokenizer.json", "model.safetensors"] {
            zip.start_file(format!("tiny/{name}"), zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut zip, &std::fs::read(root.join(name)).unwrap()).unwrap();
        }
        zip.finish().unwrap();
        let src = MemorySource::from_zip("tiny.zip", buf.get_ref()).unwrap();
        let files = pollster::block_on(read_files(&src)).unwrap();
        assert_eq!(files.config.hidden_size, 64);
        let err = MemorySource::from_zip("x.zip", b"not a zip").err().unwrap().to_string();
        assert!(err.contains("x.zip: not a readable zip"), "{err}");
    }
}
