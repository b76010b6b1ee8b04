//! Weights on the host, as every later step sees them: f32 tensors in the checkpoint's
//! (HF) layout, block-quantized matrices as a pack stores them, the encodings a tensor can
//! have, and the decoding of safetensors bytes. A leaf: it knows no config, file or device.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Quantization block along the input dimension (the columns of an HF `[out, in]` matrix).
pub const BLOCK: usize = 32;

/// How one tensor is stored in a pack.
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

    /// The quantization this encoding is, if any.
    pub fn quant_bits(self) -> Option<QuantBits> {
        match self {
            Self::Q8 => Some(QuantBits::Q8),
            Self::Q4 => Some(QuantBits::Q4),
            Self::F32 | Self::F16 => None,
        }
    }
}

/// The two block quantizations: symmetric int8, and int4 stored as q + 8, two per byte
/// (low nibble first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantBits {
    Q8,
    Q4,
}

impl QuantBits {
    /// Code bytes of one row of `cols` values.
    pub fn code_bytes(self, cols: usize) -> usize {
        match self {
            Self::Q8 => cols,
            Self::Q4 => cols / 2,
        }
    }
}

/// A checked tensor, as f32 in the checkpoint's (HF) layout.
pub struct HostTensor {
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
}

/// A q8 / q4 matrix as the pack stores it, in HF layout `[rows, cols]`: `codes` (q8: one i8
/// per value; q4: q + 8, two per byte, low nibble first) and one f16 scale per block of
/// [`BLOCK`] along each row.
#[derive(Clone)]
pub struct QuantMatrix {
    pub bits: QuantBits,
    pub rows: usize,
    pub cols: usize,
    pub codes: Vec<u8>,
    pub scales: Vec<u8>,
}

impl QuantMatrix {
    pub fn dequantize(&self) -> Vec<f32> {
        dequantize_rows(&self.codes, &self.scales, self.rows, self.cols, self.bits)
    }

    /// Row `r`, dequantized, appended to `out`.
    pub fn row_into(&self, r: usize, out: &mut Vec<f32>) {
        let (code_bytes, blocks) = (self.bits.code_bytes(self.cols), self.cols / BLOCK);
        let codes = &self.codes[r * code_bytes..(r + 1) * code_bytes];
        let scales = &self.scales[r * blocks * 2..(r + 1) * blocks * 2];
        out.extend(dequantize_rows(codes, scales, 1, self.cols, self.bits));
    }

    /// Bytes held: codes and f16 scales.
    pub fn bytes(&self) -> u64 {
        (self.codes.len() + self.scales.len()) as u64
    }

    /// The same matrix with q8 codes: each q4 nibble (stored as q + 8) becomes the byte q,
    /// under the same scales, so the values are unchanged.
    pub fn to_q8(&self) -> QuantMatrix {
        if self.bits == QuantBits::Q8 {
            return self.clone();
        }
        let codes =
            self.codes.iter().flat_map(|&b| [(b & 0x0f) as i8 - 8, (b >> 4) as i8 - 8]).map(|q| q as u8).collect();
        QuantMatrix { bits: QuantBits::Q8, rows: self.rows, cols: self.cols, codes, scales: self.scales.clone() }
    }

    /// The scales as f32 (exact: every f16 is an f32).
    pub fn scales_f32(&self) -> impl Iterator<Item = f32> + '_ {
        self.scales.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
    }
}

/// `rows` rows of `cols` codes under their f16 block scales, as f32.
pub fn dequantize_rows(codes: &[u8], scales: &[u8], rows: usize, cols: usize, bits: QuantBits) -> Vec<f32> {
    let scale = |i: usize| half::f16::from_le_bytes([scales[2 * i], scales[2 * i + 1]]).to_f32();
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let q = match bits {
                QuantBits::Q4 => {
                    let byte = codes[i / 2];
                    (if i.is_multiple_of(2) { byte & 0x0f } else { byte >> 4 }) as i32 - 8
                }
                QuantBits::Q8 => codes[i] as i8 as i32,
            };
            out.push(q as f32 * scale(r * cols / BLOCK + c / BLOCK));
        }
    }
    out
}

/// A model's checked tensors on the host, ready to be placed: `dense` ones as f32, and the
/// q8 / q4 matrices kept as stored where the placement multiplies by them directly.
#[derive(Default)]
pub struct LoadedTensors {
    pub dense: HashMap<String, HostTensor>,
    pub quantized: HashMap<String, QuantMatrix>,
}

/// Little-endian floats of `dtype` as f32; `Err(dtype)` for a dtype that is not a float.
pub fn decode_floats(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, Dtype> {
    Ok(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(other),
    })
}

/// One safetensors file (a checkpoint's or a pack's shard), parsed with its name in any error.
pub fn parse_safetensors<'a>(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>, ModelError> {
    if let Some(name) = duplicate_tensor(bytes) {
        return Err(ModelError::Weights(format!("{file}: tensor {name} appears more than once in the header")));
    }
    SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::Weights(format!("{file}: not a valid safetensors file: {e}")))
}

/// A safetensors header that names one tensor twice: JSON parsers keep the last value, so
/// the safetensors crate would silently use one of the two. Refuse it instead.
fn duplicate_tensor(bytes: &[u8]) -> Option<String> {
    struct Keys(Option<String>);
    impl<'de> serde::de::Visitor<'de> for &mut Keys {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    self.0 = Some(key);
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    let mut keys = Keys(None);
    // A header that is not a JSON object is left for the safetensors crate to report.
    serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_slice(header), &mut keys).ok()?;
    keys.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_as_q8_codes_keep_every_value() {
        // Every nibble 0..16 under two blocks with different scales.
        let codes: Vec<u8> = (0..32u8).map(|i| (i % 16) | ((15 - i % 16) << 4)).collect();
        let scales: Vec<u8> = [0.5f32, -0.03125].iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
        let q4 = QuantMatrix { bits: QuantBits::Q4, rows: 1, cols: 64, codes, scales };
        let q8 = q4.to_q8();
        assert_eq!(q8.bits, QuantBits::Q8);
        assert_eq!(q8.codes.len(), 64);
        assert_eq!(q8.codes[0] as i8, -8);
        assert_eq!(q8.codes[1] as i8, 7);
        assert_eq!(q8.dequantize(), q4.dequantize());
    }
}
