//! The training data: translation pairs from the *train* files of ../shared/data only
//! (Tatoeba, HSK, CC-CEDICT), the teacher's cached vectors, and Tatoeba and HSK dev pairs for
//! the progress numbers printed while training.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Where a pair comes from: sentence pairs have teacher vectors, dictionary pairs do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Source {
    Tatoeba,
    Hsk,
    Cedict,
}

/// One Chinese–English translation pair, as indices into [`Corpus::texts`].
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub zh: usize,
    pub en: usize,
    pub source: Source,
}

#[derive(Debug, Default)]
pub struct Corpus {
    /// Every distinct text once; pairs point here.
    pub texts: Vec<String>,
    index: HashMap<String, usize>,
    pub sentences: Vec<Pair>,
    pub dictionary: Vec<Pair>,
}

impl Corpus {
    fn id(&mut self, text: &str) -> usize {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        self.texts.push(text.to_string());
        self.index.insert(text.to_string(), self.texts.len() - 1);
        self.texts.len() - 1
    }

    fn push(&mut self, zh: &str, en: &str, source: Source) {
        let (zh, en) = (zh.trim(), en.trim());
        if zh.is_empty() || en.is_empty() {
            return;
        }
        let pair = Pair { zh: self.id(zh), en: self.id(en), source };
        match source {
            Source::Cedict => self.dictionary.push(pair),
            _ => self.sentences.push(pair),
        }
    }

    /// The first `n` sentence pairs and `n` dictionary pairs only, with just their texts
    /// (so the vocabulary is trained on them alone): for quick runs and tests.
    pub fn limited(&self, n: usize) -> Corpus {
        let mut out = Corpus::default();
        for p in self.sentences.iter().take(n).chain(self.dictionary.iter().take(n)) {
            out.push(&self.texts[p.zh], &self.texts[p.en], p.source);
        }
        out
    }

    /// Load the train files under `data`. Dev files are never read here.
    pub fn load_train(data: &Path) -> Result<Self> {
        let mut corpus = Corpus::default();
        for (zh, en) in read_tatoeba(&data.join("tatoeba/train.tsv"))? {
            corpus.push(&zh, &en, Source::Tatoeba);
        }
        for row in read_hsk(&data.join("hsk/train.jsonl"))? {
            corpus.push(&row.zh, &row.en, Source::Hsk);
            // Traditional script too: users type both.
            if !row.zh_traditional.is_empty() && row.zh_traditional != row.zh {
                corpus.push(&row.zh_traditional, &row.en, Source::Hsk);
            }
        }
        let cedict = data.join("cedict/cedict_1_0_ts_utf-8_mdbg.txt.gz");
        for (zh, en) in read_cedict(&cedict)? {
            corpus.push(&zh, &en, Source::Cedict);
        }
        if corpus.sentences.is_empty() {
            bail!("no training pairs found under {}", data.display());
        }
        Ok(corpus)
    }
}

/// Pairs whose Chinese and English sides are both unique, in order, at most `limit`:
/// with a repeated side, two candidates are the same text, so top-1 mining would count a
/// correct match as a miss (the bundled slices are built the same way).
pub fn unique_pairs(pairs: impl IntoIterator<Item = (String, String)>, limit: usize) -> Vec<(String, String)> {
    let (mut zh, mut en) = (HashSet::new(), HashSet::new());
    pairs
        .into_iter()
        .filter(|(z, e)| !zh.contains(z) && !en.contains(e) && zh.insert(z.clone()) && en.insert(e.clone()))
        .take(limit)
        .collect()
}

/// One row of the HSK JSONL files (train and dev share the layout).
#[derive(serde::Deserialize)]
pub struct HskRow {
    pub id: String,
    pub zh: String,
    #[serde(default)]
    pub zh_traditional: String,
    pub en: String,
}

/// The largest data file training reads (corpora, teacher vectors, CC-CEDICT unpacked).
const MAX_DATA_BYTES: u64 = 4 << 30;

/// A UTF-8 data file, read with the project's bounded reader.
fn read_text(path: &Path) -> Result<String> {
    let bytes = conan_fs::read_bounded(path, MAX_DATA_BYTES)?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not UTF-8 ({})", path.display(), e.utf8_error()))
}

/// HSK rows in file order; blank lines are skipped, any other bad line is an error.
pub fn read_hsk(path: &Path) -> Result<Vec<HskRow>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not an HSK row (id, zh, en)", path.display(), n + 1))
        })
        .collect()
}

/// `zh_id \t zh \t en_id \t en` with a header line.
pub fn read_tatoeba(path: &Path) -> Result<Vec<(String, String)>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 4 {
            bail!("{}:{}: expected 4 tab-separated columns, found {}", path.display(), n + 1, cols.len());
        }
        out.push((cols[1].to_string(), cols[3].to_string()));
    }
    Ok(out)
}

/// CC-CEDICT lines `Trad Simp [pin1 yin1] /gloss/gloss/`: simplified headword → first
/// gloss that reads as a plain English word or phrase (no "variant of", "surname", ...).
fn read_cedict(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    // Capped: a small gzip can unpack to any size.
    flate2::read::GzDecoder::new(file)
        .take(MAX_DATA_BYTES)
        .read_to_string(&mut text)
        .with_context(|| format!("{} is not a readable gzip text", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(text.as_bytes()).lines() {
        let line = line?;
        if line.starts_with('#') {
            continue;
        }
        let Some((head, glosses)) = line.split_once(" /") else { continue };
        let mut words = head.split(' ');
        let (Some(_trad), Some(simp)) = (words.next(), words.next()) else { continue };
        let Some(gloss) = glosses.split('/').map(clean_gloss).find(|g| !g.is_empty()) else { continue };
        if simp.chars().count() <= 6 {
            out.push((simp.to_string(), gloss));
        }
    }
    Ok(out)
}

fn clean_gloss(gloss: &str) -> String {
    let skip = ["variant of", "surname", "see ", "CL:", "abbr.", "used in", "old ", "(Tw)", "pr."];
    if skip.iter().any(|s| gloss.contains(s)) || gloss.contains('|') || gloss.contains('[') {
        return String::new();
    }
    // Drop bracketed usage notes: "(literary) to look" → "to look".
    let mut out = String::new();
    let mut depth = 0;
    for c in gloss.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = (depth - 1).max(0),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() < 2 || out.len() > 40 { String::new() } else { out }
}

/// Teacher vectors written by tools/teacher.py: `texts.jsonl` (one JSON string a line) and
/// `vectors.f32` (little-endian, len × dims, unit length).
pub struct Teacher {
    pub dims: usize,
    rows: HashMap<String, usize>,
    vectors: Vec<f32>,
}

impl Teacher {
    pub fn load(dir: &Path) -> Result<Self> {
        let meta: serde_json::Value = serde_json::from_str(&read_text(&dir.join("meta.json"))?)?;
        let dims = meta["dims"].as_u64().context("meta.json has no dims")? as usize;
        let texts = read_text(&dir.join("texts.jsonl"))?;
        let rows: HashMap<String, usize> = texts
            .lines()
            .enumerate()
            .map(|(i, l)| Ok((serde_json::from_str::<String>(l)?, i)))
            .collect::<Result<_>>()?;
        let bytes = conan_fs::read_bounded(&dir.join("vectors.f32"), MAX_DATA_BYTES)?;
        if bytes.len() != rows.len() * dims * 4 {
            bail!(
                "{}/vectors.f32 holds {} bytes, expected {} texts × {dims} × 4",
                dir.display(),
                bytes.len(),
                rows.len()
            );
        }
        let vectors = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        Ok(Self { dims, rows, vectors })
    }

    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.rows.get(text).map(|&i| &self.vectors[i * self.dims..(i + 1) * self.dims])
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_pairs_skips_any_pair_with_a_repeated_side() {
        let p = |z: &str, e: &str| (z.to_string(), e.to_string());
        let pairs = vec![
            p("爱情是盲目的。", "Love is blind."),
            p("恋爱使人盲目。", "Love is blind."),
            p("等一下。", "Wait."),
            p("等一下。", "Hold on."),
            p("你好", "Hi"),
        ];
        assert_eq!(
            unique_pairs(pairs.clone(), 10),
            vec![p("爱情是盲目的。", "Love is blind."), p("等一下。", "Wait."), p("你好", "Hi")]
        );
        assert_eq!(unique_pairs(pairs, 2).len(), 2);
    }
}
