//! conan-mini, the demo's default model, as shipped in static/models/conan-mini, on the
//! *dev* split (never trained on): the quality bars of its model card, and its quantized
//! packs agreeing with each other.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use conan_index::flat::dot;
use conan_model::burn::prelude::Device;
use conan_model::{DirSource, Embedder, LoadOptions, read_files};

/// The goals for conan-mini on dev bitext (0.93 Tatoeba, 0.90 HSK), which the
/// shipped pack meets (0.961 / 0.949 and 0.950 / 0.937, see its model card), and a regression
/// floor a little under its measured mixed-language share (0.883): a retrained or
/// re-quantized pack that falls below them is a worse model.
const MIN_BITEXT: f64 = 0.93;
const MIN_CROSS_LINGUAL: f64 = 0.86;
const MIN_HSK_BITEXT: f64 = 0.90;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `pack` on the CPU as the CLI and the browser's CPU fallback load it: a q8 / q4 pack's
/// projections multiply in int8 on the host ([`LoadOptions::cpu`]).
fn embedder(pack: &str) -> Embedder {
    loaded(pack, LoadOptions::cpu())
}

fn loaded(pack: &str, options: LoadOptions) -> Embedder {
    let files = pollster::block_on(read_files(&DirSource(root().join(pack)))).unwrap();
    let mut e = Embedder::load(&files, &Device::flex(), options).unwrap();
    e.batch_size = 64;
    e
}

fn embed(e: &Embedder, texts: &[String]) -> Vec<Vec<f32>> {
    pollster::block_on(e.embed(texts, None)).unwrap().vectors
}

/// The first 1,000 dev pairs whose Chinese and English sides are both unique (the model
/// card's numbers). With a repeated side, two candidates are the same text and score the
/// same, so a correct match would count as a miss. conan-train's progress numbers and the
/// bundled slices use the same rule.
fn dev_pairs() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(root().join("../shared/data/tatoeba/dev.tsv")).unwrap();
    let (mut seen_zh, mut seen_en) = (HashSet::new(), HashSet::new());
    let pairs: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[1].to_string(), c[3].to_string())
        })
        .filter(|(zh, en)| {
            !seen_zh.contains(zh) && !seen_en.contains(en) && seen_zh.insert(zh.clone()) && seen_en.insert(en.clone())
        })
        .take(1000)
        .collect();
    assert_eq!(pairs.len(), 1000);
    pairs.into_iter().unzip()
}

/// Share of rows whose own partner scores above every other candidate.
fn top1(queries: &[Vec<f32>], docs: &[Vec<f32>]) -> f64 {
    let hits = (0..queries.len())
        .filter(|&i| {
            let own = dot(&queries[i], &docs[i]);
            (0..docs.len()).all(|j| j == i || dot(&queries[i], &docs[j]) < own)
        })
        .count();
    hits as f64 / queries.len() as f64
}

#[test]
fn conan_mini_finds_translations_and_does_not_rank_by_language() {
    let e = embedder("static/models/conan-mini/q8");
    let (zh, en) = dev_pairs();
    let (z, v) = (embed(&e, &zh), embed(&e, &en));
    let (zh_en, en_zh) = (top1(&z, &v), top1(&v, &z));
    println!("Tatoeba dev bitext top-1 ({} pairs): zh→en {zh_en:.4}, en→zh {en_zh:.4}", zh.len());
    assert!(zh_en >= MIN_BITEXT && en_zh >= MIN_BITEXT, "zh→en {zh_en}, en→zh {en_zh}");

    // Mixed-language corpus: for a Chinese query, its English translation must outscore
    // every *other* Chinese sentence, or search would rank by language, not meaning.
    let beats = (0..z.len())
        .filter(|&i| {
            let own = dot(&z[i], &v[i]);
            (0..z.len()).all(|j| j == i || dot(&z[i], &z[j]) < own)
        })
        .count() as f64
        / z.len() as f64;
    println!("translation above all other Chinese sentences: {beats:.4}");
    assert!(beats >= MIN_CROSS_LINGUAL, "{beats}");
}

/// HSK dev bitext (the bundled `hsk-zh2en-bitext` slice: every dev pair with both sides
/// unique): top-1 in both directions.
#[test]
fn conan_mini_finds_hsk_translations() {
    let e = embedder("static/models/conan-mini/q8");
    let text = std::fs::read_to_string(root().join("static/tasks/hsk-zh2en-bitext/pairs.jsonl")).unwrap();
    let (zh, en): (Vec<String>, Vec<String>) = text
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            (row["sentence1"].as_str().unwrap().to_string(), row["sentence2"].as_str().unwrap().to_string())
        })
        .unzip();
    let (z, v) = (embed(&e, &zh), embed(&e, &en));
    let (zh_en, en_zh) = (top1(&z, &v), top1(&v, &z));
    println!("HSK dev bitext top-1 ({} pairs): zh→en {zh_en:.4}, en→zh {en_zh:.4}", zh.len());
    assert!(zh_en >= MIN_HSK_BITEXT && en_zh >= MIN_HSK_BITEXT, "zh→en {zh_en}, en→zh {en_zh}");
}

#[test]
fn conan_mini_q4_agrees_with_q8() {
    let (zh, en) = dev_pairs();
    let texts: Vec<String> = zh.into_iter().take(100).chain(en.into_iter().take(100)).collect();
    let a = embed(&embedder("static/models/conan-mini/q8"), &texts);
    let b = embed(&embedder("static/models/conan-mini/q4"), &texts);
    let mean = a.iter().zip(&b).map(|(x, y)| dot(x, y) as f64).sum::<f64>() / a.len() as f64;
    println!("q4 vs q8 mean cosine over {} dev sentences: {mean:.6}", a.len());
    assert!(mean >= 0.99, "{mean}");
}

/// The int8 products the CPU runs for a q8 pack against the same pack's weights multiplied
/// in f32 (burn's own matmul, as before the host kernels): 400 dev sentences, each within
/// cosine 0.999, and the model's answers unchanged.
#[test]
fn int8_matmuls_agree_with_f32_on_dev_sentences() {
    let (zh, en) = dev_pairs();
    let texts: Vec<String> = zh.into_iter().take(200).chain(en.into_iter().take(200)).collect();
    let int8 = embed(&embedder("static/models/conan-mini/q8"), &texts);
    let f32 = embed(&loaded("static/models/conan-mini/q8", LoadOptions::default()), &texts);
    let cosines: Vec<f64> = int8.iter().zip(&f32).map(|(a, b)| dot(a, b) as f64).collect();
    let worst = cosines.iter().copied().fold(1.0, f64::min);
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    println!("int8 vs f32 matmuls over {} dev sentences: mean cosine {mean:.6}, lowest {worst:.6}", texts.len());
    assert_eq!(cosines.len(), 400);
    assert!(worst >= 0.999, "{worst}");
    // Same translations found: top-1 over these 200 pairs moves by at most one pair.
    let (zi, ei) = int8.split_at(200);
    let (zf, ef) = f32.split_at(200);
    let (a, b) = (top1(zi, ei), top1(zf, ef));
    println!("zh→en top-1 over 200 pairs: int8 {a:.3}, f32 {b:.3}");
    assert!((a - b).abs() <= 1.0 / 200.0 + 1e-9, "{a} vs {b}");
}

/// Text a user may type or paste: each embeds to a finite unit vector, or fails with a clear
/// message; over-long text is cut to the model's context and says so.
#[test]
fn text_edge_cases_embed_or_fail_clearly() {
    let e = embedder("static/models/conan-mini/q8");
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(2_300); // ~100,000 characters
    let cases: Vec<(&str, String)> = vec![
        ("whitespace only", " \t\n  ".into()),
        ("100,000 characters", long.clone()),
        ("emoji", "🙂🚀👩‍👩‍👧 emoji 表情".into()),
        ("combining marks", "e\u{301}le\u{300}ve, Z\u{351}\u{36b}\u{343}a\u{308}\u{30c}l\u{30b}g\u{300}o".into()),
        ("Traditional Chinese", "我們明天去臺灣看風景。".into()),
        ("Simplified Chinese", "我们明天去台湾看风景。".into()),
        ("right-to-left", "שלום עולם مرحبا بالعالم".into()),
        ("replacement character (a lone surrogate after JS → UTF-8)", "broken \u{fffd} text".into()),
        ("control characters", "tab\tnul\u{0}bell\u{7}".into()),
    ];
    let texts: Vec<String> = cases.iter().map(|c| c.1.clone()).collect();
    let out = pollster::block_on(e.embed(&texts, None)).unwrap();
    for (i, (what, _)) in cases.iter().enumerate() {
        let v = &out.vectors[i];
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(v.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 1e-3, "{what}: norm {norm}");
        println!("{what}: {} tokens{}", out.tokens[i], if out.truncated[i] { " (truncated)" } else { "" });
    }
    assert!(out.truncated[1] && out.tokens[1] == e.config.max_position_embeddings, "{:?}", out.tokens);
    assert!(out.truncated.iter().enumerate().all(|(i, &t)| t == (i == 1)));
    // Traditional and Simplified spellings of one sentence land together: the Simplified
    // one is the Traditional one's nearest neighbour among 1,000 Chinese dev sentences.
    let (zh, _) = dev_pairs();
    let others = embed(&e, &zh);
    let own = dot(&out.vectors[4], &out.vectors[5]);
    let best_other = others.iter().map(|v| dot(&out.vectors[4], v)).fold(f32::MIN, f32::max);
    println!("Traditional vs Simplified cosine {own:.4}; best of 1,000 other Chinese sentences {best_other:.4}");
    assert!(own > best_other, "{own} vs {best_other}");

    // The empty string has no tokens to average: a clear error, not a NaN vector.
    let err = pollster::block_on(e.embed(&[""], None)).err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|m| m.contains("empty")), "{err:?}");
}
