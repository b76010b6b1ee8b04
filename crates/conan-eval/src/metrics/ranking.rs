//! Ranking metrics: average precision as scikit-learn computes it, and the retrieval
//! measures of trec_eval (as pytrec_eval runs them for MTEB) plus MTEB's MRR@k.

use std::cmp::Ordering;
use std::collections::HashMap;

/// `sklearn.metrics.average_precision_score(labels, scores)`: Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the
/// distinct score thresholds, highest first; tied scores form one threshold and there is
/// no interpolation. `None` when there is no positive label (sklearn warns and gives NaN).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Option<f64> {
    assert_eq!(labels.len(), scores.len());
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        // Take every item tied at this score before measuring.
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    Some(ap)
}

/// trec_eval's order: score descending, ties by document id descending (byte-wise
/// `strcmp`). MTEB ≥ 2.18.19 breaks MRR ties the same way, so one ranking serves all.
pub fn trec_order(a: (&str, f64), b: (&str, f64)) -> Ordering {
    b.1.total_cmp(&a.1).then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
}

/// One query's retrieval measures at cutoff `k`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AtK {
    pub ndcg: f64,
    pub map: f64,
    pub recall: f64,
    pub precision: f64,
    pub mrr: f64,
}

/// trec_eval `ndcg_cut`, `map_cut`, `recall`, `P` and MTEB's MRR at each `k`, for one
/// query. `ranked` is the run in [`trec_order`]; `qrels` maps document ids to graded
/// relevance, where ≥ 1 is relevant (trec_eval's relevance_level) and the gain of a
/// document is its relevance value (not 2^rel − 1). Unjudged documents are non-relevant.
pub fn retrieval_at(ranked: &[&str], qrels: &HashMap<String, i64>, ks: &[usize]) -> Vec<AtK> {
    let rel = |doc: &str| qrels.get(doc).copied().unwrap_or(0);
    let num_rel = qrels.values().filter(|&&r| r >= 1).count();
    let mut ideal: Vec<i64> = qrels.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));

    ks.iter()
        .map(|&k| {
            let mut out = AtK::default();
            let (mut found, mut dcg, mut ap_sum) = (0usize, 0.0, 0.0);
            for (i, doc) in ranked.iter().take(k).enumerate() {
                let r = rel(doc);
                if r > 0 {
                    dcg += r as f64 / ((i + 2) as f64).log2();
                }
                if r >= 1 {
                    found += 1;
                    ap_sum += found as f64 / (i + 1) as f64;
                    if out.mrr == 0.0 {
                        out.mrr = 1.0 / (i + 1) as f64;
                    }
                }
            }
            let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &r)| r as f64 / ((i + 2) as f64).log2()).sum();
            out.ndcg = if idcg > 0.0 { dcg / idcg } else { dcg };
            if num_rel > 0 {
                out.map = ap_sum / num_rel as f64;
                out.recall = found as f64 / num_rel as f64;
            }
            out.precision = found as f64 / k as f64;
            out
        })
        .collect()
}

/// MRR@k over a list where `relevant[i]` says whether the i-th ranked item is relevant.
pub fn reciprocal_rank(relevant_in_order: impl IntoIterator<Item = bool>, k: usize) -> f64 {
    relevant_in_order.into_iter().take(k).position(|r| r).map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_matches_hand_computed_values() {
        // sklearn docs example: y=[0,0,1,1], s=[0.1,0.4,0.35,0.8] → 0.8333…
        let ap = average_precision(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((ap - 0.833_333_333_333_333_4).abs() < 1e-12);
        // A tie between a positive and a negative at the top counts as one threshold.
        let ap = average_precision(&[true, false], &[0.5, 0.5]).unwrap();
        assert!((ap - 0.5).abs() < 1e-12);
        assert_eq!(average_precision(&[false], &[1.0]), None);
    }

    #[test]
    fn trec_ties_go_to_the_larger_docno() {
        let mut docs = [("a", 1.0), ("c", 1.0), ("b", 2.0)];
        docs.sort_by(|x, y| trec_order(*x, *y));
        assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), ["b", "c", "a"]);
    }

    #[test]
    fn graded_ndcg_uses_linear_gain() {
        let qrels: HashMap<String, i64> = [("d1".into(), 2), ("d2".into(), 1)].into();
        let m = retrieval_at(&["d2", "x", "d1"], &qrels, &[1, 3]);
        let idcg3 = 2.0 + 1.0 / 3f64.log2();
        assert!((m[1].ndcg - (1.0 + 2.0 / 4f64.log2()) / idcg3).abs() < 1e-12);
        assert!((m[0].ndcg - 0.5).abs() < 1e-12);
        assert!((m[1].map - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!((m[0].recall, m[0].precision, m[0].mrr), (0.5, 1.0, 1.0));
    }
}
