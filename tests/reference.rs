//! The burn model against the independent numpy implementation (tests/reference.py), and
//! the loader's refusals. References are committed in tests/fixtures and re-derived by
//! `tests/reference.py --check` in the test command.

use std::path::{Path, PathBuf};

use conan_model::burn::module::Module;
use conan_model::burn::prelude::Device;
use conan_model::{AttentionMode, Config, DirSource, Embedder, ModelFiles, read_files};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(model: &str) -> ModelFiles {
    pollster::block_on(read_files(&DirSource(root().join(model)))).expect("model files load")
}

fn embedder(model: &str) -> Embedder {
    Embedder::new(&files(model), &Device::flex()).expect("model builds")
}

fn embed(e: &Embedder, texts: &[String], dims: Option<usize>) -> Vec<Vec<f32>> {
    pollster::block_on(e.embed(texts, dims)).expect("embeds").vectors
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn check_against_numpy(model: &str, reference: &str) {
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(root().join(reference)).unwrap()).unwrap();
    let texts: Vec<String> = serde_json::from_value(reference["texts"].clone()).unwrap();
    let e = embedder(model);
    let lengths: Vec<usize> = texts.iter().map(|t| e.text.encode(t).unwrap().len()).collect();
    assert!(lengths.contains(&1) && lengths.iter().all(|&n| n <= 64), "{lengths:?}");
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let dims = case["dims"].as_u64().unwrap() as usize;
        let expected: Vec<Vec<f32>> = serde_json::from_value(case["embeddings"].clone()).unwrap();
        // All texts in one padded batch: padding must not leak into any of them.
        let got = embed(&e, &texts, Some(dims));
        let diff = max_abs_diff(&got, &expected);
        println!("{model} dims {dims}: max |Δ| vs numpy = {diff:.2e}");
        assert!(diff <= 1e-5, "{model} dims {dims}: max |Δ| = {diff}");
    }
}

#[test]
fn conan_tiny_matches_numpy() {
    check_against_numpy("static/models/tiny", "tests/fixtures/reference-tiny.json");
}

#[test]
fn qwen2_family_with_biases_and_bf16_matches_numpy() {
    check_against_numpy("tests/fixtures/tiny-qwen2", "tests/fixtures/reference-tiny-qwen2.json");
}

#[test]
fn qwen3_family_causal_last_token_f16_matches_numpy() {
    let e = embedder("tests/fixtures/tiny-qwen3");
    assert!(e.config.is_causal() && e.config.qk_norm());
    check_against_numpy("tests/fixtures/tiny-qwen3", "tests/fixtures/reference-tiny-qwen3.json");
}

#[test]
fn padding_does_not_change_a_sentence_vector() {
    let e = embedder("static/models/tiny");
    let texts: Vec<String> =
        ["a", "a much longer sentence that forces padding on the short one", "中文"].map(String::from).to_vec();
    let batched = embed(&e, &texts, None);
    for (i, t) in texts.iter().enumerate() {
        let alone = embed(&e, std::slice::from_ref(t), None);
        let diff = max_abs_diff(&alone, &batched[i..=i]);
        assert!(diff <= 1e-6, "text {i}: {diff}");
    }
    // Passes padded to a multiple of 16 tokens, as on a GPU (LoadOptions::seq_multiple).
    let mut padded = embedder("static/models/tiny");
    padded.seq_multiple = 16;
    assert_eq!(padded.pass_seq(3), 16);
    let diff = max_abs_diff(&embed(&padded, &texts, None), &batched);
    assert!(diff <= 1e-6, "padded to 16: {diff}");
}

#[test]
fn attention_maps_are_distributions_and_causal_maps_never_look_ahead() {
    let e = embedder("static/models/tiny");
    let text = "Attention 地图 for the Learn page.";
    let t = e.text.encode(text).unwrap().len();
    for layer in 0..e.config.num_hidden_layers {
        let bidi = pollster::block_on(e.attention_map(text, layer, AttentionMode::Bidirectional)).unwrap();
        let causal = pollster::block_on(e.attention_map(text, layer, AttentionMode::Causal)).unwrap();
        assert_eq!((bidi.tokens.len(), bidi.heads), (t, e.config.num_attention_heads));
        assert_eq!(bidi.probs.len(), bidi.heads * t * t);
        for map in [&bidi, &causal] {
            for row in map.probs.chunks(t) {
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "a row sums to {sum}");
            }
        }
        let mut ahead = 0.0f32;
        for h in 0..causal.heads {
            for i in 0..t {
                for j in i + 1..t {
                    ahead = ahead.max(causal.probs[(h * t + i) * t + j]);
                    assert_eq!(
                        causal.probs[(h * t + i) * t + j],
                        0.0,
                        "layer {layer} head {h}: query {i} sees key {j}"
                    );
                }
            }
        }
        // The bidirectional map does look ahead (the first token attends to later ones).
        let first_row_ahead: f32 =
            (0..bidi.heads).map(|h| bidi.probs[h * t * t + 1..h * t * t + t].iter().sum::<f32>()).sum();
        assert!(first_row_ahead > 0.1, "layer {layer}: {first_row_ahead}");
    }
    assert!(
        pollster::block_on(e.attention_map(text, 99, AttentionMode::Bidirectional))
            .unwrap_err()
            .to_string()
            .contains("layer 99")
    );
}

#[test]
fn bidirectional_and_causal_attention_differ() {
    let mut f = files("static/models/tiny");
    let texts = vec!["The first token sees the last one only when bidirectional.".to_string()];
    let bidi = embed(&Embedder::new(&f, &Device::flex()).unwrap(), &texts, None);
    f.config.is_causal = Some(true);
    let causal = embed(&Embedder::new(&f, &Device::flex()).unwrap(), &texts, None);
    let diff = max_abs_diff(&bidi, &causal);
    assert!(diff > 1e-3, "causal and bidirectional agree to {diff}");
}

#[test]
fn matryoshka_vectors_are_unit_length_prefixes() {
    let e = embedder("static/models/tiny");
    let texts = vec!["Matryoshka".to_string()];
    let full = embed(&e, &texts, None)[0].clone();
    let short = embed(&e, &texts, Some(16))[0].clone();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(&full) - 1.0).abs() < 1e-5 && (norm(&short) - 1.0).abs() < 1e-5);
    // Truncate-then-normalise: the short vector is the full one's prefix, rescaled.
    let scale = norm(&full[..16]);
    for (s, f) in short.iter().zip(&full) {
        assert!((s * scale - f).abs() < 1e-5);
    }
    assert!(pollster::block_on(e.embed(&texts, Some(0))).is_err());
    assert!(pollster::block_on(e.embed(&texts, Some(65))).is_err());
}

#[test]
fn module_parameter_count_equals_config_count() {
    for model in ["static/models/tiny", "tests/fixtures/tiny-qwen2", "tests/fixtures/tiny-qwen3"] {
        let e = embedder(model);
        assert_eq!(e.model.num_params() as u64, e.config.num_params(), "{model}");
    }
    assert_eq!(Config::conan_v2().num_params(), 1_499_205_120);
}

// ---- the loader refuses bad checkpoints, naming what is wrong ----

/// The tiny checkpoint's tensors, edited by `edit`, re-serialised.
fn edited_shards(edit: impl FnOnce(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>)) -> ModelFiles {
    let mut f = files("static/models/tiny");
    let st = safetensors::SafeTensors::deserialize(&f.shards[0].1).unwrap();
    let mut tensors: Vec<_> =
        st.tensors().into_iter().map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    edit(&mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    f.shards[0].1 = safetensors::serialize(views, None).unwrap();
    f
}

fn load_error(f: &ModelFiles) -> String {
    match Embedder::new(f, &Device::flex()) {
        Ok(_) => panic!("a bad checkpoint loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    let f = edited_shards(|t| t.retain(|x| x.0 != "model.layers.1.mlp.up_proj.weight"));
    let err = load_error(&f);
    assert!(err.contains("missing tensor layers.1.mlp.up_proj.weight") && err.contains("[128, 64]"), "{err}");
}

#[test]
fn extra_tensor_is_named() {
    let f = edited_shards(|t| t.push(("model.layers.0.surprise".into(), safetensors::Dtype::F32, vec![2], vec![0; 8])));
    let err = load_error(&f);
    assert!(err.contains("unexpected tensor layers.0.surprise"), "{err}");
}

#[test]
fn misshaped_tensor_names_both_shapes() {
    let f = edited_shards(|t| {
        let x = t.iter_mut().find(|x| x.0 == "model.norm.weight").unwrap();
        x.2 = vec![32];
        x.3.truncate(32 * 4);
    });
    let err = load_error(&f);
    assert!(err.contains("model.norm.weight") && err.contains("[32]") && err.contains("[64]"), "{err}");
}

#[test]
fn integer_dtype_and_non_finite_values_are_refused() {
    let f = edited_shards(|t| {
        let x = t.iter_mut().find(|x| x.0 == "model.norm.weight").unwrap();
        x.1 = safetensors::Dtype::I32;
    });
    assert!(load_error(&f).contains("dtype I32"), "{}", load_error(&f));
    let f = edited_shards(|t| {
        let x = t.iter_mut().find(|x| x.0 == "model.norm.weight").unwrap();
        x.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = load_error(&f);
    assert!(err.contains("non-finite") && err.contains("element 2"), "{err}");
}

#[test]
fn truncated_or_garbage_weights_are_refused() {
    let mut f = files("static/models/tiny");
    let len = f.shards[0].1.len();
    f.shards[0].1.truncate(len / 2);
    assert!(load_error(&f).contains("model.safetensors: not a valid safetensors file"), "{}", load_error(&f));
    f.shards[0].1 = b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage".to_vec();
    assert!(load_error(&f).contains("not a valid safetensors file"));
}

#[test]
fn sharded_checkpoints_load_like_single_files() {
    let f = files("static/models/tiny");
    let st = safetensors::SafeTensors::deserialize(&f.shards[0].1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut weight_map = serde_json::Map::new();
    let (mut a, mut b) = (vec![], vec![]);
    for (name, view) in st.tensors() {
        let file = if name.contains("layers.1.") {
            "model-00002-of-00002.safetensors"
        } else {
            "model-00001-of-00002.safetensors"
        };
        weight_map.insert(name.clone(), file.into());
        if file.starts_with("model-00001") { a.push((name, view)) } else { b.push((name, view)) }
    }
    std::fs::write(dir.path().join("model-00001-of-00002.safetensors"), safetensors::serialize(a, None).unwrap())
        .unwrap();
    std::fs::write(dir.path().join("model-00002-of-00002.safetensors"), safetensors::serialize(b, None).unwrap())
        .unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": weight_map}).to_string(),
    )
    .unwrap();
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(root().join("static/models/tiny").join(name), dir.path().join(name)).unwrap();
    }
    let sharded = pollster::block_on(read_files(&DirSource(dir.path().to_path_buf()))).unwrap();
    assert_eq!(sharded.shards.len(), 2);
    let texts = vec!["sharded".to_string(), "分片".to_string()];
    let one = embed(&embedder("static/models/tiny"), &texts, None);
    let two = embed(&Embedder::new(&sharded, &Device::flex()).unwrap(), &texts, None);
    assert_eq!(max_abs_diff(&one, &two), 0.0);

    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = pollster::block_on(read_files(&DirSource(dir.path().to_path_buf()))).err().unwrap().to_string();
    assert!(err.contains("model-00002-of-00002.safetensors not found"), "{err}");
}

#[test]
fn soft_mask_moves_from_causal_to_bidirectional() {
    use conan_model::burn::prelude::*;
    use conan_model::{AttentionMode, TokenInput, soft_mask_bias};
    // α = 0: every future key closed; α = 1: all open; in between, early queries open first.
    assert!(soft_mask_bias(4, 4, 0.0).iter().enumerate().all(|(ij, &v)| (v < -1e8) == (ij % 4 > ij / 4)));
    assert!(soft_mask_bias(4, 4, 1.0).iter().all(|&v| v == 0.0));
    let half = soft_mask_bias(4, 4, 0.5);
    assert_eq!(half[1], 0.0); // query 1: min(0.5·4/1, 1) = 1
    assert!((half[3 * 4 + 3] - 0.0).abs() < 1e-12); // diagonal stays open
    assert!((half[2 * 4 + 3] - (0.5f32 * 4.0 / 3.0).ln()).abs() < 1e-6); // query 3 sees key 4 at 2/3

    let e = embedder("static/models/tiny");
    let batch = e.text.encode_batch(&["soft masks blend causal and bidirectional attention"]).unwrap();
    let device = Device::flex();
    let run = |mode| {
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(batch.ids.iter().map(|&i| i as i32).collect::<Vec<_>>(), [1, batch.seq]),
            &device,
        );
        let mask = Tensor::<2>::from_data(TensorData::new(batch.mask(), [1, batch.seq]), &device);
        e.model
            .forward(TokenInput::Ids(ids), mask, &batch.lengths, mode)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let (causal, bidi) = (run(AttentionMode::Causal), run(AttentionMode::Bidirectional));
    assert!(diff(&run(AttentionMode::Soft { alpha: 0.0 }), &causal) < 1e-6);
    assert!(diff(&run(AttentionMode::Soft { alpha: 1.0 }), &bidi) < 1e-6);
    let mid = run(AttentionMode::Soft { alpha: 0.3 });
    assert!(diff(&mid, &causal) > 1e-3 && diff(&mid, &bidi) > 1e-3);
}
