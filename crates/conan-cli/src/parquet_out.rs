//! `conan embed --out DIR`: the vectors as a Parquet dataset, for corpora larger than one
//! machine's memory and for the vector stores that import Parquet (LanceDB, Qdrant, anything
//! on Arrow). `DIR` holds `part-00000.parquet`, `part-00001.parquet`, … each one row group of
//! `{id: int64, text: utf8, vector: fixed_size_list<float32, dims>}` (the Arrow schema is
//! stored in the file, so readers get fixed-size vectors back), and `_conan-embed.json`, which
//! says what run the parts belong to (a leading `_` or `.` is what dataset readers such as
//! pyarrow's skip).
//!
//! A part is written under a hidden `.tmp` name and renamed once whole, so an interrupted run leaves
//! only whole parts that any Parquet reader opens; the same command again skips the texts they
//! hold and carries on. Memory is one part: at most [`PART_FLOATS`] floats.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};

/// The run file's name and format.
const META: &str = "_conan-embed.json";
pub const FORMAT: &str = "conan-embed-parquet/1";
/// Floats held before a part is written (64 MiB of f32).
pub const PART_FLOATS: usize = 1 << 24;
/// Rows per part at most, whatever the width.
const MAX_PART_ROWS: usize = 8192;

/// What a dataset's vectors came from; a run resumes only into a dataset of the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub format: String,
    /// The model's fingerprint (config, tokenizer and weights).
    pub model_fingerprint: String,
    pub dims: usize,
    /// The texts: `--input`'s path as given (or "-"), and how many came as arguments.
    pub input: String,
    pub argument_texts: usize,
    /// Rows per part (every part but the last holds exactly this many).
    pub part_rows: usize,
    /// Set once every text is written.
    pub complete: bool,
}

/// Rows per part for vectors of `dims`: a whole number of `block`s, within [`PART_FLOATS`].
pub fn part_rows(dims: usize, block: usize) -> usize {
    let rows = (PART_FLOATS / dims.max(1)).min(MAX_PART_ROWS);
    (rows / block).max(1) * block
}

pub struct ParquetOut {
    dir: PathBuf,
    meta: RunMeta,
    schema: SchemaRef,
    parts: usize,
    /// Rows written in whole parts, then the next row's id.
    written: usize,
    texts: Vec<String>,
    values: Vec<f32>,
}

impl ParquetOut {
    /// Open `dir` for `meta`'s run: a new or empty folder starts it, a folder of the same run
    /// resumes it. Returns the writer and how many texts its parts already hold.
    pub fn open(dir: &Path, meta: RunMeta) -> Result<(Self, usize)> {
        let meta_file = dir.join(META);
        let mut parts = 0;
        if meta_file.exists() {
            let bytes = conan_fs::read_bounded(&meta_file, 1 << 20)?;
            let found: RunMeta = serde_json::from_slice(&bytes).with_context(|| format!("{}", meta_file.display()))?;
            let same = RunMeta { complete: found.complete, ..meta.clone() };
            if found != same {
                bail!(
                    "{} holds vectors of another run (model {}, {} dims, input {:?}); name a new --out or delete it",
                    dir.display(),
                    found.model_fingerprint,
                    found.dims,
                    found.input
                );
            }
            if found.complete {
                bail!("{} already holds every vector of this run; delete it to embed again", dir.display());
            }
            // Whole parts only; a `.tmp` left by an interruption is written again.
            while let Some(rows) = part_rows_in(&dir.join(part_name(parts)))? {
                if rows != meta.part_rows {
                    bail!("{}: {rows} rows where {} were written", part_name(parts), meta.part_rows);
                }
                parts += 1;
            }
        } else if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("--out {} exists and is not empty; name a new folder (nothing there was changed)", dir.display());
        } else {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            write_meta(dir, &meta)?;
        }
        let vector = Field::new_list_field(DataType::Float32, false);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("vector", DataType::FixedSizeList(Arc::new(vector), meta.dims as i32), false),
        ]));
        let written = parts * meta.part_rows;
        let out = Self { dir: dir.to_path_buf(), meta, schema, parts, written, texts: Vec::new(), values: Vec::new() };
        Ok((out, written))
    }

    /// Add embedded texts (their vectors row-major); a full part is written at once.
    pub fn push(&mut self, texts: Vec<String>, vectors: &[Vec<f32>]) -> Result<()> {
        for (text, vector) in texts.into_iter().zip(vectors) {
            self.texts.push(text);
            self.values.extend_from_slice(vector);
            if self.texts.len() == self.meta.part_rows {
                self.write_part()?;
            }
        }
        Ok(())
    }

    /// Write what is buffered and mark the run complete. Returns the rows written.
    pub fn finish(mut self) -> Result<usize> {
        if !self.texts.is_empty() {
            self.write_part()?;
        }
        self.meta.complete = true;
        write_meta(&self.dir, &self.meta)?;
        Ok(self.written)
    }

    fn write_part(&mut self) -> Result<()> {
        let rows = self.texts.len();
        let ids = Int64Array::from_iter_values((self.written..self.written + rows).map(|i| i as i64));
        let texts = StringArray::from_iter_values(std::mem::take(&mut self.texts));
        let values = Float32Array::from(std::mem::take(&mut self.values));
        let DataType::FixedSizeList(item, dims) = self.schema.field(2).data_type().clone() else {
            unreachable!("the vector column is a fixed-size list")
        };
        let vectors = FixedSizeListArray::try_new(item, dims, Arc::new(values), None)?;
        let columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(texts), Arc::new(vectors)];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let path = self.dir.join(part_name(self.parts));
        let tmp = self.dir.join(format!(".{}.tmp", part_name(self.parts)));
        let file = std::fs::File::create(&tmp).with_context(|| format!("{}", tmp.display()))?;
        let mut writer = ArrowWriter::try_new(file, self.schema.clone(), None)?;
        writer.write(&batch)?;
        writer.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("{}", path.display()))?;
        self.parts += 1;
        self.written += rows;
        Ok(())
    }
}

fn part_name(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// Rows in a whole part file; `None` when there is no such part.
fn part_rows_in(path: &Path) -> Result<Option<usize>> {
    let Ok(file) = std::fs::File::open(path) else { return Ok(None) };
    let reader = SerializedFileReader::new(file).with_context(|| format!("{}", path.display()))?;
    Ok(Some(reader.metadata().file_metadata().num_rows() as usize))
}

fn write_meta(dir: &Path, meta: &RunMeta) -> Result<()> {
    let path = dir.join(META);
    let tmp = dir.join(format!(".{META}.tmp"));
    std::fs::write(&tmp, serde_json::to_string_pretty(meta)? + "\n").with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("{}", path.display()))?;
    Ok(())
}
