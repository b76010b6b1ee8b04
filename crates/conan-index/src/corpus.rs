//! The bundled corpus: one JSON object per line, written by tools/make_corpus.py.

use serde::{Deserialize, Serialize};

use crate::{IndexError, Lang};

/// The largest corpus file read (the bundled one is 0.7 MB).
pub const MAX_CORPUS_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusPassage {
    pub id: String,
    pub text: String,
    pub lang: Lang,
    /// Human-readable origin, e.g. "Tatoeba #266049" or "HSK 3 · travel".
    pub source: String,
    /// Ids of this passage's translations in the corpus.
    #[serde(default)]
    pub translations: Vec<String>,
}

/// Parse corpus.jsonl; a bad line is named, duplicate ids and dangling translation ids are
/// refused (they would make the "translation found" figures wrong).
pub fn parse_corpus(bytes: &[u8]) -> Result<Vec<CorpusPassage>, IndexError> {
    let text = std::str::from_utf8(bytes).map_err(|e| IndexError::Input(format!("corpus: not UTF-8 ({e})")))?;
    let mut out: Vec<CorpusPassage> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let p: CorpusPassage =
            serde_json::from_str(line).map_err(|e| IndexError::Input(format!("corpus line {}: {e}", i + 1)))?;
        out.push(p);
    }
    let ids: std::collections::HashSet<&str> = out.iter().map(|p| p.id.as_str()).collect();
    if ids.len() != out.len() {
        return Err(IndexError::Input("corpus: duplicate passage ids".into()));
    }
    for p in &out {
        if let Some(t) = p.translations.iter().find(|t| !ids.contains(t.as_str())) {
            return Err(IndexError::Input(format!(
                "corpus: {} names translation {t}, which is not in the corpus",
                p.id
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_corpus_parses_and_is_bilingual() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/corpus/corpus.jsonl")).unwrap();
        let corpus = parse_corpus(&bytes).unwrap();
        assert!(corpus.len() > 4000, "{}", corpus.len());
        let zh = corpus.iter().filter(|p| p.lang == Lang::Zh).count();
        assert!(zh > 2000 && corpus.len() - zh > 2000);
        // The tags written by the builder agree with the app's detector on nearly all rows.
        let agree = corpus.iter().filter(|p| crate::lang::detect(&p.text) == p.lang).count();
        assert!(agree as f64 / corpus.len() as f64 > 0.99, "{agree}");
        assert!(corpus.iter().all(|p| !p.translations.is_empty()));
    }

    #[test]
    fn refuses_bad_lines_duplicates_and_dangling_links() {
        let e = parse_corpus(b"{\"id\":\"a\"}\n").unwrap_err().to_string();
        assert!(e.contains("corpus line 1"), "{e}");
        let row = r#"{"id":"a","text":"x","lang":"en","source":"s"}"#;
        let e = parse_corpus(format!("{row}\n{row}\n").as_bytes()).unwrap_err().to_string();
        assert!(e.contains("duplicate"), "{e}");
        let e = parse_corpus(br#"{"id":"a","text":"x","lang":"en","source":"s","translations":["b"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names translation b"), "{e}");
    }
}
