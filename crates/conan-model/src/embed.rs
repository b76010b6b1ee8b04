//! text → vectors: the tokenizer and the model together, on one device.

use burn::prelude::*;
use conan_text::{TextEncoder, TokenBatch, padding_mask};
use rayon::prelude::*;

use crate::build::build_placed;
use crate::checkpoint::ModelFiles;
use crate::config::Config;
use crate::error::ModelError;
use crate::model::{AttentionMode, ConanModel, TokenInput};
use crate::placement::{HostTable, LoadOptions, device_tensors};

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

pub struct Embedder {
    pub config: Config,
    pub model: ConanModel,
    pub text: TextEncoder,
    pub device: Device,
    /// The token table, when it lives in host memory rather than on `device`.
    pub host_table: Option<HostTable>,
    /// Texts per forward pass; bounds activation memory.
    pub batch_size: usize,
    /// The most activation memory one pass may take ([`Config::activation_bytes`]): a batch
    /// over it runs in smaller passes, and a text that needs more alone is refused.
    pub activation_budget: u64,
    /// Parts a pass's rows are split into, run at once ([`Self::vectors`]): the CPU
    /// backend's thread count natively, 1 elsewhere (a GPU runs a whole batch at once; the
    /// wasm has one thread).
    pub parts: usize,
    /// Passes are padded to a multiple of this many tokens ([`LoadOptions::seq_multiple`]).
    pub seq_multiple: usize,
}

/// [`Embedder::activation_budget`]'s default: a 24 GB machine's, or a browser tab's (4 GiB
/// of wasm memory) share; conan-mini's 16 × 512 tokens take 0.26 GB, Conan-v2's 2.6 GB.
pub const ACTIVATION_BUDGET: u64 = 3 << 30;

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
        let (model, host_table) = build_placed(&config, device_tensors(files, options)?, device, options)?;
        Ok(Self {
            config,
            model,
            text,
            device: device.clone(),
            host_table,
            batch_size: 16,
            activation_budget: ACTIVATION_BUDGET,
            parts: if options.host_gemm.is_some() { rayon::current_num_threads() } else { 1 },
            seq_multiple: options.seq_multiple.max(1),
        })
    }

    /// The token count a pass over texts of at most `seq` tokens runs at: `seq` rounded up
    /// to [`Self::seq_multiple`], within the context length.
    pub fn pass_seq(&self, seq: usize) -> usize {
        let max = self.config.max_position_embeddings.max(seq);
        seq.next_multiple_of(self.seq_multiple).min(max)
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
        let mut start = 0;
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let batch = self.text.encode_batch(chunk).map_err(|e| e.offset(start))?;
            let rows = self.rows_per_pass(batch.seq);
            if rows >= batch.batch {
                out.vectors.extend(self.embed_batch(&batch, dims).await.map_err(|e| e.offset(start))?);
                out.tokens.extend(batch.lengths);
                out.truncated.extend(batch.truncated);
            } else {
                // Padded to its longest text, the batch needs more than the budget: smaller
                // passes, each padded to its own longest (one text alone if need be).
                for (i, text) in chunk.iter().enumerate() {
                    let one = self.text.encode_batch(std::slice::from_ref(text)).map_err(|e| e.offset(start + i))?;
                    if self.rows_per_pass(one.seq) == 0 {
                        return Err(self.over_budget(start + i, one.seq));
                    }
                    out.vectors.extend(self.embed_batch(&one, dims).await.map_err(|e| e.offset(start + i))?);
                    out.tokens.extend(one.lengths);
                    out.truncated.extend(one.truncated);
                }
            }
            start += chunk.len();
        }
        Ok(out)
    }

    /// Full-width vectors of `texts`, flat and row-major in input order, embedded in
    /// [`length_sorted_batches`] of `chunk`; `progress(done, total)` runs before each batch
    /// and at the end.
    pub async fn embed_flat(
        &self,
        texts: &[&str],
        chunk: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>, ModelError> {
        let width = self.config.hidden_size;
        let mut out = vec![0.0f32; texts.len() * width];
        let mut done = 0;
        for batch in &length_sorted_batches(texts, chunk) {
            progress(done, texts.len());
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = self.embed(&batch_texts, None).await?.vectors;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i * width..(i + 1) * width].copy_from_slice(&v);
            }
            done += batch.len();
        }
        progress(done, texts.len());
        Ok(out)
    }

    /// How many texts of `seq` tokens one pass may hold within the activation budget, padded
    /// as passes are ([`Self::pass_seq`]).
    pub fn rows_per_pass(&self, seq: usize) -> usize {
        let one = self.config.activation_bytes(1, self.pass_seq(seq)).max(1);
        usize::try_from(u128::from(self.activation_budget) / one).unwrap_or(usize::MAX)
    }

    fn over_budget(&self, index: usize, seq: usize) -> ModelError {
        let heads = self.config.num_attention_heads;
        ModelError::Input(format!(
            "text {index}: {seq} tokens need about {:.1} GB of activations in one pass (the attention scores alone are \
             [{heads}, {seq}, {seq}] f32), over the {:.1} GB budget; cut the text",
            self.config.activation_bytes(1, seq) as f64 / 1e9,
            self.activation_budget as f64 / 1e9
        ))
    }

    /// Embed an already tokenized batch at `dims` (callers that time tokenization apart, or
    /// reuse it, tokenize once with `self.text` and come here).
    pub async fn embed_batch(&self, batch: &TokenBatch, dims: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        self.config.check_dims(dims)?;
        let seq = self.pass_seq(batch.seq);
        let padded;
        let batch = if seq > batch.seq {
            padded = batch.padded_to(seq);
            &padded
        } else {
            batch
        };
        if self.rows_per_pass(batch.seq) < batch.batch {
            return Err(if batch.batch == 1 {
                self.over_budget(0, batch.seq)
            } else {
                ModelError::Input(format!(
                    "a batch of {} texts of {} tokens needs about {:.1} GB of activations in one pass, over the {:.1} GB budget; embed fewer at once",
                    batch.batch,
                    batch.seq,
                    self.config.activation_bytes(batch.batch, batch.seq) as f64 / 1e9,
                    self.activation_budget as f64 / 1e9
                ))
            });
        }
        if let Some(max) = batch.max_id()
            && max as usize >= self.config.vocab_size
        {
            return Err(ModelError::Input(format!(
                "token id {max} is outside the embedding table ({} rows)",
                self.config.vocab_size
            )));
        }
        let shape = [batch.batch, batch.seq];
        let vectors = self.vectors(&batch.ids, shape, &batch.lengths, dims)?;
        let data = vectors.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let flat = data.try_into_vec_as::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        if let Some(row) = flat.chunks(dims).position(|v| v.iter().any(|x| !x.is_finite())) {
            // NaN would print as JSON null and rank as nothing: say where it came from.
            let mask = Tensor::<2>::from_data(TensorData::new(batch.mask(), shape), &self.device);
            let input = self.token_input(&batch.ids, shape);
            let place = self.model.first_non_finite(input, mask, &batch.lengths, self.model.attention_mode()).await?;
            return Err(ModelError::NonFinite {
                row,
                place: place.unwrap_or_else(|| "the Matryoshka cut or L2 normalisation".into()),
            });
        }
        Ok(flat.chunks(dims).map(<[f32]>::to_vec).collect())
    }

    /// Sentence vectors `[rows, dims]` of row-major `ids` (`shape`, right-padded: `lengths`
    /// real tokens per row). With [`Self::parts`] above one the rows run as that many parts
    /// at once, one per thread: burn's CPU backend runs each element-wise pass of a batch
    /// this size on one thread, so splitting the batch is what puts every core to work on
    /// them. Each row's vector is the same either way (`tests/cli.rs` checks 1 against 4).
    pub fn vectors(
        &self,
        ids: &[u32],
        shape: [usize; 2],
        lengths: &[usize],
        dims: usize,
    ) -> Result<Tensor<2>, ModelError> {
        let [rows, seq] = shape;
        if rows == 0 || seq == 0 {
            return Err(ModelError::Input(format!("nothing to embed: {rows} rows of {seq} tokens")));
        }
        if ids.len() != rows * seq || lengths.len() != rows {
            return Err(ModelError::Input(format!(
                "{} ids and {} lengths do not make {rows} rows of {seq} tokens",
                ids.len(),
                lengths.len()
            )));
        }
        let parts = self.parts.clamp(1, rows);
        let per = rows.div_ceil(parts);
        let work: Vec<_> = (0..rows)
            .step_by(per)
            .map(|start| {
                let n = per.min(rows - start);
                let mask = padding_mask(&lengths[start..start + n], seq);
                let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, seq]), &self.device);
                let input = self.token_input(&ids[start * seq..(start + n) * seq], [n, seq]);
                (self.model.clone(), input, mask, lengths[start..start + n].to_vec())
            })
            .collect();
        let run = |(model, input, mask, lengths): (ConanModel, TokenInput, Tensor<2>, Vec<usize>)| {
            model.embed(input, mask, &lengths, dims)
        };
        // One row, few tokens: on one thread (see SMALL_PASS).
        let small = work.len() == 1 && self.parts > 1 && rows * seq <= SMALL_PASS;
        let mut out = if let Some(pool) = if small { small_pass_pool() } else { None } {
            pool.install(|| work.into_iter().map(run).collect::<Result<Vec<_>, _>>())?
        } else if work.len() == 1 {
            work.into_iter().map(run).collect::<Result<Vec<_>, _>>()?
        } else {
            work.into_par_iter().map(run).collect::<Result<Vec<_>, _>>()?
        };
        Ok(if out.len() == 1 { out.remove(0) } else { Tensor::cat(out, 0) })
    }

    /// What the model reads for row-major `ids` of `shape`: token vectors gathered here
    /// when the table lives on the host, ids looked up on the device otherwise.
    pub fn token_input(&self, ids: &[u32], shape: [usize; 2]) -> TokenInput {
        match &self.host_table {
            Some(table) => {
                let h = self.config.hidden_size;
                TokenInput::Vectors(Tensor::from_data(
                    TensorData::new(table.rows(ids), [shape[0], shape[1], h]),
                    &self.device,
                ))
            }
            None => {
                let ids: Vec<i32> = ids.iter().map(|&id| id as i32).collect();
                TokenInput::Ids(Tensor::from_data(TensorData::new(ids, shape), &self.device))
            }
        }
    }

    /// Attention probabilities of `layer` for `text` under `mode` (e.g. the configured
    /// bidirectional attention against a causal mask).
    pub async fn attention_map(
        &self,
        text: &str,
        layer: usize,
        mode: AttentionMode,
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
        let probs = self.model.attention_probs(self.token_input(&batch.ids[..t], [1, t]), mask, &[t], mode, layer)?;
        let data = probs.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let probs = data.try_into_vec_as::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        Ok(AttentionMap { tokens, heads: self.config.num_attention_heads, probs })
    }
}

/// Tokens up to which a pass of one text runs on one thread: its products are too small to
/// repay handing work between threads (conan-mini, 2 cores: 1 × 32 went from 2.4–2.8 ms to
/// 1.7–2.4 ms; 1 × 256 is faster on both cores, 20 ms against 31 ms).
const SMALL_PASS: usize = 64;

/// One thread of its own for [`SMALL_PASS`] passes: inside it rayon sees one thread, so
/// every kernel runs inline. `None` where no thread could be started (the pass then runs
/// as any other).
fn small_pass_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok()).as_ref()
}

/// Indices of `texts` in batches of at most `chunk`, longest texts first: far less padding
/// than input order for mixed passages and sentences.
pub fn length_sorted_batches(texts: &[&str], chunk: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].chars().count()));
    order.chunks(chunk.max(1)).map(<[usize]>::to_vec).collect()
}
