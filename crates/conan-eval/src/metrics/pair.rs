//! Pair classification as MTEB's PairClassificationEvaluator: average precision per score
//! function and the best-threshold accuracy and F1, with MTEB's exact threshold search
//! (stable sort, last row skipped, strict improvements only, ties not grouped).

use super::ranking::average_precision;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PairScores {
    pub ap: f64,
    pub accuracy: f64,
    pub accuracy_threshold: f64,
    pub f1: f64,
    pub f1_threshold: f64,
    pub precision: f64,
    pub recall: f64,
}

/// `high_is_similar` is false for distances (euclidean, manhattan).
pub fn pair_scores(scores: &[f64], labels: &[bool], high_is_similar: bool) -> Option<PairScores> {
    let sign = if high_is_similar { 1.0 } else { -1.0 };
    let signed: Vec<f64> = scores.iter().map(|s| s * sign).collect();
    let ap = average_precision(labels, &signed)?;
    let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // Python's sorted(reverse=True) is stable: equal scores keep their input order.
    if high_is_similar {
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    } else {
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let n = labels.len() as f64;

    let (mut max_acc, mut acc_threshold) = (0.0, -1.0);
    let mut positives_so_far = 0usize;
    let mut remaining_negatives = labels.iter().filter(|&&l| !l).count();
    for i in 0..rows.len().saturating_sub(1) {
        if rows[i].1 {
            positives_so_far += 1
        } else {
            remaining_negatives -= 1
        }
        let acc = (positives_so_far + remaining_negatives) as f64 / n;
        if acc > max_acc {
            max_acc = acc;
            acc_threshold = (rows[i].0 + rows[i + 1].0) / 2.0;
        }
    }

    let total_positive = labels.iter().filter(|&&l| l).count() as f64;
    let (mut best_f1, mut best_p, mut best_r, mut f1_threshold) = (0.0, 0.0, 0.0, 0.0);
    let (mut extracted, mut correct) = (0usize, 0usize);
    for i in 0..rows.len().saturating_sub(1) {
        extracted += 1;
        if rows[i].1 {
            correct += 1;
        }
        if correct > 0 {
            let p = correct as f64 / extracted as f64;
            let r = correct as f64 / total_positive;
            let f1 = 2.0 * p * r / (p + r);
            if f1 > best_f1 {
                (best_f1, best_p, best_r) = (f1, p, r);
                f1_threshold = (rows[i].0 + rows[i + 1].0) / 2.0;
            }
        }
    }
    Some(PairScores {
        ap,
        accuracy: max_acc,
        accuracy_threshold: acc_threshold,
        f1: best_f1,
        f1_threshold,
        precision: best_p,
        recall: best_r,
    })
}
