//! Model packs: conversion, accuracy of q8 / q4 against f32 on dev sentences, sharding,
//! and refusal of damaged packs (naming the shard, loading nothing).

use std::path::{Path, PathBuf};
use std::process::Command;

use conan_model::burn::prelude::Device;
use conan_model::pack::{Encoding, PackOptions, write_pack};
use conan_model::{DirSource, Embedder, ModelFiles, host_tensors, read_files};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Result<ModelFiles, String> {
    pollster::block_on(read_files(&DirSource(dir.to_path_buf()))).map_err(|e| e.to_string())
}

fn tiny() -> ModelFiles {
    files(&root().join("static/models/tiny")).unwrap()
}

fn convert(scheme: Encoding, out: &Path) {
    let f = tiny();
    write_pack(&f.config, &host_tensors(&f).unwrap(), &f.tokenizer_json, PackOptions::new(scheme), out).unwrap();
}

/// 200 Chinese and 200 English dev sentences from the bundled bitext slice.
fn dev_sentences() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("static/tasks/tatoeba-zh2en-bitext/pairs.jsonl")).unwrap();
    let rows: Vec<Value> = text.lines().take(200).map(|l| serde_json::from_str(l).unwrap()).collect();
    rows.iter()
        .flat_map(|r| [r["sentence1"].as_str().unwrap().to_string(), r["sentence2"].as_str().unwrap().to_string()])
        .collect()
}

fn embed(f: &ModelFiles, texts: &[String]) -> Vec<Vec<f32>> {
    let e = Embedder::new(f, &Device::flex()).unwrap();
    pollster::block_on(e.embed(texts, None)).unwrap().vectors
}

fn mean_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let cos: Vec<f64> = a.iter().zip(b).map(|(x, y)| x.iter().zip(y).map(|(p, q)| f64::from(p * q)).sum()).collect();
    cos.iter().sum::<f64>() / cos.len() as f64
}

#[test]
fn quantized_packs_stay_close_to_f32() {
    let texts = dev_sentences();
    assert_eq!(texts.len(), 400);
    let reference = embed(&tiny(), &texts);
    let dir = tempfile::tempdir().unwrap();
    for (scheme, bound) in [(Encoding::F32, 1.0 - 1e-7), (Encoding::F16, 0.9999), (Encoding::Q8, 0.999), (Encoding::Q4, 0.99)] {
        let out = dir.path().join(format!("{scheme:?}"));
        convert(scheme, &out);
        let pack = files(&out).unwrap();
        assert!(pack.pack.is_some());
        let cos = mean_cosine(&embed(&pack, &texts), &reference);
        let bytes = pack.pack.as_ref().unwrap().total_bytes();
        println!("{scheme:?}: mean cosine vs f32 over {} dev sentences = {cos:.6}, {bytes} bytes", texts.len());
        assert!(cos >= bound, "{scheme:?}: {cos} < {bound}");
    }
}

#[test]
fn split_shards_load_the_same_tensors() {
    let f = tiny();
    let tensors = host_tensors(&f).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = (dir.path().join("one"), dir.path().join("many"));
    write_pack(&f.config, &tensors, &f.tokenizer_json, PackOptions::new(Encoding::Q8), &one).unwrap();
    let m = write_pack(&f.config, &tensors, &f.tokenizer_json, PackOptions { shard_limit: 10_000, ..PackOptions::new(Encoding::Q8) }, &many).unwrap();
    assert!(m.shards.len() > 5, "{} shards", m.shards.len());
    assert!(m.tensors["embed_tokens.weight"].parts.len() > 1, "the embedding table is split by rows");
    assert!(m.shards.iter().all(|s| s.bytes < 12_000));
    let texts = vec!["分片".to_string(), "shards".to_string()];
    assert_eq!(embed(&files(&one).unwrap(), &texts), embed(&files(&many).unwrap(), &texts));
}

#[test]
fn damaged_packs_are_refused_naming_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let f = tiny();
    let pack = dir.path().join("p");
    let m = write_pack(&f.config, &host_tensors(&f).unwrap(), &f.tokenizer_json, PackOptions { shard_limit: 20_000, ..PackOptions::new(Encoding::Q4) }, &pack).unwrap();
    let shard = pack.join(&m.shards[1].file);
    let original = std::fs::read(&shard).unwrap();

    std::fs::write(&shard, &original[..original.len() - 10]).unwrap();
    let err = files(&pack).err().unwrap();
    assert!(err.contains("shard-00001.safetensors") && err.contains("truncated"), "{err}");

    let mut flipped = original.clone();
    *flipped.last_mut().unwrap() ^= 1;
    std::fs::write(&shard, &flipped).unwrap();
    let err = files(&pack).err().unwrap();
    assert!(err.contains("shard-00001.safetensors fails its SHA-256 check"), "{err}");

    std::fs::remove_file(&shard).unwrap();
    let err = files(&pack).err().unwrap();
    assert!(err.contains("shard shard-00001.safetensors is missing"), "{err}");

    std::fs::write(&shard, &original).unwrap();
    std::fs::write(pack.join("manifest.json"), "{\"format\": \"conan-pack\"}").unwrap();
    let err = files(&pack).err().unwrap();
    assert!(err.contains("manifest.json"), "{err}");
}

#[test]
fn cli_converts_and_every_command_takes_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("q8");
    let conan = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_conan")).args(args).current_dir(root()).output().unwrap();
    let out = conan(&["convert", "--from", "static/models/tiny", "--quant", "q8", "--out", pack.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let embed = conan(&["embed", "--model", pack.to_str().unwrap(), "你好"]);
    assert!(embed.status.success(), "{}", String::from_utf8_lossy(&embed.stderr));
    let info: Value = serde_json::from_slice(&conan(&["info", "--model", pack.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(info["pack"]["quantization"]["scheme"], "q8");
    assert!(info["bytes_per_dtype"]["I8"].as_u64().unwrap() > 0);
    let eval = conan(&["eval", "--model", pack.to_str().unwrap(), "--task", "static/tasks/tatoeba-zh-en-pairs"]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let bad = conan(&["convert", "--from", "static/models/tiny", "--quant", "q3", "--out", pack.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--quant \"q3\""));
}

#[test]
fn q4_with_a_q4_table_is_available_but_less_accurate() {
    let texts = dev_sentences();
    let reference = embed(&tiny(), &texts);
    let f = tiny();
    let dir = tempfile::tempdir().unwrap();
    let opts = PackOptions { table: Encoding::Q4, ..PackOptions::new(Encoding::Q4) };
    let m = write_pack(&f.config, &host_tensors(&f).unwrap(), &f.tokenizer_json, opts, dir.path()).unwrap();
    assert_eq!(m.tensors["embed_tokens.weight"].encoding, Encoding::Q4);
    let cos = mean_cosine(&embed(&files(dir.path()).unwrap(), &texts), &reference);
    println!("Q4 with a q4 table: mean cosine vs f32 = {cos:.6}");
    // Measured 0.9874 on the random tiny model: why q4 packs keep the table at q8.
    assert!(cos > 0.98 && cos < 0.99, "{cos}");
}
