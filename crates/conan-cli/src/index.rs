//! `conan index build` and `conan search`: the Search page's sentence-window index on the
//! command line, with the same splitting, vectors and scoring, saved as a folder the page
//! can open too (the format: `conan_index::folder`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use conan_index::folder::{DocumentMeta, FILES, IndexFolder, MAX_PASSAGES_BYTES, SavedPassage, corpus_key};
use conan_index::split::{MAX_FILE_BYTES, split_document};
use conan_index::{WindowIndex, WindowTexts};
use conan_model::burn::prelude::Device;
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Where an interrupted `conan index build` keeps its work, inside `--out`.
const PARTIAL: &str = ".partial";
/// Texts embedded between two writes to the partial file: the most an interruption loses.
const BLOCK: usize = 1024;

/// The vectors a build has embedded so far, appended block by block to `.partial/vectors.f32`
/// (little-endian f32, [`WindowTexts`] order) beside a `key` naming the model, the width and
/// the passages they belong to. A build started again with the same model and documents
/// carries on after the last whole vector; with anything else it stops and says so.
struct Partial {
    dir: PathBuf,
    file: std::fs::File,
    width: usize,
    /// Whole vectors held.
    done: usize,
}

impl Partial {
    fn open(out: &Path, key: &str, width: usize) -> Result<Self> {
        let dir = out.join(PARTIAL);
        let key_file = dir.join("key");
        if dir.exists() {
            // A key is one short line; anything longer is not ours and reads as a mismatch.
            let found = conan_fs::read_bounded(&key_file, 4096)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            if found.trim() != key {
                bail!(
                    "{} holds an interrupted build of other documents or another model (key {:?}, this build's {key:?}); \
                     delete that folder to start again, or name a new --out",
                    dir.display(),
                    found.trim()
                );
            }
        } else {
            std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
            std::fs::write(&key_file, format!("{key}\n")).with_context(|| format!("{}", key_file.display()))?;
        }
        let path = dir.join("vectors.f32");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}", path.display()))?;
        // A write cut short leaves part of a vector: drop it.
        let row = (width * 4) as u64;
        let done = file.metadata()?.len() / row;
        file.set_len(done * row)?;
        Ok(Self { dir, file, width, done: done as usize })
    }

    fn append(&mut self, values: &[f32]) -> Result<()> {
        use std::io::Write;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.done += values.len() / self.width;
        Ok(())
    }

    fn read(&self) -> Result<Vec<f32>> {
        let bytes = conan_fs::read_bounded(&self.dir.join("vectors.f32"), (self.done * self.width * 4) as u64)?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

fn progress(total: usize) -> ProgressBar {
    ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} texts (passages and sentences) · {per_sec} · eta {eta}")
            .unwrap(),
    )
}

/// Every text of `laid_out` embedded at full width, in its order, with a progress bar.
pub fn embed_windows(embedder: &Embedder, laid_out: &WindowTexts) -> Result<Vec<f32>> {
    let bar = progress(laid_out.texts.len());
    let values = pollster::block_on(embedder.embed_flat(&laid_out.texts, 64, |done, _| bar.set_position(done as u64)))?;
    bar.finish_and_clear();
    Ok(values)
}

/// [`embed_windows`], kept block by block in `partial` and carried on from what it holds.
fn embed_resumable(embedder: &Embedder, laid_out: &WindowTexts, partial: &mut Partial) -> Result<Vec<f32>> {
    let total = laid_out.texts.len();
    if partial.done > 0 {
        eprintln!("resuming: {} of {total} texts were embedded before the build stopped", partial.done);
    }
    let bar = progress(total);
    bar.set_position(partial.done as u64);
    bar.reset_eta();
    while partial.done < total {
        let start = partial.done;
        let block = &laid_out.texts[start..total.min(start + BLOCK)];
        let values =
            pollster::block_on(embedder.embed_flat(block, 64, |done, _| bar.set_position((start + done) as u64)))?;
        partial.append(&values)?;
    }
    bar.finish_and_clear();
    partial.read()
}

pub fn build(model: &Path, docs: &[PathBuf], out: &Path, device: Device, options: LoadOptions) -> Result<()> {
    let only_partial = |entries: std::fs::ReadDir| entries.flatten().all(|e| e.file_name() == PARTIAL);
    if out.exists() && !std::fs::read_dir(out).map(only_partial).unwrap_or(false) {
        bail!("--out {} exists and is not empty; name a new folder (nothing there was changed)", out.display());
    }
    let mut passages = Vec::new();
    let mut documents = Vec::new();
    for path in docs {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = conan_fs::read_bounded(path, MAX_FILE_BYTES as u64)?;
        let drafts = split_document(&name, &bytes)?;
        documents.push(DocumentMeta { name, passages: drafts.len() });
        passages.extend(drafts.into_iter().map(|d| SavedPassage { text: d.text, source: d.source }));
    }
    if passages.is_empty() {
        bail!("the documents hold no passages to index");
    }
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let embedder = Embedder::load(&files, &device, options)?;
    let width = embedder.config.hidden_size;
    let texts: Vec<&str> = passages.iter().map(|p: &SavedPassage| p.text.as_str()).collect();
    let key = format!("{}-{width}-{}", files.fingerprint(), corpus_key(&passages));
    let mut partial = Partial::open(out, &key, width)?;
    let vectors = embed_resumable(&embedder, &WindowTexts::new(&texts), &mut partial)?;
    let model_path = model.canonicalize().with_context(|| format!("{}", model.display()))?;
    let index =
        IndexFolder::new(&model_path.to_string_lossy(), &files.fingerprint(), passages, documents, vectors, width)?;
    for (name, bytes) in index.files() {
        std::fs::write(out.join(name), bytes).with_context(|| format!("{}", out.join(name).display()))?;
    }
    // Only now is the index whole; until here a new run resumes.
    std::fs::remove_dir_all(&partial.dir).with_context(|| format!("{}", partial.dir.display()))?;
    eprintln!(
        "indexed {} passages and {} sentences from {} document(s) into {} ({:.1} MB of f16 vectors)",
        index.header.passages,
        index.header.sentences,
        index.meta.documents.len(),
        out.display(),
        (index.vectors.len() * 2) as f64 / 1e6
    );
    Ok(())
}

/// What `conan search` asks.
pub struct SearchArgs<'a> {
    pub index: &'a Path,
    pub model: Option<&'a Path>,
    pub queries: &'a [String],
    pub top: usize,
    pub dims: Option<usize>,
    pub json: bool,
}

pub fn search(args: SearchArgs, device: Device, options: LoadOptions) -> Result<()> {
    let mut files = BTreeMap::new();
    for name in FILES {
        let max = match name {
            "passages.jsonl" => MAX_PASSAGES_BYTES,
            // Capped by the header's own count in `IndexFolder::parse`; here by a sane size.
            "vectors.f16" => 64 << 30,
            _ => MAX_JSON_BYTES,
        };
        files.insert(name.to_string(), conan_fs::read_bounded(&args.index.join(name), max)?);
    }
    let saved = IndexFolder::parse(&files).with_context(|| format!("{}", args.index.display()))?;
    drop(files);
    let (header, passages) = (&saved.header, &saved.passages);

    let model = args.model.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(&saved.meta.model));
    let model_files = pollster::block_on(read_files(&DirSource(model.clone())))?;
    if model_files.fingerprint() != header.model_fingerprint {
        bail!(
            "{} is not the model this index was built with ({}); pass --model with that one",
            model.display(),
            saved.meta.model
        );
    }
    let embedder = Embedder::load(&model_files, &device, options)?;
    let mut index = WindowIndex::new(header.width, &embedder.config.matryoshka_dims);
    index.extend(&saved.spans, &saved.vectors)?;
    let dims = args.dims.unwrap_or(header.width);

    let query_vectors = pollster::block_on(embedder.embed(args.queries, Some(header.width)))?.vectors;
    let mut answers = Vec::new();
    for (query, vector) in args.queries.iter().zip(&query_vectors) {
        let hits = index
            .search(vector, dims, args.top)?
            .into_iter()
            .enumerate()
            .map(|(rank, h)| {
                let p = &passages[h.row];
                Found {
                    rank: rank + 1,
                    score: h.score,
                    passage_score: h.passage_score,
                    source: &p.source,
                    text: &p.text,
                    sentence: h.sentence.map(|(span, score)| FoundSentence {
                        text: &p.text[span.clone()],
                        start: span.start,
                        end: span.end,
                        score,
                    }),
                }
            })
            .collect();
        answers.push(Answer { query, dims, hits });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answers)?);
        return Ok(());
    }
    for answer in &answers {
        println!("{}", answer.query);
        for hit in &answer.hits {
            // The sentence that decided the score, between « and ».
            let shown = match &hit.sentence {
                Some(s) => format!("{}«{}»{}", &hit.text[..s.start], s.text, &hit.text[s.end..]),
                None => hit.text.to_string(),
            };
            println!("  {:>2}. {:.3}  {}  {}", hit.rank, hit.score, hit.source, shown.replace('\n', " "));
        }
    }
    Ok(())
}

/// One query's answer, as `--json` prints it.
#[derive(Serialize)]
struct Answer<'a> {
    query: &'a str,
    dims: usize,
    hits: Vec<Found<'a>>,
}

#[derive(Serialize)]
struct Found<'a> {
    rank: usize,
    /// Under the sentence-window rule; `passage_score` is the passage vector's own cosine.
    score: f32,
    passage_score: f32,
    source: &'a str,
    text: &'a str,
    /// The sentence that decided the score, when one did.
    sentence: Option<FoundSentence<'a>>,
}

#[derive(Serialize)]
struct FoundSentence<'a> {
    /// Byte span in `text`.
    start: usize,
    end: usize,
    text: &'a str,
    score: f32,
}
