//! Modules → Hugging Face layout: the inverse of [`crate::build::build_model`], so a model
//! trained here is written as `config.json` + `model.safetensors` + `tokenizer.json` and
//! loads back through the same checked path as any downloaded checkpoint.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::RmsNorm;
use burn::prelude::*;

use crate::config::Config;
use crate::error::ModelError;
use crate::model::{ConanModel, Projection};
use crate::names::{self, FINAL_NORM, TOKEN_TABLE};
use crate::weights::HostTensor;

fn host<const D: usize>(tensor: Tensor<D>) -> HostTensor {
    let shape = tensor.dims().to_vec();
    let values = tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 tensor data");
    HostTensor { values, shape }
}

fn vector(out: &mut HashMap<String, HostTensor>, name: String, p: &Param<Tensor<1>>) {
    out.insert(name, host(p.val()));
}

fn norm(out: &mut HashMap<String, HostTensor>, name: String, n: &RmsNorm) {
    vector(out, name, &n.gamma);
}

/// burn's `Linear` holds `[in, out]`; HF stores `[out, in]`. A weight packed for the host's
/// kernels is not kept in a form to write back (q8 / q4 ones are requantized).
fn linear(out: &mut HashMap<String, HostTensor>, prefix: String, p: &Projection) -> Result<(), ModelError> {
    let Projection::Device(l) = p else {
        return Err(ModelError::Weights(format!(
            "{prefix} was loaded for the host's matmul kernels and cannot be saved; load the model without them"
        )));
    };
    out.insert(names::weight(&prefix), host(l.weight.val().transpose()));
    if let Some(bias) = &l.bias {
        vector(out, names::bias(&prefix), bias);
    }
    Ok(())
}

/// Every weight of `model` under its checkpoint name (without `model.`), as f32 on the host.
/// Reads tensors back synchronously, so it is for native callers (training, conversion).
pub fn model_tensors(model: &ConanModel) -> Result<HashMap<String, HostTensor>, ModelError> {
    let mut out = HashMap::new();
    if let Some(table) = &model.embed_tokens {
        out.insert(TOKEN_TABLE.into(), host(table.weight.val()));
    }
    for (i, layer) in model.layers.iter().enumerate() {
        let name = |local: &str| names::layer(i, local);
        norm(&mut out, name(names::INPUT_NORM), &layer.input_layernorm);
        let attn = &layer.self_attn;
        for (prefix, l) in [
            (names::Q_PROJ, &attn.q_proj),
            (names::K_PROJ, &attn.k_proj),
            (names::V_PROJ, &attn.v_proj),
            (names::O_PROJ, &attn.o_proj),
        ] {
            linear(&mut out, name(prefix), l)?;
        }
        if let Some(n) = &attn.q_norm {
            norm(&mut out, name(names::Q_NORM), n);
        }
        if let Some(n) = &attn.k_norm {
            norm(&mut out, name(names::K_NORM), n);
        }
        norm(&mut out, name(names::POST_ATTENTION_NORM), &layer.post_attention_layernorm);
        for (prefix, l) in [
            (names::GATE_PROJ, &layer.mlp.gate_proj),
            (names::UP_PROJ, &layer.mlp.up_proj),
            (names::DOWN_PROJ, &layer.mlp.down_proj),
        ] {
            linear(&mut out, name(prefix), l)?;
        }
    }
    norm(&mut out, FINAL_NORM.into(), &model.norm);
    Ok(out)
}

/// Write an f32 checkpoint in HF layout to `out`: `config.json`, `model.safetensors`
/// (names prefixed `model.`, in `config.tensor_shapes()` order) and `tokenizer.json`.
pub fn write_checkpoint(
    config: &Config,
    tensors: &HashMap<String, HostTensor>,
    tokenizer_json: &str,
    out: &Path,
) -> Result<(), ModelError> {
    config.validate()?;
    let io = ModelError::io;
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut views = Vec::new();
    for (name, shape) in config.tensor_shapes() {
        let t = tensors
            .get(&name)
            .ok_or_else(|| ModelError::Weights(format!("{name} is missing from the tensors to save")))?;
        if t.shape != shape {
            return Err(ModelError::Weights(format!("{name} has shape {:?}, the config says {shape:?}", t.shape)));
        }
        let bytes: Vec<u8> = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        views.push((format!("model.{name}"), shape, bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = views
        .iter()
        .map(|(name, shape, bytes)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .expect("shape and byte length agree");
            (name.clone(), view)
        })
        .collect();
    let weights = out.join("model.safetensors");
    safetensors::serialize_to_file(views, None, &weights)
        .map_err(|e| ModelError::from_safetensors_write(&weights, e))?;
    let config_path = out.join("config.json");
    std::fs::write(&config_path, config.to_json() + "\n").map_err(|e| io(&config_path, e))?;
    let tok_path = out.join("tokenizer.json");
    std::fs::write(&tok_path, tokenizer_json).map_err(|e| io(&tok_path, e))?;
    Ok(())
}
