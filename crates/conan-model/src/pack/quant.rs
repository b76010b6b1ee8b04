//! Block quantization as a pack writes it (the decoding side is [`crate::weights`]).

use crate::error::ModelError;
use crate::weights::{BLOCK, QuantBits, dequantize_rows};

/// Quantize rows of `cols` values: (codes, f16 scales). Each block's scale is the one, among
/// a few divisors of its largest magnitude, that minimises the block's squared error (for
/// q4 this matters: the plain max/7 wastes the −8 code and over-weights outliers). Scales are
/// rounded to f16 before the codes are computed, so dequantisation uses the stored scale.
pub(crate) fn quantize_rows(values: &[f32], cols: usize, bits: QuantBits) -> (Vec<u8>, Vec<u8>) {
    let (qmin, qmax, divisors): (f32, f32, &[f32]) = match bits {
        QuantBits::Q4 => (-8.0, 7.0, &[5.5, 6.0, 6.5, 7.0, 7.5, 8.0]),
        QuantBits::Q8 => (-127.0, 127.0, &[127.0]),
    };
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
        match bits {
            QuantBits::Q4 => codes.extend(row_codes.chunks(2).map(|p| ((p[0] + 8) as u8) | (((p[1] + 8) as u8) << 4))),
            QuantBits::Q8 => codes.extend(row_codes.iter().map(|q| *q as u8)),
        }
    }
    (codes, scales)
}

/// `values` (rows of `cols`) quantized as a pack stores them and dequantized again: what
/// the weights become. For showing and measuring the error.
pub fn round_trip(values: &[f32], cols: usize, bits: QuantBits) -> Result<Vec<f32>, ModelError> {
    if cols == 0 || !values.len().is_multiple_of(cols) || (bits == QuantBits::Q4 && !cols.is_multiple_of(2)) {
        return Err(ModelError::Input(format!("{} values do not make rows of {cols}", values.len())));
    }
    let (codes, scales) = quantize_rows(values, cols, bits);
    Ok(dequantize_rows(&codes, &scales, values.len() / cols, cols, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_round_trips_within_one_step() {
        let values: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        for bits in [QuantBits::Q8, QuantBits::Q4] {
            let (codes, scales) = quantize_rows(&values, 64, bits);
            let back = dequantize_rows(&codes, &scales, 2, 64, bits);
            for (block, (orig, deq)) in values.chunks(BLOCK).zip(back.chunks(BLOCK)).enumerate() {
                let step = half::f16::from_le_bytes([scales[2 * block], scales[2 * block + 1]]).to_f32();
                for (a, b) in orig.iter().zip(deq) {
                    // Half a step inside the code range; a clipped extreme may lose up to one.
                    assert!((a - b).abs() <= step + 1e-6, "{bits:?}: {a} vs {b} (step {step})");
                }
            }
        }
    }
}
