//! `conan embed`: texts → one JSON document `{"model", "backend", "dims", "embeddings"}`,
//! written as the vectors come, or with `--out DIR` a Parquet dataset that resumes
//! (`crate::parquet_out`). `--input` is read a block of lines at a time, so memory stays
//! bounded and output starts after the first block however many texts follow.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use conan_model::{DirSource, Embedder, read_files};

use crate::parquet_out::{FORMAT, ParquetOut, RunMeta, part_rows};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{Backend, device};

/// The longest input line read: far past any model's context (texts are cut to it before
/// tokenizing), so a file with no line breaks is refused instead of read whole.
const MAX_LINE_BYTES: u64 = 64 << 20;

/// Texts embedded per block: enough whole batches to keep the model busy, few enough that
/// a block's texts and vectors stay small.
const BLOCK: usize = 256;

/// Texts from the arguments, then one per line of `input` (a file, or "-" for stdin).
struct Texts {
    args: std::vec::IntoIter<String>,
    lines: Option<(String, Box<dyn BufRead>)>,
    line_no: usize,
}

impl Texts {
    fn open(input: Option<&Path>, args: Vec<String>) -> Result<Self> {
        let lines = match input {
            None => None,
            Some(p) if p == Path::new("-") => {
                Some(("stdin".to_string(), Box::new(std::io::stdin().lock()) as Box<dyn BufRead>))
            }
            Some(p) => {
                let file = std::fs::File::open(p).with_context(|| format!("{}", p.display()))?;
                Some((p.display().to_string(), Box::new(BufReader::new(file)) as Box<dyn BufRead>))
            }
        };
        Ok(Self { args: args.into_iter(), lines, line_no: 0 })
    }

    /// Up to `n` more texts; fewer only at the end.
    fn block(&mut self, n: usize) -> Result<Vec<String>> {
        let mut out: Vec<String> = self.args.by_ref().take(n).collect();
        let Some((name, reader)) = self.lines.as_mut() else { return Ok(out) };
        let mut raw = Vec::new();
        while out.len() < n {
            raw.clear();
            let read = reader.by_ref().take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut raw);
            if read.with_context(|| name.clone())? == 0 {
                break;
            }
            self.line_no += 1;
            if raw.len() as u64 > MAX_LINE_BYTES && raw.last() != Some(&b'\n') {
                bail!("{name}: line {} is longer than {} MiB", self.line_no, MAX_LINE_BYTES >> 20);
            }
            let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = std::str::from_utf8(line)
                .map_err(|e| anyhow::anyhow!("{name}: line {} is not UTF-8 ({e})", self.line_no))?;
            out.push(text.to_owned());
        }
        Ok(out)
    }
}

pub fn run(
    model: &Path,
    dims: Option<usize>,
    backend: Backend,
    input: Option<&Path>,
    args: Vec<String>,
    out: Option<&Path>,
) -> Result<()> {
    let argument_texts = args.len();
    let mut texts = Texts::open(input, args)?;
    let block = texts.block(BLOCK)?;
    if block.is_empty() {
        bail!("no texts given: pass TEXT arguments or --input FILE");
    }
    let files = pollster::block_on(read_files(&DirSource(model.to_path_buf())))?;
    let (device, options) = device(backend)?;
    let embedder = Embedder::load(&files, &device, options)?;
    let dims = dims.unwrap_or(embedder.config.hidden_size);
    embedder.config.check_dims(dims)?;
    let Some(dir) = out else {
        return write_json(&embedder, model, backend, dims, &mut texts, block);
    };
    let meta = RunMeta {
        format: FORMAT.into(),
        model_fingerprint: files.fingerprint(),
        dims,
        input: input.map_or_else(String::new, |p| p.display().to_string()),
        argument_texts,
        part_rows: part_rows(dims, BLOCK),
        complete: false,
    };
    let (mut parquet, done) = ParquetOut::open(dir, meta)?;
    let mut block = skip(&mut texts, block, done)?;
    if done > 0 {
        eprintln!("resuming: {done} texts were written to {} before the run stopped", dir.display());
    }
    let progress = spinner();
    progress.set_position(done as u64);
    let mut offset = done;
    while !block.is_empty() {
        let embedded = pollster::block_on(embedder.embed(&block, Some(dims))).map_err(|e| e.offset(offset))?;
        note_truncated(&progress, &embedder, offset, &embedded.truncated);
        offset += block.len();
        parquet.push(block, &embedded.vectors)?;
        progress.set_position(offset as u64);
        block = texts.block(BLOCK)?;
    }
    progress.finish_and_clear();
    let rows = parquet.finish()?;
    eprintln!("wrote {rows} vectors of {dims} dims to {}", dir.display());
    Ok(())
}

/// Drop the first `n` texts (those a resumed run already wrote), starting with `block`;
/// returns the block to embed next.
fn skip(texts: &mut Texts, mut block: Vec<String>, n: usize) -> Result<Vec<String>> {
    let mut skipped = 0;
    while skipped < n {
        if block.is_empty() {
            bail!(
                "the texts given are {skipped}, fewer than the {n} the output already holds: is this the same input?"
            );
        }
        let k = (n - skipped).min(block.len());
        block.drain(..k);
        skipped += k;
        if block.is_empty() {
            block = texts.block(BLOCK)?;
        }
    }
    Ok(block)
}

/// Shown only on a terminal (indicatif hides it otherwise), so piped output stays clean.
fn spinner() -> ProgressBar {
    ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {pos} texts embedded ({per_sec}, {elapsed})").unwrap())
}

fn note_truncated(progress: &ProgressBar, embedder: &Embedder, offset: usize, truncated: &[bool]) {
    for (i, cut) in truncated.iter().enumerate() {
        if *cut {
            progress.suspend(|| {
                eprintln!(
                    "note: text {} was truncated to the model's {} tokens",
                    offset + i,
                    embedder.config.max_position_embeddings
                )
            });
        }
    }
}

/// One JSON document on stdout, written block by block.
fn write_json(
    embedder: &Embedder,
    model: &Path,
    backend: Backend,
    dims: usize,
    texts: &mut Texts,
    mut block: Vec<String>,
) -> Result<()> {
    let progress = spinner();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write!(
        out,
        "{{\"model\":{},\"backend\":{},\"dims\":{dims},\"embeddings\":[",
        serde_json::to_string(&model.display().to_string())?,
        serde_json::to_string(backend.name())?
    )?;
    let mut done = 0;
    while !block.is_empty() {
        let embedded = pollster::block_on(embedder.embed(&block, Some(dims))).map_err(|e| e.offset(done))?;
        for (i, vector) in embedded.vectors.iter().enumerate() {
            if done + i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut out, vector)?;
        }
        out.flush()?;
        note_truncated(&progress, embedder, done, &embedded.truncated);
        done += block.len();
        progress.set_position(done as u64);
        block = texts.block(BLOCK)?;
    }
    progress.finish_and_clear();
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(())
}
