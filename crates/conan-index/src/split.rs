//! A user's document → passages. The rule is simple enough to state in one sentence, and the
//! UI shows [`SPLIT_RULE`] next to the upload button, so nobody wonders where a hit came from.

use crate::IndexError;

/// Passages longer than this many characters are cut at sentence ends.
pub const MAX_PASSAGE_CHARS: usize = 400;
/// Files larger than this are refused before parsing (the browser holds them in memory).
pub const MAX_FILE_BYTES: usize = 20 << 20;
/// Passages one file may produce.
pub const MAX_PASSAGES: usize = 50_000;

pub const SPLIT_RULE: &str = ".txt and .md: one passage per paragraph (paragraphs end at a blank line); \
.jsonl: one per line, a string or an object's \"text\" field; .csv: one per row, from the column named \
\"text\" (or the only column). Passages over 400 characters are cut at sentence ends.";

/// One passage before it is embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub text: String,
    /// Where it came from, e.g. "notes.md ¶3", "faq.jsonl line 12", "data.csv row 4".
    pub source: String,
}

/// Split the file `name` (its extension picks the rule) into passages.
pub fn split_document(name: &str, bytes: &[u8]) -> Result<Vec<Draft>, IndexError> {
    let err = |msg: String| IndexError::Input(format!("{name}: {msg}"));
    if bytes.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "{} bytes is over the {} MiB limit for one document",
            bytes.len(),
            MAX_FILE_BYTES >> 20
        )));
    }
    let unsupported = |ext: &str| err(format!("cannot split .{ext} files; use .txt, .md, .jsonl or .csv"));
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    if !matches!(ext.as_str(), "txt" | "md" | "markdown" | "" | "jsonl" | "ndjson" | "csv") {
        return Err(unsupported(&ext));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        err(format!("not UTF-8 text (invalid byte at offset {}); save it as UTF-8 and try again", e.valid_up_to()))
    })?;
    // NUL never occurs in text; a file holding it is binary, whatever its name says.
    if let Some(at) = text.find('\0') {
        return Err(err(format!("holds a NUL byte at offset {at}: a binary file, not text")));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    match ext.as_str() {
        "txt" | "md" | "markdown" | "" => {
            for (i, para) in paragraphs(text).enumerate() {
                push_cut(&mut out, &para, &format!("{name} ¶{}", i + 1));
            }
        }
        "jsonl" | "ndjson" => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| err(format!("line {}: not JSON ({e})", i + 1)))?;
                let text = match &value {
                    serde_json::Value::String(s) => s.as_str(),
                    serde_json::Value::Object(o) => o
                        .get("text")
                        .and_then(|t| t.as_str())
                        .ok_or_else(|| err(format!("line {}: the object has no string field \"text\"", i + 1)))?,
                    _ => {
                        return Err(err(format!("line {}: expected a string or an object with \"text\"", i + 1)));
                    }
                };
                push_cut(&mut out, text, &format!("{name} line {}", i + 1));
                check_count(&out).map_err(err)?;
            }
        }
        "csv" => {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
            let headers = reader.headers().map_err(|e| err(format!("header row: {e}")))?.clone();
            let column = match headers.iter().position(|h| h.trim().eq_ignore_ascii_case("text")) {
                Some(c) => c,
                None if headers.len() == 1 => 0,
                None => {
                    let names: Vec<&str> = headers.iter().collect();
                    return Err(err(format!("no column named \"text\" among {names:?}")));
                }
            };
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| err(format!("row {}: {e}", i + 2)))?;
                push_cut(&mut out, record.get(column).unwrap_or(""), &format!("{name} row {}", i + 2));
                check_count(&out).map_err(err)?;
            }
        }
        other => return Err(unsupported(other)),
    }
    check_count(&out).map_err(err)?;
    if out.is_empty() {
        return Err(err("contains no text to search".into()));
    }
    Ok(out)
}

fn check_count(out: &[Draft]) -> Result<(), String> {
    if out.len() > MAX_PASSAGES {
        return Err(format!("more than {MAX_PASSAGES} passages; split the file"));
    }
    Ok(())
}

/// Paragraphs separated by blank lines, with inner whitespace collapsed to single spaces.
fn paragraphs(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("\n\n")
        .flat_map(|block| block.split("\r\n\r\n"))
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
}

/// Push `text` as one passage, or as several cut at sentence ends when it is long.
fn push_cut(out: &mut Vec<Draft>, text: &str, source: &str) {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return;
    }
    let pieces = cut(&text, MAX_PASSAGE_CHARS);
    let many = pieces.len() > 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let source = if many { format!("{source}.{}", i + 1) } else { source.to_string() };
        out.push(Draft { text: piece, source });
    }
}

/// Greedy: fill a passage with whole sentences up to `max` characters; a sentence longer
/// than `max` is cut at `max` characters.
fn cut(text: &str, max: usize) -> Vec<String> {
    if text.chars().count() <= max {
        return vec![text.to_string()];
    }
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let end_of_sentence = matches!(c, '。' | '！' | '？' | '；')
            || (matches!(c, '.' | '!' | '?') && chars.get(k + 1).is_none_or(|&(_, n)| n == ' '));
        if end_of_sentence {
            let end = i + c.len_utf8();
            sentences.push(text[start..end].trim());
            start = end;
        }
    }
    sentences.push(text[start..].trim());
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for s in sentences.into_iter().filter(|s| !s.is_empty()) {
        let joined =
            if current.is_empty() { s.chars().count() } else { current.chars().count() + 1 + s.chars().count() };
        if joined <= max {
            if !current.is_empty() && !current.ends_with(['。', '！', '？', '；']) {
                current.push(' ');
            }
            current.push_str(s);
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        let sc: Vec<char> = s.chars().collect();
        for piece in sc.chunks(max) {
            let piece: String = piece.iter().collect();
            if piece.chars().count() == max {
                out.push(piece);
            } else {
                current = piece;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(d: &[Draft]) -> Vec<&str> {
        d.iter().map(|d| d.text.as_str()).collect()
    }

    #[test]
    fn text_and_markdown_split_at_blank_lines() {
        let d = split_document("notes.md", "# Title\n\nFirst  line\ncontinues.\r\n\r\n\n\n  第二段。 \n".as_bytes())
            .unwrap();
        assert_eq!(texts(&d), ["# Title", "First line continues.", "第二段。"]);
        assert_eq!(d[2].source, "notes.md ¶3");
    }

    #[test]
    fn long_paragraphs_are_cut_at_sentence_ends_within_the_limit() {
        let sentence = "This sentence has exactly forty-eight characters. ";
        let para = sentence.repeat(20);
        let d = split_document("a.txt", para.as_bytes()).unwrap();
        assert!(d.len() >= 3, "{}", d.len());
        for p in &d {
            assert!(p.text.chars().count() <= MAX_PASSAGE_CHARS);
            assert!(p.text.ends_with('.'), "{}", p.text);
        }
        assert_eq!(d[0].source, "a.txt ¶1.1");
        let zh = "我们明天去北京看长城。".repeat(60);
        let d = split_document("b.txt", zh.as_bytes()).unwrap();
        assert!(d.iter().all(|p| p.text.chars().count() <= MAX_PASSAGE_CHARS && p.text.ends_with('。')));
        assert_eq!(d.iter().map(|p| p.text.chars().count()).sum::<usize>(), zh.chars().count());
        // One endless "sentence" is cut hard.
        let run = "x".repeat(1000);
        let d = split_document("c.txt", run.as_bytes()).unwrap();
        assert_eq!(d.iter().map(|p| p.text.len()).collect::<Vec<_>>(), [400, 400, 200]);
    }

    #[test]
    fn jsonl_takes_strings_or_text_fields_and_names_bad_lines() {
        let d =
            split_document("faq.jsonl", b"\"plain\"\n\n{\"text\": \"\xe4\xbd\xa0\xe5\xa5\xbd\", \"id\": 3}\n").unwrap();
        assert_eq!(texts(&d), ["plain", "你好"]);
        assert_eq!(d[1].source, "faq.jsonl line 3");
        let e = split_document("faq.jsonl", b"\"ok\"\n{\"title\": 1}\n").unwrap_err().to_string();
        assert!(e.contains("faq.jsonl: line 2") && e.contains("\"text\""), "{e}");
        let e = split_document("faq.jsonl", b"{oops\n").unwrap_err().to_string();
        assert!(e.contains("line 1: not JSON"), "{e}");
        let e = split_document("faq.jsonl", b"[1, 2]\n").unwrap_err().to_string();
        assert!(e.contains("expected a string or an object"), "{e}");
    }

    #[test]
    fn csv_uses_the_text_column_or_the_only_one() {
        let d = split_document("d.csv", b"id,Text\n1,\"Hello, world\"\n2,\xe4\xb8\x96\xe7\x95\x8c\n").unwrap();
        assert_eq!(texts(&d), ["Hello, world", "世界"]);
        assert_eq!(d[1].source, "d.csv row 3");
        assert_eq!(texts(&split_document("e.csv", b"sentence\nOne\nTwo\n").unwrap()), ["One", "Two"]);
        let e = split_document("f.csv", b"a,b\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("no column named \"text\"") && e.contains("[\"a\", \"b\"]"), "{e}");
        let e = split_document("g.csv", b"text,b\n1,2\n3\n").unwrap_err().to_string();
        assert!(e.contains("row 3"), "{e}");
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_reason() {
        let e = split_document("x.pdf", b"%PDF").unwrap_err().to_string();
        assert!(e.contains("cannot split .pdf"), "{e}");
        let e = split_document("x.txt", b"ok \xff\xfe").unwrap_err().to_string();
        assert!(e.contains("not UTF-8") && e.contains("offset 3"), "{e}");
        let e = split_document("x.txt", b" \n\n \t").unwrap_err().to_string();
        assert!(e.contains("no text"), "{e}");
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(split_document("big.txt", &big).unwrap_err().to_string().contains("MiB limit"));
        // A byte-order mark is not text.
        assert_eq!(texts(&split_document("bom.txt", "\u{feff}hi".as_bytes()).unwrap()), ["hi"]);
    }
}
