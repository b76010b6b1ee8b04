//! A saved sentence-window index (`conan index build`), read the same way by `conan search`
//! and by the page's "Open an index". Four files in one folder:
//!
//! - `index.json` ([`IndexMeta`]): the format, the model's path, the documents;
//! - `passages.jsonl`: one `{"text", "source"}` per passage, in index order;
//! - `vectors.json` + `vectors.f16`: passage and sentence vectors in [`WindowTexts`] order,
//!   the layout of the vectors the app ships ([`crate::shipped`]), keyed to the model's
//!   fingerprint and to `passages.jsonl`'s SHA-256.
//!
//! Whether the loaded model is the index's (the fingerprint) is the caller's check: only it
//! knows its model.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::IndexError;
use crate::shipped::{FORMAT, ShippedHeader, decode_f16, encode_f16};
use crate::window::WindowTexts;

pub const INDEX_FORMAT: &str = "conan-index-v1";
/// The folder's files, in the order they are checked.
pub const FILES: [&str; 4] = ["index.json", "vectors.json", "passages.jsonl", "vectors.f16"];
/// The largest `passages.jsonl` read (about 500,000 passages of 400 characters).
pub const MAX_PASSAGES_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: String,
    /// The model folder the vectors came from, as written where the index was built.
    pub model: String,
    pub documents: Vec<DocumentMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub name: String,
    pub passages: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPassage {
    pub text: String,
    pub source: String,
}

/// A saved index, checked whole: its passages, their sentence spans and vectors agree.
#[derive(Debug, Clone)]
pub struct IndexFolder {
    pub meta: IndexMeta,
    pub header: ShippedHeader,
    pub passages: Vec<SavedPassage>,
    /// Each passage's sentence spans, as `WindowIndex::extend` takes them with `vectors`.
    pub spans: Vec<Vec<Range<usize>>>,
    /// [`WindowTexts`] order: passages, then each passage's sentences.
    pub vectors: Vec<f32>,
}

fn sha16(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What `vectors.json` keys an index's vectors to: the first 16 hex digits of the SHA-256 of
/// `passages.jsonl` as [`IndexFolder::files`] writes it.
pub fn corpus_key(passages: &[SavedPassage]) -> String {
    sha16(jsonl(passages).as_bytes())
}

impl IndexFolder {
    /// The files of an index (named as in [`FILES`]), saved by `fingerprint`'s model.
    pub fn new(
        model: &str,
        fingerprint: &str,
        passages: Vec<SavedPassage>,
        documents: Vec<DocumentMeta>,
        vectors: Vec<f32>,
        width: usize,
    ) -> Result<Self, IndexError> {
        let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        let laid_out = WindowTexts::new(&texts);
        if vectors.len() != laid_out.texts.len() * width {
            return Err(IndexError::Input(format!(
                "{} vectors for {} texts of width {width}",
                vectors.len(),
                laid_out.texts.len()
            )));
        }
        let header = ShippedHeader {
            format: FORMAT.into(),
            model_fingerprint: fingerprint.into(),
            corpus_key: corpus_key(&passages),
            width,
            passages: laid_out.passages(),
            sentences: laid_out.sentences(),
        };
        let spans = laid_out.spans;
        Ok(Self {
            meta: IndexMeta { format: INDEX_FORMAT.into(), model: model.into(), documents },
            header,
            passages,
            spans,
            vectors,
        })
    }

    /// Each file's name and bytes.
    pub fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("index.json", pretty(&self.meta)),
            ("vectors.json", pretty(&self.header)),
            ("passages.jsonl", jsonl(&self.passages).into_bytes()),
            ("vectors.f16", encode_f16(&self.vectors)),
        ]
    }

    /// Read an index from its files by name; every mismatch is an error naming the file.
    pub fn parse(files: &BTreeMap<String, Vec<u8>>) -> Result<Self, IndexError> {
        let get = |name: &str| {
            files.get(name).ok_or_else(|| IndexError::Input(format!("not a conan index: {name} is missing")))
        };
        let bad = |name: &str, e: &dyn std::fmt::Display| IndexError::Input(format!("{name}: {e}"));
        let meta: IndexMeta = serde_json::from_slice(get("index.json")?).map_err(|e| bad("index.json", &e))?;
        if meta.format != INDEX_FORMAT {
            return Err(bad("index.json", &format!("format {:?}, expected {INDEX_FORMAT:?}", meta.format)));
        }
        let header: ShippedHeader =
            serde_json::from_slice(get("vectors.json")?).map_err(|e| bad("vectors.json", &e))?;
        let jsonl = get("passages.jsonl")?;
        if header.corpus_key != sha16(jsonl) {
            return Err(bad("passages.jsonl", &"changed after the index was built; build it again"));
        }
        let text = std::str::from_utf8(jsonl).map_err(|e| bad("passages.jsonl", &e))?;
        let passages: Vec<SavedPassage> = text
            .lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| bad("passages.jsonl", &format!("line {}: {e}", i + 1))))
            .collect::<Result<_, _>>()?;
        let vectors = decode_f16(&header, get("vectors.f16")?)?;
        let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
        let laid_out = WindowTexts::new(&texts);
        if (laid_out.passages(), laid_out.sentences()) != (header.passages, header.sentences) {
            return Err(bad("vectors.json", &"its counts do not match the passages and their sentences"));
        }
        let spans = laid_out.spans;
        Ok(Self { meta, header, passages, spans, vectors })
    }
}

fn jsonl(passages: &[SavedPassage]) -> String {
    passages.iter().map(|p| serde_json::to_string(p).expect("strings serialise") + "\n").collect()
}

/// Pretty JSON with a final newline, for the two small headers.
fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    (serde_json::to_string_pretty(value).expect("plain structs serialise") + "\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_round_trips_and_a_changed_file_is_refused() {
        let passages = vec![
            SavedPassage { text: "Cats sleep. Dogs bark.".into(), source: "a.md ¶1".into() },
            SavedPassage { text: "Birds fly.".into(), source: "a.md ¶2".into() },
        ];
        // Two passages and two sentences of width 2.
        let vectors = vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 0.8, 0.6];
        let docs = vec![DocumentMeta { name: "a.md".into(), passages: 2 }];
        let index = IndexFolder::new("/m", "fp", passages.clone(), docs, vectors, 2).unwrap();
        let mut files: BTreeMap<String, Vec<u8>> = index.files().into_iter().map(|(n, b)| (n.to_string(), b)).collect();
        let back = IndexFolder::parse(&files).unwrap();
        assert_eq!(back.passages, passages);
        assert_eq!((back.header.passages, back.header.sentences, back.header.model_fingerprint.as_str()), (2, 2, "fp"));
        assert!((back.vectors[4] - 0.6).abs() < 1e-3);

        files.get_mut("passages.jsonl").unwrap().extend_from_slice(b"{\"text\":\"x\",\"source\":\"y\"}\n");
        let err = IndexFolder::parse(&files).unwrap_err().to_string();
        assert!(err.starts_with("passages.jsonl: changed after"), "{err}");
        files.remove("vectors.f16");
        assert!(IndexFolder::parse(&files).is_err());
    }
}
