//! One error type for everything the model crate can refuse. Each message names what was
//! wrong (the file, the tensor, both shapes) so a user can act on it.

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("bad config: {0}")]
    Config(String),
    #[error("bad weights: {0}")]
    Weights(String),
    #[error("bad input: {0}")]
    Input(String),
    /// The operating system refused a read or write of `path`.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A model's files could not be had from their source: a missing file, an unreadable
    /// archive, an HTTP failure. The message names the source and the file.
    #[error("{0}")]
    Source(String),
    /// A pass produced NaN or infinity: weights that are finite but overflow f32 on this
    /// input. `row` is the text (within its batch from `embed_batch`), `place` the first step that went wrong.
    #[error(
        "bad weights: values stopped being finite in {place} (text {row}); the model's weights overflow f32 on this input"
    )]
    NonFinite { row: usize, place: String },
    #[error("backend error: {0}")]
    Backend(String),
    #[error(transparent)]
    Text(#[from] conan_text::TextError),
}

impl ModelError {
    /// An OS error on `path`, keeping the error itself as the source.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    /// The same error with text positions shifted by `by`, for a chunk of a longer list.
    pub fn offset(self, by: usize) -> Self {
        match self {
            Self::Text(e) => Self::Text(e.offset(by)),
            Self::NonFinite { row, place } => Self::NonFinite { row: row + by, place },
            other => other,
        }
    }

    /// A failed safetensors write of `path`: the OS error kept where there is one.
    pub fn from_safetensors_write(path: &std::path::Path, e: safetensors::SafeTensorError) -> Self {
        match e {
            safetensors::SafeTensorError::IoError(source) => Self::io(path, source),
            other => Self::Weights(format!("{}: {other}", path.display())),
        }
    }
}
