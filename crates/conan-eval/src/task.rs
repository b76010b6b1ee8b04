//! Task folders: `task.json` plus data files by type (the BEIR/MTEB layout for retrieval).
//! Files arrive as a name → bytes map, so a folder on disk, a browser upload and a zip all
//! load through [`Task::from_files`]. Every refusal names the file and line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::EvalError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    Retrieval,
    Bitext,
    Classification,
    Clustering,
    Pair,
    Sts,
    Reranking,
}

impl TaskType {
    /// The metric MTEB reports as main score for this type.
    pub fn default_main_score(self) -> &'static str {
        match self {
            TaskType::Retrieval => "ndcg_at_10",
            TaskType::Bitext => "f1",
            TaskType::Classification => "accuracy",
            TaskType::Clustering => "v_measure",
            TaskType::Pair => "max_ap",
            TaskType::Sts => "cosine_spearman",
            TaskType::Reranking => "map",
        }
    }

    /// Data files this type reads, besides task.json.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            TaskType::Retrieval => &["corpus.jsonl", "queries.jsonl", "qrels.tsv"],
            TaskType::Bitext | TaskType::Pair | TaskType::Sts => &["pairs.jsonl"],
            TaskType::Classification => &["train.jsonl", "test.jsonl"],
            TaskType::Clustering | TaskType::Reranking => &["data.jsonl"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    pub name: String,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub languages: Vec<String>,
    #[serde(default)]
    pub main_score: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub source: String,
    /// Classification: training examples per label per experiment (MTEB default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_per_label: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskData {
    Retrieval {
        corpus: Vec<(String, String)>,
        queries: Vec<(String, String)>,
        /// query id → corpus id → relevance
        qrels: BTreeMap<String, HashMap<String, i64>>,
    },
    /// `(sentence1, sentence2)`; sentence2 of pair i is the gold match of sentence1 i.
    Bitext(Vec<(String, String)>),
    Classification {
        train: Vec<(String, String)>,
        test: Vec<(String, String)>,
    },
    Clustering(Vec<(String, String)>),
    Pair(Vec<(String, String, bool)>),
    Sts(Vec<(String, String, f64)>),
    Reranking(Vec<RerankItem>),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RerankItem {
    pub query: String,
    pub positive: Vec<String>,
    pub negative: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub meta: TaskMeta,
    pub data: TaskData,
    /// SHA-256 over the task's files (name and bytes), first 16 hex digits.
    pub revision: String,
}

fn bad(file: &str, line: Option<usize>, message: impl Into<String>) -> EvalError {
    EvalError::Task { file: file.into(), line, message: message.into() }
}

/// Each non-empty line of a JSONL file, parsed, with its 1-based line number.
fn jsonl<T: for<'de> Deserialize<'de>>(file: &str, bytes: &[u8]) -> Result<Vec<(usize, T)>, EvalError> {
    let text = std::str::from_utf8(bytes).map_err(|e| bad(file, None, format!("not UTF-8: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| bad(file, Some(i + 1), e.to_string()))?;
        out.push((i + 1, value));
    }
    if out.is_empty() {
        return Err(bad(file, None, "is empty"));
    }
    Ok(out)
}

/// Labels may be strings or numbers in JSON; they are compared as text.
fn label_text(file: &str, line: usize, v: &Value) -> Result<String, EvalError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad(file, Some(line), "label must be a string or a number")),
    }
}

#[derive(Deserialize)]
struct IdText {
    #[serde(rename = "_id")]
    id: Value,
    text: String,
}

#[derive(Deserialize)]
struct TextLabel {
    text: String,
    label: Value,
}

#[derive(Deserialize)]
struct SentencePair {
    sentence1: String,
    sentence2: String,
    #[serde(default)]
    label: Option<Value>,
    #[serde(default)]
    score: Option<f64>,
}

fn labelled(file: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, EvalError> {
    jsonl::<TextLabel>(file, bytes)?
        .into_iter()
        .map(|(line, r)| Ok((r.text, label_text(file, line, &r.label)?)))
        .collect()
}

fn ids_and_texts(file: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, EvalError> {
    let rows = jsonl::<IdText>(file, bytes)?;
    let mut seen = HashSet::new();
    rows.into_iter()
        .map(|(line, r)| {
            let id = label_text(file, line, &r.id)?;
            if !seen.insert(id.clone()) {
                return Err(bad(file, Some(line), format!("duplicate _id {id:?}")));
            }
            Ok((id, r.text))
        })
        .collect()
}

fn two_classes_at_least(file: &str, rows: &[(String, String)]) -> Result<(), EvalError> {
    let labels: HashSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    if labels.len() < 2 {
        return Err(bad(file, None, format!("has {} label(s); at least 2 are needed", labels.len())));
    }
    Ok(())
}

/// The largest task.json read.
pub const MAX_TASK_JSON_BYTES: u64 = 1 << 20;
/// The largest data file of a task (and zip entry) read.
pub const MAX_TASK_FILE_BYTES: u64 = 256 << 20;
/// The most a task zip may unpack to in all.
pub const MAX_TASK_TOTAL_BYTES: u64 = 512 << 20;

impl Task {
    /// Read a task folder from disk (regular files only, each within its cap).
    pub fn load_dir(dir: &Path) -> Result<Self, EvalError> {
        let read = |name: &str, max: u64| -> Result<Vec<u8>, EvalError> {
            conan_fs::read_bounded(&dir.join(name), max).map_err(|e| EvalError::Io(e.to_string()))
        };
        let meta_bytes = read("task.json", MAX_TASK_JSON_BYTES)?;
        let mut files = BTreeMap::from([("task.json".to_string(), meta_bytes)]);
        let meta = Self::meta(&files["task.json"])?;
        for name in meta.task_type.files() {
            files.insert((*name).to_string(), read(name, MAX_TASK_FILE_BYTES)?);
        }
        Self::from_files(&files)
    }

    fn meta(bytes: &[u8]) -> Result<TaskMeta, EvalError> {
        // serde_json checks UTF-8 only inside the strings it keeps: a Latin-1 byte in a
        // field it skips would pass.
        if let Err(e) = std::str::from_utf8(bytes) {
            return Err(bad("task.json", None, format!("is not UTF-8 (byte {})", e.valid_up_to())));
        }
        let meta: TaskMeta =
            serde_json::from_slice(bytes).map_err(|e| bad("task.json", Some(e.line()), e.to_string()))?;
        if meta.name.trim().is_empty() {
            return Err(bad("task.json", None, "name is empty"));
        }
        if meta.samples_per_label == Some(0) {
            return Err(bad("task.json", None, "samples_per_label must be at least 1"));
        }
        Ok(meta)
    }

    /// Parse and check a task from its files (`task.json` and the type's data files).
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Self, EvalError> {
        let get = |name: &str| files.get(name).ok_or_else(|| bad(name, None, "is missing"));
        let meta = Self::meta(get("task.json")?)?;
        let data = match meta.task_type {
            TaskType::Retrieval => {
                let corpus = ids_and_texts("corpus.jsonl", get("corpus.jsonl")?)?;
                let queries = ids_and_texts("queries.jsonl", get("queries.jsonl")?)?;
                let qrels = Self::qrels(get("qrels.tsv")?, &corpus, &queries)?;
                TaskData::Retrieval { corpus, queries, qrels }
            }
            TaskType::Bitext => TaskData::Bitext(
                jsonl::<SentencePair>("pairs.jsonl", get("pairs.jsonl")?)?
                    .into_iter()
                    .map(|(_, p)| (p.sentence1, p.sentence2))
                    .collect(),
            ),
            TaskType::Classification => {
                let train = labelled("train.jsonl", get("train.jsonl")?)?;
                let test = labelled("test.jsonl", get("test.jsonl")?)?;
                two_classes_at_least("train.jsonl", &train)?;
                let known: HashSet<&str> = train.iter().map(|r| r.1.as_str()).collect();
                if let Some(row) = test.iter().find(|r| !known.contains(r.1.as_str())) {
                    return Err(bad("test.jsonl", None, format!("label {:?} never occurs in train.jsonl", row.1)));
                }
                TaskData::Classification { train, test }
            }
            TaskType::Clustering => {
                let rows = labelled("data.jsonl", get("data.jsonl")?)?;
                two_classes_at_least("data.jsonl", &rows)?;
                TaskData::Clustering(rows)
            }
            TaskType::Pair => {
                let mut rows = Vec::new();
                for (line, p) in jsonl::<SentencePair>("pairs.jsonl", get("pairs.jsonl")?)? {
                    let label = match p.label.as_ref().and_then(Value::as_i64) {
                        Some(0) => false,
                        Some(1) => true,
                        _ => return Err(bad("pairs.jsonl", Some(line), "label must be 0 or 1")),
                    };
                    rows.push((p.sentence1, p.sentence2, label));
                }
                if rows.iter().all(|r| r.2) || rows.iter().all(|r| !r.2) {
                    return Err(bad("pairs.jsonl", None, "needs both label 0 and label 1"));
                }
                TaskData::Pair(rows)
            }
            TaskType::Sts => {
                let mut rows = Vec::new();
                for (line, p) in jsonl::<SentencePair>("pairs.jsonl", get("pairs.jsonl")?)? {
                    let score = p
                        .score
                        .filter(|s| s.is_finite())
                        .ok_or_else(|| bad("pairs.jsonl", Some(line), "score must be a finite number"))?;
                    rows.push((p.sentence1, p.sentence2, score));
                }
                if rows.len() < 2 {
                    return Err(bad("pairs.jsonl", None, "needs at least 2 pairs for a correlation"));
                }
                TaskData::Sts(rows)
            }
            TaskType::Reranking => {
                let rows = jsonl::<RerankItem>("data.jsonl", get("data.jsonl")?)?;
                for (line, item) in &rows {
                    if item.positive.is_empty() || item.negative.is_empty() {
                        return Err(bad("data.jsonl", Some(*line), "needs at least one positive and one negative"));
                    }
                }
                TaskData::Reranking(rows.into_iter().map(|(_, r)| r).collect())
            }
        };
        let mut hash = Sha256::new();
        for name in std::iter::once("task.json").chain(meta.task_type.files().iter().copied()) {
            hash.update(name.as_bytes());
            hash.update(&files[name]);
        }
        let revision = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        let task = Self { meta, data, revision };
        let mut empty = false;
        task.for_each_text(|t| empty |= t.is_empty());
        if empty {
            let files = task.meta.task_type.files().join(", ");
            return Err(bad(&files, None, "contains an empty text; every text must have at least one character"));
        }
        Ok(task)
    }

    fn qrels(
        bytes: &[u8],
        corpus: &[(String, String)],
        queries: &[(String, String)],
    ) -> Result<BTreeMap<String, HashMap<String, i64>>, EvalError> {
        let file = "qrels.tsv";
        let corpus_ids: HashSet<&str> = corpus.iter().map(|c| c.0.as_str()).collect();
        let query_ids: HashSet<&str> = queries.iter().map(|q| q.0.as_str()).collect();
        let mut reader =
            csv::ReaderBuilder::new().delimiter(b'\t').has_headers(true).flexible(false).from_reader(bytes);
        let mut qrels: BTreeMap<String, HashMap<String, i64>> = BTreeMap::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2; // after the header
            let record = record.map_err(|e| bad(file, Some(line), e.to_string()))?;
            if record.len() != 3 {
                return Err(bad(
                    file,
                    Some(line),
                    format!("expected 3 columns (query-id, corpus-id, score), found {}", record.len()),
                ));
            }
            let (q, d) = (&record[0], &record[1]);
            let score: i64 = record[2]
                .trim()
                .parse()
                .map_err(|_| bad(file, Some(line), format!("score {:?} is not an integer", &record[2])))?;
            if !query_ids.contains(q) {
                return Err(bad(file, Some(line), format!("unknown query id {q:?}")));
            }
            if !corpus_ids.contains(d) {
                return Err(bad(file, Some(line), format!("unknown corpus id {d:?}")));
            }
            qrels.entry(q.to_string()).or_default().insert(d.to_string(), score);
        }
        if let Some((q, _)) = queries.iter().find(|(q, _)| !qrels.get(q).is_some_and(|r| r.values().any(|&s| s > 0))) {
            return Err(bad(file, None, format!("query {q:?} has no relevant document")));
        }
        Ok(qrels)
    }

    /// Every task in a zip archive: each folder holding a `task.json` (at any depth) is one
    /// task. Files are read into memory; each entry is capped at 256 MiB and the archive at
    /// 512 MiB unpacked (a 3 MB zip can declare gigabytes).
    pub fn from_zip(bytes: &[u8]) -> Result<Vec<Self>, EvalError> {
        Self::from_zip_within(bytes, MAX_TASK_FILE_BYTES, MAX_TASK_TOTAL_BYTES)
    }

    /// [`Self::from_zip`] with its caps: `max_entry` bytes per file, `max_total` in all.
    fn from_zip_within(bytes: &[u8], max_entry: u64, max_total: u64) -> Result<Vec<Self>, EvalError> {
        let mut total = 0u64;
        let zip_err = |e: zip::result::ZipError| bad("archive", None, format!("not a readable zip: {e}"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
        let mut folders: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(zip_err)?;
            if entry.is_dir() {
                continue;
            }
            let path = entry.name().map_err(zip_err)?.to_string();
            if entry.size() > max_entry {
                return Err(bad(
                    &path,
                    None,
                    format!("is {} bytes; entries over {max_entry} are refused", entry.size()),
                ));
            }
            let over = || bad("archive", None, format!("unpacks to more than {max_total} bytes; split it"));
            if total.saturating_add(entry.size()) > max_total {
                return Err(over());
            }
            let (folder, file) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            let mut data = Vec::new();
            // The declared size may lie: read at most what both caps still allow, plus one
            // byte to see that a file went past them.
            let allowed = max_entry.min(max_total - total);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, allowed + 1), &mut data)
                .map_err(|e| bad(&path, None, e.to_string()))?;
            if data.len() as u64 > allowed {
                return Err(if allowed == max_entry {
                    bad(&path, None, format!("unpacks past {max_entry} bytes; entries over that are refused"))
                } else {
                    over()
                });
            }
            total += data.len() as u64;
            folders.entry(folder.to_string()).or_default().insert(file.to_string(), data);
        }
        let tasks: Vec<Self> = folders
            .into_iter()
            .filter(|(_, files)| files.contains_key("task.json"))
            .map(|(folder, files)| {
                Self::from_files(&files).map_err(|e| match e {
                    EvalError::Task { file, line, message } => EvalError::Task {
                        file: if folder.is_empty() { file } else { format!("{folder}/{file}") },
                        line,
                        message,
                    },
                    other => other,
                })
            })
            .collect::<Result<_, _>>()?;
        if tasks.is_empty() {
            return Err(bad("archive", None, "holds no task.json"));
        }
        Ok(tasks)
    }

    /// Every distinct text the task needs embedded, in first-seen order.
    pub fn texts(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.for_each_text(|t| {
            if seen.insert(t) {
                out.push(t);
            }
        });
        out
    }

    /// [`Self::texts`], then every distinct text sentence-window scoring also needs: the
    /// sentences of each retrieval document that has more than one
    /// (`conan_index::window_sentences`). Just the texts for other task types.
    pub fn texts_with_sentences(&self) -> Vec<&str> {
        let mut out = self.texts();
        if let TaskData::Retrieval { corpus, .. } = &self.data {
            let mut seen: HashSet<&str> = out.iter().copied().collect();
            for (_, text) in corpus {
                out.extend(conan_index::window_sentences(text).into_iter().filter(|s| seen.insert(s)));
            }
        }
        out
    }

    fn for_each_text<'a>(&'a self, mut f: impl FnMut(&'a str)) {
        match &self.data {
            TaskData::Retrieval { corpus, queries, .. } => queries.iter().chain(corpus).for_each(|(_, t)| f(t)),
            TaskData::Bitext(p) => p.iter().for_each(|(a, b)| {
                f(a);
                f(b)
            }),
            TaskData::Classification { train, test } => train.iter().chain(test).for_each(|(t, _)| f(t)),
            TaskData::Clustering(rows) => rows.iter().for_each(|(t, _)| f(t)),
            TaskData::Pair(p) => p.iter().for_each(|(a, b, _)| {
                f(a);
                f(b)
            }),
            TaskData::Sts(p) => p.iter().for_each(|(a, b, _)| {
                f(a);
                f(b)
            }),
            TaskData::Reranking(items) => items.iter().for_each(|r| {
                f(&r.query);
                r.positive.iter().chain(&r.negative).for_each(|t| f(t))
            }),
        }
    }

    pub fn main_score(&self) -> &str {
        self.meta.main_score.as_deref().unwrap_or(self.meta.task_type.default_main_score())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A zip of the bundled bitext task plus `filler` files of `size` zero bytes each.
    fn zip_with(filler: usize, size: usize) -> Vec<u8> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/tasks/tatoeba-zh2en-bitext");
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for name in ["task.json", "pairs.jsonl"] {
            zip.start_file(format!("t/{name}"), opts).unwrap();
            zip.write_all(&std::fs::read(format!("{root}/{name}")).unwrap()).unwrap();
        }
        for i in 0..filler {
            zip.start_file(format!("t/filler-{i}.bin"), opts).unwrap();
            zip.write_all(&vec![0u8; size]).unwrap();
        }
        zip.finish().unwrap();
        buf.into_inner()
    }

    /// Many entries each under the per-file cap still stop at the archive's cap, before
    /// the entry that would pass it is read.
    #[test]
    fn a_zip_is_capped_in_total_as_well_as_per_entry() {
        let tasks_bytes = 200_000;
        let ok = zip_with(2, 50_000);
        assert_eq!(Task::from_zip_within(&ok, 100_000, tasks_bytes + 100_000).unwrap().len(), 1);
        let many = zip_with(12, 50_000);
        let err = Task::from_zip_within(&many, 100_000, tasks_bytes + 100_000).unwrap_err().to_string();
        assert!(err.contains("unpacks to more than"), "{err}");
        let big = zip_with(1, 150_000);
        let err = Task::from_zip_within(&big, 100_000, 10_000_000).unwrap_err().to_string();
        assert!(err.contains("entries over 100000 are refused"), "{err}");
        assert_eq!(Task::from_zip(&many).unwrap().len(), 1);
    }
}
