//! Classification as MTEB's AbsTaskClassification runs it: `n_experiments` undersampled
//! training sets (numpy `RandomState(42).shuffle` of carried-over indices, the first
//! `samples_per_label` of each label), an L2 logistic regression (C = 1, max_iter = 100,
//! gradient tolerance 1e-4, intercept unpenalised — scikit-learn's defaults; binary for two
//! classes, multinomial otherwise), accuracy and macro / weighted F1 averaged over runs.
//! The optimiser is our L-BFGS, not scipy's, so coefficients agree with scikit-learn's
//! to the optimiser's tolerance rather than bit for bit.

use std::collections::BTreeMap;

use super::rng::Mt19937;

/// The most multiply-adds a classification task may cost ([`classification_ops`]). Measured
/// on this project's 2-core machine (debug build, the evaluator at opt-level 2): 300 labels
/// (an estimate of 3.7e11) took 44 s, so the budget is a few minutes at most; 1,000 labels
/// (4.2e12) are refused.
pub const MAX_CLASSIFICATION_OPS: f64 = 2e12;

/// Worst-case multiply-adds of a classification task: per experiment, `max_iter` passes of
/// the logistic regression over the undersampled rows (one score per class and row, and
/// its gradient: 2 × rows × classes × (dim + 1); line-search steps aside), and the two kNN
/// scans of every test row against them. Cost grows with the square of the label count,
/// since the undersampled rows grow with it too.
pub fn classification_ops(
    labels: usize,
    train_rows: usize,
    test_rows: usize,
    dim: usize,
    experiments: usize,
    max_iter: usize,
) -> f64 {
    let score_rows = if labels == 2 { 1 } else { labels } as f64;
    let (train, test, dim) = (train_rows as f64, test_rows as f64, dim as f64);
    experiments as f64 * (max_iter as f64 * 2.0 * train * score_rows * (dim + 1.0) + 2.0 * test * train * dim)
}

/// MTEB v2's undersampling: shuffle the carried-over `order` with a fresh
/// `RandomState(seed)`, then keep the first `per_label` indices of each label.
pub fn undersample(labels: &[usize], order: &mut Vec<usize>, per_label: usize, seed: u32) -> Vec<usize> {
    if order.is_empty() {
        *order = (0..labels.len()).collect();
    }
    Mt19937::new(seed).shuffle(order);
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    order
        .iter()
        .copied()
        .filter(|&i| {
            let c = taken.entry(labels[i]).or_default();
            *c += 1;
            *c <= per_label
        })
        .collect()
}

/// Accuracy, macro F1 and weighted F1 as scikit-learn (labels = union of true and
/// predicted; F1 of a label with no true and no predicted examples is 0).
pub fn accuracy_f1(truth: &[usize], predicted: &[usize]) -> (f64, f64, f64) {
    let n = truth.len() as f64;
    let accuracy = truth.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64 / n;
    // One pass for the counts (label → true positives, support, predicted), so the cost is
    // linear in the rows however many labels there are.
    let mut counts: BTreeMap<usize, [f64; 3]> = BTreeMap::new();
    for (&t, &p) in truth.iter().zip(predicted) {
        let c = counts.entry(t).or_default();
        c[1] += 1.0;
        if t == p {
            c[0] += 1.0;
        }
        counts.entry(p).or_default()[2] += 1.0;
    }
    let (mut macro_sum, mut weighted_sum) = (0.0, 0.0);
    for [tp, support, predicted_l] in counts.values() {
        let denom = support + predicted_l;
        let f1 = if denom > 0.0 { 2.0 * tp / denom } else { 0.0 };
        macro_sum += f1;
        weighted_sum += f1 * support;
    }
    (accuracy, macro_sum / counts.len() as f64, weighted_sum / n)
}

/// Bitext mining scores as MTEB: the gold match of item i is i; accuracy, and
/// scikit-learn's weighted precision, recall and F1 (zero_division = 0).
pub fn mining_scores(predicted: &[usize]) -> (f64, f64, f64, f64) {
    let n = predicted.len();
    let mut predicted_count = vec![0usize; n];
    predicted.iter().for_each(|&p| predicted_count[p] += 1);
    let (mut p_sum, mut r_sum, mut f_sum, mut correct) = (0.0, 0.0, 0.0, 0usize);
    for (i, &p) in predicted.iter().enumerate() {
        let tp = usize::from(p == i) as f64;
        correct += usize::from(p == i);
        let precision = if predicted_count[i] > 0 { tp / predicted_count[i] as f64 } else { 0.0 };
        let recall = tp; // support of each gold label is 1
        p_sum += precision;
        r_sum += recall;
        f_sum += if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    }
    let n = n as f64;
    (correct as f64 / n, p_sum / n, r_sum / n, f_sum / n)
}

/// A fitted linear classifier: `classes[argmax(W x + b)]`.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    pub classes: Vec<usize>,
    /// One row per class (binary: one row, positive class = classes[1]).
    pub weights: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
    pub iterations: usize,
}

impl LogisticRegression {
    /// Fit with scikit-learn's objective: mean log-loss + ‖W‖² / (2·C·n).
    pub fn fit(x: &[Vec<f64>], y: &[usize], c: f64, max_iter: usize) -> Self {
        let mut classes: Vec<usize> = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        assert!(classes.len() >= 2, "logistic regression needs two classes");
        let dim = x[0].len();
        let rows = if classes.len() == 2 { 1 } else { classes.len() };
        let target: Vec<usize> = y.iter().map(|v| classes.binary_search(v).unwrap()).collect();
        let n = x.len() as f64;
        let reg = 1.0 / (c * n);
        let stride = dim + 1; // weights then intercept, per row

        let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
            grad.fill(0.0);
            let mut loss = 0.0;
            let mut z = vec![0.0; rows];
            for (xi, &ti) in x.iter().zip(&target) {
                for (r, zr) in z.iter_mut().enumerate() {
                    let w = &theta[r * stride..r * stride + dim];
                    *zr = w.iter().zip(xi).map(|(a, b)| a * b).sum::<f64>() + theta[r * stride + dim];
                }
                if rows == 1 {
                    // y ∈ {−1, +1}: log(1 + e^{−y z}), computed stably.
                    let s = if ti == 1 { 1.0 } else { -1.0 };
                    let m = -s * z[0];
                    loss += if m > 0.0 { m + (-m).exp().ln_1p() } else { m.exp().ln_1p() };
                    let coef = -s / (1.0 + (s * z[0]).exp());
                    for (g, v) in grad[..dim].iter_mut().zip(xi) {
                        *g += coef * v / n;
                    }
                    grad[dim] += coef / n;
                } else {
                    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                    loss += max + sum.ln() - z[ti];
                    for r in 0..rows {
                        let p = (z[r] - max).exp() / sum - if r == ti { 1.0 } else { 0.0 };
                        let g = &mut grad[r * stride..(r + 1) * stride];
                        for (gk, v) in g[..dim].iter_mut().zip(xi) {
                            *gk += p * v / n;
                        }
                        g[dim] += p / n;
                    }
                }
            }
            let mut penalty = 0.0;
            for r in 0..rows {
                for k in 0..dim {
                    let w = theta[r * stride + k];
                    penalty += w * w;
                    grad[r * stride + k] += reg * w;
                }
            }
            loss / n + 0.5 * reg * penalty
        };

        let (theta, iterations) = lbfgs(vec![0.0; rows * stride], objective, max_iter, 1e-4);
        Self {
            weights: (0..rows).map(|r| theta[r * stride..r * stride + dim].to_vec()).collect(),
            intercepts: (0..rows).map(|r| theta[r * stride + dim]).collect(),
            classes,
            iterations,
        }
    }

    pub fn decision(&self, x: &[f64]) -> Vec<f64> {
        self.weights
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| w.iter().zip(x).map(|(a, v)| a * v).sum::<f64>() + b)
            .collect()
    }

    pub fn predict(&self, x: &[f64]) -> usize {
        let z = self.decision(x);
        if z.len() == 1 {
            return self.classes[usize::from(z[0] > 0.0)];
        }
        // argmax; the first maximum wins, as numpy's argmax.
        let best = z.iter().enumerate().fold(0, |b, (i, v)| if *v > z[b] { i } else { b });
        self.classes[best]
    }
}

/// Limited-memory BFGS (m = 10) with a backtracking Armijo line search. Stops when the
/// largest gradient component is ≤ `gtol` (scipy's `pgtol` for an unbounded problem).
fn lbfgs(
    mut theta: Vec<f64>,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    max_iter: usize,
    gtol: f64,
) -> (Vec<f64>, usize) {
    let n = theta.len();
    let mut grad = vec![0.0; n];
    let mut value = f(&theta, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let dotp = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for iter in 0..max_iter {
        if grad.iter().all(|g| g.abs() <= gtol) {
            return (theta, iter);
        }
        // Two-loop recursion for the search direction −H·g.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dotp(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma =
            history.back().map_or(1.0 / dotp(&grad, &grad).sqrt().max(1e-12), |(s, y, _)| dotp(s, y) / dotp(y, y));
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dotp(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dotp(&grad, &direction);
        if slope >= 0.0 {
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let mut new_grad = vec![0.0; n];
        let mut new_theta;
        loop {
            new_theta = theta.iter().zip(&direction).map(|(t, d)| t + step * d).collect::<Vec<_>>();
            let new_value = f(&new_theta, &mut new_grad);
            if new_value <= value + 1e-4 * step * slope || step < 1e-12 {
                value = new_value;
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = new_theta.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = new_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dotp(&s, &y);
        if sy > 1e-12 {
            if history.len() == 10 {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        theta = new_theta;
        grad = new_grad;
    }
    (theta, max_iter)
}

/// k-nearest-neighbour prediction (uniform vote; a tied vote goes to the smallest label,
/// as scikit-learn's `weighted_mode`). `distance` is lower-is-closer.
pub fn knn_predict(
    train: &[Vec<f64>],
    labels: &[usize],
    query: &[f64],
    k: usize,
    distance: impl Fn(&[f64], &[f64]) -> f64,
) -> usize {
    let mut d: Vec<(f64, usize)> = train.iter().enumerate().map(|(i, x)| (distance(x, query), i)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
    for &(_, i) in d.iter().take(k) {
        *votes.entry(labels[i]).or_default() += 1;
    }
    let best = votes.values().copied().max().unwrap_or(0);
    votes.into_iter().find(|&(_, v)| v == best).map(|(l, _)| l).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_matches_sklearn_example() {
        // sklearn docs: y_true=[0,1,2,0,1,2], y_pred=[0,2,1,0,0,1] → macro 0.2667, weighted 0.2667
        let (acc, macro_f1, weighted) = accuracy_f1(&[0, 1, 2, 0, 1, 2], &[0, 2, 1, 0, 0, 1]);
        assert!((acc - 1.0 / 3.0).abs() < 1e-12);
        assert!((macro_f1 - 0.266_666_666_666_666_66).abs() < 1e-12);
        assert!((weighted - 0.266_666_666_666_666_66).abs() < 1e-12);
    }

    #[test]
    fn logistic_regression_separates_and_converges() {
        let x: Vec<Vec<f64>> =
            (0..30).map(|i| vec![(i % 3) as f64 + 0.1 * (i as f64 / 30.0), 1.0 - (i % 3) as f64]).collect();
        let y: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let lr = LogisticRegression::fit(&x, &y, 1.0, 100);
        assert!(lr.iterations < 100);
        let acc = x.iter().zip(&y).filter(|(xi, yi)| lr.predict(xi) == **yi).count();
        assert_eq!(acc, 30);
    }
}
