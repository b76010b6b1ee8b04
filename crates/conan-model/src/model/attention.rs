//! Grouped-query attention with Hugging Face RoPE and an additive score mask.

use burn::module::Module;
use burn::nn::RmsNorm;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::projection::{Projection, host_values};
use super::rms_norm;
use super::rope::Rope;
use crate::config::Config;
use crate::error::ModelError;
use crate::host_gemm;
use crate::host_gemm::attention::AttentionShape;

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Projection,
    pub k_proj: Projection,
    pub v_proj: Projection,
    pub o_proj: Projection,
    /// Qwen3 only: RMSNorm over each head's queries / keys, before RoPE.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// Shapes from `config`; weights are initialised lazily, so loading replaces them
    /// before any is allocated.
    pub fn init(config: &Config, device: &Device) -> Self {
        let (h, hd) = (config.hidden_size, config.head_dim());
        let (q, kv) = (config.num_attention_heads * hd, config.kv_heads() * hd);
        let linear = |d_in, d_out, bias| Projection::init(d_in, d_out, bias, device);
        Self {
            q_proj: linear(h, q, config.qkv_bias()),
            k_proj: linear(h, kv, config.qkv_bias()),
            v_proj: linear(h, kv, config.qkv_bias()),
            o_proj: linear(q, h, config.o_bias()),
            q_norm: config.qk_norm().then(|| rms_norm(hd, config, device)),
            k_norm: config.qk_norm().then(|| rms_norm(hd, config, device)),
            num_heads: config.num_attention_heads,
            num_kv_heads: config.kv_heads(),
            head_dim: hd,
        }
    }

    /// `x`: `[batch, seq, hidden]`; `bias`: additive score mask broadcastable to
    /// `[batch, kv_heads, group, seq, seq]`.
    ///
    /// One call of burn's attention op (fused kernels on a GPU), or of the host's
    /// ([`host_gemm::attention`]) where the projections are host weights, instead of
    /// materialising the scores through five element-wise passes. Each KV head's `group`
    /// query heads become one longer query sequence, so query and key heads match one to
    /// one, which every backend's attention takes.
    pub fn forward(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Result<Tensor<3>, ModelError> {
        let [b, t, _] = x.dims();
        let (kv, hd) = (self.num_kv_heads, self.head_dim);
        let group = self.num_heads / kv;
        let x_device = x.device();
        let (q, k, v) = self.heads(x, rope)?;
        let (q, k, v) = (q.reshape([b, kv, group * t, hd]), k.reshape([b, kv, t, hd]), v.reshape([b, kv, t, hd]));
        let out = if matches!(self.q_proj, Projection::Host(_)) {
            // burn's CPU backend: the same op on the host's kernels, with the mask's rows
            // shared by the query groups instead of copied for each.
            let shape = AttentionShape { batch: b, heads: kv, queries: group * t, keys: t, head_dim: hd };
            let mask = host_values(bias.expand([b, 1, 1, t, t]))?;
            let out =
                host_gemm::attention::attention(&host_values(q)?, &host_values(k)?, &host_values(v)?, &mask, shape)?;
            Tensor::<4>::from_data(TensorData::new(out, [b, kv, group * t, hd]), &x_device)
        } else {
            let bias = bias.expand([b, 1, group, t, t]).reshape([b, 1, group * t, t]);
            let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
            attention(q, k, v, None, Some(bias), options)
        };
        let out = out.reshape([b, kv, group, t, hd]).permute([0, 3, 1, 2, 4]).reshape([b, t, self.num_heads * hd]);
        self.o_proj.forward(out)
    }

    /// Attention probabilities `[batch, heads, seq, seq]` (query rows, key columns; each
    /// row sums to 1), with heads in checkpoint order (KV head major, as in q_proj).
    pub fn probs(&self, x: Tensor<3>, rope: &Rope, bias: Tensor<5>) -> Result<Tensor<4>, ModelError> {
        let [b, t, _] = x.dims();
        let (q, k, _) = self.heads(x, rope)?;
        let scores = q.matmul(k.swap_dims(3, 4)).mul_scalar(1.0 / (self.head_dim as f64).sqrt()) + bias;
        Ok(softmax(scores, 4).reshape([b, self.num_heads, t, t]))
    }

    /// Queries `[b, kv, group, t, hd]`, keys and values `[b, kv, 1, t, hd]`, rotated: grouped
    /// queries share their KV head through broadcasting instead of copying K and V.
    fn heads(&self, x: Tensor<3>, rope: &Rope) -> Result<(Tensor<5>, Tensor<5>, Tensor<5>), ModelError> {
        let [b, t, _] = x.dims();
        let (kv, hd) = (self.num_kv_heads, self.head_dim);
        let group = self.num_heads / kv;

        let [q, k, v] = Projection::forward_shared([&self.q_proj, &self.k_proj, &self.v_proj], x)?;
        let (q, k, v) = (q.reshape([b, t, kv, group, hd]), k.reshape([b, t, kv, 1, hd]), v.reshape([b, t, kv, 1, hd]));
        let q = match &self.q_norm {
            Some(norm) => norm.forward(q),
            None => q,
        };
        let k = match &self.k_norm {
            Some(norm) => norm.forward(k),
            None => k,
        };
        let q = rope.apply(q.permute([0, 2, 3, 1, 4]));
        let k = rope.apply(k.permute([0, 2, 3, 1, 4]));
        Ok((q, k, v.permute([0, 2, 3, 1, 4])))
    }
}
