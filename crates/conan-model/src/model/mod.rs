//! The Conan-Embedding-v2 forward pass: a Llama-style stack run as an encoder.
//!
//! tokens → embed_tokens → N × [RMSNorm → GQA attention (HF half-rotation RoPE, padding
//! mask, bidirectional unless causal) → residual → RMSNorm → SwiGLU → residual] → norm →
//! pooling over real tokens → Matryoshka truncation → L2 normalisation.
//!
//! - [`attention`]: grouped-query attention; [`rope`]: rotary tables; [`mask`]: score
//!   masks and attention modes; [`pooling`]: states → sentence vectors; [`projection`]:
//!   `x Wᵀ + b` by burn's `Linear`, or by a weight packed for the host's kernels on the CPU.
//!
//! Field names follow the Hugging Face tensor names so the loader's mapping is obvious.
//! Everything here runs unchanged on any burn `Device`.

pub mod attention;
pub mod mask;
pub mod pooling;
pub mod projection;
pub mod rope;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;

pub use attention::Attention;
pub use mask::{AttentionMode, soft_mask_bias};
pub use pooling::{l2_normalize, pool, sentence_vectors};
pub use projection::Projection;
use rope::Rope;

use crate::config::{Config, Pooling};
use crate::error::ModelError;

/// An RMSNorm over `width` values with the config's epsilon (weights lazily initialised).
fn rms_norm(width: usize, config: &Config, device: &Device) -> RmsNorm {
    RmsNormConfig::new(width).with_epsilon(config.rms_norm_eps).init(device)
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Projection,
    pub up_proj: Projection,
    pub down_proj: Projection,
}

impl Mlp {
    pub fn init(config: &Config, device: &Device) -> Self {
        let (h, f) = (config.hidden_size, config.intermediate_size);
        let linear = |d_in, d_out| Projection::init(d_in, d_out, false, device);
        Self { gate_proj: linear(h, f), up_proj: linear(h, f), down_proj: linear(f, h) }
    }

    pub fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
        self.down_proj.forward(projection::swiglu(&self.gate_proj, &self.up_proj, x)?)
    }
}

#[derive(Module, Debug)]
pub struct Layer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl Layer {
    pub fn init(config: &Config, device: &Device) -> Self {
        Self {
            input_layernorm: rms_norm(config.hidden_size, config, device),
            self_attn: Attention::init(config, device),
            post_attention_layernorm: rms_norm(config.hidden_size, config, device),
            mlp: Mlp::init(config, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Result<Tensor<3>, ModelError> {
        let h = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rope, bias)?;
        Ok(h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))?)
    }
}

/// What the stack reads: token ids looked up in the model's own table, or token vectors
/// gathered by the caller (a table kept on the host, see [`crate::placement::HostTable`]).
pub enum TokenInput {
    /// `[batch, seq]`.
    Ids(Tensor<2, Int>),
    /// `[batch, seq, hidden]`.
    Vectors(Tensor<3>),
}

/// The whole encoder. Made from its config alone ([`ConanModel::init`]: shapes, weights
/// not yet allocated); [`crate::build`] fills it from a checkpoint.
#[derive(Module, Debug)]
pub struct ConanModel {
    /// The token table on the device; `None` when it lives on the host instead (too large
    /// for one device buffer) and callers pass [`TokenInput::Vectors`].
    pub embed_tokens: Option<Embedding>,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    pub rope_theta: f64,
    pub causal: bool,
    #[module(skip)]
    pub pooling: Pooling,
}

impl ConanModel {
    /// The model `config` describes, with burn's lazy initialisers: nothing is allocated
    /// on `device` until a weight is read, so loading replaces them first.
    pub fn init(config: &Config, device: &Device) -> Self {
        Self {
            embed_tokens: Some(EmbeddingConfig::new(config.vocab_size, config.hidden_size).init(device)),
            layers: (0..config.num_hidden_layers).map(|_| Layer::init(config, device)).collect(),
            norm: rms_norm(config.hidden_size, config, device),
            rope_theta: config.rope_theta,
            causal: config.is_causal(),
            pooling: config.pooling(),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.layers.first().map(|l| l.self_attn.head_dim).unwrap_or(0)
    }

    pub fn hidden_size(&self) -> usize {
        self.norm.gamma.dims()[0]
    }

    /// The attention this model was configured with.
    pub fn attention_mode(&self) -> AttentionMode {
        if self.causal { AttentionMode::Causal } else { AttentionMode::Bidirectional }
    }

    /// Final hidden states `[batch, seq, hidden]` of right-padded rows: `mask` `[batch, seq]`
    /// is 1.0 for real tokens and 0.0 for padding, `lengths` the real tokens per row (the
    /// soft mask depends on them), under attention `mode`.
    pub fn forward(
        &self,
        input: TokenInput,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
    ) -> Result<Tensor<3>, ModelError> {
        let (x, rope, bias) = self.prepare(input, mask, lengths, mode)?;
        let x = self.layers.iter().try_fold(x, |x, layer| layer.forward(x, &rope, bias.clone()))?;
        Ok(self.norm.forward(x))
    }

    /// Sentence vectors `[batch, dims]` under the configured attention: [`Self::forward`],
    /// pooled, truncated to `dims` and L2-normalised. What embedding and benchmarks run.
    pub fn embed(
        &self,
        input: TokenInput,
        mask: Tensor<2>,
        lengths: &[usize],
        dims: usize,
    ) -> Result<Tensor<2>, ModelError> {
        let states = self.forward(input, mask.clone(), lengths, self.attention_mode())?;
        Ok(sentence_vectors(self.pool(states, mask, lengths), dims))
    }

    /// Pooled, not yet normalised sentence vectors `[batch, hidden]` from [`Self::forward`]'s
    /// states. Training uses this directly: the Matryoshka loss normalises each prefix.
    pub fn pool(&self, states: Tensor<3>, mask: Tensor<2>, lengths: &[usize]) -> Tensor<2> {
        pool(self.pooling, states, mask, lengths)
    }

    /// Attention probabilities of layer `layer` (0-based, clamped to the last),
    /// `[batch, heads, seq, seq]`, under `mode`: what the Learn page draws. Padding keys get 0.
    pub fn attention_probs(
        &self,
        input: TokenInput,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
        layer: usize,
    ) -> Result<Tensor<4>, ModelError> {
        let last = layer.min(self.layers.len().saturating_sub(1));
        let Some(target) = self.layers.get(last) else {
            return Err(ModelError::Input("the model has no layers".into()));
        };
        let (x, rope, bias) = self.prepare(input, mask, lengths, mode)?;
        let x = self.layers[..last].iter().try_fold(x, |x, l| l.forward(x, &rope, bias.clone()))?;
        target.self_attn.probs(target.input_layernorm.forward(x), &rope, bias)
    }

    /// Where values first stop being finite on this input: the stack run step by step,
    /// each step read back. Only for an error message after a pass produced NaN or
    /// infinity, so its cost (one read-back per step) is paid on failure alone.
    pub async fn first_non_finite(
        &self,
        input: TokenInput,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
    ) -> Result<Option<String>, ModelError> {
        let (mut x, rope, bias) = self.prepare(input, mask.clone(), lengths, mode)?;
        if !all_finite(x.clone()).await? {
            return Ok(Some("the token vectors (embed_tokens)".into()));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let h = x.clone() + layer.self_attn.forward(layer.input_layernorm.forward(x), &rope, bias.clone())?;
            if !all_finite(h.clone()).await? {
                return Ok(Some(format!("layer {i}'s attention (layers.{i}.self_attn)")));
            }
            x = h.clone() + layer.mlp.forward(layer.post_attention_layernorm.forward(h))?;
            if !all_finite(x.clone()).await? {
                return Ok(Some(format!("layer {i}'s MLP (layers.{i}.mlp)")));
            }
        }
        let states = self.norm.forward(x);
        if !all_finite(states.clone()).await? {
            return Ok(Some("the final norm (norm)".into()));
        }
        let pooled = self.pool(states, mask, lengths);
        if !all_finite(pooled.clone()).await? {
            return Ok(Some("pooling".into()));
        }
        Ok(None)
    }

    /// The first layer's input, rotary tables and score mask for one pass.
    fn prepare(
        &self,
        input: TokenInput,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
    ) -> Result<(Tensor<3>, Rope, Tensor<5>), ModelError> {
        let x = match input {
            TokenInput::Vectors(x) => x,
            TokenInput::Ids(ids) => match &self.embed_tokens {
                Some(table) => table.forward(ids),
                None => {
                    return Err(ModelError::Input(
                        "the token table lives on the host: pass token vectors, not ids".into(),
                    ));
                }
            },
        };
        let [_, t, _] = x.dims();
        let rope = Rope::new(t, self.head_dim(), self.rope_theta, &x.device());
        Ok((x, rope, mask::score_bias(mask, lengths, mode)))
    }
}

async fn all_finite<const D: usize>(t: Tensor<D>) -> Result<bool, ModelError> {
    let data = t.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    let values = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    Ok(values.iter().all(|v| v.is_finite()))
}
