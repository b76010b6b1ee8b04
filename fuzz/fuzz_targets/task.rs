//! Benchmark tasks: a zip of task folders, and one task's files given directly (task.json
//! first, then every data file any task type reads, split at NUL bytes).
#![no_main]
use std::collections::BTreeMap;

use conan_eval::Task;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = [
    "task.json",
    "corpus.jsonl",
    "queries.jsonl",
    "qrels.tsv",
    "pairs.jsonl",
    "train.jsonl",
    "test.jsonl",
    "data.jsonl",
];

fuzz_target!(|data: &[u8]| {
    let _ = Task::from_zip(data);
    let files: BTreeMap<String, Vec<u8>> =
        NAMES.iter().map(|n| n.to_string()).zip(data.split(|&b| b == 0).map(<[u8]>::to_vec)).collect();
    if let Ok(task) = Task::from_files(&files) {
        let _ = task.texts();
    }
});
