//! The losses of the Conan-Embedding-v2 recipe (arXiv 2509.12892) as small, separately
//! tested pieces: InfoNCE, similarity-matrix and head distillation, and the step's
//! contrastive and distillation terms built from them. The training loop in
//! [`crate::train`] only wires them together.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use conan_model::model::l2_normalize;

use crate::batching::StepBatch;
use crate::corpus::Teacher;
use crate::memory::Remembered;
use crate::negatives::Exclusions;
use crate::recipe::DistillTarget;

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

/// The contrastive term of one step: InfoNCE zh → en and en → zh at each Matryoshka width,
/// averaged. Passages: zh → en sees the batch's English, the hard negatives, then the
/// remembered English; en → zh the batch's Chinese, then the remembered Chinese; with
/// same-language negatives, the batch's rows in the query's own language last (the order
/// [`crate::negatives::Translations::exclusions`] numbers its cells in).
pub struct Contrastive<'a> {
    /// Raw pooled vectors `[2n + hard, h]`: Chinese 0..n, English n..2n, then the hard
    /// negatives.
    pub pooled: &'a Tensor<2>,
    /// `pooled` normalised at full width.
    pub full: &'a Tensor<2>,
    pub n: usize,
    pub hard: usize,
    pub remembered: Option<&'a Remembered>,
    pub same_language: bool,
    /// Cells pairing a query with one of its translations: left out.
    pub exclusions: &'a Exclusions,
}

impl Contrastive<'_> {
    /// The mean over `dims` (prefix widths) and both directions, `[1]`.
    pub fn loss(&self, dims: &[usize], temperature: f64, device: &Device) -> Tensor<1> {
        let (n, pooled, full) = (self.n, self.pooled, self.full);
        let [_, h] = full.dims();
        let mut contrastive = Tensor::<1>::zeros([1], device);
        for &d in dims {
            let e = if d == h { full.clone() } else { l2_normalize(pooled.clone().narrow(1, 0, d)) };
            let zh = e.clone().narrow(0, 0, n);
            let en = e.clone().narrow(0, n, n);
            let mut en_passages = vec![en.clone()];
            if self.hard > 0 {
                en_passages.push(e.clone().narrow(0, 2 * n, self.hard));
            }
            let mut zh_passages = vec![zh.clone()];
            if let Some(m) = self.remembered {
                en_passages.push(l2_normalize(m.en_vectors.clone().narrow(1, 0, d)));
                zh_passages.push(l2_normalize(m.zh_vectors.clone().narrow(1, 0, d)));
            }
            if self.same_language {
                en_passages.push(zh.clone());
                zh_passages.push(en.clone());
            }
            contrastive = contrastive
                + info_nce(zh, Tensor::cat(en_passages, 0), temperature, &self.exclusions.zh_to_en)
                + info_nce(en, Tensor::cat(zh_passages, 0), temperature, &self.exclusions.en_to_zh);
        }
        contrastive.div_scalar((2 * dims.len()) as f64)
    }
}

/// The distillation terms `(similarity, head)` of one step, over the batch's sentence rows
/// (`full`'s Chinese 0..n and English n..2n, unit-length) that have teacher vectors; each
/// `[1]`, zero when fewer than two rows have one, and the head term zero without a head.
pub fn distillation(
    teacher: &Teacher,
    texts: &[String],
    target: DistillTarget,
    batch: &StepBatch,
    full: &Tensor<2>,
    head: Option<&Linear>,
    device: &Device,
) -> (Tensor<1>, Tensor<1>) {
    let n = batch.n();
    let mut distill = Tensor::<1>::zeros([1], device);
    let mut head_loss = Tensor::<1>::zeros([1], device);
    let (mut keep, mut vectors) = (Vec::new(), Vec::new());
    for (row, &text) in batch.rows.iter().enumerate().take(2 * n) {
        let target = if target == DistillTarget::English && row < n { batch.pairs[row].en } else { text };
        if let Some(v) = teacher.get(&texts[target]) {
            keep.push(row as i32);
            vectors.extend_from_slice(v);
        }
    }
    if keep.len() > 1 {
        let k = keep.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(keep, [k]), device);
        let t = Tensor::<2>::from_data(TensorData::new(vectors, [k, teacher.dims]), device);
        let student_rows = full.clone().select(0, index);
        if let Some(head) = head {
            head_loss = head_distillation(head.forward(student_rows.clone()), t.clone());
        }
        distill = similarity_distillation(student_rows, t);
    }
    (distill, head_loss)
}

/// One step's loss and its terms, each `[1]`.
pub struct Terms {
    /// contrastive + distill_weight · distill + head_weight · head.
    pub loss: Tensor<1>,
    pub contrastive: Tensor<1>,
    pub distill: Tensor<1>,
    pub head: Tensor<1>,
}

impl Terms {
    pub fn new(
        contrastive: Tensor<1>,
        distill: Tensor<1>,
        head: Tensor<1>,
        distill_weight: f64,
        head_weight: f64,
    ) -> Self {
        let loss =
            contrastive.clone() + distill.clone().mul_scalar(distill_weight) + head.clone().mul_scalar(head_weight);
        Self { loss, contrastive, distill, head }
    }
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
