//! Every malformed input in tests/malformed/ (written by tools/make_malformed.py) through
//! the loader a user's file would meet: model folders, packs and zips as the model manager
//! loads them (read, verify, decode, build), benchmark task folders, and search uploads.
//! Each must fail with its specific message, and none may panic. tests/browser.rs runs the
//! same cases through the worker's wasm entry points.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use conan_model::burn::prelude::Device;
use conan_model::{Embedder, MemorySource, read_files};
use serde_json::Value;
use support::{case_files, root};

fn load_model(src: MemorySource) -> Result<(), String> {
    let files = pollster::block_on(read_files(&src)).map_err(|e| e.to_string())?;
    Embedder::new(&files, &Device::flex()).map(|_| ()).map_err(|e| e.to_string())
}

/// The error `name` gives natively, or `Ok` if (wrongly) accepted.
fn run(dir: &Path, name: &str, spec: &Value) -> Result<(), String> {
    let kind = name.split_once('/').unwrap().0;
    let files = case_files(dir, name, spec);
    match kind {
        "model" | "pack" => load_model(MemorySource::new(name, files)),
        // As uploaded in the browser: the folder's files by name.
        "task" => conan_eval::Task::from_files(&files).map(|_| ()).map_err(|e| e.to_string()),
        // A zip or an upload is one file.
        "zip" => {
            let (file, bytes) = files.into_iter().next().expect("one file");
            load_model(MemorySource::from_zip(file, &bytes).map_err(|e| e.to_string())?)
        }
        "document" => {
            let (file, bytes) = files.into_iter().next().expect("one file");
            conan_index::split_document(&file, &bytes).map(|_| ()).map_err(|e| e.to_string())
        }
        _ => panic!("unknown kind of case {name}"),
    }
}

#[test]
fn every_malformed_input_gives_its_own_error_and_none_panics() {
    let dir = root().join("tests/malformed");
    let cases: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 200, "{} cases", cases.len());

    // Every case on disk is listed, and every listed case is on disk (or removes a file).
    for kind in ["model", "pack", "zip", "task", "document"] {
        for e in std::fs::read_dir(dir.join(kind)).unwrap() {
            let name = format!("{kind}/{}", e.unwrap().file_name().to_string_lossy().trim_end_matches(".zip"));
            assert!(cases.contains_key(&name), "{name} is on disk but not in cases.json");
        }
    }

    let mut failures = Vec::new();
    let mut report = String::new();
    for (name, spec) in &cases {
        let expect = spec["expect"].as_str().unwrap();
        let outcome = std::panic::catch_unwind(|| run(&dir, name, spec));
        let line = match outcome {
            Err(_) => format!("{name}: PANICKED"),
            Ok(Ok(())) => format!("{name}: ACCEPTED"),
            Ok(Err(message)) if message.contains(expect) => {
                report.push_str(&format!("{name}\t{message}\n"));
                continue;
            }
            Ok(Err(message)) => format!("{name}: expected {expect:?} in {message:?}"),
        };
        report.push_str(&format!("{line}\n"));
        failures.push(line);
    }
    // Every message, for review (RELIABILITY.md quotes some).
    let out = root().join("target/malformed-native.tsv");
    std::fs::write(&out, &report).unwrap();
    println!("{} cases, {} as expected; messages in {}", cases.len(), cases.len() - failures.len(), out.display());
    assert!(failures.is_empty(), "{} of {} cases went wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
