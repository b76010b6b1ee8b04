//! `conan-train` end to end at toy scale on the real train files: the recipe runs through
//! both stages (soft mask, hard-negative mining, Matryoshka), the loss falls, and the
//! checkpoint it writes loads through the normal loader and has learnt its pairs.

use std::path::{Path, PathBuf};
use std::process::Command;

use conan_model::burn::prelude::Device;
use conan_model::{DirSource, Embedder, read_files};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_short_run_learns_its_pairs_and_writes_a_loadable_checkpoint() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_conan-train"))
        .current_dir(root())
        .args(["--out", out.path().to_str().unwrap(), "--teacher", "/nonexistent", "--distill-weight", "0"])
        .args(["--limit-pairs", "256", "--vocab", "1200", "--hidden", "64", "--layers", "2", "--ffn", "128"])
        .args([
            "--weak-steps",
            "60",
            "--supervised-steps",
            "20",
            "--batch",
            "32",
            "--dictionary-pairs",
            "4",
            "--lr",
            "3e-3",
        ])
        .args(["--eval-every", "0"])
        .status()
        .expect("conan-train runs");
    assert!(status.success());

    let csv = std::fs::read_to_string(out.path().join("losses.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(rows.len(), 80);
    assert!(rows.iter().take(10).all(|r| r[1] == "weak") && rows.iter().skip(60).all(|r| r[1] == "supervised"));
    // The soft mask opens from causal (α = 0) to bidirectional (α = 1) during the weak stage.
    let alpha = |i: usize| rows[i][2].parse::<f32>().unwrap();
    assert_eq!(alpha(0), 0.0);
    assert!(alpha(15) > 0.0 && alpha(15) < 1.0 && alpha(59) == 1.0);
    let loss = |r: &[Vec<String>]| r.iter().map(|r| r[4].parse::<f32>().unwrap()).sum::<f32>() / r.len() as f32;
    let (first, last) = (loss(&rows[..10]), loss(&rows[50..60]));
    assert!(last < 0.6 * first, "loss {first} → {last}");
    assert!(std::fs::read_to_string(out.path().join("loss.svg")).unwrap().contains("<svg"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("training.json")).unwrap()).unwrap();
    assert_eq!(summary["recipe"]["soft_mask"], true);
    // Both dev sets are scored, with unique sides (1,000 Tatoeba pairs; 685 of HSK's 695 rows).
    assert_eq!(summary["dev_bitext"]["tatoeba"]["pairs"], 1000);
    assert_eq!(summary["dev_bitext"]["hsk"]["pairs"], 685);

    // The checkpoint loads like any HF folder, and ranks the trained translations high.
    let files = pollster::block_on(read_files(&DirSource(out.path().join("checkpoint")))).unwrap();
    let embedder = Embedder::new(&files, &Device::flex()).unwrap();
    let pairs: Vec<(String, String)> = std::fs::read_to_string(root().join("../shared/data/tatoeba/train.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .take(100)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[1].to_string(), c[3].to_string())
        })
        .collect();
    let zh: Vec<String> = pairs.iter().map(|p| p.0.clone()).collect();
    let en: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
    let z = pollster::block_on(embedder.embed(&zh, None)).unwrap();
    let e = pollster::block_on(embedder.embed(&en, None)).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let hits = (0..pairs.len())
        .filter(|&i| {
            let mut scores: Vec<f32> = (0..pairs.len()).map(|j| dot(&z.vectors[i], &e.vectors[j])).collect();
            let own = scores[i];
            scores.sort_by(|a, b| b.total_cmp(a));
            scores.iter().position(|&s| s == own).unwrap() < 10
        })
        .count();
    // Chance is 10 of 100.
    assert!(hits >= 40, "only {hits} of 100 trained pairs have their translation in the top 10");
}
