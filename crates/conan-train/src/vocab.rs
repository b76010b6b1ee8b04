//! conan-mini's own vocabulary: a byte-level BPE trained on the train corpora with the
//! `tokenizers` crate, as the paper trained its own. Byte-level means every Unicode text
//! tokenizes (rare characters, emoji, Traditional Chinese fall back to byte tokens), so
//! there are no unknown-token holes; the study in the model card compares it with a pruned
//! Qwen3 vocabulary.

use std::collections::HashSet;

use anyhow::{Result, anyhow};
use conan_text::TextEncoder;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{NormalizerWrapper, TokenizerBuilder};

/// Train a byte-level BPE of `vocab_size` tokens on `texts`; returns tokenizer.json text.
pub fn train_bpe<'a>(texts: impl Iterator<Item = &'a str> + Send, vocab_size: usize) -> Result<String> {
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .initial_alphabet(alphabet)
        .show_progress(false)
        .build();
    let byte_level = ByteLevel::new(false, true, true);
    let mut tokenizer = TokenizerBuilder::<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
        .with_model(BPE::default())
        .with_pre_tokenizer(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(|e| anyhow!("building the BPE tokenizer: {e}"))?;
    tokenizer.train(&mut trainer, texts).map_err(|e| anyhow!("training the BPE vocabulary: {e}"))?;
    tokenizer.to_string(false).map_err(|e| anyhow!("serialising tokenizer.json: {e}"))
}

/// Numbers for the tokenizer decision: mean tokens per dev sentence (shorter is cheaper
/// and leaves more context) and, for a pruned vocabulary, how many dev token ids would
/// have no embedding row (holes: text the model could not read).
#[derive(Debug, serde::Serialize)]
pub struct VocabRow {
    pub name: String,
    pub vocabulary: usize,
    /// Rows the model needs: the whole vocabulary, or the ids the train texts use.
    pub rows: usize,
    pub zh_tokens: f64,
    pub en_tokens: f64,
    pub dev_ids_without_row: usize,
}

pub fn study(train: &[&str], dev_zh: &[&str], dev_en: &[&str], qwen3_json: Option<&str>) -> Result<Vec<VocabRow>> {
    let mean = |enc: &TextEncoder, texts: &[&str]| -> Result<f64> {
        let mut n = 0usize;
        for t in texts {
            n += enc.encode(t)?.len();
        }
        Ok(n as f64 / texts.len().max(1) as f64)
    };
    let mut rows = Vec::new();
    for size in [8192, 16384, 32768] {
        let json = train_bpe(train.iter().copied(), size)?;
        let enc = TextEncoder::from_json(&json, usize::MAX)?;
        rows.push(VocabRow {
            name: format!("own byte-level BPE {}k", size / 1024),
            vocabulary: enc.vocab_size(),
            rows: enc.vocab_size(),
            zh_tokens: mean(&enc, dev_zh)?,
            en_tokens: mean(&enc, dev_en)?,
            dev_ids_without_row: 0,
        });
    }
    if let Some(json) = qwen3_json {
        let enc = TextEncoder::from_json(json, usize::MAX)?;
        let mut used = HashSet::new();
        for t in train {
            used.extend(enc.encode(t)?);
        }
        let mut missing = HashSet::new();
        for t in dev_zh.iter().chain(dev_en) {
            missing.extend(enc.encode(t)?.into_iter().filter(|id| !used.contains(id)));
        }
        rows.push(VocabRow {
            name: "Qwen3, pruned to the ids train uses".into(),
            vocabulary: enc.vocab_size(),
            rows: used.len(),
            zh_tokens: mean(&enc, dev_zh)?,
            en_tokens: mean(&enc, dev_en)?,
            dev_ids_without_row: missing.len(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_vocabulary_covers_any_text_and_merges_frequent_words() {
        let corpus = ["我喜欢猫。", "我喜欢狗。", "I like cats.", "I like dogs.", "你喜欢什么？"].repeat(20);
        let json = train_bpe(corpus.iter().copied(), 300).unwrap();
        let enc = TextEncoder::from_json(&json, 64).unwrap();
        assert!(enc.vocab_size() > 256, "merges were learned");
        // Frequent words become single tokens; unseen scripts fall back to bytes, never unknown.
        assert!(enc.encode("喜欢").unwrap().len() < "喜欢".len());
        for text in ["👋 שלום", "繁體中文", "e\u{301}"] {
            assert!(!enc.encode(text).unwrap().is_empty(), "{text}");
        }
    }
}
