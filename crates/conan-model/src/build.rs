//! Checked host tensors → a model on a device: the model is made from its config
//! ([`ConanModel::init`]) and each weight is filled by its name from [`crate::names`].
//! q8 / q4 matrices become burn block-quantized weights, or, where placement multiplies on
//! the host, packed host weights (int8 for q8 / q4); a token table kept on the host is
//! returned beside the model.

use std::collections::HashMap;

use burn::module::Param;
use burn::nn::{Embedding, RmsNorm};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};

use crate::config::Config;
use crate::error::ModelError;
use crate::host_gemm::HostLinear;
use crate::model::{ConanModel, Projection};
use crate::names::{self, FINAL_NORM, TOKEN_TABLE};
use crate::placement::{HostGemm, HostTable, LoadOptions};
use crate::weights::{BLOCK, HostTensor, LoadedTensors, QuantBits, QuantMatrix};

/// Takes checked tensors by name and turns them into module parts.
struct Filler<'a> {
    tensors: LoadedTensors,
    device: &'a Device,
    /// Projections multiplied on the host ([`LoadOptions::host_gemm`]).
    host_gemm: Option<HostGemm>,
}

impl Filler<'_> {
    fn take(&mut self, name: &str) -> Result<HostTensor, ModelError> {
        if let Some(q) = self.tensors.quantized.remove(name) {
            return Ok(HostTensor { values: q.dequantize(), shape: vec![q.rows, q.cols] });
        }
        // The reader checked every tensor against the config; a miss is a bug, reported
        // rather than panicking in a browser tab.
        self.tensors.dense.remove(name).ok_or_else(|| ModelError::Weights(format!("tensor {name} was not loaded")))
    }

    fn vector(&mut self, name: &str) -> Result<Param<Tensor<1>>, ModelError> {
        let t = self.take(name)?;
        Ok(Param::from_tensor(Tensor::from_data(TensorData::new(t.values, [t.shape[0]]), self.device)))
    }

    /// HF stores projections as `[out, in]`; burn's `Linear` multiplies by `[in, out]`.
    fn linear(&mut self, prefix: &str, into: &mut Projection) -> Result<(), ModelError> {
        let Projection::Device(linear) = into else {
            return Err(ModelError::Weights(format!("{prefix} was already loaded")));
        };
        let name = names::weight(prefix);
        let bias = match linear.bias.is_some() {
            true => Some(self.take(&names::bias(prefix))?.values),
            false => None,
        };
        if let Some(mode) = self.host_gemm {
            let host = match self.tensors.quantized.remove(&name) {
                Some(q) if mode == HostGemm::Int8 => HostLinear::int8(&q, bias),
                Some(q) => HostLinear::f32(&q.dequantize(), q.rows, q.cols, bias),
                None => {
                    let t = self.take(&name)?;
                    HostLinear::f32(&t.values, t.shape[0], t.shape[1], bias)
                }
            };
            *into = Projection::host(host);
            return Ok(());
        }
        let weight = match self.tensors.quantized.remove(&name) {
            Some(q) => quantized_weight(&q, self.device),
            None => {
                let t = self.take(&name)?;
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
        linear.weight = Param::from_tensor(weight);
        linear.bias = bias.map(|b| {
            let n = b.len();
            Param::from_tensor(Tensor::from_data(TensorData::new(b, [n]), self.device))
        });
        Ok(())
    }

    fn rms_norm(&mut self, name: &str, into: &mut RmsNorm) -> Result<(), ModelError> {
        into.gamma = self.vector(name)?;
        Ok(())
    }
}

/// A pack's q8 / q4 matrix as a burn block-quantized tensor `[in, out]`. The codes and
/// scales go to the device as stored (the transpose only swaps strides on cubecl), and
/// cubecl's matmul dequantizes blocks while it loads them, so device memory holds q8 / q4.
fn quantized_weight(q: &QuantMatrix, device: &Device) -> Tensor<2> {
    let value = match q.bits {
        QuantBits::Q4 => QuantValue::Q4S,
        QuantBits::Q8 => QuantValue::Q8S,
    };
    let scheme = QuantScheme::default()
        .with_value(value)
        .with_store(QuantStore::PackedU32(0))
        // f32 scales: f16 ones would need WebGPU's shader-f16, which many adapters lack.
        .per_block([BLOCK as u8], ScaleDtype::F32);
    // burn's q4 nibble is q in two's complement, the pack's is q + 8: flipping bit 3 of
    // each nibble turns one into the other. Both put the even column in the low nibble.
    let mut bytes: Vec<u8> = match q.bits {
        QuantBits::Q4 => q.codes.iter().map(|b| b ^ 0x88).collect(),
        QuantBits::Q8 => q.codes.clone(),
    };
    bytes.extend(q.scales_f32().flat_map(f32::to_ne_bytes));
    let data = TensorData::from_bytes_vec(bytes, [q.rows, q.cols], DType::QFloat(scheme));
    Tensor::<2>::from_data(data, device).transpose()
}

/// Upload checked f32 tensors (see [`crate::host_tensors`]) to `device` as a model.
pub fn build_model(
    config: &Config,
    tensors: HashMap<String, HostTensor>,
    device: &Device,
) -> Result<ConanModel, ModelError> {
    let tensors = LoadedTensors { dense: tensors, quantized: HashMap::new() };
    build_placed(config, tensors, device, LoadOptions::default()).map(|(model, _)| model)
}

/// [`build_model`] for tensors from [`crate::placement::device_tensors`] with the same
/// `options`: quantized matrices become block-quantized weights, or packed host weights
/// under [`LoadOptions::host_gemm`]. Where [`LoadOptions::host_table`] says so, the token
/// table stays in host memory as stored and is returned beside the model; otherwise it goes
/// to the device as f32 (it is gathered, not multiplied).
pub fn build_placed(
    config: &Config,
    tensors: LoadedTensors,
    device: &Device,
    options: LoadOptions,
) -> Result<(ConanModel, Option<HostTable>), ModelError> {
    let mut model = ConanModel::init(config, device);
    let mut f = Filler { tensors, device, host_gemm: options.host_gemm };

    let host = if options.host_table(config) {
        model.embed_tokens = None;
        Some(match f.tensors.quantized.remove(TOKEN_TABLE) {
            Some(q) => HostTable::Quantized(q),
            None => {
                let t = f.take(TOKEN_TABLE)?;
                HostTable::F32 { cols: t.shape[1], values: t.values }
            }
        })
    } else {
        let t = f.take(TOKEN_TABLE)?;
        let weight = Tensor::from_data(TensorData::new(t.values, [t.shape[0], t.shape[1]]), device);
        model.embed_tokens = Some(Embedding { weight: Param::from_tensor(weight) });
        None
    };
    for (i, layer) in model.layers.iter_mut().enumerate() {
        let name = |local: &str| names::layer(i, local);
        f.rms_norm(&name(names::INPUT_NORM), &mut layer.input_layernorm)?;
        let attn = &mut layer.self_attn;
        f.linear(&name(names::Q_PROJ), &mut attn.q_proj)?;
        f.linear(&name(names::K_PROJ), &mut attn.k_proj)?;
        f.linear(&name(names::V_PROJ), &mut attn.v_proj)?;
        f.linear(&name(names::O_PROJ), &mut attn.o_proj)?;
        if let Some(norm) = &mut attn.q_norm {
            f.rms_norm(&name(names::Q_NORM), norm)?;
        }
        if let Some(norm) = &mut attn.k_norm {
            f.rms_norm(&name(names::K_NORM), norm)?;
        }
        f.rms_norm(&name(names::POST_ATTENTION_NORM), &mut layer.post_attention_layernorm)?;
        f.linear(&name(names::GATE_PROJ), &mut layer.mlp.gate_proj)?;
        f.linear(&name(names::UP_PROJ), &mut layer.mlp.up_proj)?;
        f.linear(&name(names::DOWN_PROJ), &mut layer.mlp.down_proj)?;
    }
    f.rms_norm(FINAL_NORM, &mut model.norm)?;
    Ok((model, host))
}
