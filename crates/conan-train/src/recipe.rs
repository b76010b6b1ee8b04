//! The Conan-Embedding-v2 recipe (arXiv 2509.12892) as small, separately tested pieces:
//! the soft-mask schedule, the losses and the dynamic hard-negative rule. The training
//! loop in [`crate::train`] only wires them together.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use conan_model::model::l2_normalize;

/// Soft mask schedule α(t) = t/τ: causal attention at the start of the weakly supervised
/// stage, opening to fully bidirectional once t reaches τ.
pub fn soft_mask_alpha(step: usize, tau: usize) -> f32 {
    if tau == 0 { 1.0 } else { (step as f32 / tau as f32).min(1.0) }
}

/// Learning rate: linear warm-up, then cosine decay to a tenth of the peak.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    let floor = peak * 0.1;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

/// The paper's dynamic hard-negative rule: a negative is replaced when it was easy from
/// the start (initial score `s0` < 0.4) or when the model has learnt to push it away
/// (now `1.2·s_now < s0` and `s_now < 0.7`).
pub fn replace_negative(s0: f32, s_now: f32) -> bool {
    s0 < 0.4 || (1.2 * s_now < s0 && s_now < 0.7)
}

/// InfoNCE with in-batch negatives: `queries` `[n, d]` and `passages` `[m, d]` (m ≥ n),
/// both unit-length; the positive of query i is passage i, every other passage (including
/// extra hard negatives and remembered vectors after the first n) is a negative, except the
/// `(query, passage)` cells in `exclude` (known translations: not negatives). Returns the
/// mean loss `[1]`.
pub fn info_nce(queries: Tensor<2>, passages: Tensor<2>, temperature: f64, exclude: &[(usize, usize)]) -> Tensor<1> {
    let [n, _] = queries.dims();
    let [m, _] = passages.dims();
    let device = queries.device();
    let mut logits = queries.matmul(passages.transpose()).div_scalar(temperature);
    if !exclude.is_empty() {
        // A large negative bias rather than −∞: softmax stays finite, the cell's weight is 0.
        let mut bias = vec![0.0f32; n * m];
        for &(q, p) in exclude {
            if q < n && p < m && p != q {
                bias[q * m + p] = -1e4;
            }
        }
        logits = logits + Tensor::<2>::from_data(TensorData::new(bias, [n, m]), &device);
    }
    let mut pick = vec![0.0f32; n * m];
    for i in 0..n {
        pick[i * m + i] = 1.0;
    }
    let pick = Tensor::<2>::from_data(TensorData::new(pick, [n, m]), &device);
    (log_softmax(logits, 1) * pick).sum().neg().div_scalar(n as f64)
}

/// Distillation without a projection head: the student's cosine-similarity matrix over a
/// batch should match the teacher's (student 256-d, teacher 512-d). Both inputs unit-length.
pub fn similarity_distillation(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let s = student.clone().matmul(student.transpose());
    let t = teacher.clone().matmul(teacher.transpose());
    (s - t).square().mean()
}

/// Distillation through a head: `projected` `[n, t]` (the student's vectors after the
/// head) against the teacher's `[n, t]`; 1 − mean cosine. Neither input need be unit-length.
pub fn head_distillation(projected: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let [n, _] = projected.dims();
    let cos = (l2_normalize(projected) * l2_normalize(teacher)).sum_dim(1);
    cos.sum().div_scalar(n as f64).neg().add_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn tensor(rows: &[[f32; 2]]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        l2_normalize(Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &device()))
    }

    #[test]
    fn alpha_goes_from_causal_to_bidirectional() {
        assert_eq!(soft_mask_alpha(0, 100), 0.0);
        assert_eq!(soft_mask_alpha(50, 100), 0.5);
        assert_eq!(soft_mask_alpha(250, 100), 1.0);
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        assert!(learning_rate(0, 1000, 100, 1e-3) < 2e-5);
        assert!((learning_rate(99, 1000, 100, 1e-3) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(1000, 1000, 100, 1e-3) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn dynamic_negative_rule_matches_the_paper() {
        assert!(replace_negative(0.3, 0.3), "easy from the start");
        assert!(replace_negative(0.6, 0.45), "pushed away: 0.54 < 0.6 and 0.45 < 0.7");
        assert!(!replace_negative(0.6, 0.55), "still hard");
        assert!(!replace_negative(0.9, 0.72), "dropped but still above 0.7");
    }

    #[test]
    fn info_nce_is_low_when_positives_win_and_matches_the_formula() {
        let q = tensor(&[[1.0, 0.0], [0.0, 1.0]]);
        let good = info_nce(q.clone(), q.clone(), 0.05, &[]).into_scalar::<f32>();
        let swapped = tensor(&[[0.0, 1.0], [1.0, 0.0]]);
        let bad = info_nce(q.clone(), swapped, 0.05, &[]).into_scalar::<f32>();
        assert!(good < 1e-6 && bad > 10.0, "good {good}, bad {bad}");
        // Hand value: logits [1, 0]/τ with τ = 1 → −log(e / (e + 1)).
        let one = info_nce(q.clone(), q, 1.0, &[]).into_scalar::<f32>();
        let expected = -(1f32.exp() / (1f32.exp() + 1.0)).ln();
        assert!((one - expected).abs() < 1e-6);
    }

    #[test]
    fn excluded_cells_are_not_negatives() {
        // Query 0's positive is passage 0; passage 2 equals it (a second translation).
        let q = tensor(&[[1.0, 0.0], [0.0, 1.0]]);
        let p = tensor(&[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
        let with = info_nce(q.clone(), p.clone(), 1.0, &[]).into_scalar::<f32>();
        let without = info_nce(q.clone(), p, 1.0, &[(0, 2)]).into_scalar::<f32>();
        // Query 0 alone: −log(e/(e+1+e)) with the duplicate, −log(e/(e+1)) without.
        let e = 1f32.exp();
        let q1 = -(e / (e + 1.0 + 1.0)).ln();
        assert!((with - (-(e / (2.0 * e + 1.0)).ln() + q1) / 2.0).abs() < 1e-5, "{with}");
        assert!((without - (-(e / (e + 1.0)).ln() + q1) / 2.0).abs() < 1e-5, "{without}");
    }

    #[test]
    fn head_distillation_is_one_minus_the_mean_cosine() {
        let d = |v: Vec<f32>, rows: usize| Tensor::<2>::from_data(TensorData::new(v, [rows, 2]), &device());
        // Same directions at other lengths: 0. Orthogonal: 1. Opposite: 2. Mixed: the mean.
        assert!(head_distillation(d(vec![2.0, 0.0], 1), d(vec![0.5, 0.0], 1)).into_scalar::<f32>().abs() < 1e-6);
        assert!(
            (head_distillation(d(vec![1.0, 0.0], 1), d(vec![0.0, 3.0], 1)).into_scalar::<f32>() - 1.0).abs() < 1e-6
        );
        let mixed =
            head_distillation(d(vec![1.0, 0.0, 1.0, 0.0], 2), d(vec![-1.0, 0.0, 0.0, 1.0], 2)).into_scalar::<f32>();
        assert!((mixed - 1.5).abs() < 1e-6, "{mixed}");
    }

    #[test]
    fn distillation_is_zero_for_the_same_geometry_in_other_dims() {
        let s = tensor(&[[1.0, 0.0], [0.6, 0.8]]);
        let t3 = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 0.6, 0.0, 0.8], [2, 3]), &device());
        assert!(similarity_distillation(s.clone(), t3).into_scalar::<f32>() < 1e-12);
        let other = tensor(&[[1.0, 0.0], [0.0, 1.0]]);
        assert!(similarity_distillation(s, other).into_scalar::<f32>() > 0.1);
    }
}
