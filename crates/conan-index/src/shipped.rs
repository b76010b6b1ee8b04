//! Vectors of the bundled corpus that ship with the app, so a first visit searches at once
//! instead of embedding 4,585 passages (110 s on the CPU fallback). Two files beside
//! `corpus.jsonl`: `vectors.json`, a [`ShippedHeader`] saying which model and corpus they
//! belong to, and `vectors.f16`, the passage then sentence vectors ([`crate::window`]) as
//! little-endian f16. A worker uses them only when both the model's fingerprint and the
//! corpus's key match; anything else is embedded as before.

use serde::{Deserialize, Serialize};

use crate::IndexError;

/// The header's `format`.
pub const FORMAT: &str = "conan-corpus-vectors/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippedHeader {
    pub format: String,
    /// The model's fingerprint (`ModelFiles::fingerprint`: config, tokenizer and weights).
    pub model_fingerprint: String,
    /// The first 16 hex digits of the SHA-256 of `corpus.jsonl`.
    pub corpus_key: String,
    pub width: usize,
    pub passages: usize,
    pub sentences: usize,
}

impl ShippedHeader {
    /// Bytes `vectors.f16` must hold; `None` when the header's counts overflow (a damaged
    /// or hostile header: nothing is allocated for it).
    pub fn data_bytes(&self) -> Option<u64> {
        (self.passages as u64).checked_add(self.sentences as u64)?.checked_mul(self.width as u64)?.checked_mul(2)
    }

    /// Whether these vectors are the ones for `fingerprint`'s model over the corpus `key`.
    pub fn fits(&self, fingerprint: &str, key: &str, width: usize) -> bool {
        self.format == FORMAT && self.model_fingerprint == fingerprint && self.corpus_key == key && self.width == width
    }
}

/// f32 values as little-endian f16 (half the bytes; a cosine moves by about 1e-6).
pub fn encode_f16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect()
}

/// `vectors.f16` back to f32, checked against `header`'s size and for finite values.
pub fn decode_f16(header: &ShippedHeader, bytes: &[u8]) -> Result<Vec<f32>, IndexError> {
    let Some(expected) = header.data_bytes() else {
        return Err(IndexError::Input("vectors.json: its counts overflow".into()));
    };
    if bytes.len() as u64 != expected {
        return Err(IndexError::Input(format!("vectors.f16 holds {} bytes; its header says {expected}", bytes.len())));
    }
    let values: Vec<f32> = bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(IndexError::NotFinite { row: i / header.width.max(1) });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ShippedHeader {
        ShippedHeader {
            format: FORMAT.into(),
            model_fingerprint: "abc".into(),
            corpus_key: "k".into(),
            width: 2,
            passages: 2,
            sentences: 1,
        }
    }

    #[test]
    fn round_trips_within_f16_precision_and_checks_size() {
        let values = [0.6f32, -0.8, 1.0, 0.0, 0.123_456, -0.5];
        let bytes = encode_f16(&values);
        let back = decode_f16(&header(), &bytes).unwrap();
        assert!(values.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-3));
        assert!(decode_f16(&header(), &bytes[..10]).unwrap_err().to_string().contains("says 12"));
        let inf = encode_f16(&[1.0, 0.0, f32::INFINITY, 0.0, 0.0, 0.0]);
        assert_eq!(decode_f16(&header(), &inf), Err(IndexError::NotFinite { row: 1 }));
    }

    #[test]
    fn fits_only_its_model_corpus_and_width() {
        let h = header();
        assert!(h.fits("abc", "k", 2));
        assert!(!h.fits("abd", "k", 2));
        assert!(!h.fits("abc", "other", 2));
        assert!(!h.fits("abc", "k", 3));
        assert!(!ShippedHeader { format: "x".into(), ..h }.fits("abc", "k", 2));
    }
}
