//! `conan index build` and `conan search`: the Search page's sentence-window index on the
//! command line, with the same splitting, vectors and scoring (all from conan-index), kept
//! in a folder:
//!
//! - `index.json`: the format, the model's path, the documents and their passage counts;
//! - `passages.jsonl`: one `{"text", "source"}` per passage, in index order;
//! - `vectors.json` + `vectors.f16`: passage and sentence vectors in `WindowTexts` order,
//!   the layout of the corpus vectors the app ships (`conan_index::shipped`), keyed to the
//!   model's fingerprint and to `passages.jsonl`'s SHA-256.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use conan_index::shipped::{FORMAT, ShippedHeader, decode_f16, encode_f16};
use conan_index::split::{Draft, MAX_FILE_BYTES, split_document};
use conan_index::{WindowIndex, WindowTexts};
use conan_model::burn::prelude::Device;
use conan_model::pack::sha256_hex;
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

const INDEX_FORMAT: &str = "conan-index-v1";
/// The largest passages.jsonl read back (about 500,000 passages of 400 characters).
const MAX_PASSAGES_BYTES: u64 = 1 << 30;

#[derive(Serialize, Deserialize)]
struct IndexMeta {
    format: String,
    /// The model folder the vectors came from (absolute), used unless `--model` is given.
    model: PathBuf,
    documents: Vec<DocumentMeta>,
}

#[derive(Serialize, Deserialize)]
struct DocumentMeta {
    name: String,
    passages: usize,
}

#[derive(Serialize, Deserialize)]
struct Passage {
    text: String,
    source: String,
}

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
    let mut passages: Vec<Draft> = Vec::new();
    let mut documents = Vec::new();
    for path in docs {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = conan_fs::read_bounded(path, MAX_FILE_BYTES as u64)?;
        let drafts = split_document(&name, &bytes)?;
        documents.push(DocumentMeta { name, passages: drafts.len() });
        passages.extend(drafts);
    }
    if passages.is_empty() {
        bail!("the documents hold no passages to index");
    }
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let embedder = Embedder::load(&files, &device, options)?;
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let laid_out = WindowTexts::new(&texts);
    let values = embed_windows(&embedder, &laid_out)?;

    let mut jsonl = String::new();
    for p in &passages {
        jsonl += &serde_json::to_string(&Passage { text: p.text.clone(), source: p.source.clone() })?;
        jsonl.push('\n');
    }
    let header = ShippedHeader {
        format: FORMAT.into(),
        model_fingerprint: files.fingerprint(),
        corpus_key: sha256_hex(jsonl.as_bytes())[..16].to_string(),
        width: embedder.config.hidden_size,
        passages: laid_out.passages(),
        sentences: laid_out.sentences(),
    };
    let meta = IndexMeta {
        format: INDEX_FORMAT.into(),
        model: model.canonicalize().with_context(|| format!("{}", model.display()))?,
        documents,
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).with_context(|| format!("{}", out.join(name).display()))
    };
    write("passages.jsonl", jsonl.as_bytes())?;
    write("vectors.f16", &encode_f16(&values))?;
    write("vectors.json", (serde_json::to_string_pretty(&header)? + "\n").as_bytes())?;
    write("index.json", (serde_json::to_string_pretty(&meta)? + "\n").as_bytes())?;
    eprintln!(
        "indexed {} passages and {} sentences from {} document(s) into {} ({:.1} MB of f16 vectors)",
        header.passages,
        header.sentences,
        meta.documents.len(),
        out.display(),
        (values.len() * 2) as f64 / 1e6
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
    let read = |name: &str, max: u64| conan_fs::read_bounded(&args.index.join(name), max);
    let meta: IndexMeta = serde_json::from_slice(&read("index.json", MAX_JSON_BYTES)?)
        .with_context(|| format!("{}: not a conan index", args.index.join("index.json").display()))?;
    if meta.format != INDEX_FORMAT {
        bail!("{}: format {:?}, expected {INDEX_FORMAT:?}", args.index.display(), meta.format);
    }
    let header: ShippedHeader = serde_json::from_slice(&read("vectors.json", MAX_JSON_BYTES)?)
        .with_context(|| format!("{}", args.index.join("vectors.json").display()))?;
    let jsonl = read("passages.jsonl", MAX_PASSAGES_BYTES)?;
    if header.corpus_key != sha256_hex(&jsonl)[..16] {
        bail!("{}: passages.jsonl was changed after the index was built; build it again", args.index.display());
    }
    let passages: Vec<Passage> = std::str::from_utf8(&jsonl)
        .context("passages.jsonl is not UTF-8")?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("passages.jsonl")?;
    let expected = header.data_bytes().context("vectors.json: its counts overflow")?;
    let values = decode_f16(&header, &read("vectors.f16", expected)?)?;

    let model = args.model.unwrap_or(&meta.model);
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    if files.fingerprint() != header.model_fingerprint {
        bail!(
            "{} is not the model this index was built with ({}); pass --model with that one",
            model.display(),
            meta.model.display()
        );
    }
    let embedder = Embedder::load(&files, &device, options)?;
    let texts: Vec<&str> = passages.iter().map(|p| p.text.as_str()).collect();
    let laid_out = WindowTexts::new(&texts);
    if laid_out.texts.len() != header.passages + header.sentences {
        bail!("{}: the vectors do not match the passages' sentences", args.index.display());
    }
    let mut index = WindowIndex::new(header.width, &embedder.config.matryoshka_dims);
    index.extend(&laid_out.spans, &values)?;
    let dims = args.dims.unwrap_or(header.width);

    let query_vectors = pollster::block_on(embedder.embed(args.queries, Some(header.width)))?.vectors;
    let mut answers = Vec::new();
    for (query, vector) in args.queries.iter().zip(&query_vectors) {
        let hits = index.search(vector, dims, args.top)?;
        let hits: Vec<serde_json::Value> = hits
            .iter()
            .enumerate()
            .map(|(rank, h)| {
                let p = &passages[h.row];
                json!({
                    "rank": rank + 1,
                    "score": h.score,
                    "passage_score": h.passage_score,
                    "source": p.source,
                    "text": p.text,
                    "sentence": h.sentence.as_ref().map(|(span, score)| json!({
                        "start": span.start, "end": span.end, "text": &p.text[span.clone()], "score": score,
                    })),
                })
            })
            .collect();
        answers.push(json!({ "query": query, "dims": dims, "hits": hits }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answers)?);
        return Ok(());
    }
    for answer in &answers {
        println!("{}", answer["query"].as_str().unwrap_or_default());
        for hit in answer["hits"].as_array().into_iter().flatten() {
            let text = hit["text"].as_str().unwrap_or_default();
            // The sentence that decided the score, between « and ».
            let shown = match hit["sentence"].as_object() {
                Some(s) => {
                    let (a, b) = (s["start"].as_u64().unwrap_or(0) as usize, s["end"].as_u64().unwrap_or(0) as usize);
                    format!("{}«{}»{}", &text[..a], &text[a..b], &text[b..])
                }
                None => text.to_string(),
            };
            println!(
                "  {:>2}. {:.3}  {}  {}",
                hit["rank"],
                hit["score"].as_f64().unwrap_or(0.0),
                hit["source"].as_str().unwrap_or(""),
                shown.replace('\n', " ")
            );
        }
    }
    Ok(())
}
