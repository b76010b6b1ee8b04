//! Reading a verified pack's tensors back, checked against its config.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use super::format::Manifest;
use super::write::code_dtype;
use crate::error::ModelError;
use crate::weights::{
    BLOCK, Encoding, HostTensor, LoadedTensors, QuantMatrix, decode_floats, dequantize_rows, parse_safetensors,
};

/// Decode a verified pack's tensors to f32 in HF layout, checking them against the config.
pub fn read_tensors(
    manifest: &Manifest,
    shards: &[(String, Vec<u8>)],
) -> Result<HashMap<String, HostTensor>, ModelError> {
    read_pack(manifest, shards, |_| false).map(|t| t.dense)
}

/// Read and check every tensor of a pack. The q8 / q4 matrices `keep_quantized` names stay
/// as codes and scales (for a backend that multiplies by them directly, or a token table
/// gathered on the host); the rest are dequantized to f32.
pub fn read_pack(
    manifest: &Manifest,
    shards: &[(String, Vec<u8>)],
    keep_quantized: impl Fn(&str) -> bool,
) -> Result<LoadedTensors, ModelError> {
    let bad = |m: String| ModelError::Weights(m);
    let parsed: Vec<SafeTensors> = shards.iter().map(|(f, b)| parse_safetensors(f, b)).collect::<Result<_, _>>()?;
    let expected: HashMap<String, Vec<usize>> = manifest.config.tensor_shapes().into_iter().collect();
    let mut out = HashMap::new();
    let mut quantized = HashMap::new();
    // (shard, key) of every stored tensor the manifest refers to.
    let used = std::cell::RefCell::new(std::collections::HashSet::new());
    for (name, entry) in &manifest.tensors {
        let Some(shape) = expected.get(name) else {
            return Err(bad(format!("manifest.json: unexpected tensor {name}: the config does not use it")));
        };
        if &entry.shape != shape {
            return Err(bad(format!(
                "manifest.json: tensor {name} has shape {:?} but the config needs {shape:?}",
                entry.shape
            )));
        }
        let (rows, cols) = if shape.len() == 2 { (shape[0], shape[1]) } else { (1, shape[0]) };
        if matches!(entry.encoding, Encoding::Q8 | Encoding::Q4) && (shape.len() != 2 || cols % BLOCK != 0) {
            return Err(bad(format!("manifest.json: tensor {name} {shape:?} cannot be {:?}", entry.encoding)));
        }
        // Grown from the shards' bytes, not reserved from the config's claim.
        let mut values = Vec::new();
        let keep = keep_quantized(name) && matches!(entry.encoding, Encoding::Q8 | Encoding::Q4);
        let (mut codes_all, mut scales_all) = (Vec::new(), Vec::new());
        let mut next_row = 0;
        for (k, part) in entry.parts.iter().enumerate() {
            let [start, end] = part.rows;
            if start != next_row || end <= start || end > rows {
                return Err(bad(format!(
                    "manifest.json: tensor {name} part {k} covers rows {start}..{end}, expected to start at {next_row}"
                )));
            }
            let st = parsed.get(part.shard).ok_or_else(|| {
                bad(format!("manifest.json: tensor {name} part {k} names shard {} of {}", part.shard, parsed.len()))
            })?;
            let file = &shards[part.shard].0;
            let n = end - start;
            let get = |key: &str, dtype: Dtype, len: usize| -> Result<&[u8], ModelError> {
                used.borrow_mut().insert((part.shard, key.to_string()));
                let view = st.tensor(key).map_err(|_| bad(format!("{file}: missing {key}")))?;
                if view.dtype() != dtype || view.data().len() != len {
                    return Err(bad(format!(
                        "{file}: {key} is {:?} with {} bytes, expected {dtype:?} with {len}",
                        view.dtype(),
                        view.data().len()
                    )));
                }
                Ok(view.data())
            };
            let key = format!("{name}#{k}");
            match entry.encoding {
                Encoding::F32 | Encoding::F16 => {
                    let dtype = if entry.encoding == Encoding::F32 { Dtype::F32 } else { Dtype::F16 };
                    let bytes = get(&key, dtype, n * entry.encoding.row_bytes(cols))?;
                    values.extend(decode_floats(dtype, bytes).expect("a float dtype"));
                }
                Encoding::Q8 | Encoding::Q4 => {
                    let bits = entry.encoding.quant_bits().expect("a quantized encoding");
                    let codes = get(&format!("{key}.q"), code_dtype(bits), n * bits.code_bytes(cols))?;
                    let scales = get(&format!("{key}.s"), Dtype::F16, n * cols / BLOCK * 2)?;
                    if keep {
                        codes_all.extend_from_slice(codes);
                        scales_all.extend_from_slice(scales);
                    } else {
                        values.extend(dequantize_rows(codes, scales, n, cols, bits));
                    }
                }
            }
            next_row = end;
        }
        if next_row != rows {
            return Err(bad(format!("manifest.json: tensor {name} parts cover {next_row} of {rows} rows")));
        }
        if keep {
            let bits = entry.encoding.quant_bits().expect("kept only when quantized");
            let m = QuantMatrix { bits, rows, cols, codes: codes_all, scales: scales_all };
            // Codes are finite by construction; a block's value is non-finite exactly when its scale is.
            if let Some(b) = m.scales_f32().position(|v| !v.is_finite()) {
                return Err(bad(format!("tensor {name} holds a non-finite value at element {}", b * BLOCK)));
            }
            quantized.insert(name.clone(), m);
            continue;
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("tensor {name} holds a non-finite value at element {i}")));
        }
        out.insert(name.clone(), HostTensor { values, shape: shape.clone() });
    }
    if let Some((name, _)) = expected.iter().find(|(n, _)| !out.contains_key(*n) && !quantized.contains_key(*n)) {
        return Err(bad(format!("manifest.json: missing tensor {name}")));
    }
    for (i, st) in parsed.iter().enumerate() {
        if let Some(key) = st.names().into_iter().filter(|k| !used.borrow().contains(&(i, k.to_string()))).min() {
            return Err(bad(format!("{}: holds {key}, which manifest.json does not list", shards[i].0)));
        }
    }
    Ok(LoadedTensors { dense: out, quantized })
}
