//! conan-eval against scikit-learn, scipy, numpy and pytrec_eval on the random cases in
//! tests/fixtures/eval-parity.json (made, and re-checked in CI, by tests/eval_parity.py).
//! Deterministic metrics must agree to 1e-6; logistic regression (a different L-BFGS) must
//! predict the same labels with decision values within 2e-2.

use std::collections::HashMap;

use conan_eval::metrics::classification::{LogisticRegression, accuracy_f1, mining_scores};
use conan_eval::metrics::clustering::{lloyd_from, v_measure};
use conan_eval::metrics::correlation::{pearson, spearman};
use conan_eval::metrics::pair::pair_scores;
use conan_eval::metrics::ranking::{average_precision, retrieval_at, trec_order};
use conan_eval::metrics::rng::Mt19937;
use serde_json::Value;

fn cases() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/eval-parity.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/fixtures/eval-parity.json")).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}
fn fs(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}
fn us(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}
fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-6, "{what}: ours {a} vs reference {b}");
}
fn each(name: &str) -> Vec<Value> {
    let c = cases()[name].as_array().unwrap().clone();
    assert!(c.len() >= 20, "{name}: only {} cases", c.len());
    c
}

#[test]
fn average_precision_equals_sklearn() {
    for (i, c) in each("average_precision").iter().enumerate() {
        let labels: Vec<bool> = us(&c["labels"]).iter().map(|&l| l == 1).collect();
        close(average_precision(&labels, &fs(&c["scores"])).unwrap(), f(&c["expected"]), &format!("case {i}"));
    }
}

#[test]
fn retrieval_equals_pytrec_eval_and_mteb_mrr() {
    for (i, c) in each("retrieval").iter().enumerate() {
        let ks = us(&c["ks"]);
        for (q, data) in c["queries"].as_object().unwrap() {
            let qrels: HashMap<String, i64> =
                data["qrel"].as_object().unwrap().iter().map(|(d, r)| (d.clone(), r.as_i64().unwrap())).collect();
            let mut run: Vec<(&str, f64)> =
                data["run"].as_object().unwrap().iter().map(|(d, s)| (d.as_str(), f(s))).collect();
            run.sort_by(|a, b| trec_order(*a, *b));
            let ranked: Vec<&str> = run.iter().map(|d| d.0).collect();
            let expected = &c["expected"][q];
            for (k, m) in ks.iter().zip(retrieval_at(&ranked, &qrels, &ks)) {
                let at = |name: &str| f(&expected[format!("{name}_{k}")]);
                let what = format!("case {i} {q} @{k}");
                close(m.ndcg, at("ndcg_cut"), &format!("{what} ndcg"));
                close(m.map, at("map_cut"), &format!("{what} map"));
                close(m.recall, at("recall"), &format!("{what} recall"));
                close(m.precision, at("P"), &format!("{what} P"));
                close(m.mrr, at("mrr"), &format!("{what} mrr"));
            }
        }
    }
}

#[test]
fn correlations_equal_scipy() {
    for (i, c) in each("correlation").iter().enumerate() {
        let (x, y) = (fs(&c["x"]), fs(&c["y"]));
        close(pearson(&x, &y).unwrap(), f(&c["pearson"]), &format!("pearson {i}"));
        close(spearman(&x, &y).unwrap(), f(&c["spearman"]), &format!("spearman {i}"));
    }
}

#[test]
fn v_measure_equals_sklearn() {
    for (i, c) in each("v_measure").iter().enumerate() {
        close(v_measure(&us(&c["truth"]), &us(&c["pred"])), f(&c["expected"]), &format!("case {i}"));
    }
}

#[test]
fn kmeans_from_the_same_centroids_equals_sklearn_lloyd() {
    for (i, c) in each("kmeans").iter().enumerate() {
        let data: Vec<Vec<f64>> = c["data"].as_array().unwrap().iter().map(fs).collect();
        let init: Vec<Vec<f64>> = c["init"].as_array().unwrap().iter().map(fs).collect();
        let (labels, _) = lloyd_from(&data, init, 300);
        assert_eq!(labels, us(&c["labels"]), "case {i}");
    }
}

#[test]
fn logistic_regression_agrees_with_sklearn() {
    let mut worst = 0.0f64;
    for (i, c) in each("logreg").iter().enumerate() {
        let x: Vec<Vec<f64>> = c["x_train"].as_array().unwrap().iter().map(fs).collect();
        let xt: Vec<Vec<f64>> = c["x_test"].as_array().unwrap().iter().map(fs).collect();
        let lr = LogisticRegression::fit(&x, &us(&c["y_train"]), 1.0, 100);
        let predicted: Vec<usize> = xt.iter().map(|v| lr.predict(v)).collect();
        assert_eq!(predicted, us(&c["predicted"]), "case {i}");
        for (row, reference) in xt.iter().zip(c["decision"].as_array().unwrap().iter().map(fs)) {
            for (a, b) in lr.decision(row).iter().zip(&reference) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    println!("logistic regression: max |decision − sklearn| = {worst:.2e}");
    // Both optimisers stop once every gradient component is ≤ 1e-4, which leaves ~1e-2 of
    // slack in the decision values (measured: 1.1e-2); the predicted labels are identical.
    assert!(worst <= 2e-2, "{worst}");
}

#[test]
fn pair_thresholds_equal_mteb() {
    for (i, c) in each("pair").iter().enumerate() {
        let labels: Vec<bool> = us(&c["labels"]).iter().map(|&l| l == 1).collect();
        let p = pair_scores(&fs(&c["scores"]), &labels, c["high"].as_bool().unwrap()).unwrap();
        for (name, ours) in [
            ("ap", p.ap),
            ("accuracy", p.accuracy),
            ("accuracy_threshold", p.accuracy_threshold),
            ("f1", p.f1),
            ("precision", p.precision),
            ("recall", p.recall),
            ("f1_threshold", p.f1_threshold),
        ] {
            close(ours, f(&c[name]), &format!("case {i} {name}"));
        }
    }
}

#[test]
fn f1_and_accuracy_equal_sklearn() {
    for (i, c) in each("f1").iter().enumerate() {
        let (acc, macro_f1, weighted) = accuracy_f1(&us(&c["truth"]), &us(&c["pred"]));
        close(acc, f(&c["accuracy"]), &format!("accuracy {i}"));
        close(macro_f1, f(&c["macro"]), &format!("macro {i}"));
        close(weighted, f(&c["weighted"]), &format!("weighted {i}"));
    }
}

#[test]
fn undersampling_shuffle_equals_numpy_random_state() {
    for (i, c) in each("shuffle").iter().enumerate() {
        let mut idxs: Vec<usize> = (0..c["n"].as_u64().unwrap() as usize).collect();
        for perm in c["permutations"].as_array().unwrap() {
            Mt19937::new(42).shuffle(&mut idxs);
            assert_eq!(idxs, us(perm), "case {i}");
        }
    }
}

#[test]
fn bitext_scores_equal_sklearn_weighted() {
    for (i, c) in each("bitext").iter().enumerate() {
        let (_, p, r, f1) = mining_scores(&us(&c["predicted"]));
        close(p, f(&c["precision"]), &format!("precision {i}"));
        close(r, f(&c["recall"]), &format!("recall {i}"));
        close(f1, f(&c["f1"]), &format!("f1 {i}"));
    }
}

#[test]
fn task_zips_load_every_task_folder() {
    use std::io::Write;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/tasks");
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for task in ["tatoeba-zh2en-bitext", "hsk-topic-clustering-en"] {
        for entry in std::fs::read_dir(format!("{root}/{task}")).unwrap() {
            let entry = entry.unwrap();
            zip.start_file(format!("bundle/{task}/{}", entry.file_name().to_string_lossy()), opts).unwrap();
            zip.write_all(&std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
    zip.finish().unwrap();
    let tasks = conan_eval::Task::from_zip(buf.get_ref()).unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t.meta.name.as_str()).collect();
    assert_eq!(names, ["hsk-topic-clustering-en", "tatoeba-zh2en-bitext"]);
    let direct = conan_eval::Task::load_dir(std::path::Path::new(&format!("{root}/tatoeba-zh2en-bitext"))).unwrap();
    assert_eq!(tasks[1], direct);
    assert!(conan_eval::Task::from_zip(b"not a zip").unwrap_err().to_string().contains("not a readable zip"));
}
