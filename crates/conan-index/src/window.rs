//! Sentence-window search: passage vectors and, beside them, a vector for each sentence of
//! every passage that has more than one. A passage scores by [`window_score`]; a hit says
//! which sentence lifted it, so the page can highlight it.

use std::ops::Range;

use crate::IndexError;
use crate::flat::{FlatIndex, Query, candidates, pseudo_random, top_k};
use crate::sentences::{sentence_spans, window_score};

/// One passage found, with the sentence that decided its score when one did.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowHit {
    /// The passage's row (in the order passages were added).
    pub row: usize,
    /// Its score under the window rule.
    pub score: f32,
    /// The cosine of the passage's own vector.
    pub passage_score: f32,
    /// Byte span (in the passage text) and cosine of its best sentence, when that sentence
    /// scored above the passage itself.
    pub sentence: Option<(Range<usize>, f32)>,
}

#[derive(Debug, Clone)]
pub struct WindowIndex {
    passages: FlatIndex,
    sentences: FlatIndex,
    /// Per sentence row: its passage row and its byte span in the passage text.
    sentence_of: Vec<(usize, Range<usize>)>,
}

/// The sentences of `text` that get their own vector: none when it is one sentence (its
/// passage vector already is that sentence's).
pub fn window_spans(text: &str) -> Vec<Range<usize>> {
    let spans = sentence_spans(text);
    if spans.len() > 1 { spans } else { Vec::new() }
}

/// The texts of [`window_spans`].
pub fn window_sentences(text: &str) -> Vec<&str> {
    window_spans(text).into_iter().map(|s| &text[s]).collect()
}

/// What a window index embeds for some passages, in the one order its vectors are laid out
/// everywhere (embedded, stored in IndexedDB, shipped, given to [`WindowIndex::extend`]):
/// every passage, then each passage's sentences in turn.
pub struct WindowTexts<'a> {
    /// Passages first, then sentences.
    pub texts: Vec<&'a str>,
    /// Each passage's [`window_spans`].
    pub spans: Vec<Vec<Range<usize>>>,
}

impl<'a> WindowTexts<'a> {
    pub fn new(passages: &[&'a str]) -> Self {
        let spans: Vec<Vec<Range<usize>>> = passages.iter().map(|t| window_spans(t)).collect();
        let mut texts = passages.to_vec();
        for (text, spans) in passages.iter().zip(&spans) {
            texts.extend(spans.iter().map(|s| &text[s.clone()]));
        }
        Self { texts, spans }
    }

    pub fn passages(&self) -> usize {
        self.spans.len()
    }

    /// Sentences with a vector of their own.
    pub fn sentences(&self) -> usize {
        self.texts.len() - self.spans.len()
    }
}

impl WindowIndex {
    pub fn new(width: usize, matryoshka: &[usize]) -> Self {
        Self {
            passages: FlatIndex::new(width, matryoshka),
            sentences: FlatIndex::new(width, matryoshka),
            sentence_of: Vec::new(),
        }
    }

    /// The passage vectors (for quality checks that compare passages with each other).
    pub fn passages(&self) -> &FlatIndex {
        &self.passages
    }

    pub fn width(&self) -> usize {
        self.passages.width()
    }

    pub fn dims(&self) -> Vec<usize> {
        self.passages.dims()
    }

    /// Passages held.
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// Sentence vectors held beside the passages.
    pub fn sentence_count(&self) -> usize {
        self.sentences.len()
    }

    /// Bytes of vector data, passages and sentences.
    pub fn bytes(&self) -> usize {
        self.passages.bytes() + self.sentences.bytes()
    }

    /// Vectors held, passages and sentences.
    pub fn rows(&self) -> usize {
        self.passages.len() + self.sentences.len()
    }

    /// Add passages with their sentences' `spans` (each from [`window_spans`] of that
    /// passage's text) and `vectors`, row-major in [`WindowTexts`] order: one per passage,
    /// then one per span. All or nothing.
    pub fn extend(&mut self, spans: &[Vec<Range<usize>>], vectors: &[f32]) -> Result<(), IndexError> {
        let width = self.width();
        let sentences: usize = spans.iter().map(Vec::len).sum();
        if vectors.len() != (spans.len() + sentences) * width {
            return Err(IndexError::Input(format!(
                "{} passages with {sentences} sentences need {} values; got {}",
                spans.len(),
                (spans.len() + sentences) * width,
                vectors.len()
            )));
        }
        let (passage_vectors, sentence_vectors) = vectors.split_at(spans.len() * width);
        let (rows, sentence_rows) = (self.len(), self.sentence_count());
        self.passages.extend_flat(passage_vectors)?;
        if let Err(e) = self.sentences.extend_flat(sentence_vectors) {
            self.passages.truncate(rows);
            return Err(e);
        }
        for (i, passage_spans) in spans.iter().enumerate() {
            self.sentence_of.extend(passage_spans.iter().map(|s| (rows + i, s.clone())));
        }
        debug_assert_eq!(self.sentence_of.len(), sentence_rows + sentences);
        Ok(())
    }

    /// Keep the first `n` passages and their sentences.
    pub fn truncate(&mut self, n: usize) {
        let keep = self.sentence_of.iter().take_while(|(row, _)| *row < n).count();
        self.passages.truncate(n);
        self.sentences.truncate(keep);
        self.sentence_of.truncate(keep);
    }

    /// The best `k` passages for `query` at `dims` under the window rule, best first (ties:
    /// lower row first). The int8 scan of every passage and sentence picks
    /// [`candidates`]`(k)` passages; those are rescored with the f32 query (see [`crate::flat`]).
    pub fn search(&self, query: &[f32], dims: usize, k: usize) -> Result<Vec<WindowHit>, IndexError> {
        let q = self.passages.query(query, dims)?;
        let mut scan = self.passages.scan(&q);
        if !self.sentences.is_empty() {
            for (s, score) in self.sentences.scan(&q).into_iter().enumerate() {
                let slot = &mut scan[self.sentence_of[s].0];
                *slot = window_score(*slot, Some(score));
            }
        }
        let mut hits: Vec<WindowHit> =
            top_k(&scan, candidates(k)).into_iter().map(|h| self.rescore(&q, h.row)).collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        hits.truncate(k);
        Ok(hits)
    }

    /// Passage `row` scored with the f32 query: its own vector and each of its sentences.
    fn rescore(&self, q: &Query, row: usize) -> WindowHit {
        let passage_score = self.passages.score(q, row);
        let first = self.sentence_of.partition_point(|(r, _)| *r < row);
        let last = self.sentence_of.partition_point(|(r, _)| *r <= row);
        let best = (first..last)
            .map(|s| (s, self.sentences.score(q, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        WindowHit {
            row,
            score: window_score(passage_score, best.map(|(_, score)| score)),
            passage_score,
            sentence: best.filter(|&(_, s)| s > passage_score).map(|(s, score)| (self.sentence_of[s].1.clone(), score)),
        }
    }
}

/// A window index of `passages` pseudo-random passages with `sentences` sentence vectors
/// each (of no text: empty spans), and a random query: the Search page's speed check.
pub fn synthetic(
    passages: usize,
    sentences: usize,
    width: usize,
    matryoshka: &[usize],
    seed: u64,
) -> Result<(WindowIndex, Vec<f32>), IndexError> {
    let mut next = pseudo_random(seed);
    let mut index = WindowIndex::new(width, matryoshka);
    let spans = vec![0..0; sentences];
    let mut block = vec![0.0f32; (1 + sentences) * width];
    for _ in 0..passages {
        block.iter_mut().for_each(|x| *x = next());
        index.extend(std::slice::from_ref(&spans), &block)?;
    }
    let query = (0..width).map(|_| next()).collect();
    Ok((index, query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: [f32; 3]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn two_passages() -> (WindowIndex, String) {
        let text = "Cats sleep. Dogs bark.".to_string();
        let laid_out = WindowTexts::new(&[text.as_str(), "Birds fly."]);
        assert_eq!(laid_out.texts, [text.as_str(), "Birds fly.", "Cats sleep.", "Dogs bark."]);
        assert_eq!((laid_out.passages(), laid_out.sentences()), (2, 2));
        let spans = laid_out.spans;
        assert_eq!(spans[0].len(), 2);
        assert!(spans[1].is_empty());
        let mut index = WindowIndex::new(3, &[]);
        let vectors = [unit([1.0, 0.3, 0.0]), unit([0.0, 0.6, 1.0]), unit([1.0, 0.0, 0.0]), unit([0.0, 1.0, 0.1])];
        index.extend(&spans, &vectors.concat()).unwrap();
        (index, text)
    }

    #[test]
    fn the_matching_sentence_lifts_and_names_its_passage() {
        let (index, text) = two_passages();
        let hits = index.search(&unit([0.0, 1.0, 0.0]), 3, 2).unwrap();
        assert_eq!(hits[0].row, 0);
        let (span, score) = hits[0].sentence.clone().unwrap();
        assert_eq!(&text[span], "Dogs bark.");
        assert!(score > hits[0].passage_score && hits[0].score == score);
        // Plain passage vectors would have ranked the other passage first.
        let plain = index.passages().search(&unit([0.0, 1.0, 0.0]), 3, 1).unwrap();
        assert_eq!(plain[0].row, 1);
        // A passage whose own vector wins names no sentence.
        assert_eq!(hits[1].row, 1);
        assert_eq!(hits[1].sentence, None);
    }

    #[test]
    fn extend_is_all_or_nothing_and_truncate_drops_sentences() {
        let (mut index, _) = two_passages();
        let bad = index.extend(&[window_spans("A b. C d.")], &[unit([1.0, 0.0, 0.0]), unit([1.0, 0.0, 0.0])].concat());
        assert!(matches!(bad, Err(IndexError::Input(_))));
        let nan = index.extend(&[window_spans("A b. C d.")], &[unit([1.0, 0.0, 0.0]), vec![f32::NAN; 6]].concat());
        assert!(nan.is_err());
        assert_eq!((index.len(), index.sentence_count(), index.rows()), (2, 2, 4));
        index.truncate(1);
        assert_eq!((index.len(), index.sentence_count()), (1, 2));
        index.truncate(0);
        assert_eq!((index.len(), index.sentence_count()), (0, 0));
        assert!(index.search(&unit([1.0, 0.0, 0.0]), 3, 5).unwrap().is_empty());
    }
}
