//! text → vectors: the tokenizer and the model together, on one device.

use burn::prelude::*;
use conan_text::{TextEncoder, TokenBatch};

use crate::config::Config;
use crate::error::ModelError;
use crate::load::{ModelFiles, build_model_from, device_tensors};
use crate::model::ConanModel;
use crate::pack::QuantMatrix;

/// One layer's attention over one text, for showing how the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMap {
    /// Each token's text (see `TextEncoder::piece`).
    pub tokens: Vec<String>,
    pub heads: usize,
    /// `[heads, t, t]` row-major: query rows, key columns; each row sums to 1.
    pub probs: Vec<f32>,
}

/// Sentence vectors and what happened on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub dims: usize,
    /// One L2-normalised vector per input text, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model saw for each text (after truncation).
    pub tokens: Vec<usize>,
    /// Texts cut to the model's context length.
    pub truncated: Vec<bool>,
}

/// How [`Embedder::load`] puts weights on the device.
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

impl LoadOptions {
    /// Whether `config`'s token table goes to the host.
    pub fn host_table(&self, config: &Config) -> bool {
        let bytes = config.vocab_size as u64 * config.hidden_size as u64 * 4;
        self.max_table_bytes.is_some_and(|max| bytes > max)
    }
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

pub struct Embedder {
    pub config: Config,
    pub model: ConanModel,
    pub text: TextEncoder,
    pub device: Device,
    /// The token table, when it lives in host memory rather than on `device`.
    pub host_table: Option<HostTable>,
    /// Texts per forward pass; bounds activation memory.
    pub batch_size: usize,
}

impl Embedder {
    /// Check the files and put the weights on `device` (as f32; see [`Self::load`]).
    pub fn new(files: &ModelFiles, device: &Device) -> Result<Self, ModelError> {
        Self::load(files, device, LoadOptions::default())
    }

    /// Check the files and put the weights on `device` as `options` say.
    pub fn load(files: &ModelFiles, device: &Device, options: LoadOptions) -> Result<Self, ModelError> {
        let config = files.config.clone();
        let text = TextEncoder::from_bytes(&files.tokenizer_json, config.max_position_embeddings)?;
        if text.vocab_size() > config.vocab_size {
            return Err(ModelError::Config(format!(
                "the tokenizer has {} tokens but the embedding table only {} rows",
                text.vocab_size(),
                config.vocab_size
            )));
        }
        let (model, host_table) =
            build_model_from(&config, device_tensors(files, options)?, device, options.host_table(&config))?;
        Ok(Self { config, model, text, device: device.clone(), host_table, batch_size: 16 })
    }

    /// Embed `texts`, truncated to `dims` (default: the full hidden size).
    ///
    /// Async because the browser can only read GPU results back asynchronously; natively
    /// drive it with any executor (`pollster::block_on`).
    pub async fn embed<S: AsRef<str>>(&self, texts: &[S], dims: Option<usize>) -> Result<Embeddings, ModelError> {
        let dims = dims.unwrap_or(self.config.hidden_size);
        self.config.check_dims(dims)?;
        if texts.is_empty() {
            return Err(conan_text::TextError::NoTexts.into());
        }
        let mut out = Embeddings {
            dims,
            vectors: Vec::with_capacity(texts.len()),
            tokens: Vec::with_capacity(texts.len()),
            truncated: Vec::with_capacity(texts.len()),
        };
        for (chunk_no, chunk) in texts.chunks(self.batch_size.max(1)).enumerate() {
            let batch = self.text.encode_batch(chunk).map_err(|e| e.offset(chunk_no * self.batch_size))?;
            out.vectors.extend(self.embed_batch(&batch, dims).await?);
            out.tokens.extend(batch.lengths);
            out.truncated.extend(batch.truncated);
        }
        Ok(out)
    }

    /// Embed an already tokenized batch at `dims` (callers that time tokenization apart, or
    /// reuse it, tokenize once with `self.text` and come here).
    pub async fn embed_batch(&self, batch: &TokenBatch, dims: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        self.config.check_dims(dims)?;
        if let Some(max) = batch.max_id() {
            if max as usize >= self.config.vocab_size {
                return Err(ModelError::Input(format!(
                    "token id {max} is outside the embedding table ({} rows)",
                    self.config.vocab_size
                )));
            }
        }
        let shape = [batch.batch, batch.seq];
        let mask = Tensor::<2>::from_data(TensorData::new(batch.mask(), shape), &self.device);
        let vectors = self.model.embed_from(self.token_vectors(&batch.ids, shape), mask, &batch.lengths, dims);
        let data = vectors.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let flat = data.try_into_vec_as::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        Ok(flat.chunks(dims).map(<[f32]>::to_vec).collect())
    }

    /// Token vectors `[batch, seq, hidden]` for row-major `ids` of `shape`: gathered on the
    /// host when the table lives there, on the device otherwise.
    pub fn token_vectors(&self, ids: &[u32], shape: [usize; 2]) -> Tensor<3> {
        match &self.host_table {
            Some(table) => {
                let h = self.config.hidden_size;
                Tensor::<3>::from_data(TensorData::new(table.rows(ids), [shape[0], shape[1], h]), &self.device)
            }
            None => {
                let ids: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
                self.model.token_vectors(Tensor::<2, Int>::from_data(TensorData::new(ids, shape), &self.device))
            }
        }
    }

    /// Attention probabilities of `layer` for `text` under `mode` (e.g. the configured
    /// bidirectional attention against a causal mask).
    pub async fn attention_map(
        &self,
        text: &str,
        layer: usize,
        mode: crate::AttentionMode,
    ) -> Result<AttentionMap, ModelError> {
        if layer >= self.config.num_hidden_layers {
            return Err(ModelError::Input(format!(
                "layer {layer} does not exist: the model has {}",
                self.config.num_hidden_layers
            )));
        }
        let batch = self.text.encode_batch(&[text])?;
        let t = batch.lengths[0];
        if t == 0 {
            return Err(ModelError::Input("the text has no tokens".into()));
        }
        let tokens = batch.ids[..t].iter().map(|&id| self.text.piece(id)).collect();
        let mask = Tensor::<2>::ones([1, t], &self.device);
        let probs = self.model.attention_from(self.token_vectors(&batch.ids[..t], [1, t]), mask, &[t], mode, layer);
        let data = probs.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let probs = data.try_into_vec_as::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        Ok(AttentionMap { tokens, heads: self.config.num_attention_heads, probs })
    }
}

#[cfg(test)]
mod q4_tests {
    use super::q4_matmul_fits;

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
}
