//! Model packs: conversion, accuracy of q8 / q4 against f32 on dev sentences, sharding,
//! and refusal of damaged packs (naming the shard, loading nothing).

use std::path::{Path, PathBuf};
use std::process::Command;

use conan_model::burn::prelude::Device;
use conan_model::pack::{Encoding, PackOptions, write_pack};
use conan_model::{DirSource, Embedder, LoadOptions, ModelFiles, host_tensors, read_files};
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
    for (scheme, bound) in
        [(Encoding::F32, 1.0 - 1e-7), (Encoding::F16, 0.9999), (Encoding::Q8, 0.999), (Encoding::Q4, 0.99)]
    {
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
    let m = write_pack(
        &f.config,
        &tensors,
        &f.tokenizer_json,
        PackOptions { shard_limit: 10_000, ..PackOptions::new(Encoding::Q8) },
        &many,
    )
    .unwrap();
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
    let m = write_pack(
        &f.config,
        &host_tensors(&f).unwrap(),
        &f.tokenizer_json,
        PackOptions { shard_limit: 20_000, ..PackOptions::new(Encoding::Q4) },
        &pack,
    )
    .unwrap();
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

    // Larger than the manifest says: refused from its size, before a byte is read (a
    // 2 GiB shard where the manifest says 100 KB used to be read whole first).
    let mut grown = original.clone();
    grown.extend(vec![0u8; 1 << 20]);
    std::fs::write(&shard, &grown).unwrap();
    let err = files(&pack).err().unwrap();
    assert!(
        err.contains(&format!(
            "shard-00001.safetensors: {} bytes, more than the {} bytes allowed",
            grown.len(),
            original.len()
        )),
        "{err}"
    );

    // A file that is not a regular file (here a symlink to an endless device) is not read.
    std::fs::remove_file(&shard).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &shard).unwrap();
    let err = files(&pack).err().unwrap();
    assert!(err.contains("shard-00001.safetensors: not a regular file"), "{err}");

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
    let conan =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_conan")).args(args).current_dir(root()).output().unwrap();
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

/// On wgpu (Vulkan; Mesa lavapipe here) conan-mini's q8 and q4 packs stay quantized in device
/// memory and are multiplied by directly (burn's block-quantized matmul): their vectors equal
/// the same pack dequantized on the CPU, and the device holds a fraction of the f32 bytes.
#[test]
fn quantized_weights_stay_quantized_on_wgpu() {
    let device = Device::wgpu_options().init().expect("a wgpu adapter (Mesa lavapipe on machines without a GPU)");
    let texts: Vec<String> = dev_sentences().into_iter().take(40).collect();
    let in_use = || device.memory_pool_usage().map(|u| u.bytes_in_use).unwrap_or(0);
    for name in ["q8", "q4"] {
        let pack = files(&root().join("static/models/conan-mini").join(name)).unwrap();
        let cpu = embed(&pack, &texts);
        let before = in_use();
        let f32_weights = Embedder::new(&pack, &device).unwrap();
        let f32_bytes = in_use() - before;
        drop(f32_weights);
        device.memory_cleanup();
        let before = in_use();
        let quantized = Embedder::load(
            &pack,
            &device,
            LoadOptions {
                quantized_matmul: true,
                max_table_bytes: None,
                q4_as_q8: false,
                host_gemm: None,
                seq_multiple: 1,
            },
        )
        .unwrap();
        let q_bytes = in_use() - before;
        let gpu = pollster::block_on(quantized.embed(&texts, None)).unwrap().vectors;
        let worst = cpu
            .iter()
            .zip(&gpu)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>())
            .fold(1.0, f64::min);
        println!(
            "{name}: weights on the device {q_bytes} bytes quantized vs {f32_bytes} as f32; lowest cosine to the CPU over {} sentences {worst:.7}",
            texts.len()
        );
        assert!(worst >= 0.9999, "{name}: cosine {worst}");
        // The token table is gathered, so it is f32 either way; the matrices shrink to their
        // codes plus one f32 scale per block of 32 values.
        let c = &pack.config;
        let table = c.vocab_size * c.hidden_size;
        let matrices: usize = c
            .tensor_shapes()
            .into_iter()
            .filter(|(n, s)| s.len() == 2 && n != "embed_tokens.weight")
            .map(|(_, s)| s[0] * s[1])
            .sum();
        let bits = if name == "q4" { 4 } else { 8 };
        let expect_saved = matrices * 4 - (matrices * bits / 8 + matrices / 32 * 4);
        let saved = f32_bytes - q_bytes;
        println!(
            "{name}: {table} table values, {matrices} matrix values; saved {saved} bytes, expected {expect_saved}"
        );
        assert!(
            saved as f64 >= 0.95 * expect_saved as f64,
            "{name}: saved {saved} of the expected {expect_saved} bytes"
        );
        drop(quantized);
        device.memory_cleanup();

        // The token table kept on the host and gathered there (what a browser does with a table
        // larger than one GPU buffer): the same vectors, and the table's bytes leave the device.
        let before = in_use();
        let hosted = Embedder::load(
            &pack,
            &device,
            LoadOptions {
                quantized_matmul: true,
                max_table_bytes: Some(0),
                q4_as_q8: false,
                host_gemm: None,
                seq_multiple: 1,
            },
        )
        .unwrap();
        let hosted_bytes = in_use() - before;
        let table_bytes = hosted.host_table.as_ref().map(|t| t.bytes()).unwrap();
        let v = pollster::block_on(hosted.embed(&texts, None)).unwrap().vectors;
        let diff =
            v.iter().zip(&gpu).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f32::max);
        println!(
            "{name}: table on the host ({table_bytes} bytes as stored): {hosted_bytes} device bytes, max |Δ| to the device table {diff:.2e}"
        );
        assert!(diff <= 1e-5, "{name}: {diff}");
        assert_eq!(hosted_bytes as usize, q_bytes as usize - table * 4, "{name}");
        let cpu_hosted = Embedder::load(
            &pack,
            &Device::flex(),
            LoadOptions {
                quantized_matmul: false,
                max_table_bytes: Some(0),
                q4_as_q8: false,
                host_gemm: None,
                seq_multiple: 1,
            },
        )
        .unwrap();
        let v = pollster::block_on(cpu_hosted.embed(&texts, None)).unwrap().vectors;
        let diff =
            v.iter().zip(&cpu).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f32::max);
        assert!(diff <= 1e-6, "{name} on the CPU with the table on the host: {diff}");
    }
}

/// burn's q4 matmul needs more workgroup memory than some adapters give (an NVIDIA H200
/// over Vulkan: 73,728 bytes asked, 49,152 given, a panic inside burn; BENCHMARKS.md). The
/// same shortfall made here: a lavapipe device asked for only 16,384 bytes of workgroup
/// memory. Loaded as q4 there, the first embedding panics inside burn ("kernel requests 20480
/// bytes, hardware allows 16384", seen 2026-11-28). The loader's check sees the shortfall,
/// and the q4 pack goes to the device as q8 (the same values), giving the CPU's vectors.
#[test]
fn q4_pack_on_an_adapter_short_of_workgroup_memory_loads_as_q8() {
    use conan_model::burn::tensor::wgpu::{WgpuSetup, wgpu};
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("a wgpu adapter (Mesa lavapipe on machines without a GPU)");
    // 16,384 bytes, or less where the adapter's planes are narrow enough for the q4 kernel
    // to fit in that (lavapipe reports 4- or 8-wide subgroups, by the host's vector units).
    let plane = adapter.get_info().subgroup_min_size;
    let need = (0..=1u64 << 17).find(|&b| conan_model::q4_matmul_fits(plane, b)).unwrap();
    let short = 16_384.min(need - 1) as u32;
    let limits = wgpu::Limits { max_compute_workgroup_storage_size: short, ..adapter.limits() };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: limits,
        ..Default::default()
    }))
    .unwrap();
    let backend = adapter.get_info().backend;
    let setup = WgpuSetup { instance, adapter, device, queue, backend };
    let fits = conan_model::q4_matmul_fits_on(&setup);
    println!(
        "adapter {:?}: subgroups {plane} wide, {short} bytes of workgroup memory: q4 matmul fits {fits}",
        setup.adapter.get_info().name
    );
    assert!(!fits, "lavapipe's {plane}-wide subgroups need more than {short} bytes for the q4 kernel");
    let device = Device::wgpu_options().setup(setup).init().unwrap();

    let texts: Vec<String> = dev_sentences().into_iter().take(20).collect();
    let pack = files(&root().join("static/models/conan-mini/q4")).unwrap();
    let cpu = embed(&pack, &texts);
    let options =
        LoadOptions { quantized_matmul: true, max_table_bytes: None, q4_as_q8: true, host_gemm: None, seq_multiple: 1 };
    let gpu = Embedder::load(&pack, &device, options).unwrap();
    let v = pollster::block_on(gpu.embed(&texts, None)).unwrap().vectors;
    let worst = cpu
        .iter()
        .zip(&v)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>())
        .fold(1.0, f64::min);
    println!("q4 as q8 on the short adapter: lowest cosine to the CPU over {} sentences {worst:.7}", texts.len());
    assert!(worst >= 0.9999, "{worst}");
}

/// A config with a long context must not let one text build an attention matrix no machine
/// holds: over the activation budget a batch runs in smaller passes (same vectors), and a
/// text that needs more alone is refused with the numbers.
#[test]
fn long_contexts_stay_within_the_activation_budget() {
    let mut f = tiny();
    f.config.max_position_embeddings = 32_768;
    let mut e = Embedder::new(&f, &Device::flex()).unwrap();
    let long = "a".repeat(30_000);
    let err = pollster::block_on(e.embed(&["fine", long.as_str()], None)).unwrap_err().to_string();
    assert!(err.contains("text 1: 300") && err.contains("tokens need about 28."), "{err}");
    assert!(err.contains("[4, 300") && err.contains("GB budget; cut the text"), "{err}");

    let mid = "b".repeat(600);
    let texts = ["short", mid.as_str(), "a middling text"];
    let whole = pollster::block_on(e.embed(&texts, None)).unwrap();
    // Room for one 600-token text per pass, not three.
    e.activation_budget = f.config.activation_bytes(1, 610) as u64;
    assert!(e.rows_per_pass(601) < 3);
    let split = pollster::block_on(e.embed(&texts, None)).unwrap();
    assert_eq!(whole.tokens, split.tokens);
    for (a, b) in whole.vectors.iter().zip(&split.vectors) {
        let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(max < 1e-4, "split passes changed a vector by {max}");
    }
}
