//! Passages → sentences, and how a passage is scored from its sentences (sentence-window
//! search). One vector per passage blurs the sentence inside it: a query that translates
//! one sentence of three matches the passage's vector far less well than that sentence's.
//! So each sentence of a passage gets a vector too, and a passage scores by the better of
//! its best sentence and itself ([`window_score`]).
//!
//! Sentence bounds are Unicode's (UAX #29, from `unicode-segmentation`): Chinese 。！？ and
//! English . ! ? end sentences; decimals ("3.14") and lower-case continuations ("e.g. the")
//! do not. On top of that, a period after a common English abbreviation ("Dr. Smith") does
//! not end one, and no sentence is longer than [`MAX_SENTENCE_CHARS`].

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// A sentence longer than this (a line with no sentence ends) is cut into pieces of at
/// most this many characters, at a space where there is one.
pub const MAX_SENTENCE_CHARS: usize = 300;

/// How a passage is scored under sentence-window search, as the UI and `conan eval
/// --split-sentences` state it.
pub const WINDOW_RULE: &str = "a passage scores the higher of its own cosine and its best sentence's cosine";

/// Words after which a period does not end an English sentence.
const ABBREVIATIONS: [&str; 18] = [
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "no", "inc", "ltd", "co", "mt", "fig", "approx",
    "dept",
];

/// Byte ranges of the sentences of `text`: trimmed, none empty, each at most
/// [`MAX_SENTENCE_CHARS`] characters, in order.
pub fn sentence_spans(text: &str) -> Vec<Range<usize>> {
    let mut merged: Vec<Range<usize>> = Vec::new();
    let mut pending: Option<Range<usize>> = None;
    for (start, piece) in text.split_sentence_bound_indices() {
        let span = match pending.take() {
            Some(p) => p.start..start + piece.len(),
            None => start..start + piece.len(),
        };
        if ends_with_abbreviation(&text[span.clone()]) {
            pending = Some(span);
        } else {
            merged.push(span);
        }
    }
    merged.extend(pending);
    let mut out = Vec::new();
    for span in merged {
        let span = trim(text, span);
        if span.is_empty() {
            continue;
        }
        cut_long(text, span, &mut out);
    }
    out
}

/// The sentences of `text` (see [`sentence_spans`]).
pub fn sentences(text: &str) -> Vec<&str> {
    sentence_spans(text).into_iter().map(|r| &text[r]).collect()
}

/// A passage's score under sentence-window search: the higher of the passage's own cosine
/// and its best sentence's (`None` when the passage is one sentence). A passage that
/// matches as a whole keeps its score; one sentence that matches lifts its passage.
pub fn window_score<T: PartialOrd + Copy>(passage: T, best_sentence: Option<T>) -> T {
    match best_sentence {
        Some(s) if s > passage => s,
        _ => passage,
    }
}

fn ends_with_abbreviation(s: &str) -> bool {
    let s = s.trim_end();
    let Some(body) = s.strip_suffix('.') else { return false };
    let word = body.rsplit(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    !word.is_empty() && ABBREVIATIONS.contains(&word.to_ascii_lowercase().as_str())
}

fn trim(text: &str, span: Range<usize>) -> Range<usize> {
    let s = &text[span.clone()];
    let start = span.start + (s.len() - s.trim_start().len());
    let end = span.start + s.trim_end().len();
    start..end.max(start)
}

/// Push `span`, cut into pieces of at most [`MAX_SENTENCE_CHARS`] characters; each cut
/// falls after the last space of a piece when there is one, else mid-word.
fn cut_long(text: &str, mut span: Range<usize>, out: &mut Vec<Range<usize>>) {
    loop {
        let s = &text[span.clone()];
        let Some((limit, _)) = s.char_indices().nth(MAX_SENTENCE_CHARS) else {
            out.push(span);
            return;
        };
        let cut = match s[..limit].rfind(char::is_whitespace) {
            Some(space) if space > 0 => space,
            _ => limit,
        };
        let head = trim(text, span.start..span.start + cut);
        if !head.is_empty() {
            out.push(head);
        }
        span = trim(text, span.start + cut..span.end);
        if span.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_sentences_keep_decimals_and_abbreviations() {
        assert_eq!(
            sentences("Dr. Smith paid 3.50 dollars. Was it e.g. too much? No! Ask Mrs. Lee at 5 p.m. today."),
            ["Dr. Smith paid 3.50 dollars.", "Was it e.g. too much?", "No!", "Ask Mrs. Lee at 5 p.m. today."]
        );
        assert_eq!(sentences("No trailing stop"), ["No trailing stop"]);
    }

    #[test]
    fn chinese_sentences_end_at_full_width_marks() {
        assert_eq!(
            sentences("我们明天去北京。你去吗？太好了！他说：“好。”然后走了"),
            ["我们明天去北京。", "你去吗？", "太好了！", "他说：“好。”", "然后走了"]
        );
    }

    #[test]
    fn mixed_text_and_whitespace() {
        assert_eq!(
            sentences("  The café opened.  咖啡馆开门了。\n\nIt is 8 o'clock.  "),
            ["The café opened.", "咖啡馆开门了。", "It is 8 o'clock."]
        );
        assert!(sentences("").is_empty());
        assert!(sentences(" \n\t ").is_empty());
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "One. Two three. 四五。";
        for span in sentence_spans(text) {
            assert_eq!(&text[span.clone()], text[span].trim());
        }
    }

    #[test]
    fn a_line_without_sentence_ends_is_cut_at_a_bound() {
        let words = "word ".repeat(10_000);
        let pieces = sentences(&words);
        assert!(pieces.len() >= 50_000 / MAX_SENTENCE_CHARS, "{}", pieces.len());
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_SENTENCE_CHARS && !p.is_empty()));
        assert_eq!(pieces.concat().replace(' ', ""), words.replace(' ', ""));
        // One 50,000-character word: cut mid-word, nothing lost.
        let word = "字".repeat(50_000);
        let pieces = sentences(&word);
        assert_eq!(pieces.len(), 50_000usize.div_ceil(MAX_SENTENCE_CHARS));
        assert_eq!(pieces.concat(), word);
    }

    #[test]
    fn window_score_takes_the_better_of_passage_and_sentence() {
        assert_eq!(window_score(0.4, Some(0.9)), 0.9);
        assert_eq!(window_score(0.8, Some(0.5)), 0.8);
        assert_eq!(window_score(0.3, None), 0.3);
    }
}
