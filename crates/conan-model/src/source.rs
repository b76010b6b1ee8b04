//! Where a model's files come from: a folder on disk, files held in memory (picked in the
//! browser, or a zip), or (in the worker) HTTP. Paths are relative to the model root.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ModelError;
use crate::pack::{Manifest, ShardEntry, verify_shard};

/// The largest config, manifest, index or other JSON file a source is asked for.
pub const MAX_JSON_BYTES: u64 = 16 << 20;
/// The largest tokenizer.json (Qwen3's is 11 MB).
pub const MAX_TOKENIZER_BYTES: u64 = 256 << 20;
/// The largest Hugging Face safetensors file read whole (Conan-v2 in f32 is 6 GB).
pub const MAX_WEIGHTS_FILE_BYTES: u64 = 64 << 30;

/// Where a model's files come from. Paths are relative to the model root, `/`-separated.
#[allow(async_fn_in_trait)] // used on one thread (the browser worker or the CLI)
pub trait FileSource {
    /// The file's bytes, or `Ok(None)` when it does not exist. A file over `max` bytes is an
    /// error, found before it is read where the source can tell.
    async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ModelError>;
    /// Where the files come from, for messages.
    fn label(&self) -> String;

    /// The file's bytes (at most `max`); a missing file is an error naming it.
    async fn require(&self, path: &str, max: u64) -> Result<Vec<u8>, ModelError> {
        self.read(path, max).await?.ok_or_else(|| ModelError::Source(format!("{}: {path} not found", self.label())))
    }

    /// Called once a pack's manifest is read, before any shard is: a source can refuse a
    /// pack the device cannot hold, or announce the download, before fetching anything.
    async fn before_shards(&self, _manifest: &Manifest) -> Result<(), ModelError> {
        Ok(())
    }

    /// One pack shard, already checked against its size and SHA-256. A caching source
    /// overrides this to serve verified copies and refetch bad ones.
    async fn read_shard(&self, entry: &ShardEntry) -> Result<Vec<u8>, ModelError> {
        let bytes = self
            .read(&entry.file, entry.bytes)
            .await?
            .ok_or_else(|| ModelError::Weights(format!("shard {} is missing from {}", entry.file, self.label())))?;
        verify_shard(entry, &bytes)?;
        Ok(bytes)
    }
}

/// A model folder held in memory (e.g. picked from disk in the browser). Paths may carry
/// the picked folder's name as a common first component; it is ignored.
pub struct MemorySource {
    pub label: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl MemorySource {
    pub fn new(label: impl Into<String>, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let files: Vec<(String, Vec<u8>)> = files.into_iter().collect();
        let first = |p: &str| p.split_once('/').map(|(a, _)| a.to_string());
        let common = files
            .first()
            .and_then(|(p, _)| first(p))
            .filter(|c| files.iter().all(|(p, _)| first(p).as_deref() == Some(c)));
        let files = files
            .into_iter()
            .map(|(p, b)| match &common {
                Some(c) => (p[c.len() + 1..].to_string(), b),
                None => (p, b),
            })
            .collect();
        Self { label: label.into(), files }
    }
}

impl MemorySource {
    /// A model folder packed in a zip (at its root or inside one folder). Entries are read
    /// whole; the archive may hold at most 3 GiB uncompressed (wasm has 4 GiB in all), and
    /// a size field past that is refused before anything is allocated.
    pub fn from_zip(label: impl Into<String>, bytes: &[u8]) -> Result<Self, ModelError> {
        const MAX_TOTAL: u64 = 3 << 30;
        let label = label.into();
        let bad = |e: zip::result::ZipError| ModelError::Source(format!("{label}: not a readable zip ({e})"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
        let mut files = Vec::new();
        let mut total = 0u64;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(bad)?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().map_err(bad)?.to_string();
            total = total.saturating_add(entry.size());
            if total > MAX_TOTAL {
                return Err(ModelError::Source(format!(
                    "{label}: more than {} GiB uncompressed; load the folder instead",
                    MAX_TOTAL >> 30
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, MAX_TOTAL), &mut data)
                .map_err(|e| ModelError::Source(format!("{label}: {name}: {e}")))?;
            files.push((name, data));
        }
        if files.is_empty() {
            return Err(ModelError::Source(format!("{label}: the zip holds no files")));
        }
        Ok(Self::new(label, files))
    }
}

impl FileSource for MemorySource {
    async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ModelError> {
        match self.files.get(path) {
            Some(bytes) if bytes.len() as u64 > max => Err(too_large(&self.label, path, bytes.len() as u64, max)),
            found => Ok(found.cloned()),
        }
    }

    fn label(&self) -> String {
        self.label.clone()
    }
}

/// A file over its cap, in the words `conan_fs` uses for files on disk.
pub fn too_large(label: &str, path: &str, size: u64, max: u64) -> ModelError {
    ModelError::Source(format!("{label}: {path}: {size} bytes, more than the {max} bytes allowed for it"))
}

/// A model folder on disk: every read bounded (regular files only, sizes checked first).
pub struct DirSource(pub PathBuf);

impl FileSource for DirSource {
    async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ModelError> {
        match conan_fs::read_bounded(&self.0.join(path), max) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(conan_fs::FileError::NotFound { .. }) => Ok(None),
            Err(e) => Err(ModelError::Source(e.to_string())),
        }
    }

    fn label(&self) -> String {
        self.0.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_drops_the_picked_folder_name() {
        let src = MemorySource::new(
            "picked",
            [("m/config.json".to_string(), b"{}".to_vec()), ("m/sub/x".to_string(), vec![1])],
        );
        assert!(src.files.contains_key("config.json") && src.files.contains_key("sub/x"));
        let flat = MemorySource::new("picked", [("config.json".to_string(), vec![]), ("a/b".to_string(), vec![])]);
        assert!(flat.files.contains_key("a/b"), "no common folder, nothing stripped");
    }

    #[test]
    fn zipped_model_folders_load_like_folders() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static/models/tiny");
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        for name in ["config.json", "tokenizer.json", "model.safetensors"] {
            zip.start_file(format!("tiny/{name}"), zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut zip, &std::fs::read(root.join(name)).unwrap()).unwrap();
        }
        zip.finish().unwrap();
        let src = MemorySource::from_zip("tiny.zip", buf.get_ref()).unwrap();
        let files = pollster::block_on(crate::checkpoint::read_files(&src)).unwrap();
        assert_eq!(files.config.hidden_size, 64);
        let err = MemorySource::from_zip("x.zip", b"not a zip").err().unwrap().to_string();
        assert!(err.contains("x.zip: not a readable zip"), "{err}");
    }
}
