//! `conan corpus-vectors`: the bundled corpus's passage and sentence vectors for one model,
//! written beside `corpus.jsonl` (`vectors.json` + `vectors.f16`, see
//! `conan_index::shipped`), so the app's first visit searches without embedding it.

use std::path::Path;

use anyhow::{Context, Result};
use conan_index::shipped::{FORMAT, ShippedHeader, encode_f16};
use conan_index::{WindowTexts, parse_corpus};
use conan_model::burn::prelude::Device;
use conan_model::pack::sha256_hex;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};

pub fn run(model: &Path, corpus_dir: &Path, device: Device, options: LoadOptions) -> Result<()> {
    let corpus_file = corpus_dir.join("corpus.jsonl");
    let bytes = conan_fs::read_bounded(&corpus_file, conan_index::corpus::MAX_CORPUS_BYTES)?;
    let corpus = parse_corpus(&bytes).with_context(|| format!("{}", corpus_file.display()))?;
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let fingerprint = files.fingerprint();
    let embedder = Embedder::load(&files, &device, options)?;

    // Passages, then each passage's sentences in order: the layout the worker stores.
    let texts: Vec<&str> = corpus.iter().map(|p| p.text.as_str()).collect();
    let laid_out = WindowTexts::new(&texts);
    let values = crate::index::embed_windows(&embedder, &laid_out)?;
    let header = ShippedHeader {
        format: FORMAT.into(),
        model_fingerprint: fingerprint,
        corpus_key: sha256_hex(&bytes)[..16].to_string(),
        width: embedder.config.hidden_size,
        passages: laid_out.passages(),
        sentences: laid_out.sentences(),
    };
    let data = corpus_dir.join("vectors.f16");
    std::fs::write(&data, encode_f16(&values)).with_context(|| format!("{}", data.display()))?;
    let json = corpus_dir.join("vectors.json");
    std::fs::write(&json, serde_json::to_string_pretty(&header)? + "\n")
        .with_context(|| format!("{}", json.display()))?;
    eprintln!(
        "wrote {} ({} passages + {} sentences × {} dims, f16) for model {}",
        data.display(),
        header.passages,
        header.sentences,
        header.width,
        &header.model_fingerprint[..16.min(header.model_fingerprint.len())]
    );
    Ok(())
}
