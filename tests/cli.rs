//! The `conan` command as other checks use it: JSON contract, synth, info, and one clear
//! line on stderr for every bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

mod support;
use support::bitext_sentences;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn conan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conan")).args(args).current_dir(root()).output().expect("conan runs")
}

fn ok_json(args: &[&str]) -> Value {
    let out = conan(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// A failure must be exit code 1 with one `error:` line and no panic.
fn fails_with(args: &[&str], needle: &str) {
    let out = conan(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {stderr}");
    assert!(stderr.starts_with("error: ") && stderr.trim_end().lines().count() == 1, "{args:?}: {stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("internal error"), "{stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr:?} should mention {needle:?}");
}

/// Start `conan ARGS…` and kill it as soon as `done` holds (polled every 5 ms); a run that
/// ends first, or takes five minutes, fails the test.
fn kill_when<S: AsRef<std::ffi::OsStr>>(args: &[S], done: impl Fn() -> bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conan"))
        .args(args)
        .current_dir(root())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        assert!(std::time::Instant::now() < deadline, "what was awaited did not happen in 5 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn vectors(doc: &Value) -> Vec<Vec<f32>> {
    serde_json::from_value(doc["embeddings"].clone()).unwrap()
}

#[test]
fn embed_prints_the_json_contract() {
    let doc = ok_json(&["embed", "--model", "static/models/tiny", "hello", "你好"]);
    assert_eq!(doc["backend"], "cpu");
    assert_eq!(doc["dims"], 64);
    assert_eq!(doc["model"], "static/models/tiny");
    let v = vectors(&doc);
    assert_eq!(v.len(), 2);
    for x in &v {
        assert_eq!(x.len(), 64);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_ne!(v[0], v[1]);
    let short = ok_json(&["embed", "--model", "static/models/tiny", "--dims", "32", "hello"]);
    assert_eq!(short["dims"], 32);
    assert_eq!(vectors(&short)[0].len(), 32);
}

#[test]
fn input_file_gives_one_vector_per_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    std::fs::write(&file, "first line\n第二行\nthird\n").unwrap();
    let from_file = ok_json(&["embed", "--model", "static/models/tiny", "--input", file.to_str().unwrap()]);
    let from_args = ok_json(&["embed", "--model", "static/models/tiny", "first line", "第二行", "third"]);
    assert_eq!(vectors(&from_file).len(), 3);
    assert_eq!(from_file["embeddings"], from_args["embeddings"]);
}

#[test]
fn synth_dry_run_reports_the_conan_v2_parameter_count() {
    let out = conan(&["synth", "--preset", "conan-v2", "--dry-run"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("parameters: 1499205120"), "{stdout}");
    assert!(stdout.contains("\"hidden_size\": 3584") && stdout.contains("\"synthetic\": true"));
}

#[test]
fn synth_is_seeded_and_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let status =
            conan(&["synth", "--preset", "tiny", "--seed", seed, "--layers", "1", "--out", out.to_str().unwrap()]);
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        out
    };
    let (a, b, c) = (write("a", "7"), write("b", "7"), write("c", "8"));
    let weights = |p: &Path| std::fs::read(p.join("model.safetensors")).unwrap();
    assert_eq!(weights(&a), weights(&b));
    assert_ne!(weights(&a), weights(&c));
    let doc = ok_json(&["embed", "--model", a.to_str().unwrap(), "synthetic"]);
    assert_eq!(vectors(&doc)[0].len(), 64);
    let info = ok_json(&["info", "--model", a.to_str().unwrap()]);
    assert_eq!(info["config"]["synthetic"], true);
    assert_eq!(info["config"]["num_hidden_layers"], 1);
}

#[test]
fn info_reports_config_params_and_bytes() {
    let info = ok_json(&["info", "--model", "static/models/tiny"]);
    let params = info["parameters"].as_u64().unwrap();
    assert_eq!(info["bytes_per_dtype"]["F32"].as_u64().unwrap(), params * 4);
    assert_eq!(info["config"]["model_type"], "conan");
    assert_eq!(info["tokenizer_vocab"], 256);
    let qwen2 = ok_json(&["info", "--model", "tests/fixtures/tiny-qwen2"]);
    assert!(qwen2["bytes_per_dtype"]["BF16"].as_u64().unwrap() > 0);
}

#[test]
fn bad_input_gets_one_clear_line() {
    fails_with(&["embed", "--model", "no/such/dir", "x"], "config.json not found");
    fails_with(&["embed", "--model", "static/models/tiny"], "no texts given");
    fails_with(&["embed", "--model", "static/models/tiny", ""], "text 0 is empty");
    fails_with(&["embed", "--model", "static/models/tiny", "--dims", "0", "x"], "--dims 0");
    fails_with(&["embed", "--model", "static/models/tiny", "--dims", "65", "x"], "hidden size 64");
    fails_with(&["embed", "--model", "static/models/tiny", "--input", "no/such/file", "x"], "no/such/file");
    fails_with(&["info", "--model", "no/such/dir"], "not found");
    fails_with(&["synth", "--preset", "tiny", "--dtype", "f8", "--out", "/tmp/x"], "--dtype");
    // A batch no machine holds is refused with its size before anything is allocated.
    fails_with(&["bench", "--model", "static/models/tiny", "--batch", "100000000", "--seq", "32"], "GB of activations");

    let dir = tempfile::tempdir().unwrap();
    let copy_of_tiny = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::copy(root().join("static/models/tiny").join(f), d.join(f)).unwrap();
        }
        d
    };
    let d = copy_of_tiny("config");
    std::fs::write(d.join("config.json"), "{ not json").unwrap();
    fails_with(&["embed", "--model", d.to_str().unwrap(), "x"], "config.json");
    let d = copy_of_tiny("tokenizer");
    std::fs::write(d.join("tokenizer.json"), "[]").unwrap();
    fails_with(&["embed", "--model", d.to_str().unwrap(), "x"], "tokenizer.json");
    let d = copy_of_tiny("weights");
    std::fs::write(d.join("model.safetensors"), [1u8, 2, 3]).unwrap();
    fails_with(&["embed", "--model", d.to_str().unwrap(), "x"], "not a valid safetensors file");
    let d = copy_of_tiny("utf8");
    std::fs::write(d.join("texts"), [0xffu8, 0xfe, b'\n']).unwrap();
    fails_with(&["embed", "--model", "static/models/tiny", "--input", d.join("texts").to_str().unwrap()], "not UTF-8");
    // A file with no line break is not read whole: its first line is cut at 64 MiB.
    std::fs::write(d.join("one-line"), vec![b'a'; (64 << 20) + 1]).unwrap();
    fails_with(
        &["embed", "--model", "static/models/tiny", "--input", d.join("one-line").to_str().unwrap()],
        "line 1 is longer than 64 MiB",
    );
}

/// `conan embed --input -` writes vectors while its input is still open (bounded memory:
/// it holds one block of texts), and the document it completes is the usual JSON contract.
#[test]
fn embed_streams_its_input() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_conan"))
        .args(["embed", "--model", "static/models/tiny", "--input", "-"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    let _ = tx.send(all.len());
                }
            }
        }
        all
    });
    for i in 0..300 {
        writeln!(stdin, "text number {i}").unwrap();
    }
    stdin.flush().unwrap();
    // The first block (256 texts) is answered while stdin stays open.
    let first = rx.recv_timeout(Duration::from_secs(300));
    assert!(first.is_ok(), "nothing was written before the input ended");
    for i in 300..310 {
        writeln!(stdin, "text number {i}").unwrap();
    }
    drop(stdin);
    let out = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["dims"], 64);
    let vectors = vectors(&doc);
    assert_eq!(vectors.len(), 310);
    let direct = vectors_of(&["text number 309"]);
    let cos: f32 = direct[0].iter().zip(&vectors[309]).map(|(a, b)| a * b).sum();
    assert!(cos > 0.99999, "line 310 got another text's vector ({cos})");
}

/// The CPU backend splits its matmuls over threads (rayon): the vectors must not depend on
/// how many, on 200 dev sentences with conan-mini's q8 pack.
#[test]
fn vectors_are_the_same_on_one_thread_and_on_several() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dev.txt");
    std::fs::write(&file, bitext_sentences("tatoeba-zh-en-pairs")[..200].join("\n")).unwrap();
    let run = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_conan"))
            .args(["embed", "--model", "static/models/conan-mini/q8", "--input", file.to_str().unwrap()])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        vectors(&serde_json::from_slice(&out.stdout).unwrap())
    };
    let (one, four) = (run("1"), run("4"));
    assert_eq!(one.len(), 200);
    let worst = one.iter().flatten().zip(four.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!("largest difference between 1 and 4 threads: {worst:e}");
    assert!(worst <= 1e-5, "{worst}");
}

fn vectors_of(texts: &[&str]) -> Vec<Vec<f32>> {
    let mut args = vec!["embed", "--model", "static/models/tiny"];
    args.extend(texts);
    vectors(&ok_json(&args))
}

/// Weights that are finite but overflow f32 used to print NaN vectors as JSON `null` with
/// exit code 0: now the run fails and names the first step whose values stopped being finite.
#[test]
fn overflowing_weights_are_an_error_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    // Every element set to 3e38: finite (f32's largest is 3.4e38), so the loader's check
    // passes, but the first sum or product past that tensor overflows.
    for (tensor, place) in [
        ("model.norm.weight", "the final norm"),
        ("model.layers.1.mlp.down_proj.weight", "layer 1's MLP"),
        ("model.layers.0.self_attn.o_proj.weight", "layer 0's attention"),
    ] {
        let d = dir.path().join(tensor);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(root().join("static/models/tiny").join(f), d.join(f)).unwrap();
        }
        let bytes = std::fs::read(root().join("static/models/tiny/model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let mut data = view.data().to_vec();
                if name == tensor {
                    for chunk in data.chunks_mut(4) {
                        chunk.copy_from_slice(&3e38f32.to_le_bytes());
                    }
                }
                (name, data, view.shape().to_vec())
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, d, s)| {
                (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap())
            })
            .collect();
        safetensors::serialize_to_file(views, None, &d.join("model.safetensors")).unwrap();
        let out = conan(&["embed", "--model", d.to_str().unwrap(), "a short text", "another text"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tensor}: NaN vectors were printed: {}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains(&format!("values stopped being finite in {place}")), "{tensor}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn wgpu_backend_matches_cpu() {
    // Native wgpu (Vulkan; Mesa lavapipe on machines without a GPU).
    let texts = ["hello", "你好，世界", "mixed 中英 text"];
    let mut args = vec!["embed", "--model", "static/models/tiny"];
    args.extend(texts);
    let cpu = vectors(&ok_json(&args));
    args.extend(["--backend", "wgpu"]);
    let gpu_doc = ok_json(&args);
    assert_eq!(gpu_doc["backend"], "wgpu");
    let gpu = vectors(&gpu_doc);
    for (a, b) in cpu.iter().zip(&gpu) {
        let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(max <= 1e-4, "wgpu vs cpu: {max}");
    }
}

#[test]
fn eval_runs_slices_and_writes_mteb_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = conan(&[
        "eval",
        "--model",
        "static/models/tiny",
        "--task",
        "static/tasks/tatoeba-zh2en-bitext",
        "--dims",
        "32",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tatoeba-zh2en-bitext"));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let t = &r[0];
    assert_eq!(t["task_name"], "tatoeba-zh2en-bitext");
    assert_eq!(t["dims"], 32);
    assert_eq!(t["dataset_revision"].as_str().unwrap().len(), 16);
    let s = &t["scores"]["test"][0];
    assert_eq!(s["main_score"], s["f1"]);
    assert_eq!(s["languages"], serde_json::json!(["cmn-Hans", "eng-Latn"]));
}

/// Classification cost grows with the square of the label count; a task past the
/// evaluator's budget is refused at once with its estimate (1,000 labels once ran for
/// minutes), and a small one still runs.
#[test]
fn classification_with_too_many_labels_is_refused_with_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let write_task = |labels: usize| {
        let task = dir.path().join(format!("labels-{labels}"));
        std::fs::create_dir_all(&task).unwrap();
        let meta = serde_json::json!({"name": format!("labels-{labels}"), "type": "classification",
            "languages": ["eng-Latn"], "description": "synthetic", "license": "CC0", "source": "synthetic"});
        std::fs::write(task.join("task.json"), meta.to_string()).unwrap();
        let mut embeddings = String::new();
        for (split, per) in [("train", 10), ("test", 2)] {
            let mut rows = String::new();
            for label in 0..labels {
                for k in 0..per {
                    let text = format!("{split} {label} {k}");
                    rows += &format!("{}\n", serde_json::json!({"text": text, "label": format!("L{label}")}));
                    // Each label its own direction (a one-hot of 64 dims, wrapped), plus a
                    // per-text offset.
                    let mut v = vec![0.01 * k as f32; 64];
                    v[label % 64] += 1.0;
                    embeddings += &format!("{}\n", serde_json::json!({"text": text, "embedding": v}));
                }
            }
            std::fs::write(task.join(format!("{split}.jsonl")), rows).unwrap();
        }
        std::fs::write(task.join("emb.jsonl"), embeddings).unwrap();
        task
    };
    let big = write_task(2000);
    let out =
        conan(&["eval", "--embeddings", big.join("emb.jsonl").to_str().unwrap(), "--task", big.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("2000 labels: 10 experiments on 16000 training rows of 64 dims could cost"), "{err}");
    let small = write_task(20);
    let out =
        conan(&["eval", "--embeddings", small.join("emb.jsonl").to_str().unwrap(), "--task", small.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue #22, natively: `conan index build` splits and embeds documents as the Search page
/// does, `conan search` finds the paragraph whose one sentence a Chinese query translates,
/// and names that sentence.
#[test]
fn index_build_and_search_find_the_sentence_inside_a_document() {
    let pairs = std::fs::read_to_string(root().join("static/tasks/tatoeba-zh2en-bitext/pairs.jsonl")).unwrap();
    let pairs: Vec<(String, String)> = pairs
        .lines()
        .take(48)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["sentence1"].as_str().unwrap().to_string(), v["sentence2"].as_str().unwrap().to_string())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("notes.md");
    let paragraphs: Vec<String> =
        pairs.chunks(4).map(|c| c.iter().map(|p| p.1.as_str()).collect::<Vec<_>>().join(" ")).collect();
    std::fs::write(&doc, paragraphs.join("\n\n")).unwrap();
    let index = dir.path().join("index");
    let model = "static/models/conan-mini/q8";
    let out =
        conan(&["index", "build", "--model", model, "--docs", doc.to_str().unwrap(), "--out", index.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The third sentence of each paragraph, asked in Chinese.
    let queries: Vec<&str> = (0..12).map(|p| pairs[p * 4 + 2].0.as_str()).collect();
    let mut args = vec!["search", "--index", index.to_str().unwrap(), "--top", "3", "--json"];
    args.extend(&queries);
    let answers = ok_json(&args);
    let mut found = 0;
    for (p, answer) in answers.as_array().unwrap().iter().enumerate() {
        let top = &answer["hits"][0];
        if top["source"] == format!("notes.md ¶{}", p + 1) {
            found += 1;
            if let Some(sentence) = top["sentence"].as_object() {
                assert_eq!(sentence["text"], pairs[p * 4 + 2].1.as_str(), "{answer}");
            }
        }
    }
    println!("conan search: {found} of 12 queries found their paragraph first");
    assert!(found >= 10, "{answers}");

    fails_with(
        &["index", "build", "--model", model, "--docs", doc.to_str().unwrap(), "--out", index.to_str().unwrap()],
        "exists and is not empty",
    );
    fails_with(
        &["search", "--index", index.to_str().unwrap(), "--model", "static/models/tiny", "a query"],
        "is not the model this index was built with",
    );
}

/// An interrupted `conan index build` carries on where it stopped: killed after its first
/// block of 1,024 vectors was written, the same command finishes the rest (here on the wgpu
/// backend), and the index equals one built without a stop on the CPU. Another build into
/// that folder is refused meanwhile.
#[test]
fn an_interrupted_index_build_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // 2,000 one-sentence paragraphs: Chinese and English dev sentences, numbered.
    let paragraphs = [bitext_sentences("tatoeba-zh2en-bitext"), bitext_sentences("hsk-zh2en-bitext")].concat();
    let paragraphs: Vec<String> =
        paragraphs.iter().cycle().take(2000).enumerate().map(|(i, p)| format!("{i}: {p}")).collect();
    let doc = dir.path().join("many.txt");
    std::fs::write(&doc, paragraphs.join("\n\n")).unwrap();
    let (index, whole) = (dir.path().join("index"), dir.path().join("whole"));
    let build = |out: &Path, doc: &Path| {
        vec![
            "index",
            "build",
            "--model",
            "static/models/tiny",
            "--docs",
            doc.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };

    // The tiny model's vectors are 64 floats.
    let part = index.join(".partial/vectors.f32");
    kill_when(&build(&index, &doc), || std::fs::metadata(&part).map_or(0, |m| m.len()) >= 1024 * 64 * 4);
    assert!(!index.join("index.json").exists());

    let other = dir.path().join("other.txt");
    std::fs::write(&other, "Something else entirely.").unwrap();
    let args = build(&index, &other);
    fails_with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "holds an interrupted build of other documents");

    // Resumed on the GPU backend (Vulkan; lavapipe without a GPU): a build started on one
    // machine's CPU may finish on another's GPU; the vectors agree within 1e-4.
    let mut args = build(&index, &doc);
    args.extend(["--backend".to_string(), "wgpu".to_string()]);
    let out = conan(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    println!("{stderr}");
    assert!(stderr.contains("resuming: 1024 of "), "{stderr}");
    assert!(!index.join(".partial").exists(), "the partial work is removed once the index is whole");

    let args = build(&whole, &doc);
    assert!(conan(&args.iter().map(String::as_str).collect::<Vec<_>>()).status.success());
    for name in ["index.json", "passages.jsonl", "vectors.json"] {
        let (a, b) = (std::fs::read(index.join(name)).unwrap(), std::fs::read(whole.join(name)).unwrap());
        assert!(a == b || name == "index.json", "{name} differs");
    }
    let vectors = |p: &Path| -> Vec<f32> {
        let header = serde_json::from_slice(&std::fs::read(p.join("vectors.json")).unwrap()).unwrap();
        conan_index::shipped::decode_f16(&header, &std::fs::read(p.join("vectors.f16")).unwrap()).unwrap()
    };
    let (a, b) = (vectors(&index), vectors(&whole));
    assert!(a.len() == b.len() && a.len() >= 2000 * 64);
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "resumed and whole builds differ by {worst}");
}

/// `conan embed --out DIR` writes a Parquet dataset part by part. Killed after its first
/// part, the same command carries on from there; every id appears once, in order, beside its
/// text; and `tools/lancedb_import.py` loads it into LanceDB, where a row's own vector finds
/// that row first.
#[test]
fn embed_to_parquet_resumes_and_imports_into_lancedb() {
    use arrow_array::{Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    // 10,000 numbered dev sentences: two parts for the tiny model (8,192 rows of 64 dims each).
    let sentences = bitext_sentences("tatoeba-zh2en-bitext");
    let lines: Vec<String> = (0..10_000).map(|i| format!("{i}: {}", sentences[i % sentences.len()])).collect();
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("vectors");
    let (input_s, out_s) = (input.to_str().unwrap(), out.to_str().unwrap());
    let args = ["embed", "--model", "static/models/tiny", "--input", input_s, "--out", out_s];

    kill_when(&args, || out.join("part-00000.parquet").exists());
    assert!(!out.join("part-00001.parquet").exists());

    fails_with(
        &["embed", "--model", "static/models/tiny", "--out", out_s, "another text"],
        "holds vectors of another run",
    );
    let run = conan(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resuming: 8192 texts were written"), "{stderr}");
    fails_with(&args, "already holds every vector of this run");

    // Every id once, in order, with its own text and a 64-float unit vector.
    let mut next = 0;
    for part in ["part-00000.parquet", "part-00001.parquet"] {
        let file = std::fs::File::open(out.join(part)).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
            let batch = batch.unwrap();
            let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let texts = batch.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            assert_eq!(batch.schema().field(2).data_type().to_string(), "FixedSizeList(64 x non-null Float32)");
            for i in 0..batch.num_rows() {
                assert_eq!((ids.value(i), texts.value(i)), (next as i64, lines[next].as_str()));
                next += 1;
            }
        }
    }
    assert_eq!(next, 10_000);

    let db = dir.path().join("lancedb");
    let import = Command::new(root().join(".venv/bin/python"))
        .args(["tools/lancedb_import.py", out_s, db.to_str().unwrap(), "--query-id", "9000", "--top", "3"])
        .current_dir(root())
        .output()
        .expect("the venv from tools/setup.sh --test");
    let stdout = String::from_utf8_lossy(&import.stdout);
    assert!(import.status.success(), "{stdout}{}", String::from_utf8_lossy(&import.stderr));
    println!("{stdout}");
    let printed: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(printed[0], serde_json::json!({"rows": 10000, "dims": 64}));
    assert_eq!((printed[1]["id"].as_i64(), printed[1]["text"].as_str()), (Some(9000), Some(lines[9000].as_str())));
}

/// Issue #22's goal on a dev passage task (12 sentences per passage, conan-mini q8): the
/// sentence window finds the passage whose one sentence the query translates (nDCG@10 ≥
/// 0.85, from about 0.41 with one vector per passage), reported beside the unchanged
/// MTEB-standard score, which stays the main score.
#[test]
fn eval_split_sentences_finds_the_sentence_inside_long_passages() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let task = "tests/fixtures/passage-tasks/tatoeba-zh2en-passages-k12";
    let model = "static/models/conan-mini/q8";
    let out = conan(&["eval", "--model", model, "--task", task, "--split-sentences", "--json", json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(stdout.contains("(sentence window)"), "{stdout}");
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let s = &r[0]["scores"]["test"][0];
    let (standard, window) = (s["ndcg_at_10"].as_f64().unwrap(), s["sentence_window_ndcg_at_10"].as_f64().unwrap());
    assert_eq!(s["main_score"], s["ndcg_at_10"]);
    assert!(window >= 0.85 && window > standard + 0.3, "sentence window {window} vs one vector per passage {standard}");

    // Without the flag: the same standard score and no sentence-window metrics.
    let plain = ok_json_eval(&["eval", "--model", model, "--task", task], dir.path());
    let p = &plain[0]["scores"]["test"][0];
    assert_eq!(p["ndcg_at_10"], s["ndcg_at_10"]);
    assert!(p.get("sentence_window_ndcg_at_10").is_none());
}

fn ok_json_eval(args: &[&str], dir: &Path) -> Value {
    let json = dir.join("plain.json");
    let mut args = args.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let out = conan(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

#[test]
fn eval_on_given_vectors_scores_a_perfect_mapping_as_perfect() {
    // Give each translation pair its own one-hot vector: mining must be exact.
    let dir = tempfile::tempdir().unwrap();
    let pairs = std::fs::read_to_string(root().join("static/tasks/tatoeba-zh2en-bitext/pairs.jsonl")).unwrap();
    let rows: Vec<Value> = pairs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut lines = String::new();
    for (i, r) in rows.iter().enumerate() {
        let mut v = vec![0.0f32; rows.len()];
        v[i] = 1.0;
        for side in ["sentence1", "sentence2"] {
            lines += &serde_json::json!({"text": r[side], "embedding": v}).to_string();
            lines += "\n";
        }
    }
    let file = dir.path().join("vectors.jsonl");
    std::fs::write(&file, lines).unwrap();
    let json = dir.path().join("r.json");
    let out = conan(&[
        "eval",
        "--embeddings",
        file.to_str().unwrap(),
        "--task",
        "static/tasks/tatoeba-zh2en-bitext",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for k in ["accuracy", "precision", "recall", "f1"] {
        assert_eq!(r[0]["scores"]["test"][0][k], 1.0, "{k}");
    }
}

#[test]
fn malformed_tasks_name_file_and_line() {
    let retrieval = r#"{"name":"r","type":"retrieval","languages":["eng-Latn"]}"#;
    let clustering = r#"{"name":"c","type":"clustering","languages":["eng-Latn"]}"#;
    let bitext = r#"{"name":"b","type":"bitext","languages":["eng-Latn"]}"#;
    // (folder, its files, what the error must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (
            "qrels",
            &[
                ("task.json", retrieval),
                ("corpus.jsonl", "{\"_id\":\"d1\",\"text\":\"a\"}\n"),
                ("queries.jsonl", "{\"_id\":\"q1\",\"text\":\"b\"}\n"),
                ("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tnope\t1\n"),
            ],
            "qrels.tsv line 3: unknown corpus id \"nope\"",
        ),
        (
            "json",
            &[
                ("task.json", clustering),
                ("data.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": \"b\", \"label\"\n"),
            ],
            "data.jsonl line 2",
        ),
        (
            "one-class",
            &[
                ("task.json", clustering),
                ("data.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"x\"}\n"),
            ],
            "at least 2 are needed",
        ),
        ("empty", &[("task.json", bitext), ("pairs.jsonl", "\n")], "pairs.jsonl: is empty"),
        (
            "zero-samples",
            &[
                ("task.json", r#"{"name":"k","type":"classification","languages":["eng-Latn"],"samples_per_label":0}"#),
                ("train.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\n"),
                ("test.jsonl", "{\"text\":\"c\",\"label\":\"x\"}\n"),
            ],
            "samples_per_label must be at least 1",
        ),
        (
            "empty-text",
            &[("task.json", bitext), ("pairs.jsonl", "{\"sentence1\":\"a\",\"sentence2\":\"\"}\n")],
            "pairs.jsonl: contains an empty text",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, files, needle) in cases {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, content) in files {
            std::fs::write(d.join(f), content).unwrap();
        }
        fails_with(&["eval", "--model", "static/models/tiny", "--task", d.to_str().unwrap()], needle);
    }
    // Latin-1 in a field the reader skips: serde_json alone would not look at it.
    let d = dir.path().join("latin1");
    std::fs::create_dir_all(&d).unwrap();
    let mut meta = bitext.as_bytes().to_vec();
    meta.truncate(meta.len() - 1);
    meta.extend_from_slice(b",\"note\":\"caf\xe9\"}");
    std::fs::write(d.join("task.json"), meta).unwrap();
    std::fs::write(d.join("pairs.jsonl"), "{\"sentence1\":\"a\",\"sentence2\":\"b\"}\n").unwrap();
    fails_with(&["eval", "--model", "static/models/tiny", "--task", d.to_str().unwrap()], "task.json: is not UTF-8");
}

/// `conan export --onnx`: onnxruntime (PyPI, in the .venv tools/setup.sh --test makes) runs
/// the exported graph on 100 dev sentences (50 zh–en bitext pairs) and agrees with `conan
/// embed` to cosine ≥ 0.9999: conan-mini's q8 pack (mean pooling, bidirectional) inline,
/// and the Qwen3 fixture (last-token pooling, causal, per-head q/k norms) as external data.
#[test]
fn onnx_export_agrees_with_conan_embed_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = bitext_sentences("tatoeba-zh2en-bitext").into_iter().take(100).collect();
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, texts.join("\n")).unwrap();
    let python = root().join(".venv/bin/python");
    for (model, external) in [("static/models/conan-mini/q8", false), ("tests/fixtures/tiny-qwen3", true)] {
        let out_dir = dir.path().join(model.replace('/', "-"));
        std::fs::create_dir(&out_dir).unwrap();
        let onnx = out_dir.join("model.onnx");
        let mut args = vec!["export", "--onnx", "--model", model, "--out", onnx.to_str().unwrap()];
        if external {
            args.push("--external-data");
        }
        let out = conan(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out_dir.join("tokenizer.json").exists());
        assert_eq!(out_dir.join("model.onnx.data").exists(), external, "{model}");
        let ort = Command::new(&python)
            .args([root().join("tests/onnx_check.py").as_path(), onnx.as_path(), input.as_path()])
            .output()
            .expect("the .venv exists (tools/setup.sh --test)");
        assert!(ort.status.success(), "onnxruntime: {}", String::from_utf8_lossy(&ort.stderr));
        let ort: Value = serde_json::from_slice(&ort.stdout).unwrap();
        // The export holds the pack's weights in f32: ours multiplies them in f32 too.
        let ours = ok_json(&["embed", "--model", model, "--backend", "cpu-f32", "--input", input.to_str().unwrap()]);
        let (a, b) = (vectors(&ort), vectors(&ours));
        assert_eq!((a.len(), ort["hidden"][0].as_u64()), (texts.len(), Some(texts.len() as u64)));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>())
            .fold(f32::INFINITY, f32::min);
        println!("{model}: lowest cosine onnxruntime vs conan embed over {} texts: {worst:.7}", texts.len());
        assert!(worst >= 0.9999, "{model}: cosine {worst}");
    }
    // Refusals: not an .onnx name, a bad model path, another tokenizer in the way.
    fails_with(&["export", "--onnx", "--model", "static/models/tiny", "--out", "x.bin"], "FILE.onnx");
    fails_with(&["export", "--onnx", "--model", "no/such/model", "--out", "x.onnx"], "no/such/model");
    let clash = dir.path().join("clash");
    std::fs::create_dir(&clash).unwrap();
    std::fs::write(clash.join("tokenizer.json"), "{}").unwrap();
    let onnx = clash.join("m.onnx");
    fails_with(
        &["export", "--onnx", "--model", "static/models/tiny", "--out", onnx.to_str().unwrap()],
        "different tokenizer",
    );
    assert!(!onnx.exists());
}

/// The corpus vectors shipped with the app belong to the default model and the corpus as
/// they are now (else the first visit would embed the corpus again), and equal what `conan
/// embed` gives within f16 rounding with the pack's own (f32) values, and within int8's
/// rounding on the default CPU path.
#[test]
fn shipped_corpus_vectors_are_the_default_models() {
    use conan_index::shipped::{ShippedHeader, decode_f16};
    let dir = root().join("static/corpus");
    let header: ShippedHeader = serde_json::from_slice(&std::fs::read(dir.join("vectors.json")).unwrap()).unwrap();
    let corpus = std::fs::read(dir.join("corpus.jsonl")).unwrap();
    let files = pollster::block_on(conan_model::read_files(&conan_model::DirSource(
        root().join("static/models/conan-mini/q8"),
    )))
    .unwrap();
    let rebuild = "run: conan corpus-vectors --model static/models/conan-mini/q8";
    assert_eq!(header.model_fingerprint, files.fingerprint(), "{rebuild}");
    assert_eq!(header.corpus_key, conan_model::pack::sha256_hex(&corpus)[..16], "{rebuild}");
    let passages = conan_index::parse_corpus(&corpus).unwrap();
    let sentences: usize = passages.iter().map(|p| conan_index::window_spans(&p.text).len()).sum();
    assert_eq!((header.passages, header.sentences), (passages.len(), sentences), "{rebuild}");
    let values = decode_f16(&header, &std::fs::read(dir.join("vectors.f16")).unwrap()).unwrap();
    let texts: Vec<&str> = passages.iter().take(20).map(|p| p.text.as_str()).collect();
    for (backend, min) in [("cpu-f32", 0.9999), ("cpu", 0.999)] {
        let args = ["embed", "--model", "static/models/conan-mini/q8", "--backend", backend];
        let ours = ok_json(&[&args[..], &texts].concat());
        for (i, v) in vectors(&ours).iter().enumerate() {
            let shipped = &values[i * header.width..(i + 1) * header.width];
            let cos: f32 = v.iter().zip(shipped).map(|(a, b)| a * b).sum();
            assert!(cos >= min, "{backend}, passage {i}: cosine {cos}");
        }
    }
}
