//! A user's upload (the first byte picks the file type) and the bundled corpus format.
#![no_main]
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["notes.txt", "notes.md", "rows.jsonl", "rows.csv", "scan.pdf", "noext"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let _ = conan_index::split_document(NAMES[pick as usize % NAMES.len()], rest);
    let _ = conan_index::parse_corpus(rest);
});
