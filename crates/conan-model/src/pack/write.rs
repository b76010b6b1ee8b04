//! Writing a pack, and what it will cost before it is written.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::Dtype;

use super::format::{FORMAT, Manifest, Part, Quantization, SHARD_LIMIT, ShardEntry, TensorEntry, VERSION, sha256_hex};
use super::quant::quantize_rows;
use crate::config::Config;
use crate::error::ModelError;
use crate::names::TOKEN_TABLE;
use crate::weights::{BLOCK, Encoding, HostTensor, QuantBits};

/// How a pack stores the codes of `bits`.
pub(super) fn code_dtype(bits: QuantBits) -> Dtype {
    match bits {
        QuantBits::Q8 => Dtype::I8,
        QuantBits::Q4 => Dtype::U8,
    }
}

fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
}

/// How to write a pack.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// Encoding of the projection matrices.
    pub scheme: Encoding,
    /// Encoding of the token-embedding table. q4 packs keep it at q8 by default: every
    /// token's input is read straight from it, and at 4 bits that error alone moved the
    /// tiny model's vectors below 0.99 cosine (0.987 vs 0.990 with a q8 table).
    pub table: Encoding,
    pub shard_limit: usize,
}

impl PackOptions {
    pub fn new(scheme: Encoding) -> Self {
        Self { scheme, table: if scheme == Encoding::Q4 { Encoding::Q8 } else { scheme }, shard_limit: SHARD_LIMIT }
    }

    /// The encoding `write_pack` gives a tensor: the table its own, matrices whose input
    /// dimension is a multiple of [`BLOCK`] the scheme (others f16), vectors f32.
    pub fn encoding_of(&self, name: &str, shape: &[usize]) -> Encoding {
        let cols = *shape.last().unwrap_or(&0);
        match self.scheme {
            _ if name == TOKEN_TABLE
                && (cols.is_multiple_of(BLOCK) || matches!(self.table, Encoding::F32 | Encoding::F16)) =>
            {
                self.table
            }
            Encoding::Q8 | Encoding::Q4 if shape.len() == 2 && cols.is_multiple_of(BLOCK) => self.scheme,
            Encoding::F16 | Encoding::Q8 | Encoding::Q4 if shape.len() == 2 => Encoding::F16,
            _ => Encoding::F32,
        }
    }
}

/// Bytes of the shards `write_pack` would write for `config` (tensor data only; each
/// shard's safetensors header adds a few kilobytes): what a pack costs before it is built.
pub fn estimate_bytes(config: &Config, opts: PackOptions) -> u64 {
    config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let (rows, cols) = if shape.len() == 2 { (shape[0], shape[1]) } else { (1, shape[0]) };
            (rows * opts.encoding_of(name, shape).row_bytes(cols)) as u64
        })
        .sum()
}

/// Write a pack of `tensors` (HF names and layout, f32) to `out`. Matrices whose input
/// dimension is a multiple of [`BLOCK`] get the scheme (others f16); vectors stay f32.
pub fn write_pack(
    config: &Config,
    tensors: &HashMap<String, HostTensor>,
    tokenizer_json: &[u8],
    opts: PackOptions,
    out: &Path,
) -> Result<Manifest, ModelError> {
    let (scheme, shard_limit) = (opts.scheme, opts.shard_limit);
    let io = ModelError::io;
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;

    /// One stored tensor: (key, dtype, shape, bytes).
    type Stored = (String, Dtype, Vec<usize>, Vec<u8>);
    // Shards filled greedily up to SHARD_LIMIT.
    let mut shards: Vec<Vec<Stored>> = vec![vec![]];
    let mut used = 0usize;
    let mut entries = BTreeMap::new();
    for (name, shape) in config.tensor_shapes() {
        let t = &tensors[&name];
        let (rows, cols) = if shape.len() == 2 { (shape[0], shape[1]) } else { (1, shape[0]) };
        let encoding = opts.encoding_of(&name, &shape);
        let row_bytes = encoding.row_bytes(cols);
        let mut parts = Vec::new();
        let mut start = 0;
        while start < rows {
            let mut fit = shard_limit.saturating_sub(used) / row_bytes;
            if fit == 0 {
                shards.push(vec![]);
                used = 0;
                fit = (shard_limit / row_bytes).max(1);
            }
            let end = rows.min(start + fit);
            let values = &t.values[start * cols..end * cols];
            let key = format!("{name}#{}", parts.len());
            let part_shape = if shape.len() == 2 { vec![end - start, cols] } else { vec![cols] };
            let shard = shards.last_mut().unwrap();
            match encoding {
                Encoding::F32 => {
                    shard.push((key, Dtype::F32, part_shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
                }
                Encoding::F16 => shard.push((key, Dtype::F16, part_shape, f16_bytes(values))),
                Encoding::Q8 | Encoding::Q4 => {
                    let bits = encoding.quant_bits().expect("a quantized encoding");
                    let (codes, scales) = quantize_rows(values, cols, bits);
                    shard.push((format!("{key}.q"), code_dtype(bits), vec![end - start, bits.code_bytes(cols)], codes));
                    shard.push((format!("{key}.s"), Dtype::F16, vec![end - start, cols / BLOCK], scales));
                }
            }
            used += (end - start) * row_bytes;
            parts.push(Part { shard: shards.len() - 1, rows: [start, end] });
            start = end;
        }
        entries.insert(name, TensorEntry { encoding, shape, parts });
    }

    let mut shard_entries = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        let views: Vec<(String, safetensors::tensor::TensorView)> = shard
            .iter()
            .map(|(k, d, s, b)| {
                (k.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("shape matches bytes"))
            })
            .collect();
        let bytes = safetensors::serialize(views, None).map_err(|e| ModelError::Weights(e.to_string()))?;
        let file = format!("shard-{i:05}.safetensors");
        let path = out.join(&file);
        std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
        shard_entries.push(ShardEntry { file, bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) });
    }
    let tok = out.join("tokenizer.json");
    std::fs::write(&tok, tokenizer_json).map_err(|e| io(&tok, e))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        config: config.clone(),
        tokenizer: "tokenizer.json".into(),
        quantization: Quantization {
            scheme,
            table: opts.table,
            block_size: BLOCK,
            scale_dtype: "f16".into(),
            symmetric: true,
        },
        parameters: config.num_params(),
        tensors: entries,
        shards: shard_entries,
    };
    let path = out.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap() + "\n").map_err(|e| io(&path, e))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_matches_the_written_pack() {
        let config = Config::tiny();
        let tensors: HashMap<String, HostTensor> = config
            .tensor_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let n = shape.iter().product::<usize>();
                let values = (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 900.0).collect();
                (name, HostTensor { values, shape })
            })
            .collect();
        for scheme in [Encoding::F32, Encoding::F16, Encoding::Q8, Encoding::Q4] {
            let dir = std::env::temp_dir().join(format!("conan-estimate-{}-{scheme:?}", std::process::id()));
            let opts = PackOptions { shard_limit: 64 << 10, ..PackOptions::new(scheme) };
            let m = write_pack(&config, &tensors, b"{}", opts, &dir).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            let (estimate, written) = (estimate_bytes(&config, opts), m.total_bytes());
            // Only the safetensors headers (a JSON table per shard) are left out.
            assert!(
                estimate <= written && written - estimate < m.shards.len() as u64 * 8192,
                "{scheme:?}: {estimate} vs {written}"
            );
        }
        // The full-size q4 pack (q8 table): 8 layers of q4 matrices plus the q8 table.
        let full = estimate_bytes(&Config::conan_v2(), PackOptions::new(Encoding::Q4));
        assert!((1_050_000_000..1_150_000_000).contains(&full), "{full}");
    }
}
