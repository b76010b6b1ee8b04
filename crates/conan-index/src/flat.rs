//! A flat index: every vector is scored against the query, exactly.
//!
//! Why flat: the app's collections are at most tens of thousands of passages, and a scan of
//! 50,000 × 256 floats is about 13 M multiply-adds — a few milliseconds in wasm — with no
//! recall loss and nothing to build. Rows are stored once at full width; a Matryoshka
//! search at `dims` reads only each row's prefix and rescales it with a stored inverse prefix
//! norm, so switching dims costs nothing and stores no second copy.

use std::collections::BTreeMap;

use crate::IndexError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub row: usize,
    /// Cosine similarity at the searched dims.
    pub score: f32,
}

#[derive(Debug, Clone)]
pub struct FlatIndex {
    width: usize,
    /// Row-major, `len × width`, each row L2-normalised at full width.
    data: Vec<f32>,
    /// For each Matryoshka dims below `width`: 1 / ‖row[..dims]‖ per row.
    inv_prefix_norms: BTreeMap<usize, Vec<f32>>,
}

impl FlatIndex {
    /// An empty index of `width`-dimensional vectors, searchable at `width` and at every
    /// dims in `matryoshka` that is smaller.
    pub fn new(width: usize, matryoshka: &[usize]) -> Self {
        let inv_prefix_norms = matryoshka.iter().filter(|&&d| d > 0 && d < width).map(|&d| (d, Vec::new())).collect();
        Self { width, data: Vec::new(), inv_prefix_norms }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.width.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The dims a search may ask for, ascending.
    pub fn dims(&self) -> Vec<usize> {
        let mut d: Vec<usize> = self.inv_prefix_norms.keys().copied().collect();
        d.push(self.width);
        d
    }

    /// Bytes of vector data held (what a user's device pays for the index).
    pub fn bytes(&self) -> usize {
        (self.data.len() + self.inv_prefix_norms.values().map(Vec::len).sum::<usize>()) * 4
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.width..(i + 1) * self.width]
    }

    /// All rows, row-major (for storing the index).
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Append one vector; it is normalised here so callers may pass any non-zero vector.
    /// Returns its row number. Nothing is added when the vector is refused.
    pub fn push(&mut self, v: &[f32]) -> Result<usize, IndexError> {
        let row = self.len();
        if v.len() != self.width {
            return Err(IndexError::Width { got: v.len(), want: self.width });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite { row });
        }
        let norm = dot(v, v).sqrt();
        if norm == 0.0 {
            return Err(IndexError::Zero { row, dims: self.width });
        }
        self.data.extend(v.iter().map(|x| x / norm));
        for (&d, inv) in self.inv_prefix_norms.iter_mut() {
            let n = dot(&v[..d], &v[..d]).sqrt();
            // A zero prefix has no direction: it scores 0 at that dims rather than NaN.
            inv.push(if n == 0.0 { 0.0 } else { norm / n });
        }
        Ok(row)
    }

    /// Append `n` vectors laid out row-major in `flat`. All or nothing.
    pub fn extend_flat(&mut self, flat: &[f32]) -> Result<(), IndexError> {
        if !flat.len().is_multiple_of(self.width) {
            return Err(IndexError::Input(format!(
                "{} values do not make whole {}-dimensional vectors",
                flat.len(),
                self.width
            )));
        }
        let before = self.len();
        for v in flat.chunks_exact(self.width) {
            if let Err(e) = self.push(v) {
                self.truncate(before);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Keep the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        self.data.truncate(n * self.width);
        for inv in self.inv_prefix_norms.values_mut() {
            inv.truncate(n);
        }
    }

    /// Score every row against `query` at `dims` and return the best `k`, best first (ties:
    /// lower row first). `query` may be longer than `dims`; its prefix is used and
    /// normalised, exactly as the model's Matryoshka truncation does.
    pub fn search(&self, query: &[f32], dims: usize, k: usize) -> Result<Vec<Hit>, IndexError> {
        let scores = self.scores(query, dims)?;
        Ok(top_k(&scores, k))
    }

    /// Cosine of `query` with every row at `dims`.
    pub fn scores(&self, query: &[f32], dims: usize) -> Result<Vec<f32>, IndexError> {
        let inv = if dims == self.width {
            None
        } else {
            Some(self.inv_prefix_norms.get(&dims).ok_or_else(|| IndexError::Dims { dims, available: self.dims() })?)
        };
        if query.len() < dims {
            return Err(IndexError::Width { got: query.len(), want: dims });
        }
        let q = &query[..dims];
        if q.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite { row: 0 });
        }
        let qn = dot(q, q).sqrt();
        if qn == 0.0 {
            return Err(IndexError::Zero { row: 0, dims });
        }
        let q: Vec<f32> = q.iter().map(|x| x / qn).collect();
        let rows = self.data.chunks_exact(self.width).map(|r| dot(&q, &r[..dims]));
        Ok(match inv {
            None => rows.collect(),
            Some(inv) => rows.zip(inv).map(|(s, i)| s * i).collect(),
        })
    }
}

/// An index of `n` pseudo-random vectors of `width` (xorshift from `seed`) and a random
/// query: what speed checks search, natively and in the browser, with no rand crate.
pub fn synthetic(n: usize, width: usize, matryoshka: &[usize], seed: u64) -> Result<(FlatIndex, Vec<f32>), IndexError> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut index = FlatIndex::new(width, matryoshka);
    let mut v = vec![0.0f32; width];
    for _ in 0..n {
        v.iter_mut().for_each(|x| *x = next());
        index.push(&v)?;
    }
    v.iter_mut().for_each(|x| *x = next());
    Ok((index, v))
}

/// The `k` best of `scores`, best first; ties go to the lower row.
pub fn top_k(scores: &[f32], k: usize) -> Vec<Hit> {
    let order = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    let mut hits: Vec<Hit> = scores.iter().enumerate().map(|(row, &score)| Hit { row, score }).collect();
    let k = k.min(hits.len());
    if k == 0 {
        return vec![];
    }
    if k < hits.len() {
        hits.select_nth_unstable_by(k - 1, order);
        hits.truncate(k);
    }
    hits.sort_unstable_by(order);
    hits
}

/// Eight independent accumulators so the compiler can keep them in SIMD lanes (wasm simd128,
/// SSE/AVX natively) instead of one serial chain of adds.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Deterministic pseudo-random vectors (xorshift), so tests need no rand crate.
    fn vectors(n: usize, width: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                (0..width)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        (s % 2001) as f32 / 1000.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn search_equals_brute_force_cosine_at_every_dims() {
        let rows = vectors(300, 24, 7);
        let mut index = FlatIndex::new(24, &[4, 8, 16, 24, 32]);
        for r in &rows {
            index.push(r).unwrap();
        }
        assert_eq!(index.dims(), vec![4, 8, 16, 24]);
        let query = &vectors(1, 24, 99)[0];
        for dims in index.dims() {
            let q = unit(&query[..dims]);
            let mut want: Vec<(usize, f32)> =
                rows.iter().enumerate().map(|(i, r)| (i, dot(&q, &unit(&r[..dims])))).collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1));
            let got = index.search(query, dims, 10).unwrap();
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.row, w.0, "dims {dims}");
                assert!((g.score - w.1).abs() < 1e-5, "dims {dims}: {} vs {}", g.score, w.1);
            }
        }
    }

    #[test]
    fn ties_go_to_the_lower_row_and_k_is_bounded() {
        let mut index = FlatIndex::new(2, &[]);
        for v in [[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]] {
            index.push(&v).unwrap();
        }
        let hits = index.search(&[1.0, 0.0], 2, 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), vec![0, 2, 1]);
        assert!(index.search(&[1.0, 0.0], 2, 0).unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_vectors_and_dims_without_changing_the_index() {
        let mut index = FlatIndex::new(4, &[2]);
        index.push(&[1.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(index.push(&[1.0, 2.0]), Err(IndexError::Width { got: 2, want: 4 }));
        assert_eq!(index.push(&[f32::NAN, 0.0, 0.0, 0.0]), Err(IndexError::NotFinite { row: 1 }));
        assert_eq!(index.push(&[0.0; 4]), Err(IndexError::Zero { row: 1, dims: 4 }));
        let err = index.extend_flat(&[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap_err();
        assert_eq!(err, IndexError::Zero { row: 2, dims: 4 });
        assert_eq!(index.len(), 1, "all or nothing");
        // A vector whose Matryoshka prefix is zero scores 0 there instead of NaN.
        index.push(&[0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(index.scores(&[1.0, 0.0, 0.0, 0.0], 2).unwrap(), vec![1.0, 0.0]);
        index.truncate(1);
        assert!(matches!(index.search(&[1.0, 0.0, 0.0, 0.0], 3, 1), Err(IndexError::Dims { dims: 3, .. })));
        assert!(matches!(index.search(&[0.0; 4], 4, 1), Err(IndexError::Zero { .. })));
        assert!(matches!(index.search(&[1.0], 2, 1), Err(IndexError::Width { .. })));
    }

    #[test]
    fn truncate_forgets_the_tail() {
        let mut index = FlatIndex::new(3, &[1]);
        index.extend_flat(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        index.truncate(1);
        assert_eq!(index.len(), 1);
        assert_eq!(index.search(&[0.0, 1.0, 0.0], 3, 5).unwrap().len(), 1);
        assert_eq!(index.bytes(), 4 * 4);
    }

    #[test]
    fn dot_matches_the_plain_sum_for_every_length() {
        let v = vectors(2, 37, 3);
        for n in 0..=37 {
            let plain: f32 = v[0][..n].iter().zip(&v[1][..n]).map(|(a, b)| a * b).sum();
            assert!((dot(&v[0][..n], &v[1][..n]) - plain).abs() < 1e-5);
        }
    }
}
