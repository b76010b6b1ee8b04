//! vectors + task → scores, with MTEB's metric names. The caller embeds
//! [`Task::texts`] however it likes (natively, in a browser worker, or from a file) and
//! hands the vectors over in an [`EmbeddingTable`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::metrics::classification::{
    LogisticRegression, MAX_CLASSIFICATION_OPS, accuracy_f1, classification_ops, knn_predict, mining_scores,
    undersample,
};
use crate::metrics::clustering::{kmeans, v_measure};
use crate::metrics::correlation::{pearson, spearman};
use crate::metrics::cosine;
use crate::metrics::pair::pair_scores;
use crate::metrics::ranking::{average_precision, reciprocal_rank, retrieval_at, trec_order};
use crate::task::{Task, TaskData};

/// MTEB's retrieval cutoffs.
pub const K_VALUES: [usize; 7] = [1, 3, 5, 10, 20, 100, 1000];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Classification: undersampled training runs (MTEB: 10).
    pub n_experiments: usize,
    /// Classification: default examples per label when the task does not say (MTEB: 8).
    pub samples_per_label: usize,
    /// Seed for undersampling and k-means (MTEB: 42).
    pub seed: u32,
    /// Logistic regression iterations (MTEB: 100).
    pub max_iter: usize,
    /// kNN classifier neighbours (MTEB: 3).
    pub knn_k: usize,
    /// Retrieval: also score each document by its sentences (`conan_index::window_score`),
    /// under `sentence_window_*` names beside the MTEB-standard metrics. The table must
    /// then hold [`Task::texts_with_sentences`].
    #[serde(default)]
    pub split_sentences: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { n_experiments: 10, samples_per_label: 8, seed: 42, max_iter: 100, knn_k: 3, split_sentences: false }
    }
}

/// Vectors by text.
pub struct EmbeddingTable {
    rows: HashMap<String, Vec<f32>>,
}

impl EmbeddingTable {
    pub fn new<S: AsRef<str>>(texts: &[S], vectors: Vec<Vec<f32>>) -> Result<Self, EvalError> {
        if texts.len() != vectors.len() {
            return Err(EvalError::Embeddings(format!("{} texts but {} vectors", texts.len(), vectors.len())));
        }
        let dims = vectors.first().map_or(0, Vec::len);
        if let Some(v) = vectors.iter().find(|v| v.len() != dims || v.iter().any(|x| !x.is_finite())) {
            return Err(EvalError::Embeddings(format!(
                "vectors must share one length ({dims}) and be finite; found one of length {}",
                v.len()
            )));
        }
        Ok(Self { rows: texts.iter().map(|t| t.as_ref().to_string()).zip(vectors).collect() })
    }

    pub fn get(&self, text: &str) -> Result<&[f32], EvalError> {
        self.rows
            .get(text)
            .map(Vec::as_slice)
            .ok_or_else(|| EvalError::Embeddings(format!("no vector for text {:?}", truncate(text))))
    }

    /// The same vectors cut to their first `dims` values and re-normalised: what a
    /// Matryoshka model gives at `dims` (scaling a vector does not change its direction).
    pub fn truncated(&self, dims: usize) -> Self {
        let rows = self
            .rows
            .iter()
            .map(|(t, v)| {
                let cut = &v[..dims.min(v.len())];
                let norm = cut.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                (t.clone(), cut.iter().map(|x| x / norm).collect())
            })
            .collect();
        Self { rows }
    }

    fn f64s(&self, text: &str) -> Result<Vec<f64>, EvalError> {
        Ok(self.get(text)?.iter().map(|&x| f64::from(x)).collect())
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(60).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScores {
    pub main_metric: String,
    pub main_score: f64,
    pub scores: BTreeMap<String, f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

fn manhattan(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

fn cosine_distance(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.iter().map(|x| x * x).sum::<f64>().sqrt(), b.iter().map(|x| x * x).sum::<f64>().sqrt());
    1.0 - if na == 0.0 || nb == 0.0 { 0.0 } else { a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb) }
}

/// Map string labels to 0..n in sorted order (scikit-learn's `classes_` order).
fn encode_labels<'a>(labels: impl Iterator<Item = &'a str>) -> (Vec<usize>, Vec<String>) {
    let labels: Vec<&str> = labels.collect();
    let mut classes: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    classes.sort();
    classes.dedup();
    let ids = labels.iter().map(|l| classes.binary_search_by(|c| c.as_str().cmp(l)).unwrap()).collect();
    (ids, classes)
}

/// MTEB's retrieval metrics at [`K_VALUES`] into `out`, each name prefixed by `prefix`;
/// `score` gives every document's score for a query vector.
fn retrieval_metrics<'a>(
    queries: &[(&str, &[f32])],
    qrels: &BTreeMap<String, HashMap<String, i64>>,
    prefix: &str,
    out: &mut BTreeMap<String, f64>,
    score: impl Fn(&[f32]) -> Vec<(&'a str, f64)>,
) {
    let mut sums = vec![[0.0f64; 5]; K_VALUES.len()];
    for (qid, q) in queries {
        let mut scored = score(q);
        scored.sort_by(|a, b| trec_order(*a, *b));
        let ranked: Vec<&str> = scored.iter().take(1000).map(|d| d.0).collect();
        for (sum, m) in sums.iter_mut().zip(retrieval_at(&ranked, &qrels[*qid], &K_VALUES)) {
            for (acc, v) in sum.iter_mut().zip([m.ndcg, m.map, m.recall, m.precision, m.mrr]) {
                *acc += v;
            }
        }
    }
    let n = queries.len() as f64;
    for (k, sum) in K_VALUES.iter().zip(sums) {
        for (name, v) in ["ndcg", "map", "recall", "precision", "mrr"].iter().zip(sum) {
            out.insert(format!("{prefix}{name}_at_{k}"), v / n);
        }
    }
}

pub fn evaluate(task: &Task, table: &EmbeddingTable, opts: &EvalOptions) -> Result<TaskScores, EvalError> {
    let mut s: BTreeMap<String, f64> = BTreeMap::new();
    match &task.data {
        TaskData::Retrieval { corpus, queries, qrels } => {
            let docs: Vec<(&str, &[f32])> =
                corpus.iter().map(|(id, t)| Ok((id.as_str(), table.get(t)?))).collect::<Result<_, EvalError>>()?;
            let queries: Vec<(&str, &[f32])> =
                queries.iter().map(|(id, t)| Ok((id.as_str(), table.get(t)?))).collect::<Result<_, EvalError>>()?;
            retrieval_metrics(&queries, qrels, "", &mut s, |q| {
                docs.iter().map(|(id, d)| (*id, cosine(q, d))).collect()
            });
            if opts.split_sentences {
                // Per document: its sentences' vectors when it has more than one.
                let sentences: Vec<Vec<&[f32]>> = corpus
                    .iter()
                    .map(|(_, t)| conan_index::window_sentences(t).iter().map(|s| table.get(s)).collect())
                    .collect::<Result<_, EvalError>>()?;
                retrieval_metrics(&queries, qrels, "sentence_window_", &mut s, |q| {
                    docs.iter()
                        .zip(&sentences)
                        .map(|((id, d), sent)| {
                            let best = sent.iter().map(|v| cosine(q, v)).reduce(f64::max);
                            (*id, conan_index::window_score(cosine(q, d), best))
                        })
                        .collect()
                });
            }
        }
        TaskData::Bitext(pairs) => {
            let right: Vec<&[f32]> = pairs.iter().map(|(_, b)| table.get(b)).collect::<Result<_, _>>()?;
            let mut predicted = Vec::with_capacity(pairs.len());
            for (a, _) in pairs {
                let q = table.get(a)?;
                // The first maximum wins on ties.
                let best = right.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (j, v)| {
                    let c = cosine(q, v);
                    if c > b.1 { (j, c) } else { b }
                });
                predicted.push(best.0);
            }
            let (accuracy, precision, recall, f1) = mining_scores(&predicted);
            s.insert("accuracy".into(), accuracy);
            s.insert("precision".into(), precision);
            s.insert("recall".into(), recall);
            s.insert("f1".into(), f1);
        }
        TaskData::Classification { train, test } => {
            let x_train: Vec<Vec<f64>> = train.iter().map(|(t, _)| table.f64s(t)).collect::<Result<_, _>>()?;
            let x_test: Vec<Vec<f64>> = test.iter().map(|(t, _)| table.f64s(t)).collect::<Result<_, _>>()?;
            let (ids, classes) = encode_labels(train.iter().chain(test).map(|(_, l)| l.as_str()));
            let (y_train, y_test) = ids.split_at(train.len());
            let per_label = task.meta.samples_per_label.unwrap_or(opts.samples_per_label);
            let sampled = (per_label * classes.len()).min(train.len());
            let experiments = opts.n_experiments.max(1);
            let dim = x_train.first().map_or(0, Vec::len);
            let ops = classification_ops(classes.len(), sampled, test.len(), dim, experiments, opts.max_iter);
            if ops > MAX_CLASSIFICATION_OPS {
                return Err(EvalError::Task {
                    file: "train.jsonl".into(),
                    line: None,
                    message: format!(
                        "{} labels: {experiments} experiments on {sampled} training rows of {dim} dims could cost {ops:.1e} \
                         multiply-adds, over the evaluator's {MAX_CLASSIFICATION_OPS:.0e} (cost grows with the square of \
                         the label count); use fewer labels, a smaller samples_per_label, or fewer dims",
                        classes.len()
                    ),
                });
            }
            let mut order = Vec::new();
            let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for _ in 0..experiments {
                let picked = undersample(y_train, &mut order, per_label, opts.seed);
                let x: Vec<Vec<f64>> = picked.iter().map(|&i| x_train[i].clone()).collect();
                let y: Vec<usize> = picked.iter().map(|&i| y_train[i]).collect();
                if y.iter().all(|&c| c == y[0]) {
                    return Err(EvalError::Task {
                        file: "train.jsonl".into(),
                        line: None,
                        message: format!("one class only after undersampling ({})", classes[y[0]]),
                    });
                }
                let lr = LogisticRegression::fit(&x, &y, 1.0, opts.max_iter);
                let pred: Vec<usize> = x_test.iter().map(|v| lr.predict(v)).collect();
                let (acc, f1, f1w) = accuracy_f1(y_test, &pred);
                runs.entry("accuracy".into()).or_default().push(acc);
                runs.entry("f1".into()).or_default().push(f1);
                runs.entry("f1_weighted".into()).or_default().push(f1w);
                for (name, dist) in [("cosine", cosine_distance as fn(&[f64], &[f64]) -> f64), ("euclidean", euclidean)]
                {
                    let pred: Vec<usize> = x_test.iter().map(|v| knn_predict(&x, &y, v, opts.knn_k, dist)).collect();
                    let (acc, f1, _) = accuracy_f1(y_test, &pred);
                    runs.entry(format!("knn_accuracy_{name}")).or_default().push(acc);
                    runs.entry(format!("knn_f1_{name}")).or_default().push(f1);
                }
            }
            for (k, v) in runs {
                s.insert(k, mean(&v));
            }
            s.insert("knn_accuracy".into(), s["knn_accuracy_cosine"].max(s["knn_accuracy_euclidean"]));
        }
        TaskData::Clustering(rows) => {
            let x: Vec<Vec<f64>> = rows.iter().map(|(t, _)| table.f64s(t)).collect::<Result<_, _>>()?;
            let (truth, classes) = encode_labels(rows.iter().map(|(_, l)| l.as_str()));
            let predicted = kmeans(&x, classes.len(), opts.seed, 1);
            s.insert("v_measure".into(), v_measure(&truth, &predicted));
        }
        TaskData::Pair(rows) => {
            let labels: Vec<bool> = rows.iter().map(|r| r.2).collect();
            let mut by_fn: Vec<(&str, Vec<f64>, bool)> = vec![
                ("cosine", vec![], true),
                ("dot", vec![], true),
                ("euclidean", vec![], false),
                ("manhattan", vec![], false),
            ];
            for (a, b, _) in rows {
                let (va, vb) = (table.f64s(a)?, table.f64s(b)?);
                by_fn[0].1.push(1.0 - cosine_distance(&va, &vb));
                by_fn[1].1.push(va.iter().zip(&vb).map(|(x, y)| x * y).sum());
                by_fn[2].1.push(euclidean(&va, &vb));
                by_fn[3].1.push(manhattan(&va, &vb));
            }
            for metric in ["ap", "accuracy", "f1", "precision", "recall"] {
                s.insert(format!("max_{metric}"), f64::NEG_INFINITY);
            }
            for (name, scores, high) in by_fn {
                let p = pair_scores(&scores, &labels, high).expect("both labels present (checked at load)");
                for (metric, v) in [
                    ("ap", p.ap),
                    ("accuracy", p.accuracy),
                    ("accuracy_threshold", p.accuracy_threshold),
                    ("f1", p.f1),
                    ("f1_threshold", p.f1_threshold),
                    ("precision", p.precision),
                    ("recall", p.recall),
                ] {
                    s.insert(format!("{name}_{metric}"), v);
                    if let Some(max) = s.get_mut(&format!("max_{metric}")) {
                        *max = max.max(v);
                    }
                }
            }
        }
        TaskData::Sts(rows) => {
            let gold: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let (mut cos, mut euc, mut man) = (vec![], vec![], vec![]);
            for (a, b, _) in rows {
                let (va, vb) = (table.f64s(a)?, table.f64s(b)?);
                cos.push(1.0 - cosine_distance(&va, &vb));
                euc.push(-euclidean(&va, &vb));
                man.push(-manhattan(&va, &vb));
            }
            for (name, scores) in [("cosine", &cos), ("euclidean", &euc), ("manhattan", &man)] {
                s.insert(format!("{name}_pearson"), pearson(&gold, scores).unwrap_or(f64::NAN));
                s.insert(format!("{name}_spearman"), spearman(&gold, scores).unwrap_or(f64::NAN));
            }
            s.insert("pearson".into(), s["cosine_pearson"]);
            s.insert("spearman".into(), s["cosine_spearman"]);
        }
        TaskData::Reranking(items) => {
            let (mut aps, mut mrrs) = (vec![], vec![]);
            for item in items {
                let q = table.get(&item.query)?;
                let mut scores = vec![];
                let mut relevant = vec![];
                for (doc, rel) in
                    item.positive.iter().map(|d| (d, true)).chain(item.negative.iter().map(|d| (d, false)))
                {
                    scores.push(cosine(q, table.get(doc)?));
                    relevant.push(rel);
                }
                aps.push(average_precision(&relevant, &scores).expect("positives present (checked at load)"));
                let mut order: Vec<usize> = (0..scores.len()).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
                mrrs.push(reciprocal_rank(order.iter().map(|&i| relevant[i]), 10));
            }
            s.insert("map".into(), mean(&aps));
            s.insert("mrr_at_10".into(), mean(&mrrs));
        }
    }
    let main_metric = task.main_score().to_string();
    let main_score = *s.get(&main_metric).ok_or_else(|| EvalError::Task {
        file: "task.json".into(),
        line: None,
        message: format!("main_score {main_metric:?} is not a metric of a {:?} task", task.meta.task_type),
    })?;
    Ok(TaskScores { main_metric, main_score, scores: s })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn retrieval_task() -> Task {
        let files: BTreeMap<String, Vec<u8>> = [
            ("task.json", r#"{"name": "t", "type": "retrieval", "languages": ["eng-Latn"], "description": "d", "license": "MIT", "source": "s"}"#),
            (
                "corpus.jsonl",
                "{\"_id\": \"a\", \"text\": \"Cats sleep. Dogs bark.\"}\n{\"_id\": \"b\", \"text\": \"Birds fly.\"}\n",
            ),
            ("queries.jsonl", "{\"_id\": \"q\", \"text\": \"狗叫。\"}\n"),
            ("qrels.tsv", "query-id\tcorpus-id\tscore\nq\ta\t1\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
        Task::from_files(&files).unwrap()
    }

    /// The query is "Dogs bark." in other words; its passage's own vector is mostly about
    /// cats, so only the sentence window ranks it first.
    #[test]
    fn sentence_window_lifts_the_passage_of_the_matching_sentence() {
        let task = retrieval_task();
        assert_eq!(task.texts_with_sentences()[task.texts().len()..], ["Cats sleep.", "Dogs bark."]);
        let n = |v: [f32; 3]| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.map(|x| x / norm).to_vec()
        };
        let texts = ["狗叫。", "Cats sleep. Dogs bark.", "Birds fly.", "Cats sleep.", "Dogs bark."];
        let vectors =
            vec![n([0.0, 1.0, 0.0]), n([1.0, 0.3, 0.0]), n([0.0, 0.6, 1.0]), n([1.0, 0.0, 0.0]), n([0.0, 1.0, 0.1])];
        let table = EmbeddingTable::new(&texts, vectors).unwrap();
        let plain = evaluate(&task, &table, &EvalOptions::default()).unwrap();
        let split = evaluate(&task, &table, &EvalOptions { split_sentences: true, ..EvalOptions::default() }).unwrap();
        assert_eq!(plain.scores["mrr_at_10"], 0.5);
        assert_eq!(split.scores["sentence_window_mrr_at_10"], 1.0);
        // The MTEB-standard metrics do not change, and stay the main score.
        for (name, v) in &plain.scores {
            assert_eq!(split.scores[name], *v, "{name}");
        }
        assert_eq!(split.main_score, plain.main_score);
        assert!(!plain.scores.keys().any(|k| k.starts_with("sentence_window_")));
        // Without the sentences' vectors the table cannot score the window.
        let short = EmbeddingTable::new(&texts[..3], table_rows(&table, &texts[..3])).unwrap();
        let err = evaluate(&task, &short, &EvalOptions { split_sentences: true, ..EvalOptions::default() });
        assert!(err.unwrap_err().to_string().contains("Cats sleep."));
    }

    fn table_rows(table: &EmbeddingTable, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| table.get(t).unwrap().to_vec()).collect()
    }
}
