//! The search index in the worker: the bundled corpus and the user's documents, embedded
//! by the loaded model, in a flat index (conan-index), persisted in IndexedDB per model.

use std::collections::BTreeMap;
use std::ops::Range;

use conan_index::corpus::MAX_CORPUS_BYTES;
use conan_index::folder::{FILES, IndexFolder};
use conan_index::shipped::decode_f16;
use conan_index::{
    CorpusPassage, Lang, SPLIT_RULE, ShippedHeader, WINDOW_RULE, WindowIndex, WindowTexts, parse_corpus, split_document,
};
use conan_model::pack::sha256_hex;
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{Embedder, FileSource};
use conan_protocol::{DimsRow, ErrorKind, IndexInfo, Response, SearchHit, SearchResult, UserDocument};

use crate::download::FetchSource;
use crate::error::{Result, WorkerError};
use crate::js::{now_ms, post};
use crate::pool::Pool;
use crate::store::{Store, StoredDoc, StoredPassage};

/// Where the bundled corpus lives, relative to the page.
const CORPUS_URL: &str = "static/corpus";
/// Chinese corpus passages used to measure quality per dims (first N with a translation).
const TRADEOFF_QUERIES: usize = 200;
/// The speed check refuses more values than this (256 MiB of int8 codes).
const SPEED_CHECK_MAX_VALUES: usize = 1 << 28;

struct Row {
    text: String,
    lang: Lang,
    source: String,
    yours: bool,
}

pub struct SearchIndex {
    pub fingerprint: String,
    /// Passage vectors, and sentence vectors for passages of several sentences.
    index: WindowIndex,
    rows: Vec<Row>,
    corpus_rows: usize,
    /// (Chinese corpus row, rows of its English translations) for the quality column.
    pairs: Vec<(usize, Vec<usize>)>,
    documents: Vec<UserDocument>,
    store: Option<Store>,
    persistent: bool,
    notices: Vec<String>,
    restored: usize,
    /// Corpus passages whose vectors came with the app (`conan corpus-vectors`).
    shipped: usize,
    embedded: usize,
    seconds: f64,
    tradeoff: Vec<DimsRow>,
}

/// Embed `texts` at full width, longest-first batches of similar length (less padding),
/// posting progress; returns the vectors row-major in input order.
async fn embed_all(embedder: &Embedder, pool: &Pool, id: u32, stage: &str, texts: &[&str]) -> Result<Vec<f32>> {
    let progress = |done, total| post(Response::IndexProgress { id, stage: stage.into(), done, total });
    pool.embed_flat(embedder, texts, 64, progress).await.map_err(|e| WorkerError::from(e).context(stage))
}

/// Passages ready for the window index: each one's sentence spans, and the vectors in
/// [`WindowTexts`] order (passages, then sentences), which is also how IndexedDB keeps them.
struct Windows {
    spans: Vec<Vec<Range<usize>>>,
    vectors: Vec<f32>,
}

impl Windows {
    /// The stored array for `texts`, when it is whole for this width: an index stored
    /// before sentence windows (passages only) is not, and is embedded again.
    fn from_stored(texts: &[&str], width: usize, stored: Vec<f32>) -> Option<Self> {
        let laid_out = WindowTexts::new(texts);
        (stored.len() == laid_out.texts.len() * width).then_some(Self { spans: laid_out.spans, vectors: stored })
    }

    /// Embed `texts` and the sentences of each that has several, in one length-sorted run.
    async fn embed(embedder: &Embedder, pool: &Pool, id: u32, stage: &str, texts: &[&str]) -> Result<Self> {
        let laid_out = WindowTexts::new(texts);
        let vectors = embed_all(embedder, pool, id, stage, &laid_out.texts).await?;
        Ok(Self { spans: laid_out.spans, vectors })
    }
}

/// The corpus vectors shipped beside `corpus.jsonl`, when they are this model's and this
/// corpus's; `Ok(None)` when there are none or they belong to another model.
async fn shipped_windows(fingerprint: &str, key: &str, texts: &[&str], width: usize) -> Result<Option<Windows>> {
    let source = FetchSource::new(CORPUS_URL);
    let Some(header) = source.read("vectors.json", MAX_JSON_BYTES).await? else { return Ok(None) };
    let header: ShippedHeader = serde_json::from_slice(&header)
        .map_err(|e| WorkerError::new(ErrorKind::Unreadable, format!("vectors.json: {e}")))?;
    if !header.fits(fingerprint, key, width) {
        return Ok(None);
    }
    // The header's own size is the cap: a file that is not it is refused unread.
    let expected = header
        .data_bytes()
        .ok_or_else(|| WorkerError::new(ErrorKind::Unreadable, "vectors.json: its counts overflow"))?;
    let data = source.require("vectors.f16", expected).await?;
    let values = decode_f16(&header, &data).map_err(|e| WorkerError::new(ErrorKind::Unreadable, e.to_string()))?;
    Windows::from_stored(texts, width, values)
        .map(Some)
        .ok_or_else(|| WorkerError::new(ErrorKind::Unreadable, "vectors.f16 does not match the corpus's sentences"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl SearchIndex {
    /// Build the index for `embedder`, reusing what IndexedDB holds for `fingerprint`.
    pub async fn open(id: u32, embedder: &Embedder, pool: &Pool, fingerprint: &str) -> Result<Self> {
        let start = now_ms();
        let width = embedder.config.hidden_size;
        let mut notices = Vec::new();
        let bytes = FetchSource::new(CORPUS_URL).require("corpus.jsonl", MAX_CORPUS_BYTES).await?;
        let corpus: Vec<CorpusPassage> =
            parse_corpus(&bytes).map_err(|e| WorkerError::new(ErrorKind::Unreadable, e.to_string()))?;
        let corpus_key = sha256_hex(&bytes)[..16].to_string();

        let store = match Store::open().await {
            Ok(store) => Some(store),
            Err(e) => {
                notices.push(format!("{e}; the index lives in memory only for this visit"));
                None
            }
        };
        let mut persistent = store.is_some();
        if let Some(store) = &store
            && let Err(e) = store.prune_vectors(fingerprint).await
        {
            notices.push(e.message);
        }

        let mut search = Self {
            fingerprint: fingerprint.to_string(),
            index: WindowIndex::new(width, &embedder.config.matryoshka_dims),
            rows: Vec::new(),
            corpus_rows: corpus.len(),
            pairs: Vec::new(),
            documents: Vec::new(),
            store: None,
            persistent,
            notices: Vec::new(),
            restored: 0,
            shipped: 0,
            embedded: 0,
            seconds: 0.0,
            tradeoff: Vec::new(),
        };

        // The corpus: stored vectors when they are this model's and this corpus's.
        let stored = match &store {
            Some(s) => s.corpus_vectors(fingerprint, &corpus_key).await.unwrap_or_else(|e| {
                notices.push(e.message);
                None
            }),
            None => None,
        };
        let texts: Vec<&str> = corpus.iter().map(|p| p.text.as_str()).collect();
        let stored = stored.and_then(|v| Windows::from_stored(&texts, width, v));
        let shipped = match stored {
            Some(_) => None,
            None => shipped_windows(fingerprint, &corpus_key, &texts, width).await.unwrap_or_else(|e| {
                notices.push(format!("the vectors shipped with the corpus were not used: {e}"));
                None
            }),
        };
        let windows = match (stored, shipped) {
            (Some(w), _) => {
                search.restored += corpus.len();
                w
            }
            (None, shipped) => {
                let w = match shipped {
                    Some(w) => {
                        search.shipped += corpus.len();
                        w
                    }
                    None => {
                        search.embedded += corpus.len();
                        Windows::embed(embedder, pool, id, "embedding the bundled corpus", &texts).await?
                    }
                };
                if let Some(s) = &store
                    && let Err(e) = s.put_corpus_vectors(fingerprint, &corpus_key, &w.vectors).await
                {
                    notices.push(format!("{e}; the index lives in memory only for this visit"));
                    persistent = false;
                }
                w
            }
        };
        search
            .index
            .extend(&windows.spans, &windows.vectors)
            .map_err(|e| WorkerError::internal(format!("bundled corpus: {e}")))?;
        let row_of: std::collections::HashMap<&str, usize> =
            corpus.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
        for (i, p) in corpus.iter().enumerate() {
            if p.lang == Lang::Zh && search.pairs.len() < TRADEOFF_QUERIES {
                let en: Vec<usize> = p
                    .translations
                    .iter()
                    .filter_map(|t| row_of.get(t.as_str()).copied())
                    .filter(|&r| corpus[r].lang == Lang::En)
                    .collect();
                if !en.is_empty() {
                    search.pairs.push((i, en));
                }
            }
        }
        search.rows =
            corpus.into_iter().map(|p| Row { text: p.text, lang: p.lang, source: p.source, yours: false }).collect();

        // The user's documents: texts from IndexedDB; vectors too when this model made them.
        if let Some(s) = &store {
            match s.documents().await {
                Ok(docs) => {
                    for doc in docs {
                        let texts: Vec<&str> = doc.passages.iter().map(|p| p.text.as_str()).collect();
                        let stored = s.doc_vectors(fingerprint, &doc.id).await.ok().flatten();
                        let windows = match stored.and_then(|v| Windows::from_stored(&texts, width, v)) {
                            Some(w) => {
                                search.restored += doc.passages.len();
                                w
                            }
                            // Not stored, stored by another model, or stored before sentence
                            // windows: embedded again from the kept texts.
                            None => {
                                let w = Windows::embed(embedder, pool, id, &format!("embedding {}", doc.name), &texts)
                                    .await?;
                                search.embedded += texts.len();
                                if let Err(e) = s.put_doc_vectors(fingerprint, &doc.id, &w.vectors).await {
                                    notices.push(e.message);
                                }
                                w
                            }
                        };
                        search.append(&doc, &windows)?;
                    }
                }
                Err(e) => notices.push(format!("{e}; your stored documents could not be read (they are still stored)")),
            }
        }
        search.store = store;
        search.persistent = persistent;
        search.notices = notices;
        search.seconds = (now_ms() - start) / 1000.0;
        search.measure();
        Ok(search)
    }

    fn append(&mut self, doc: &StoredDoc, windows: &Windows) -> Result<()> {
        self.index
            .extend(&windows.spans, &windows.vectors)
            .map_err(|e| WorkerError::internal(format!("{}: {e}", doc.name)))?;
        self.rows.extend(doc.passages.iter().map(|p| Row {
            text: p.text.clone(),
            lang: conan_index::lang::detect(&p.text),
            source: p.source.clone(),
            yours: true,
        }));
        self.documents.push(UserDocument { name: doc.name.clone(), passages: doc.passages.len() });
        Ok(())
    }

    /// The Matryoshka trade-off on this index: bytes, search time and translation top-1.
    fn measure(&mut self) {
        let n = self.index.rows();
        let passages = self.index.passages();
        self.tradeoff = self
            .index
            .dims()
            .into_iter()
            .map(|dims| {
                let mut times = Vec::new();
                let mut found = 0;
                for (q, targets) in &self.pairs {
                    let t = now_ms();
                    let hits = passages.search(&passages.row(*q), dims, 2).unwrap_or_default();
                    times.push(now_ms() - t);
                    // The query passage itself ranks first: its translation must come next.
                    let best = hits.iter().find(|h| h.row != *q);
                    found += best.is_some_and(|h| targets.contains(&h.row)) as usize;
                }
                DimsRow {
                    dims,
                    // int8 codes of the prefix and one f32 norm per vector.
                    index_bytes: (n * (dims + 4)) as u64,
                    search_ms: if times.is_empty() { 0.0 } else { median(times) },
                    translation_top1: (!self.pairs.is_empty()).then(|| found as f64 / self.pairs.len() as f64),
                }
            })
            .collect();
    }

    pub fn info(&self, id: u32) -> Response {
        Response::IndexReady {
            id,
            index: IndexInfo {
                model_fingerprint: self.fingerprint.clone(),
                corpus_passages: self.corpus_rows,
                user_passages: self.rows.len() - self.corpus_rows,
                documents: self.documents.clone(),
                width: self.index.width(),
                tradeoff: self.tradeoff.clone(),
                restored: self.restored,
                shipped: self.shipped,
                embedded: self.embedded,
                seconds: self.seconds,
                persistent: self.persistent,
                notices: self.notices.clone(),
                split_rule: SPLIT_RULE.into(),
                sentences: self.index.sentence_count(),
                window_rule: WINDOW_RULE.into(),
                vector_bytes: self.index.bytes() as u64,
            },
        }
    }

    pub async fn search(
        &self,
        embedder: &Embedder,
        id: u32,
        query: String,
        dims: Option<usize>,
        k: usize,
    ) -> Result<Response> {
        if query.trim().is_empty() {
            return Err(WorkerError::bad_input("type a query first"));
        }
        let dims = dims.unwrap_or(self.index.width());
        let t0 = now_ms();
        let batch = embedder.text.encode_batch(&[query.as_str()])?;
        let t1 = now_ms();
        let vectors = embedder.embed_batch(&batch, embedder.config.hidden_size).await?;
        let t2 = now_ms();
        let hits =
            self.index.search(&vectors[0], dims, k.clamp(1, 100)).map_err(|e| WorkerError::bad_input(e.to_string()))?;
        let t3 = now_ms();
        let query_lang = conan_index::lang::detect(&query);
        Ok(Response::SearchResults(SearchResult {
            id,
            query_lang: query_lang.code().into(),
            query,
            dims,
            hits: hits
                .into_iter()
                .map(|h| {
                    let row = &self.rows[h.row];
                    SearchHit {
                        text: row.text.clone(),
                        lang: row.lang.code().into(),
                        source: row.source.clone(),
                        score: h.score,
                        cross_lingual: row.lang.crosses(query_lang),
                        yours: row.yours,
                        sentence: h.sentence.map(|(span, _)| (span.start, span.end)),
                    }
                })
                .collect(),
            tokens: batch.lengths[0],
            truncated: batch.truncated[0],
            tokenize_ms: t1 - t0,
            embed_ms: t2 - t1,
            search_ms: t3 - t2,
            passages: self.index.len(),
        }))
    }

    /// Split, embed, store and index the user's files. All files are split first, so a bad
    /// one refuses the request before anything is embedded or stored.
    pub async fn add(
        &mut self,
        embedder: &Embedder,
        pool: &Pool,
        id: u32,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        if files.is_empty() {
            return Err(WorkerError::bad_input("no documents were given"));
        }
        if let Some((name, files)) = saved_index(&files) {
            return self.open_saved(&name, &files).await;
        }
        let mut docs = Vec::new();
        for (name, bytes) in &files {
            let drafts = split_document(name, bytes).map_err(|e| WorkerError::bad_input(e.to_string()))?;
            docs.push(StoredDoc {
                id: format!("{:015}-{}", js_sys::Date::now() as u64, docs.len()),
                name: name.clone(),
                passages: drafts.into_iter().map(|d| StoredPassage { text: d.text, source: d.source }).collect(),
            });
        }
        // Every file is embedded before any is stored or indexed, so a failure part-way
        // (a lost GPU device) leaves the index as it was, and a retry adds each file once.
        let mut embedded = Vec::with_capacity(docs.len());
        for doc in &docs {
            let texts: Vec<&str> = doc.passages.iter().map(|p| p.text.as_str()).collect();
            embedded.push(Windows::embed(embedder, pool, id, &format!("embedding {}", doc.name), &texts).await?);
        }
        for doc in &docs {
            self.embedded += doc.passages.len();
        }
        self.keep(docs.into_iter().zip(embedded).collect()).await
    }

    /// An index saved by `conan index build` (its vectors used as they are, when they are
    /// this model's), added as one document.
    async fn open_saved(&mut self, name: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        let saved = IndexFolder::parse(files).map_err(|e| WorkerError::bad_input(format!("{name}: {e}")))?;
        if saved.header.model_fingerprint != self.fingerprint || saved.header.width != self.index.width() {
            return Err(WorkerError::bad_input(format!(
                "{name} was built with another model ({}); load that model first, or add its documents instead",
                saved.meta.model
            )));
        }
        let doc = StoredDoc {
            id: format!("{:015}-index", js_sys::Date::now() as u64),
            name: format!("{name} (index of {} document(s))", saved.meta.documents.len()),
            passages: saved.passages.into_iter().map(|p| StoredPassage { text: p.text, source: p.source }).collect(),
        };
        // Spans and vectors were checked against each other when the folder was parsed.
        let windows = Windows { spans: saved.spans, vectors: saved.vectors };
        self.keep(vec![(doc, windows)]).await
    }

    /// Store (when IndexedDB works) and index documents whose vectors are ready.
    async fn keep(&mut self, docs: Vec<(StoredDoc, Windows)>) -> Result<()> {
        for (doc, windows) in docs {
            if let Some(store) = &self.store {
                let saved = async {
                    store.put_document(&doc).await?;
                    store.put_doc_vectors(&self.fingerprint, &doc.id, &windows.vectors).await
                }
                .await;
                if let Err(e) = saved {
                    self.persistent = false;
                    self.notices.push(format!("{e}; {} is searchable for this visit but not saved", doc.name));
                }
            }
            self.append(&doc, &windows)?;
        }
        self.measure();
        Ok(())
    }

    pub async fn forget(&mut self) -> Result<()> {
        if let Some(store) = &self.store {
            store.forget_documents().await?;
        }
        self.index.truncate(self.corpus_rows);
        self.rows.truncate(self.corpus_rows);
        self.documents.clear();
        self.measure();
        Ok(())
    }
}

/// The files of a folder saved by `conan index build`, by their names inside it, and the
/// folder's name; `None` when the files are documents.
fn saved_index(files: &[(String, Vec<u8>)]) -> Option<(String, BTreeMap<String, Vec<u8>>)> {
    let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
    let named: BTreeMap<String, Vec<u8>> = files
        .iter()
        .filter(|(path, _)| FILES.contains(&base(path).as_str()))
        .map(|(path, bytes)| (base(path), bytes.clone()))
        .collect();
    if named.len() < FILES.len() {
        return None;
    }
    let folder = files[0].0.split_once('/').map_or("index", |(first, _)| first).to_string();
    Some((folder, named))
}

/// Time top-10 sentence-window searches over `passages` random passages with `sentences`
/// sentence vectors each, of `width`, at every dims.
pub fn speed_check(id: u32, passages: usize, sentences: usize, width: usize, matryoshka: &[usize]) -> Result<Response> {
    let values = passages.saturating_mul(sentences.saturating_add(1)).saturating_mul(width);
    if passages == 0 || values > SPEED_CHECK_MAX_VALUES {
        return Err(WorkerError::bad_input(format!(
            "a speed check over {passages} passages with {sentences} sentences each at {width} dims is outside 1 ‥ {SPEED_CHECK_MAX_VALUES} values"
        )));
    }
    let (index, v) = conan_index::window::synthetic(passages, sentences, width, matryoshka, 0x9e37_79b9_7f4a_7c15)
        .map_err(|e| WorkerError::internal(e.to_string()))?;
    let rows = index
        .dims()
        .into_iter()
        .map(|dims| {
            let times = (0..7)
                .map(|_| {
                    let t = now_ms();
                    let _ = index.search(&v, dims, 10);
                    now_ms() - t
                })
                .collect();
            (dims, median(times))
        })
        .collect();
    Ok(Response::SpeedChecked {
        id,
        passages,
        sentences: index.sentence_count(),
        width,
        bytes: index.bytes() as u64,
        rows,
    })
}
