//! The worker's one error type: what went wrong for the user (`message`) and what sort of
//! failure it is (`kind`), which the worker acts on (a backend failure may be a lost device)
//! and the page receives in `Response::Failed`.

use std::fmt;

use conan_model::ModelError;
use conan_protocol::{ErrorKind, Response};
use conan_text::TextError;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

impl WorkerError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn no_model() -> Self {
        Self::new(ErrorKind::NoModel, "no model is loaded yet")
    }

    pub fn no_index() -> Self {
        Self::new(ErrorKind::NoIndex, "the search index is not open yet")
    }

    /// The same error named after what failed: "`what`: message".
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self { kind: self.kind, message: format!("{what}: {}", self.message) }
    }

    /// The failure as the page receives it.
    pub fn into_response(self, id: Option<u32>) -> Response {
        Response::Failed { id, kind: self.kind, message: self.message }
    }
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WorkerError {}

impl From<ModelError> for WorkerError {
    fn from(e: ModelError) -> Self {
        let kind = match &e {
            ModelError::Backend(_) => ErrorKind::Backend,
            ModelError::Config(_) | ModelError::Weights(_) | ModelError::NonFinite { .. } => ErrorKind::BadModel,
            ModelError::Input(_) => ErrorKind::BadInput,
            ModelError::Text(t) => text_kind(t),
            // Reading files: a fetch, a missing file, a zip, the OS.
            ModelError::Source(_) | ModelError::Io { .. } => ErrorKind::Unreadable,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<TextError> for WorkerError {
    fn from(e: TextError) -> Self {
        Self::new(text_kind(&e), e.to_string())
    }
}

/// A tokenizer that does not load is the model's fault; a text it cannot encode is the input's.
fn text_kind(e: &TextError) -> ErrorKind {
    match e {
        TextError::Load(_) => ErrorKind::BadModel,
        _ => ErrorKind::BadInput,
    }
}
