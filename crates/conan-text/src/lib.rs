//! Text → tokens. A thin layer over Hugging Face `tokenizers`: it loads any
//! `tokenizer.json`, encodes a batch with right padding and truncation to the model's
//! context, and reports what it did (lengths, truncation) so callers can tell the user.

use std::str::FromStr;

use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("tokenizer.json could not be read: {0}")]
    Load(String),
    #[error("tokenization failed for text {index}: {message}")]
    Encode { index: usize, message: String },
    #[error("text {index} is empty after tokenization; nothing to embed")]
    Empty { index: usize },
    #[error("no texts to embed")]
    NoTexts,
}

impl TextError {
    /// The same error with text positions shifted by `by`, for a chunk of a longer list.
    pub fn offset(self, by: usize) -> Self {
        match self {
            TextError::Encode { index, message } => TextError::Encode { index: index + by, message },
            TextError::Empty { index } => TextError::Empty { index: index + by },
            other => other,
        }
    }
}

/// A right-padded batch of token ids, row-major `[batch, seq]`, ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    pub ids: Vec<u32>,
    /// Real (non-padding) tokens per row, after truncation.
    pub lengths: Vec<usize>,
    /// Whether each text was cut to fit `max_len`.
    pub truncated: Vec<bool>,
    pub batch: usize,
    pub seq: usize,
}

/// The mask of right-padded rows of `seq` tokens with `lengths` real ones: 1.0 for real
/// tokens, 0.0 for padding, row-major.
pub fn padding_mask(lengths: &[usize], seq: usize) -> Vec<f32> {
    let mut mask = vec![0.0; lengths.len() * seq];
    for (row, &len) in lengths.iter().enumerate() {
        mask[row * seq..row * seq + len.min(seq)].fill(1.0);
    }
    mask
}

impl TokenBatch {
    /// 1.0 for real tokens, 0.0 for padding, row-major like `ids`.
    pub fn mask(&self) -> Vec<f32> {
        padding_mask(&self.lengths, self.seq)
    }

    pub fn max_id(&self) -> Option<u32> {
        self.ids.iter().copied().max()
    }

    /// The same rows right-padded to `seq` tokens (as they are when already that long).
    pub fn padded_to(&self, seq: usize) -> TokenBatch {
        if seq <= self.seq {
            return self.clone();
        }
        let mut ids = vec![PAD_ID; self.batch * seq];
        for (row, old) in ids.chunks_mut(seq).zip(self.ids.chunks(self.seq.max(1))) {
            row[..old.len()].copy_from_slice(old);
        }
        TokenBatch { ids, seq, ..self.clone() }
    }
}

/// The tokenizers crate (0.23) panics instead of failing on some malformed parts, which
/// in wasm kills the worker (found by fuzzing, see RELIABILITY.md): a "decoder" that is
/// not plain JSON (a syntax error, a number out of range) and a Precompiled normalizer it
/// cannot read. Those parts are checked here first, so a bad file is an error everywhere.
fn check_panicky_parts(json: &str) -> Result<(), TextError> {
    use serde_json::Value;
    // One pass reads the whole file (the other fields skipped, but their syntax checked).
    #[derive(serde::Deserialize)]
    struct Parts {
        /// Reading it as a Value is all the crate does before its `expect`.
        #[serde(default, rename = "decoder")]
        _decoder: Option<Value>,
        #[serde(default)]
        normalizer: Option<Value>,
    }
    let parts: Parts = serde_json::from_str(json).map_err(|e| TextError::Load(format!("not valid JSON: {e}")))?;
    let mut stack: Vec<&Value> = parts.normalizer.iter().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("Precompiled") {
                    serde_json::from_value::<tokenizers::normalizers::Precompiled>(v.clone())
                        .map_err(|e| TextError::Load(format!("the Precompiled normalizer cannot be read: {e}")))?;
                }
                stack.extend(o.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    Ok(())
}

pub struct TextEncoder {
    tokenizer: Tokenizer,
    max_len: usize,
    /// Characters kept before tokenizing a text for a batch: `max_len` tokens of the
    /// longest token in the vocabulary, and a margin. Past this, the text holds more than
    /// `max_len` tokens anyway, and tokenizing all of it (a 50 MB line, one 50 M-character
    /// word) would cost gigabytes for tokens that are cut off.
    char_bound: usize,
}

/// Padding never reaches the model's output (it is masked), so any valid id will do.
const PAD_ID: u32 = 0;

impl TextEncoder {
    /// Load `tokenizer.json` text; `max_len` is the model's context length.
    pub fn from_json(json: &str, max_len: usize) -> Result<Self, TextError> {
        check_panicky_parts(json)?;
        let tokenizer = Tokenizer::from_str(json).map_err(|e| TextError::Load(e.to_string()))?;
        let max_len = max_len.max(1);
        // A vocabulary entry's characters bound the text one token can cover (byte-level
        // entries spell one character per byte, so they over-count, which is safe).
        let longest = tokenizer.get_vocab(true).keys().map(|k| k.chars().count()).max().unwrap_or(1).max(1);
        let char_bound = max_len.saturating_mul(longest).saturating_add(64);
        Ok(Self { tokenizer, max_len, char_bound })
    }

    pub fn from_bytes(bytes: &[u8], max_len: usize) -> Result<Self, TextError> {
        let json = std::str::from_utf8(bytes).map_err(|e| TextError::Load(format!("not UTF-8: {e}")))?;
        Self::from_json(json, max_len)
    }

    /// Tokens including added special tokens.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Token ids of one text, with the tokenizer's special tokens, not truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TextError::Encode { index: 0, message: e.to_string() })
    }

    /// Token strings of one text, for showing how the tokenizer splits it.
    pub fn tokens(&self, text: &str) -> Result<Vec<(String, u32)>, TextError> {
        let enc =
            self.tokenizer.encode(text, true).map_err(|e| TextError::Encode { index: 0, message: e.to_string() })?;
        Ok(enc.get_tokens().iter().cloned().zip(enc.get_ids().iter().copied()).collect())
    }

    /// The text of one token id, as a reader would see it ("�" where a byte-level token
    /// holds only part of a character).
    pub fn piece(&self, id: u32) -> String {
        self.tokenizer.decode(&[id], false).unwrap_or_default()
    }

    /// Encode, truncate to `max_len` and right-pad to the longest row.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch, TextError> {
        if texts.is_empty() {
            return Err(TextError::NoTexts);
        }
        let mut rows = Vec::with_capacity(texts.len());
        let mut truncated = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let text = text.as_ref();
            let text = match text.char_indices().nth(self.char_bound) {
                Some((cut, _)) => &text[..cut],
                None => text,
            };
            let mut ids = self
                .tokenizer
                .encode(text, true)
                .map_err(|e| TextError::Encode { index, message: e.to_string() })?
                .get_ids()
                .to_vec();
            if ids.is_empty() {
                return Err(TextError::Empty { index });
            }
            truncated.push(ids.len() > self.max_len);
            ids.truncate(self.max_len);
            rows.push(ids);
        }
        let mut batch = TokenBatch::from_rows(&rows);
        batch.truncated = truncated;
        Ok(batch)
    }
}

impl TokenBatch {
    /// Right-pad already tokenized rows to the longest one (nothing truncated).
    pub fn from_rows<R: AsRef<[u32]>>(rows: &[R]) -> Self {
        let seq = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
        let mut ids = vec![PAD_ID; rows.len() * seq];
        for (r, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            ids[r * seq..r * seq + row.len()].copy_from_slice(row);
        }
        TokenBatch {
            lengths: rows.iter().map(|r| r.as_ref().len()).collect(),
            truncated: vec![false; rows.len()],
            batch: rows.len(),
            seq,
            ids,
        }
    }
}

/// GPT-2's byte ↔ printable-character table: byte `b` is token id `b`.
fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> =
        ('!' as u32..='~' as u32).chain('¡' as u32..='¬' as u32).chain('®' as u32..='ÿ' as u32).collect();
    printable.sort_unstable();
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable.binary_search(&b).is_ok() {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// A byte-level BPE tokenizer with no merges: 256 tokens, one per byte, so any Unicode
/// text tokenizes. Used for synthetic checkpoints, which have no trained vocabulary.
pub fn byte_level_tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> =
        byte_chars().into_iter().enumerate().map(|(id, c)| (c.to_string(), serde_json::Value::from(id))).collect();
    let byte_level = serde_json::json!({
        "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true
    });
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []
        }
    });
    serde_json::to_string_pretty(&json).expect("tokenizer JSON serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes() -> TextEncoder {
        TextEncoder::from_json(&byte_level_tokenizer_json(), 8).unwrap()
    }

    /// A text far past the context is cut before tokenizing: the batch keeps exactly the
    /// tokens a full tokenization would, and a 50 M-character word costs nothing.
    #[test]
    fn long_texts_are_cut_before_tokenizing_without_changing_tokens() {
        let enc = bytes();
        assert_eq!(enc.char_bound, 8 + 64);
        let text = "The quick brown fox jumps over the lazy dog. 我们明天去北京。".repeat(40);
        let full = enc.encode(&text).unwrap();
        let batch = enc.encode_batch(&[text.as_str()]).unwrap();
        assert_eq!(batch.ids, full[..8]);
        assert_eq!((batch.lengths[0], batch.truncated[0]), (8, true));
        let word = "字".repeat(50_000_000);
        let batch = enc.encode_batch(&[word.as_str()]).unwrap();
        assert_eq!(batch.ids, enc.encode(&"字".repeat(8)).unwrap()[..8]);
        assert_eq!((batch.lengths[0], batch.truncated[0]), (8, true));
    }

    #[test]
    fn byte_tokenizer_maps_bytes_to_ids() {
        let enc = bytes();
        assert_eq!(enc.vocab_size(), 256);
        for text in ["hello", "你好", "Ünïcödé 👋", "繁體中文", "שלום", "e\u{301}"] {
            let ids = enc.encode(text).unwrap();
            let expected: Vec<u32> = text.bytes().map(u32::from).collect();
            assert_eq!(ids, expected, "{text}");
        }
    }

    #[test]
    fn batch_pads_right_and_truncates() {
        let enc = bytes();
        let b = enc.encode_batch(&["ab", "abcdefghijk", "x"]).unwrap();
        assert_eq!((b.batch, b.seq), (3, 8));
        assert_eq!(b.lengths, vec![2, 8, 1]);
        assert_eq!(b.truncated, vec![false, true, false]);
        assert_eq!(&b.ids[0..8], &[97, 98, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b.mask()[16..24], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn padded_to_keeps_rows_and_lengths() {
        let b = bytes().encode_batch(&["ab", "abc"]).unwrap();
        let p = b.padded_to(5);
        assert_eq!((p.batch, p.seq, &p.lengths), (2, 5, &vec![2, 3]));
        assert_eq!(p.ids, [97, 98, 0, 0, 0, 97, 98, 99, 0, 0]);
        assert_eq!(p.mask(), [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(b.padded_to(2), b, "never cut");
    }

    #[test]
    fn empty_inputs_are_clear_errors() {
        let enc = bytes();
        assert!(matches!(enc.encode_batch::<&str>(&[]), Err(TextError::NoTexts)));
        let err = enc.encode_batch(&["ok", ""]).unwrap_err();
        assert!(matches!(err, TextError::Empty { index: 1 }), "{err}");
        assert!(TextEncoder::from_json("{", 8).is_err());
        assert!(TextEncoder::from_bytes(&[0xff, 0xfe], 8).is_err());
    }
}
