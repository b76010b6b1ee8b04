//! The one table of checkpoint tensor names (Hugging Face's, without the `model.` prefix).
//! Shapes ([`crate::Config::tensor_shapes`]), loading, saving and synthetic checkpoints all
//! spell names through it, so a renamed tensor changes in one place.

/// The token-embedding table: the one tensor that is gathered rather than multiplied, so
/// placement and quantization treat it apart.
pub const TOKEN_TABLE: &str = "embed_tokens.weight";
/// The RMSNorm after the last layer.
pub const FINAL_NORM: &str = "norm.weight";

/// Per-layer tensors, relative to `layers.{i}.`. Projections are `Linear` prefixes: the
/// matrix is `{prefix}.weight`, an optional bias `{prefix}.bias`.
pub const INPUT_NORM: &str = "input_layernorm.weight";
pub const Q_PROJ: &str = "self_attn.q_proj";
pub const K_PROJ: &str = "self_attn.k_proj";
pub const V_PROJ: &str = "self_attn.v_proj";
pub const O_PROJ: &str = "self_attn.o_proj";
/// Qwen3's per-head RMSNorm over queries and keys.
pub const Q_NORM: &str = "self_attn.q_norm.weight";
pub const K_NORM: &str = "self_attn.k_norm.weight";
pub const POST_ATTENTION_NORM: &str = "post_attention_layernorm.weight";
pub const GATE_PROJ: &str = "mlp.gate_proj";
pub const UP_PROJ: &str = "mlp.up_proj";
pub const DOWN_PROJ: &str = "mlp.down_proj";

/// The full name of layer `i`'s tensor `local` (one of the per-layer names above).
pub fn layer(i: usize, local: &str) -> String {
    format!("layers.{i}.{local}")
}

/// A projection's matrix.
pub fn weight(prefix: &str) -> String {
    format!("{prefix}.weight")
}

/// A projection's bias.
pub fn bias(prefix: &str) -> String {
    format!("{prefix}.bias")
}

/// Tensors some checkpoints carry that an encoder does not use.
pub fn ignorable(name: &str) -> bool {
    name == "lm_head.weight" || name.ends_with("rotary_emb.inv_freq")
}
