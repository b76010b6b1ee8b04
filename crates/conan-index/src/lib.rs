//! vectors → search. The search side of the pipeline, pure Rust so that it runs the same
//! natively and inside the browser worker:
//!
//! - [`flat`]: a flat index over L2-normalised vectors, searched at any Matryoshka prefix;
//! - [`lang`]: the zh / en tag shown beside each passage (and what makes a hit cross-lingual);
//! - [`split`]: the user's uploaded documents → passages, with a rule the UI shows;
//! - [`sentences`]: passages → sentences, and a passage's score from its best sentence;
//! - [`window`]: passage and sentence vectors searched together (sentence-window search);
//! - [`shipped`]: the bundled corpus's vectors for the default model, shipped with the app;
//! - [`corpus`]: the bundled bilingual corpus (static/corpus/corpus.jsonl);
//! - [`project`]: a 2-D PCA projection, to show translations landing together.

pub mod corpus;
pub mod flat;
pub mod folder;
pub mod lang;
pub mod project;
pub mod sentences;
pub mod shipped;
pub mod split;
pub mod window;

pub use corpus::{CorpusPassage, parse_corpus};
pub use flat::{FlatIndex, Hit};
pub use lang::Lang;
pub use sentences::{WINDOW_RULE, sentence_spans, sentences, window_score};
pub use shipped::ShippedHeader;
pub use split::{Draft, SPLIT_RULE, split_document};
pub use window::{WindowHit, WindowIndex, WindowTexts, window_sentences, window_spans};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IndexError {
    #[error("vector has {got} values but the index holds {want}-dimensional vectors")]
    Width { got: usize, want: usize },
    #[error("dims {dims} is not available: choose one of {available:?}")]
    Dims { dims: usize, available: Vec<usize> },
    #[error("vector {row} contains NaN or infinity")]
    NotFinite { row: usize },
    #[error("vector {row} is all zeros at {dims} dims, so it has no direction to compare")]
    Zero { row: usize, dims: usize },
    #[error("{0}")]
    Input(String),
}
