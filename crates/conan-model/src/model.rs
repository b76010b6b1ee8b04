//! The Conan-Embedding-v2 forward pass: a Llama-style stack run as an encoder.
//!
//! tokens → embed_tokens → N × [RMSNorm → GQA attention (HF half-rotation RoPE, padding
//! mask, bidirectional unless causal) → residual → RMSNorm → SwiGLU → residual] → norm →
//! pooling over real tokens → Matryoshka truncation → L2 normalisation.
//!
//! Field names follow the Hugging Face tensor names so the loader's mapping is obvious.
//! Everything here runs unchanged on any burn `Device`.

use burn::module::Module;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::prelude::*;
use burn::tensor::activation::{silu, softmax};

use crate::config::{Config, Pooling};

/// Added to attention scores of keys a query must not see. Finite, so a row never turns
/// into NaN; large enough that exp() of it is exactly 0 in f32.
const MASKED: f32 = -1e9;

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    /// Qwen3 only: RMSNorm over each head's queries / keys, before RoPE.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// `x`: `[batch, seq, hidden]`; `bias`: additive score mask broadcastable to
    /// `[batch, kv_heads, group, seq, seq]`.
    pub fn forward(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (probs, v) = self.probs_and_values(x, rope, bias);
        let out = probs.matmul(v);
        let out = out.permute([0, 3, 1, 2, 4]).reshape([b, t, self.num_heads * self.head_dim]);
        self.o_proj.forward(out)
    }

    /// Attention probabilities `[batch, heads, seq, seq]` (query rows, key columns; each
    /// row sums to 1), with heads in checkpoint order (KV head major, as in q_proj).
    pub fn probs(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Tensor<4> {
        let [b, t, _] = x.dims();
        let (probs, _) = self.probs_and_values(x, rope, bias);
        probs.reshape([b, self.num_heads, t, t])
    }

    /// Softmax scores `[b, kv, group, t, t]` and values `[b, kv, 1, t, hd]`.
    fn probs_and_values(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let [b, t, _] = x.dims();
        let (kv, hd) = (self.num_kv_heads, self.head_dim);
        let group = self.num_heads / kv;

        let q = self.q_proj.forward(x.clone()).reshape([b, t, kv, group, hd]);
        let k = self.k_proj.forward(x.clone()).reshape([b, t, kv, 1, hd]);
        let v = self.v_proj.forward(x).reshape([b, t, kv, 1, hd]);
        let q = match &self.q_norm {
            Some(norm) => norm.forward(q),
            None => q,
        };
        let k = match &self.k_norm {
            Some(norm) => norm.forward(k),
            None => k,
        };
        // [b, kv, group|1, t, hd]: grouped queries share their KV head through matmul
        // broadcasting instead of copying K and V `group` times.
        let q = rope.apply(q.permute([0, 2, 3, 1, 4]));
        let k = rope.apply(k.permute([0, 2, 3, 1, 4]));
        let v = v.permute([0, 2, 3, 1, 4]);

        let scores = q.matmul(k.swap_dims(3, 4)).mul_scalar(1.0 / (hd as f64).sqrt()) + bias;
        (softmax(scores, 4), v)
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
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
    pub fn forward(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Tensor<3> {
        let h = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rope, bias);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// The whole encoder. Build it with [`crate::load`] from a checkpoint.
#[derive(Module, Debug)]
pub struct ConanModel {
    /// The token table on the device; `None` when it lives on the host instead (too large
    /// for one device buffer, see [`crate::embed::HostTable`]) and callers pass token vectors.
    pub embed_tokens: Option<Embedding>,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    pub rope_theta: f64,
    pub causal: bool,
    #[module(skip)]
    pub pooling: Pooling,
}

/// Rotary tables for one sequence length, in the Hugging Face convention: the head is split
/// in halves `(x1, x2)` and rotated as `(x1·cos − x2·sin, x2·cos + x1·sin)` with
/// `cos`/`sin` repeated over both halves. (burn's `RotaryEncoding` pairs adjacent
/// elements instead, which would scramble HF weights.)
pub struct Rope {
    cos: Tensor<5>,
    sin: Tensor<5>,
    half: usize,
}

impl Rope {
    pub fn new(seq: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(seq * head_dim);
        let mut sin = Vec::with_capacity(seq * head_dim);
        for pos in 0..seq {
            for i in 0..head_dim {
                // Same angles as HF: inv_freq = theta^(-2i/d), computed in f64 for accuracy.
                let inv_freq = theta.powf(-((2 * (i % half)) as f64) / head_dim as f64);
                let angle = pos as f64 * inv_freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = [1, 1, 1, seq, head_dim];
        Self {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
            half,
        }
    }

    /// `x`: `[.., .., .., seq, head_dim]`.
    pub fn apply(&self, x: Tensor<5>) -> Tensor<5> {
        let x1 = x.clone().narrow(4, 0, self.half);
        let x2 = x.clone().narrow(4, self.half, self.half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 4);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

impl ConanModel {
    pub fn head_dim(&self) -> usize {
        self.layers.first().map(|l| l.self_attn.head_dim).unwrap_or(0)
    }

    pub fn hidden_size(&self) -> usize {
        self.norm.gamma.dims()[0]
    }

    /// Token vectors `[batch, seq, hidden]` for `ids`, from the table on the device.
    ///
    /// # Panics
    /// When the table lives on the host: such a model is only run through the `*_from`
    /// methods, by [`crate::Embedder`].
    pub fn token_vectors(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embed_tokens
            .as_ref()
            .expect("the token table lives on the host: pass token vectors to the *_from methods")
            .forward(ids)
    }

    /// The attention this model was configured with.
    pub fn attention_mode(&self) -> AttentionMode {
        if self.causal { AttentionMode::Causal } else { AttentionMode::Bidirectional }
    }

    /// Final hidden states `[batch, seq, hidden]` for right-padded `ids` with `mask`
    /// (1.0 real / 0.0 padding), both `[batch, seq]`.
    pub fn hidden_states(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [b, t] = ids.dims();
        self.hidden_states_with(ids, mask, &vec![t; b], self.attention_mode())
    }

    /// [`Self::hidden_states`] under any [`AttentionMode`]; `lengths` are the real tokens
    /// per row (the soft mask depends on them).
    pub fn hidden_states_with(
        &self,
        ids: Tensor<2, Int>,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
    ) -> Tensor<3> {
        self.hidden_states_from(self.token_vectors(ids), mask, lengths, mode)
    }

    /// [`Self::hidden_states_with`] from token vectors `x` `[batch, seq, hidden]`.
    pub fn hidden_states_from(
        &self,
        mut x: Tensor<3>,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
    ) -> Tensor<3> {
        let [_, t, _] = x.dims();
        let rope = Rope::new(t, self.head_dim(), self.rope_theta, &x.device());
        let bias = Self::bias(mask, lengths, mode);
        for layer in &self.layers {
            x = layer.forward(x, &rope, bias.clone());
        }
        self.norm.forward(x)
    }

    /// Attention probabilities of layer `layer` (0-based), `[batch, heads, seq, seq]`, under
    /// `mode`: what the Learn page draws. Padding keys get 0.
    pub fn attention(
        &self,
        ids: Tensor<2, Int>,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
        layer: usize,
    ) -> Tensor<4> {
        self.attention_from(self.token_vectors(ids), mask, lengths, mode, layer)
    }

    /// [`Self::attention`] from token vectors `x` `[batch, seq, hidden]`.
    pub fn attention_from(
        &self,
        mut x: Tensor<3>,
        mask: Tensor<2>,
        lengths: &[usize],
        mode: AttentionMode,
        layer: usize,
    ) -> Tensor<4> {
        let [_, t, _] = x.dims();
        let rope = Rope::new(t, self.head_dim(), self.rope_theta, &x.device());
        let bias = Self::bias(mask, lengths, mode);
        for l in &self.layers[..layer.min(self.layers.len() - 1)] {
            x = l.forward(x, &rope, bias.clone());
        }
        let l = &self.layers[layer.min(self.layers.len() - 1)];
        l.self_attn.probs(l.input_layernorm.forward(x), &rope, bias)
    }

    /// The additive score mask `[b, 1, 1|…, t, t]`: padding keys hidden, plus the mode's mask.
    fn bias(mask: Tensor<2>, lengths: &[usize], mode: AttentionMode) -> Tensor<5> {
        let [b, t] = mask.dims();
        let device = mask.device();

        // Padding keys are hidden from every query: (mask − 1) · 1e9 is 0 or −1e9.
        let mut bias = (mask.clone() - 1.0).mul_scalar(-MASKED).reshape([b, 1, 1, 1, t]);
        match mode {
            AttentionMode::Bidirectional => {}
            AttentionMode::Causal => {
                let causal = soft_mask_bias(t, t, 0.0);
                bias = bias + Tensor::<5>::from_data(TensorData::new(causal, [1, 1, 1, t, t]), &device);
            }
            AttentionMode::Soft { alpha } => {
                let rows: Vec<f32> = lengths.iter().flat_map(|&len| soft_mask_bias(len, t, alpha)).collect();
                bias = bias + Tensor::<5>::from_data(TensorData::new(rows, [b, 1, 1, t, t]), &device);
            }
        }
        bias
    }

    /// Sentence vectors `[batch, dims]`, pooled, truncated to `dims` and L2-normalised.
    pub fn embed(&self, ids: Tensor<2, Int>, mask: Tensor<2>, lengths: &[usize], dims: usize) -> Tensor<2> {
        self.embed_from(self.token_vectors(ids), mask, lengths, dims)
    }

    /// [`Self::embed`] from token vectors `x` `[batch, seq, hidden]`.
    pub fn embed_from(&self, x: Tensor<3>, mask: Tensor<2>, lengths: &[usize], dims: usize) -> Tensor<2> {
        let pooled = self.pooled_from(x, mask, lengths, self.attention_mode());
        let h = pooled.dims()[1];
        l2_normalize(pooled.narrow(1, 0, dims.min(h)))
    }

    /// Pooled, not yet normalised sentence vectors `[batch, hidden]` under `mode`. Training
    /// uses this directly: the Matryoshka loss normalises each prefix of the same vector.
    pub fn pooled(&self, ids: Tensor<2, Int>, mask: Tensor<2>, lengths: &[usize], mode: AttentionMode) -> Tensor<2> {
        self.pooled_from(self.token_vectors(ids), mask, lengths, mode)
    }

    /// [`Self::pooled`] from token vectors `x` `[batch, seq, hidden]`.
    pub fn pooled_from(&self, x: Tensor<3>, mask: Tensor<2>, lengths: &[usize], mode: AttentionMode) -> Tensor<2> {
        let states = self.hidden_states_from(x, mask.clone(), lengths, mode);
        let [b, t, h] = states.dims();
        match self.pooling {
            Pooling::Mean => {
                let weights = mask.reshape([b, t, 1]);
                let counts = weights.clone().sum_dim(1); // [b, 1, 1]
                (states * weights).sum_dim(1).div(counts).reshape([b, h])
            }
            Pooling::LastToken | Pooling::Cls => {
                let picks: Vec<i32> = lengths
                    .iter()
                    .map(|&len| match self.pooling {
                        Pooling::Cls => 0,
                        _ => len.saturating_sub(1) as i32,
                    })
                    .collect();
                let index =
                    Tensor::<3, Int>::from_data(TensorData::new(picks, [b, 1, 1]), &states.device()).expand([b, 1, h]);
                states.gather(1, index).reshape([b, h])
            }
        }
    }
}

/// Which keys each query may see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttentionMode {
    Bidirectional,
    Causal,
    /// Conan-v2's soft mask between the two: α = 0 is causal, α ≥ 1 bidirectional.
    Soft {
        alpha: f32,
    },
}

/// Conan-Embedding-v2's soft mask (arXiv 2509.12892) as an additive bias `log M`, row-major
/// `[t, t]` (query i, key j): with 1-based i and the real length l,
/// `M_ij = 1` for j ≤ i and `min(α·l/i, 1)` for j > i. Training raises α = step/τ from 0
/// (causal) to 1 (bidirectional). log 0 is represented by the finite [`MASKED`].
pub fn soft_mask_bias(len: usize, t: usize, alpha: f32) -> Vec<f32> {
    let mut bias = vec![0.0; t * t];
    for i in 0..t {
        let open = (alpha * len as f32 / (i + 1) as f32).min(1.0);
        let value = if open > 0.0 { open.ln() } else { MASKED };
        for j in i + 1..t {
            bias[i * t + j] = value;
        }
    }
    bias
}

/// Rows scaled to unit length; an all-zero row stays zero instead of becoming NaN.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Shapes that `Config` promises, for the module built from it.
pub fn describe(config: &Config) -> String {
    format!(
        "{} layers, hidden {}, {} heads / {} KV heads (head dim {}), FFN {}, vocab {}, {} attention, {} pooling",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.kv_heads(),
        config.head_dim(),
        config.intermediate_size,
        config.vocab_size,
        if config.is_causal() { "causal" } else { "bidirectional" },
        config.pooling().as_str()
    )
}
