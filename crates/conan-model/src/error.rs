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
    #[error("{0}")]
    Io(String),
    #[error("backend error: {0}")]
    Backend(String),
    #[error(transparent)]
    Text(#[from] conan_text::TextError),
}
