//! One `Config` for every checkpoint family: our own `conan`, and the open relatives
//! `llama`, `qwen2`, `qwen3`. It is read straight from a Hugging Face `config.json`; the
//! family-dependent choices (biases, q/k norms, pooling, causality) are resolved by methods
//! so the forward pass never looks at `model_type` itself.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::names::{self, FINAL_NORM, TOKEN_TABLE};

/// The Matryoshka dimensions Conan-Embedding-v2 was trained with.
pub const CONAN_V2_MRL_DIMS: [usize; 7] = [256, 512, 1024, 1536, 2048, 3072, 3584];

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Average over the non-padding tokens (Conan-v2).
    Mean,
    /// The state of the last non-padding token (decoder-style embedders).
    LastToken,
    /// The state of the first token.
    Cls,
}

impl Pooling {
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::LastToken => "last_token",
            Pooling::Cls => "cls",
        }
    }
}

/// A Hugging Face `config.json`, plus the few keys this project adds (`synthetic`,
/// `matryoshka_dims`, `pooling`, `is_causal`). Unknown keys are ignored, as HF does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Llama: biases on q/k/v/o. Qwen2 has q/k/v biases without saying so in its config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// Present in some checkpoints; any value other than null is refused, since silently
    /// ignoring a scaled RoPE would give wrong vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// Overrides the family default; filled from `1_Pooling/config.json` when that exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<Pooling>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_causal: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matryoshka_dims: Vec<usize>,
    /// Random weights written by `conan synth`: good for speed and memory work only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_max_positions() -> usize {
    32_768
}

/// More layers than any real embedder; also keeps `tensor_shapes` small for any config.
const MAX_LAYERS: usize = 1024;
/// Values in one tensor (16 GiB as f32): beyond what a browser, or this loader, can hold.
const MAX_TENSOR_VALUES: u64 = 1 << 32;

/// Families whose tensor layout this crate knows.
const FAMILIES: [&str; 4] = ["conan", "llama", "qwen2", "qwen3"];

impl Config {
    /// A named preset: `conan-v2` (the full-size architecture) or `tiny` (tests).
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name {
            "conan-v2" => Ok(Self::conan_v2()),
            "tiny" => Ok(Self::tiny()),
            _ => Err(ModelError::Config(format!("unknown preset {name:?}: expected conan-v2 or tiny"))),
        }
    }

    /// The Conan-Embedding-v2 shape (arXiv 2509.12892; 1,499,205,120 parameters).
    pub fn conan_v2() -> Self {
        Self {
            model_type: "conan".into(),
            hidden_size: 3584,
            num_hidden_layers: 8,
            num_attention_heads: 32,
            num_key_value_heads: Some(8),
            head_dim: Some(112),
            intermediate_size: 8192,
            vocab_size: 150_000,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            max_position_embeddings: 32_768,
            attention_bias: Some(false),
            hidden_act: Some("silu".into()),
            rope_scaling: None,
            pooling: Some(Pooling::Mean),
            is_causal: Some(false),
            matryoshka_dims: CONAN_V2_MRL_DIMS.to_vec(),
            synthetic: false,
        }
    }

    /// A few-hundred-KB model in the same architecture, for tests and the first demo.
    pub fn tiny() -> Self {
        Self {
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: Some(16),
            intermediate_size: 128,
            vocab_size: 256,
            rope_theta: 10_000.0,
            max_position_embeddings: 512,
            matryoshka_dims: vec![16, 32, 64],
            ..Self::conan_v2()
        }
    }

    /// Parse `config.json` text and check it describes a model this crate can run.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let config: Config = serde_json::from_str(text).map_err(|e| ModelError::Config(format!("config.json: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("Config serialises")
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |msg: String| Err(ModelError::Config(msg));
        if !FAMILIES.contains(&self.model_type.as_str()) {
            return bad(format!(
                "model_type {:?} is not supported (expected one of {})",
                self.model_type,
                FAMILIES.join(", ")
            ));
        }
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_dim()),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
            // Far beyond any real embedder; guards size arithmetic against overflow.
            if v > 1 << 24 {
                return bad(format!("{name} = {v} is implausibly large"));
            }
        }
        if self.num_hidden_layers > MAX_LAYERS {
            return bad(format!(
                "num_hidden_layers = {} is implausibly large (at most {MAX_LAYERS})",
                self.num_hidden_layers
            ));
        }
        // Sizes below are computed in u64 first: usize is 32 bits in wasm.
        for (what, heads) in
            [("num_attention_heads", self.num_attention_heads), ("num_key_value_heads", self.kv_heads())]
        {
            let width = heads as u64 * self.head_dim() as u64;
            if width > 1 << 24 {
                return bad(format!("{what} × head_dim = {width} is implausibly large"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!("head_dim ({}) must be even for RoPE", self.head_dim()));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return bad(format!("rms_norm_eps ({}) must be positive", self.rms_norm_eps));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return bad(format!("rope_theta ({}) must be positive", self.rope_theta));
        }
        if let Some(act) = &self.hidden_act
            && act != "silu"
            && act != "swish"
        {
            return bad(format!("hidden_act {act:?} is not supported (SwiGLU needs silu)"));
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return bad("rope_scaling is not supported; refusing rather than embedding wrongly".into());
        }
        for (name, shape) in self.tensor_shapes() {
            let values = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
            if values.is_none_or(|n| n > MAX_TENSOR_VALUES) {
                return bad(format!("tensor {name} of shape {shape:?} would hold more than 2^32 values"));
            }
        }
        for &d in &self.matryoshka_dims {
            if d == 0 || d > self.hidden_size {
                return bad(format!("matryoshka_dims entry {d} must be in 1..={}", self.hidden_size));
            }
        }
        Ok(())
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// q/k/v projections carry biases (Qwen2 always; Llama when `attention_bias`).
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias.unwrap_or(self.model_type == "qwen2")
    }

    /// Only Llama puts a bias on the output projection, and only with `attention_bias`.
    pub fn o_bias(&self) -> bool {
        self.model_type == "llama" && self.attention_bias.unwrap_or(false)
    }

    /// Qwen3 normalises each head's queries and keys before RoPE.
    pub fn qk_norm(&self) -> bool {
        self.model_type == "qwen3"
    }

    /// Conan pools by mean; decoder-style relatives by their last token unless told otherwise.
    pub fn pooling(&self) -> Pooling {
        self.pooling.unwrap_or(if self.model_type == "conan" { Pooling::Mean } else { Pooling::LastToken })
    }

    /// Conan is bidirectional. For the relatives, last-token pooling implies the causal
    /// attention they were trained with; mean or CLS pooling implies a bidirectional encoder.
    pub fn is_causal(&self) -> bool {
        self.is_causal.unwrap_or(self.model_type != "conan" && self.pooling() == Pooling::LastToken)
    }

    /// The dims a caller may truncate to: the trained Matryoshka dims, or any ≤ hidden.
    pub fn check_dims(&self, dims: usize) -> Result<(), ModelError> {
        if dims == 0 || dims > self.hidden_size {
            return Err(ModelError::Input(format!(
                "--dims {dims} must be between 1 and the hidden size {}",
                self.hidden_size
            )));
        }
        Ok(())
    }

    /// About the activation memory of one forward pass over `batch` texts of `seq` tokens,
    /// in bytes: the attention scores and probabilities `[b, heads, t, t]`, three FFN-wide
    /// and six hidden-wide `[b, t, ·]` tensors, as f32. u128: any `usize` shape fits.
    pub fn activation_bytes(&self, batch: usize, seq: usize) -> u128 {
        let per_token = 3 * self.intermediate_size as u128
            + 6 * self.hidden_size as u128
            + 2 * self.num_attention_heads as u128 * seq as u128;
        4 * batch as u128 * seq as u128 * per_token
    }

    /// Parameter count from the shapes alone, without allocating anything.
    pub fn num_params(&self) -> u64 {
        self.tensor_shapes().iter().map(|(_, s)| s.iter().map(|&d| d as u64).product::<u64>()).sum()
    }

    /// Every tensor of the checkpoint, by HF name (without the `model.` prefix), with its
    /// HF shape (`[out, in]` for projections). The loader and `synth` both use this list,
    /// so they cannot disagree about what a checkpoint holds.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden_size;
        let q = self.num_attention_heads * self.head_dim();
        let kv = self.kv_heads() * self.head_dim();
        let f = self.intermediate_size;
        let mut out = vec![(TOKEN_TABLE.to_string(), vec![self.vocab_size, h])];
        for i in 0..self.num_hidden_layers {
            // This order is part of the format: synthetic checkpoints seed each tensor by its
            // index here, and packs and saved checkpoints list tensors in it.
            let mut push = |local: &str, shape: Vec<usize>| out.push((names::layer(i, local), shape));
            push(names::INPUT_NORM, vec![h]);
            for (prefix, rows, cols, bias) in [
                (names::Q_PROJ, q, h, self.qkv_bias()),
                (names::K_PROJ, kv, h, self.qkv_bias()),
                (names::V_PROJ, kv, h, self.qkv_bias()),
                (names::O_PROJ, h, q, self.o_bias()),
            ] {
                push(&names::weight(prefix), vec![rows, cols]);
                if bias {
                    push(&names::bias(prefix), vec![rows]);
                }
            }
            if self.qk_norm() {
                push(names::Q_NORM, vec![self.head_dim()]);
                push(names::K_NORM, vec![self.head_dim()]);
            }
            push(names::POST_ATTENTION_NORM, vec![h]);
            for (prefix, rows, cols) in [(names::GATE_PROJ, f, h), (names::UP_PROJ, f, h), (names::DOWN_PROJ, h, f)] {
                push(&names::weight(prefix), vec![rows, cols]);
            }
        }
        out.push((FINAL_NORM.to_string(), vec![h]));
        out
    }

    /// The shapes this config promises, in one line (for `conan info` and the Model page).
    pub fn architecture_summary(&self) -> String {
        format!(
            "{} layers, hidden {}, {} heads / {} KV heads (head dim {}), FFN {}, vocab {}, {} attention, {} pooling",
            self.num_hidden_layers,
            self.hidden_size,
            self.num_attention_heads,
            self.kv_heads(),
            self.head_dim(),
            self.intermediate_size,
            self.vocab_size,
            if self.is_causal() { "causal" } else { "bidirectional" },
            self.pooling().as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_order_is_part_of_the_format() {
        // Synthetic checkpoints seed tensor k by its index k here; training draws its
        // initial weights in this order. Changing it changes both.
        let mut c = Config::tiny();
        c.model_type = "qwen2".into();
        c.attention_bias = None;
        c.num_hidden_layers = 1;
        let names: Vec<String> = c.tensor_shapes().into_iter().map(|(n, _)| n).collect();
        let want = [
            "embed_tokens.weight",
            "layers.0.input_layernorm.weight",
            "layers.0.self_attn.q_proj.weight",
            "layers.0.self_attn.q_proj.bias",
            "layers.0.self_attn.k_proj.weight",
            "layers.0.self_attn.k_proj.bias",
            "layers.0.self_attn.v_proj.weight",
            "layers.0.self_attn.v_proj.bias",
            "layers.0.self_attn.o_proj.weight",
            "layers.0.post_attention_layernorm.weight",
            "layers.0.mlp.gate_proj.weight",
            "layers.0.mlp.up_proj.weight",
            "layers.0.mlp.down_proj.weight",
            "norm.weight",
        ];
        assert_eq!(names, want);
        c.model_type = "qwen3".into();
        let names: Vec<String> = c.tensor_shapes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[2..4], ["layers.0.self_attn.q_proj.weight", "layers.0.self_attn.k_proj.weight"]);
        assert_eq!(
            names[6..9],
            [
                "layers.0.self_attn.q_norm.weight",
                "layers.0.self_attn.k_norm.weight",
                "layers.0.post_attention_layernorm.weight"
            ]
        );
    }

    #[test]
    fn conan_v2_has_the_published_parameter_count() {
        assert_eq!(Config::conan_v2().num_params(), 1_499_205_120);
    }

    #[test]
    fn family_defaults() {
        let mut c = Config::tiny();
        assert_eq!(c.pooling(), Pooling::Mean);
        assert!(!c.is_causal());
        c.model_type = "qwen2".into();
        c.pooling = None;
        c.is_causal = None;
        c.attention_bias = None;
        assert!(c.qkv_bias() && !c.o_bias() && !c.qk_norm());
        assert_eq!(c.pooling(), Pooling::LastToken);
        assert!(c.is_causal());
        c.model_type = "qwen3".into();
        assert!(c.qk_norm() && !c.qkv_bias());
        c.pooling = Some(Pooling::Mean);
        assert!(!c.is_causal());
    }

    #[test]
    fn bad_configs_are_refused_with_reasons() {
        let base = Config::tiny();
        type Edit = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|c| c.model_type = "bert".into()), "model_type"),
            (Box::new(|c| c.num_key_value_heads = Some(3)), "multiple"),
            (Box::new(|c| c.head_dim = Some(15)), "even"),
            (Box::new(|c| c.hidden_size = 0), "hidden_size"),
            (Box::new(|c| c.rope_scaling = Some(serde_json::json!({"type": "yarn"}))), "rope_scaling"),
            (Box::new(|c| c.hidden_act = Some("gelu".into())), "hidden_act"),
            (Box::new(|c| c.matryoshka_dims = vec![65]), "matryoshka"),
        ];
        for (mutate, needle) in cases {
            let mut c = base.clone();
            mutate(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
        }
        let err = Config::from_json("{\"model_type\": \"conan\"}").unwrap_err().to_string();
        assert!(err.contains("missing field"), "{err}");
    }
}
