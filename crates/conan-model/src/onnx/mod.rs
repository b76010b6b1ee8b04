//! A checkpoint of the family → an ONNX model (opset 17) that computes what
//! [`crate::Embedder`] computes, so conan-mini and its relatives run in the runtimes users
//! already have (onnxruntime, onnxruntime-web, transformers.js).
//!
//! Inputs `input_ids` and `attention_mask` (int64 `[batch, sequence]`, right-padded);
//! outputs `sentence_embedding` (`[batch, hidden]`: pooled as the config says, L2-normalised;
//! a Matryoshka prefix is cut and re-normalised by the caller) and `last_hidden_state`
//! (`[batch, sequence, hidden]`, after the final norm). Weights are f32 (a pack's q8 / q4
//! matrices are dequantized). Above [`INLINE_LIMIT`] bytes of weights (protobuf caps one
//! file at 2 GiB) they go to `FILE.onnx.data` as ONNX external data.

pub mod proto;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::checkpoint::{ModelFiles, host_tensors};
use crate::config::{Config, Pooling};
use crate::error::ModelError;
use crate::model::mask::MASKED;
use crate::model::rope::rope_tables;
use crate::names;
use crate::weights::HostTensor;
use proto::*;

/// The operator set the graph uses (ReduceMean's axes are still an attribute there).
pub const OPSET: i64 = 17;
/// Weights above this many bytes are written as external data.
pub const INLINE_LIMIT: u64 = 1 << 30;

/// What an export wrote.
#[derive(Debug)]
pub struct ExportSummary {
    pub onnx: PathBuf,
    /// The external data file, when the weights did not fit inline.
    pub data: Option<PathBuf>,
    pub tokenizer: PathBuf,
    pub nodes: usize,
    pub weight_bytes: u64,
}

/// Export `files` to `out` (an `.onnx` path), with `tokenizer.json` beside it; weights go to
/// external data when `external` or when they exceed [`INLINE_LIMIT`]. Refuses to replace
/// a different `tokenizer.json` already there.
pub fn export(files: &ModelFiles, out: &Path, external: bool) -> Result<ExportSummary, ModelError> {
    let tokenizer = out.with_file_name("tokenizer.json");
    if let Ok(existing) = std::fs::read(&tokenizer)
        && existing != files.tokenizer_json
    {
        return Err(ModelError::Input(format!(
            "{} already holds a different tokenizer; export into another folder",
            tokenizer.display()
        )));
    }
    let config = &files.config;
    let tensors = host_tensors(files)?;
    let weight_bytes: u64 = tensors.values().map(|t| t.values.len() as u64 * 4).sum();
    let data = (external || weight_bytes > INLINE_LIMIT).then(|| {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".data");
        out.with_file_name(name)
    });
    let mut b = Builder::new(data.as_deref())?;
    let graph = build_graph(config, &tensors, &mut b)?;
    let nodes = graph.node.len();
    b.finish()?;
    let model = ModelProto {
        ir_version: 8,
        producer_name: "conan-web".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: config.architecture_summary(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        metadata_props: vec![
            StringStringEntryProto { key: "model_type".into(), value: config.model_type.clone() },
            StringStringEntryProto { key: "pooling".into(), value: config.pooling().as_str().into() },
            StringStringEntryProto {
                key: "matryoshka_dims".into(),
                value: serde_json::to_string(&config.matryoshka_dims).unwrap_or_default(),
            },
        ],
    };
    std::fs::write(out, model.encode_to_vec()).map_err(|e| ModelError::io(out, e))?;
    std::fs::write(&tokenizer, &files.tokenizer_json).map_err(|e| ModelError::io(&tokenizer, e))?;
    Ok(ExportSummary { onnx: out.to_path_buf(), data, tokenizer, nodes, weight_bytes })
}

/// Nodes and initializers as they are made; weights go inline or to the data file.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next: usize,
    /// The external data file: its name (relative to the model), writer and length so far.
    external: Option<(String, PathBuf, BufWriter<File>, u64)>,
}

impl Builder {
    fn new(data: Option<&Path>) -> Result<Self, ModelError> {
        let external = match data {
            Some(path) => {
                let file = File::create(path).map_err(|e| ModelError::io(path, e))?;
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                Some((name, path.to_path_buf(), BufWriter::new(file), 0))
            }
            None => None,
        };
        Ok(Self { nodes: Vec::new(), initializers: Vec::new(), next: 0, external })
    }

    fn finish(&mut self) -> Result<(), ModelError> {
        if let Some((_, path, writer, _)) = &mut self.external {
            writer.flush().map_err(|e| ModelError::io(path.as_path(), e))?;
        }
        Ok(())
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// One node `op` on `inputs`; returns its output's name.
    fn op(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute,
        });
        out
    }

    /// A named output: `Identity` from `value`.
    fn output(&mut self, value: &str, name: &str) {
        self.nodes.push(NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: name.into(),
            op_type: "Identity".into(),
            attribute: vec![],
        });
    }

    /// A float initializer; large ones go to the external data file when there is one.
    fn floats(&mut self, name: &str, dims: &[usize], values: &[f32]) -> Result<String, ModelError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut t = TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            ..Default::default()
        };
        match &mut self.external {
            Some((file, path, writer, offset)) if bytes.len() >= 1024 => {
                writer.write_all(&bytes).map_err(|e| ModelError::io(path.as_path(), e))?;
                t.data_location = EXTERNAL;
                t.external_data =
                    [("location", file.clone()), ("offset", offset.to_string()), ("length", bytes.len().to_string())]
                        .into_iter()
                        .map(|(k, v)| StringStringEntryProto { key: k.into(), value: v })
                        .collect();
                *offset += bytes.len() as u64;
            }
            _ => t.raw_data = bytes,
        }
        self.initializers.push(t);
        Ok(name.into())
    }

    fn scalar(&mut self, v: f32) -> String {
        let name = self.fresh("const");
        self.initializers.push(TensorProto {
            data_type: FLOAT,
            name: name.clone(),
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        });
        name
    }

    /// A 1-D int64 constant (shapes, axes, indices); `scalar` makes it 0-D (one value).
    fn ints(&mut self, values: &[i64], scalar: bool) -> String {
        let name = self.fresh("const");
        self.initializers.push(TensorProto {
            dims: if scalar { vec![] } else { vec![values.len() as i64] },
            data_type: INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// `x @ w.T (+ bias)` for a projection whose HF weight `w` is `[out, in]`.
    fn linear(&mut self, x: &str, tensors: &Tensors, prefix: &str, bias: bool) -> Result<String, ModelError> {
        let w = tensors.get(&names::weight(prefix))?;
        let (rows, cols) = (w.shape[0], w.shape[1]);
        let mut t = vec![0.0f32; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = w.values[r * cols + c];
            }
        }
        let w = self.floats(&names::weight(prefix), &[cols, rows], &t)?;
        let y = self.op("MatMul", &[x, &w], vec![]);
        if !bias {
            return Ok(y);
        }
        let b = tensors.get(&names::bias(prefix))?;
        let b = self.floats(&names::bias(prefix), &b.shape, &b.values)?;
        Ok(self.op("Add", &[&y, &b], vec![]))
    }

    /// RMSNorm over the last axis with weight `name`.
    fn rms_norm(&mut self, x: &str, tensors: &Tensors, name: &str, eps: f64) -> Result<String, ModelError> {
        let w = tensors.get(name)?;
        let w = self.floats(name, &w.shape, &w.values)?;
        let sq = self.op("Mul", &[x, x], vec![]);
        let mean = self.op("ReduceMean", &[&sq], vec![ints_attr("axes", &[-1]), int_attr("keepdims", 1)]);
        let eps = self.scalar(eps as f32);
        let var = self.op("Add", &[&mean, &eps], vec![]);
        let rms = self.op("Sqrt", &[&var], vec![]);
        let normed = self.op("Div", &[x, &rms], vec![]);
        Ok(self.op("Mul", &[&normed, &w], vec![]))
    }

    /// Hugging Face's half-rotation RoPE on `x` `[.., seq, head_dim]`.
    fn rope(&mut self, x: &str, cos: &str, sin: &str, head_dim: usize) -> String {
        let half = head_dim as i64 / 2;
        let (zero, mid, end, last) = (
            self.ints(&[0], false),
            self.ints(&[half], false),
            self.ints(&[head_dim as i64], false),
            self.ints(&[-1], false),
        );
        let x1 = self.op("Slice", &[x, &zero, &mid, &last], vec![]);
        let x2 = self.op("Slice", &[x, &mid, &end, &last], vec![]);
        let neg = self.op("Neg", &[&x2], vec![]);
        let rotated = self.op("Concat", &[&neg, &x1], vec![int_attr("axis", -1)]);
        let a = self.op("Mul", &[x, cos], vec![]);
        let b = self.op("Mul", &[&rotated, sin], vec![]);
        self.op("Add", &[&a, &b], vec![])
    }
}

/// Host tensors by name, with a clear error for a missing one.
struct Tensors<'a>(&'a std::collections::HashMap<String, HostTensor>);

impl Tensors<'_> {
    fn get(&self, name: &str) -> Result<&HostTensor, ModelError> {
        self.0.get(name).ok_or_else(|| ModelError::Weights(format!("missing tensor {name}")))
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: ATTR_INT, ..Default::default() }
}

fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: ints.to_vec(), r#type: ATTR_INTS, ..Default::default() }
}

fn tensor_input(name: &str, elem_type: i32, dims: &[&str]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d.parse::<i64>() {
                            Ok(n) => Dimension { dim_value: Some(n), dim_param: None },
                            Err(_) => Dimension { dim_value: None, dim_param: Some(d.to_string()) },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn build_graph(
    config: &Config,
    tensors: &std::collections::HashMap<String, HostTensor>,
    b: &mut Builder,
) -> Result<GraphProto, ModelError> {
    let tensors = Tensors(tensors);
    let (h, hd, kv) = (config.hidden_size, config.head_dim(), config.kv_heads());
    let group = config.num_attention_heads / kv.max(1);
    let eps = config.rms_norm_eps;

    // Tokens → vectors; the mask as floats.
    let table = tensors.get(names::TOKEN_TABLE)?;
    let table = b.floats(names::TOKEN_TABLE, &table.shape, &table.values)?;
    let mut x = b.op("Gather", &[&table, "input_ids"], vec![int_attr("axis", 0)]);
    let mask = b.op("Cast", &["attention_mask"], vec![int_attr("to", FLOAT as i64)]);

    // Additive score mask [batch, 1, 1, 1|seq, seq]: padding keys hidden, and later keys
    // too when the model is causal.
    let one = b.scalar(1.0);
    let masked = b.scalar(-MASKED);
    let off = b.op("Sub", &[&mask, &one], vec![]);
    let pad = b.op("Mul", &[&off, &masked], vec![]);
    let axes = b.ints(&[1, 2, 3], false);
    let mut bias = b.op("Unsqueeze", &[&pad, &axes], vec![]);
    let shape = b.op("Shape", &["input_ids"], vec![]);
    let (s1, s2) = (b.ints(&[1], false), b.ints(&[2], false));
    let seq = b.op("Slice", &[&shape, &s1, &s2], vec![]); // [seq] as a 1-D tensor
    if config.is_causal() {
        let idx = b.ints(&[1], true);
        let t = b.op("Gather", &[&shape, &idx], vec![int_attr("axis", 0)]);
        let (start, step) = (b.ints(&[0], true), b.ints(&[1], true));
        let pos = b.op("Range", &[&start, &t, &step], vec![]);
        let (a0, a1) = (b.ints(&[0], false), b.ints(&[1], false));
        let cols = b.op("Unsqueeze", &[&pos, &a0], vec![]);
        let rows = b.op("Unsqueeze", &[&pos, &a1], vec![]);
        let later = b.op("Greater", &[&cols, &rows], vec![]);
        let later = b.op("Cast", &[&later], vec![int_attr("to", FLOAT as i64)]);
        let hidden = b.scalar(MASKED);
        let causal = b.op("Mul", &[&later, &hidden], vec![]);
        bias = b.op("Add", &[&bias, &causal], vec![]);
    }

    // Rotary tables for every position, cut to the batch's length.
    let (cos, sin) = rope_tables(config.max_position_embeddings, hd, config.rope_theta);
    let cos_table = b.floats("rope.cos", &[config.max_position_embeddings, hd], &cos)?;
    let sin_table = b.floats("rope.sin", &[config.max_position_embeddings, hd], &sin)?;
    let (zero, axis0) = (b.ints(&[0], false), b.ints(&[0], false));
    let cos = b.op("Slice", &[&cos_table, &zero, &seq, &axis0], vec![]);
    let sin = b.op("Slice", &[&sin_table, &zero, &seq, &axis0], vec![]);

    let q_shape = b.ints(&[0, 0, kv as i64, group as i64, hd as i64], false);
    let kv_shape = b.ints(&[0, 0, kv as i64, 1, hd as i64], false);
    let merged = b.ints(&[0, 0, -1], false);
    let scale = b.scalar(1.0 / (hd as f32).sqrt());
    for i in 0..config.num_hidden_layers {
        let n = |local: &str| names::layer(i, local);
        // Attention: [b, kv, group|1, seq, head_dim], grouped queries sharing their KV head
        // through MatMul broadcasting, as the burn model does.
        let hn = b.rms_norm(&x, &tensors, &n(names::INPUT_NORM), eps)?;
        let heads = |b: &mut Builder, prefix: &str, shape: &str, norm: Option<String>| -> Result<String, ModelError> {
            let y = b.linear(&hn, &tensors, &n(prefix), config.qkv_bias())?;
            let y = b.op("Reshape", &[&y, shape], vec![]);
            let y = match norm {
                Some(w) => b.rms_norm(&y, &tensors, &w, eps)?,
                None => y,
            };
            Ok(b.op("Transpose", &[&y], vec![ints_attr("perm", &[0, 2, 3, 1, 4])]))
        };
        let q = heads(b, names::Q_PROJ, &q_shape, config.qk_norm().then(|| n(names::Q_NORM)))?;
        let k = heads(b, names::K_PROJ, &kv_shape, config.qk_norm().then(|| n(names::K_NORM)))?;
        let v = heads(b, names::V_PROJ, &kv_shape, None)?;
        let q = b.rope(&q, &cos, &sin, hd);
        let k = b.rope(&k, &cos, &sin, hd);
        let kt = b.op("Transpose", &[&k], vec![ints_attr("perm", &[0, 1, 2, 4, 3])]);
        let scores = b.op("MatMul", &[&q, &kt], vec![]);
        let scores = b.op("Mul", &[&scores, &scale], vec![]);
        let scores = b.op("Add", &[&scores, &bias], vec![]);
        let probs = b.op("Softmax", &[&scores], vec![int_attr("axis", -1)]);
        let out = b.op("MatMul", &[&probs, &v], vec![]);
        let out = b.op("Transpose", &[&out], vec![ints_attr("perm", &[0, 3, 1, 2, 4])]);
        let out = b.op("Reshape", &[&out, &merged], vec![]);
        let out = b.linear(&out, &tensors, &n(names::O_PROJ), config.o_bias())?;
        x = b.op("Add", &[&x, &out], vec![]);

        // SwiGLU.
        let hn = b.rms_norm(&x, &tensors, &n(names::POST_ATTENTION_NORM), eps)?;
        let gate = b.linear(&hn, &tensors, &n(names::GATE_PROJ), false)?;
        let up = b.linear(&hn, &tensors, &n(names::UP_PROJ), false)?;
        let sig = b.op("Sigmoid", &[&gate], vec![]);
        let silu = b.op("Mul", &[&gate, &sig], vec![]);
        let act = b.op("Mul", &[&silu, &up], vec![]);
        let down = b.linear(&act, &tensors, &n(names::DOWN_PROJ), false)?;
        x = b.op("Add", &[&x, &down], vec![]);
    }
    let states = b.rms_norm(&x, &tensors, names::FINAL_NORM, eps)?;
    b.output(&states, "last_hidden_state");

    // Pooling over real tokens, then L2 normalisation.
    let pooled = match config.pooling() {
        Pooling::Mean => {
            let a2 = b.ints(&[2], false);
            let w = b.op("Unsqueeze", &[&mask, &a2], vec![]);
            let weighted = b.op("Mul", &[&states, &w], vec![]);
            let a1 = b.ints(&[1], false);
            let sum = b.op("ReduceSum", &[&weighted, &a1], vec![int_attr("keepdims", 0)]);
            let count = b.op("ReduceSum", &[&mask, &a1], vec![int_attr("keepdims", 1)]);
            b.op("Div", &[&sum, &count], vec![])
        }
        Pooling::LastToken => {
            let a1 = b.ints(&[1], false);
            let len = b.op("ReduceSum", &["attention_mask", &a1], vec![int_attr("keepdims", 1)]);
            let one = b.ints(&[1], true);
            let last = b.op("Sub", &[&len, &one], vec![]);
            let a2 = b.ints(&[2], false);
            let last = b.op("Unsqueeze", &[&last, &a2], vec![]); // [b, 1, 1]
            let (s0, s1) = (b.ints(&[0], false), b.ints(&[1], false));
            let batch = b.op("Slice", &[&shape, &s0, &s1], vec![]);
            let rest = b.ints(&[1, h as i64], false);
            let target = b.op("Concat", &[&batch, &rest], vec![int_attr("axis", 0)]);
            let index = b.op("Expand", &[&last, &target], vec![]);
            let picked = b.op("GatherElements", &[&states, &index], vec![int_attr("axis", 1)]);
            b.op("Squeeze", &[&picked, &a1], vec![])
        }
        Pooling::Cls => {
            let first = b.ints(&[0], true);
            b.op("Gather", &[&states, &first], vec![int_attr("axis", 1)])
        }
    };
    let sq = b.op("Mul", &[&pooled, &pooled], vec![]);
    let a1 = b.ints(&[1], false);
    let sum = b.op("ReduceSum", &[&sq, &a1], vec![int_attr("keepdims", 1)]);
    let norm = b.op("Sqrt", &[&sum], vec![]);
    let tiny = b.scalar(1e-12);
    let norm = b.op("Max", &[&norm, &tiny], vec![]);
    let unit = b.op("Div", &[&pooled, &norm], vec![]);
    b.output(&unit, "sentence_embedding");

    let hs = h.to_string();
    Ok(GraphProto {
        node: std::mem::take(&mut b.nodes),
        name: "conan".into(),
        initializer: std::mem::take(&mut b.initializers),
        input: vec![
            tensor_input("input_ids", INT64, &["batch", "sequence"]),
            tensor_input("attention_mask", INT64, &["batch", "sequence"]),
        ],
        output: vec![
            tensor_input("sentence_embedding", FLOAT, &["batch", &hs]),
            tensor_input("last_hidden_state", FLOAT, &["batch", "sequence", &hs]),
        ],
    })
}
