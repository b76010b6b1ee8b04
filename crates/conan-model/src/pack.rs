//! Model packs: what the browser downloads. A folder with `manifest.json` (format, config,
//! tokenizer file, quantization, every tensor's encoding and where its rows live) and
//! safetensors shards of at most [`SHARD_LIMIT`] bytes, each listed with size and SHA-256.
//!
//! Encodings (per tensor; vectors such as norms and biases always stay f32):
//! - `f32`, `f16`: plain values.
//! - `q8`: symmetric per-block int8, blocks of [`BLOCK`] along the input dimension (the
//!   columns of an HF `[out, in]` matrix), one f16 scale per block: `w ≈ q · s`, q ∈ [−127, 127].
//! - `q4`: the same with 4-bit q ∈ [−8, 7], two per byte (low nibble first), stored as q + 8.
//!
//! A tensor larger than a shard is split by rows into parts. Loading checks every shard's
//! size and hash before anything is decoded, so a damaged pack is refused whole.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, TOKEN_TABLE};
use crate::error::ModelError;
use crate::load::HostTensor;

/// WebGPU's default `maxStorageBufferBindingSize`.
pub const SHARD_LIMIT: usize = 128 << 20;
/// Quantization block along the input dimension.
pub const BLOCK: usize = 32;
pub const FORMAT: &str = "conan-pack";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    F32,
    F16,
    Q8,
    Q4,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "f32" => Some(Self::F32),
            "f16" => Some(Self::F16),
            "q8" => Some(Self::Q8),
            "q4" => Some(Self::Q4),
            _ => None,
        }
    }

    /// Bytes of one row of `cols` values (quantized rows include their scales).
    pub fn row_bytes(self, cols: usize) -> usize {
        match self {
            Self::F32 => cols * 4,
            Self::F16 => cols * 2,
            Self::Q8 => cols + cols / BLOCK * 2,
            Self::Q4 => cols / 2 + cols / BLOCK * 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub shard: usize,
    /// Rows `start..end` of the tensor.
    pub rows: [usize; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub encoding: Encoding,
    pub shape: Vec<usize>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// What matrices were asked to become: f32, f16, q8 or q4.
    pub scheme: Encoding,
    /// The token-embedding table's encoding.
    pub table: Encoding,
    pub block_size: usize,
    pub scale_dtype: String,
    pub symmetric: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub config: Config,
    pub tokenizer: String,
    pub quantization: Quantization,
    pub parameters: u64,
    pub tensors: BTreeMap<String, TensorEntry>,
    pub shards: Vec<ShardEntry>,
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Weights(format!("manifest.json: {e}")))?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(ModelError::Weights(format!(
                "manifest.json: format {:?} version {} is not {FORMAT} version {VERSION}",
                m.format, m.version
            )));
        }
        m.config.validate()?;
        for (i, s) in m.shards.iter().enumerate() {
            if s.file.contains('/') || s.file.contains("..") || s.file.is_empty() {
                return Err(ModelError::Weights(format!(
                    "manifest.json: shard {i} has an unsafe file name {:?}",
                    s.file
                )));
            }
        }
        Ok(m)
    }

    /// Total bytes of all shards, what a browser downloads besides the tokenizer.
    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Check a shard's bytes against its manifest entry.
pub fn verify_shard(entry: &ShardEntry, bytes: &[u8]) -> Result<(), ModelError> {
    if bytes.len() as u64 != entry.bytes {
        return Err(ModelError::Weights(format!(
            "shard {} is {} bytes but the manifest says {} (truncated or replaced)",
            entry.file,
            bytes.len(),
            entry.bytes
        )));
    }
    let hash = sha256_hex(bytes);
    if hash != entry.sha256 {
        return Err(ModelError::Weights(format!(
            "shard {} fails its SHA-256 check (got {}, manifest says {})",
            entry.file,
            &hash[..16],
            &entry.sha256[..entry.sha256.len().min(16)]
        )));
    }
    Ok(())
}

fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
}

/// Quantize rows of `cols` values: (codes, f16 scales). Each block's scale is the one, among
/// a few divisors of its largest magnitude, that minimises the block's squared error (for
/// q4 this matters: the plain max/7 wastes the −8 code and over-weights outliers). Scales are
/// rounded to f16 before the codes are computed, so dequantisation uses the stored scale.
fn quantize_rows(values: &[f32], cols: usize, bits4: bool) -> (Vec<u8>, Vec<u8>) {
    let (qmin, qmax) = if bits4 { (-8.0f32, 7.0f32) } else { (-127.0, 127.0) };
    let divisors: &[f32] = if bits4 { &[5.5, 6.0, 6.5, 7.0, 7.5, 8.0] } else { &[127.0] };
    let encode = |block: &[f32], s: f32| -> Vec<i8> {
        block.iter().map(|v| if s > 0.0 { (v / s).round().clamp(qmin, qmax) as i8 } else { 0 }).collect()
    };
    let (mut codes, mut scales) = (Vec::new(), Vec::new());
    for row in values.chunks(cols) {
        let mut row_codes = Vec::with_capacity(cols);
        for block in row.chunks(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let (scale, q) = divisors
                .iter()
                .map(|d| {
                    let scale = half::f16::from_f32(max / d);
                    let q = encode(block, scale.to_f32());
                    let err: f32 =
                        block.iter().zip(&q).map(|(v, c)| (v - f32::from(*c) * scale.to_f32()).powi(2)).sum();
                    (err, scale, q)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, s, q)| (s, q))
                .expect("at least one divisor");
            scales.extend(scale.to_le_bytes());
            row_codes.extend(q);
        }
        if bits4 {
            codes.extend(row_codes.chunks(2).map(|p| ((p[0] + 8) as u8) | (((p[1] + 8) as u8) << 4)));
        } else {
            codes.extend(row_codes.iter().map(|q| *q as u8));
        }
    }
    (codes, scales)
}

/// `values` (rows of `cols`) quantized as a pack stores them (q8, or q4 with `bits4`) and
/// dequantized again: what the weights become. For showing and measuring the error.
pub fn round_trip(values: &[f32], cols: usize, bits4: bool) -> Result<Vec<f32>, ModelError> {
    if cols == 0 || values.len() % cols != 0 || (bits4 && cols % 2 != 0) {
        return Err(ModelError::Input(format!("{} values do not make rows of {cols}", values.len())));
    }
    let (codes, scales) = quantize_rows(values, cols, bits4);
    Ok(dequantize_rows(&codes, &scales, values.len() / cols, cols, bits4))
}

fn dequantize_rows(codes: &[u8], scales: &[u8], rows: usize, cols: usize, bits4: bool) -> Vec<f32> {
    let scale = |i: usize| half::f16::from_le_bytes([scales[2 * i], scales[2 * i + 1]]).to_f32();
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let q = if bits4 {
                let byte = codes[i / 2];
                (if i % 2 == 0 { byte & 0x0f } else { byte >> 4 }) as i32 - 8
            } else {
                codes[i] as i8 as i32
            };
            out.push(q as f32 * scale(r * cols / BLOCK + c / BLOCK));
        }
    }
    out
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
            _ if name == TOKEN_TABLE && (cols % BLOCK == 0 || matches!(self.table, Encoding::F32 | Encoding::F16)) => {
                self.table
            }
            Encoding::Q8 | Encoding::Q4 if shape.len() == 2 && cols % BLOCK == 0 => self.scheme,
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

/// Bytes of `config`'s weights on a device loaded with `options`, each tensor encoded as
/// `encoding` says: with `quantized_matmul` q8 / q4 matrices are their codes (q4 as q8 where
/// `q4_as_q8`) plus one f32 scale per block; the token table (gathered, not multiplied),
/// norms and everything else are f32.
pub fn device_bytes(
    config: &Config,
    encoding: impl Fn(&str, &[usize]) -> Encoding,
    options: crate::LoadOptions,
) -> u64 {
    config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let n = shape.iter().map(|&d| d as u64).product::<u64>();
            let multiplied = options.quantized_matmul && name != TOKEN_TABLE;
            match encoding(name, shape) {
                Encoding::Q4 if multiplied && !options.q4_as_q8 => n / 2 + n / BLOCK as u64 * 4,
                Encoding::Q8 | Encoding::Q4 if multiplied => n + n / BLOCK as u64 * 4,
                _ => n * 4,
            }
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
    let io = |p: &Path, e: std::io::Error| ModelError::Io(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;

    // (key, dtype, shape, bytes) per shard, filled greedily up to SHARD_LIMIT.
    let mut shards: Vec<Vec<(String, Dtype, Vec<usize>, Vec<u8>)>> = vec![vec![]];
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
                    let bits4 = encoding == Encoding::Q4;
                    let (codes, scales) = quantize_rows(values, cols, bits4);
                    let code_cols = if bits4 { cols / 2 } else { cols };
                    shard.push((
                        format!("{key}.q"),
                        if bits4 { Dtype::U8 } else { Dtype::I8 },
                        vec![end - start, code_cols],
                        codes,
                    ));
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

/// Decode a verified pack's tensors to f32 in HF layout, checking them against the config.
pub fn read_tensors(
    manifest: &Manifest,
    shards: &[(String, Vec<u8>)],
) -> Result<HashMap<String, HostTensor>, ModelError> {
    read_pack(manifest, shards, |_| false).map(|t| t.f32)
}

/// A q8 / q4 matrix as the pack stores it, in HF layout `[rows, cols]`: `codes` (q8: one i8
/// per value; q4: q + 8, two per byte, low nibble first) and one f16 scale per block of
/// [`BLOCK`] along each row.
#[derive(Clone)]
pub struct QuantMatrix {
    pub bits4: bool,
    pub rows: usize,
    pub cols: usize,
    pub codes: Vec<u8>,
    pub scales: Vec<u8>,
}

impl QuantMatrix {
    pub fn dequantize(&self) -> Vec<f32> {
        dequantize_rows(&self.codes, &self.scales, self.rows, self.cols, self.bits4)
    }

    /// Row `r`, dequantized, appended to `out`.
    pub fn row_into(&self, r: usize, out: &mut Vec<f32>) {
        let (code_bytes, blocks) = (if self.bits4 { self.cols / 2 } else { self.cols }, self.cols / BLOCK);
        let codes = &self.codes[r * code_bytes..(r + 1) * code_bytes];
        let scales = &self.scales[r * blocks * 2..(r + 1) * blocks * 2];
        out.extend(dequantize_rows(codes, scales, 1, self.cols, self.bits4));
    }

    /// Bytes held: codes and f16 scales.
    pub fn bytes(&self) -> u64 {
        (self.codes.len() + self.scales.len()) as u64
    }

    /// The same matrix with q8 codes: each q4 nibble (stored as q + 8) becomes the byte q,
    /// under the same scales, so the values are unchanged.
    pub fn to_q8(&self) -> QuantMatrix {
        if !self.bits4 {
            return self.clone();
        }
        let codes =
            self.codes.iter().flat_map(|&b| [(b & 0x0f) as i8 - 8, (b >> 4) as i8 - 8]).map(|q| q as u8).collect();
        QuantMatrix { bits4: false, rows: self.rows, cols: self.cols, codes, scales: self.scales.clone() }
    }

    /// The scales as f32 (exact: every f16 is an f32).
    pub fn scales_f32(&self) -> impl Iterator<Item = f32> + '_ {
        self.scales.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
    }
}

/// A pack's tensors: f32 ones, and (when asked to keep them) the quantized matrices as stored.
pub struct PackTensors {
    pub f32: HashMap<String, HostTensor>,
    pub quantized: HashMap<String, QuantMatrix>,
}

/// Read and check every tensor of a pack. The q8 / q4 matrices `keep_quantized` names stay
/// as codes and scales (for a backend that multiplies by them directly, or a token table
/// gathered on the host); the rest are dequantized to f32.
pub fn read_pack(
    manifest: &Manifest,
    shards: &[(String, Vec<u8>)],
    keep_quantized: impl Fn(&str) -> bool,
) -> Result<PackTensors, ModelError> {
    let bad = |m: String| ModelError::Weights(m);
    let parsed: Vec<SafeTensors> =
        shards.iter().map(|(f, b)| crate::load::parse_safetensors(f, b)).collect::<Result<_, _>>()?;
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
                Encoding::F32 => values.extend(
                    get(&key, Dtype::F32, n * cols * 4)?
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
                Encoding::F16 => values.extend(
                    get(&key, Dtype::F16, n * cols * 2)?
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
                ),
                Encoding::Q8 | Encoding::Q4 => {
                    let bits4 = entry.encoding == Encoding::Q4;
                    let codes = get(
                        &format!("{key}.q"),
                        if bits4 { Dtype::U8 } else { Dtype::I8 },
                        if bits4 { n * cols / 2 } else { n * cols },
                    )?;
                    let scales = get(&format!("{key}.s"), Dtype::F16, n * cols / BLOCK * 2)?;
                    if keep {
                        codes_all.extend_from_slice(codes);
                        scales_all.extend_from_slice(scales);
                    } else {
                        values.extend(dequantize_rows(codes, scales, n, cols, bits4));
                    }
                }
            }
            next_row = end;
        }
        if next_row != rows {
            return Err(bad(format!("manifest.json: tensor {name} parts cover {next_row} of {rows} rows")));
        }
        if keep {
            let m =
                QuantMatrix { bits4: entry.encoding == Encoding::Q4, rows, cols, codes: codes_all, scales: scales_all };
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
    Ok(PackTensors { f32: out, quantized })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_round_trips_within_one_step() {
        let values: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        for bits4 in [false, true] {
            let (codes, scales) = quantize_rows(&values, 64, bits4);
            let back = dequantize_rows(&codes, &scales, 2, 64, bits4);
            for (block, (orig, deq)) in values.chunks(BLOCK).zip(back.chunks(BLOCK)).enumerate() {
                let step = half::f16::from_le_bytes([scales[2 * block], scales[2 * block + 1]]).to_f32();
                for (a, b) in orig.iter().zip(deq) {
                    // Half a step inside the code range; a clipped extreme may lose up to one.
                    assert!((a - b).abs() <= step + 1e-6, "bits4={bits4}: {a} vs {b} (step {step})");
                }
            }
        }
    }

    #[test]
    fn q4_as_q8_codes_keep_every_value() {
        // Every nibble 0..16 under two blocks with different scales.
        let codes: Vec<u8> = (0..32u8).map(|i| (i % 16) | ((15 - i % 16) << 4)).collect();
        let scales: Vec<u8> = [0.5f32, -0.03125].iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
        let q4 = QuantMatrix { bits4: true, rows: 1, cols: 64, codes, scales };
        let q8 = q4.to_q8();
        assert!(!q8.bits4);
        assert_eq!(q8.codes.len(), 64);
        assert_eq!(q8.codes[0] as i8, -8);
        assert_eq!(q8.codes[1] as i8, 7);
        assert_eq!(q8.dequantize(), q4.dequantize());
    }

    #[test]
    fn device_bytes_of_the_full_size_q4_pack() {
        let c = Config::conan_v2();
        let opts = PackOptions::new(Encoding::Q4);
        let gpu = crate::LoadOptions { quantized_matmul: true, ..Default::default() };
        let q4 = device_bytes(&c, |n, s| opts.encoding_of(n, s), gpu);
        let table = 150_000 * 3584 * 4;
        // The body: 961,544,192 matrix values at 4 bits plus an f32 scale per 32; 60,928 norm values.
        let body = 961_544_192 / 2 + 961_544_192 / 32 * 4 + 60_928 * 4;
        assert_eq!(q4, table + body);
        assert!(body < 602_000_000, "{body}");
        assert_eq!(device_bytes(&c, |n, s| opts.encoding_of(n, s), crate::LoadOptions::default()), c.num_params() * 4);
        // An adapter that takes q4 as q8: a byte per matrix value.
        let as_q8 = device_bytes(&c, |n, s| opts.encoding_of(n, s), crate::LoadOptions { q4_as_q8: true, ..gpu });
        assert_eq!(as_q8, q4 + 961_544_192 / 2);
    }

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
