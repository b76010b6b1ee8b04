//! `conan index build` and `conan search`: the Search page's sentence-window index on the
//! command line, with the same splitting, vectors and scoring, saved as a folder the page
//! can open too (the format: `conan_index::folder`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use conan_index::folder::{DocumentMeta, FILES, IndexFolder, MAX_PASSAGES_BYTES, SavedPassage};
use conan_index::split::{MAX_FILE_BYTES, split_document};
use conan_index::{WindowIndex, WindowTexts};
use conan_model::burn::prelude::Device;
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Every text of `laid_out` embedded at full width, in its order, with a progress bar.
pub fn embed_windows(embedder: &Embedder, laid_out: &WindowTexts) -> Result<Vec<f32>> {
    let bar = ProgressBar::new(laid_out.texts.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} texts (passages and sentences) · {per_sec} · eta {eta}")
            .unwrap(),
    );
    let values = pollster::block_on(embedder.embed_flat(&laid_out.texts, 64, |done, _| bar.set_position(done as u64)))?;
    bar.finish_and_clear();
    Ok(values)
}

pub fn build(model: &Path, docs: &[PathBuf], out: &Path, device: Device, options: LoadOptions) -> Result<()> {
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
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
    let texts: Vec<&str> = passages.iter().map(|p: &SavedPassage| p.text.as_str()).collect();
    let vectors = embed_windows(&embedder, &WindowTexts::new(&texts))?;
    let model_path = model.canonicalize().with_context(|| format!("{}", model.display()))?;
    let index = IndexFolder::new(
        &model_path.to_string_lossy(),
        &files.fingerprint(),
        passages,
        documents,
        vectors,
        embedder.config.hidden_size,
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    for (name, bytes) in index.files() {
        std::fs::write(out.join(name), bytes).with_context(|| format!("{}", out.join(name).display()))?;
    }
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
