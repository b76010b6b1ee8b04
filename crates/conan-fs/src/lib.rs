//! One bounded way to read a file, for every file the loaders, the evaluator and the CLI
//! open: only regular files (a symlink to `/dev/zero` or a FIFO is refused), the size
//! checked against the caller's cap before a byte is read, and again while reading (a file
//! that grows is cut at the cap and refused). Errors name the file.
//!
//! Names that come from a manifest, index or task are checked with [`plain_file_name`]
//! before they are joined to a folder.

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: not found")]
    NotFound { path: PathBuf },
    #[error("{path}: not a regular file (a device, FIFO or folder); refusing to read it")]
    NotAFile { path: PathBuf },
    #[error("{path}: {size} bytes, more than the {max} bytes allowed for it")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::NotFound { path: path.to_path_buf() }
        } else {
            Self::Io { path: path.to_path_buf(), source }
        }
    }
}

/// The bytes of `path`, a regular file (symlinks followed) of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| FileError::io(path, e))?;
    if !meta.is_file() {
        return Err(FileError::NotAFile { path: path.to_path_buf() });
    }
    if meta.len() > max {
        return Err(FileError::TooLarge { path: path.to_path_buf(), size: meta.len(), max });
    }
    let file = std::fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge { path: path.to_path_buf(), size: bytes.len() as u64, max });
    }
    Ok(bytes)
}

/// A name that stays inside its folder: no separators, no `..`, not absolute, no drive.
pub fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && !name.contains("..") && !name.contains(['/', '\\', ':', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_cap_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.json");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_bounded(&file, 5).unwrap(), b"12345");
        let err = read_bounded(&file, 4).unwrap_err().to_string();
        assert!(err.ends_with("5 bytes, more than the 4 bytes allowed for it"), "{err}");
        assert!(matches!(read_bounded(&dir.path().join("none"), 9), Err(FileError::NotFound { .. })));
        assert!(matches!(read_bounded(dir.path(), 9), Err(FileError::NotAFile { .. })));
        // A symlink to an endless device is refused before any read.
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_bounded(&zero, 1 << 30).unwrap_err().to_string();
        assert!(err.contains("zero: not a regular file"), "{err}");
    }

    #[test]
    fn only_plain_names_stay_inside_the_folder() {
        assert!(plain_file_name("tokenizer.json") && plain_file_name("model-00001-of-00002.safetensors"));
        for bad in ["", ".", "..", "../x", "/etc/passwd", "sub/x", "C:x", "a\\b", "a\0b"] {
            assert!(!plain_file_name(bad), "{bad:?}");
        }
    }
}
