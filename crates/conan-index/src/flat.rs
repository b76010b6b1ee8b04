//! A flat index: every vector is scored against the query.
//!
//! Why flat: the app's collections are tens of thousands of passages (and five times as many
//! sentence vectors), and a scan of 300,000 × 256 values is tens of milliseconds in wasm, with
//! nothing to build.
//!
//! Rows are held as int8 codes, each row scaled so its largest value is ±127: a quarter of
//! f32's memory and bandwidth (300,000 × 256 is 77 MB instead of 307 MB in a tab). A search
//! scans with the query quantized too (integer dot products), then rescores the best
//! [`candidates`] with the f32 query, so quantizing the query changes no result; what is left is
//! the rows' own rounding, about 1e-3 of a cosine. Cosine does not depend on a row's scale, so
//! none is stored: only 1 / ‖codes[..dims]‖ per row for each Matryoshka dims, so switching dims
//! costs nothing and stores no second copy.

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
    /// Row-major, `len × width`.
    codes: Vec<i8>,
    /// For each searchable dims (every Matryoshka dims below `width`, and `width`):
    /// 1 / ‖row's codes[..dims]‖ per row, 0 where that prefix is all zeros.
    inv_norms: BTreeMap<usize, Vec<f32>>,
}

/// A query prepared for one dims: unit-length at that prefix, in f32 (rescoring) and int8
/// (the scan).
#[derive(Debug, Clone)]
pub struct Query {
    dims: usize,
    unit: Vec<f32>,
    codes: Vec<i8>,
    /// f32 value of one code step.
    step: f32,
}

/// How many scan results are rescored for a top `k`: enough that the query's own rounding
/// (a score error of 1e-3 to 2e-3 at worst over 3,000 rows at 64–256 dims) cannot push a
/// true top-`k` row out unless dozens of rows tie with it.
pub fn candidates(k: usize) -> usize {
    k.saturating_mul(4).max(k + 32)
}

/// `v` as int8 codes with its largest |value| at 127, and the f32 value of one step.
fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let scale = 127.0 / max;
    (v.iter().map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8).collect(), max / 127.0)
}

fn inv_norm(codes: &[i8]) -> f32 {
    let n = (idot(codes, codes) as f32).sqrt();
    if n == 0.0 { 0.0 } else { 1.0 / n }
}

impl FlatIndex {
    /// An empty index of `width`-dimensional vectors, searchable at `width` and at every
    /// dims in `matryoshka` that is smaller.
    pub fn new(width: usize, matryoshka: &[usize]) -> Self {
        let mut inv_norms: BTreeMap<usize, Vec<f32>> =
            matryoshka.iter().filter(|&&d| d > 0 && d < width).map(|&d| (d, Vec::new())).collect();
        inv_norms.insert(width, Vec::new());
        Self { width, codes: Vec::new(), inv_norms }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.codes.len() / self.width.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The dims a search may ask for, ascending.
    pub fn dims(&self) -> Vec<usize> {
        self.inv_norms.keys().copied().collect()
    }

    /// Bytes of vector data held (what a user's device pays for the index).
    pub fn bytes(&self) -> usize {
        self.codes.len() + self.inv_norms.values().map(Vec::len).sum::<usize>() * 4
    }

    /// Row `i` as stored, back in f32 and unit length at full width.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let inv = self.inv_norms[&self.width][i];
        self.codes[i * self.width..(i + 1) * self.width].iter().map(|&c| c as f32 * inv).collect()
    }

    /// Append one vector (any non-zero length; only its direction is kept). Returns its row
    /// number. Nothing is added when the vector is refused.
    pub fn push(&mut self, v: &[f32]) -> Result<usize, IndexError> {
        let row = self.len();
        if v.len() != self.width {
            return Err(IndexError::Width { got: v.len(), want: self.width });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite { row });
        }
        let (codes, step) = quantize(v);
        if step == 0.0 {
            return Err(IndexError::Zero { row, dims: self.width });
        }
        for (&d, inv) in self.inv_norms.iter_mut() {
            // A zero prefix has no direction: it scores 0 at that dims rather than NaN.
            inv.push(inv_norm(&codes[..d]));
        }
        self.codes.extend(codes);
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
        self.codes.reserve(flat.len());
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
        self.codes.truncate(n * self.width);
        for inv in self.inv_norms.values_mut() {
            inv.truncate(n);
        }
    }

    /// Check `query` for a search at `dims` and prepare it. `query` may be longer than `dims`;
    /// its prefix is used and normalised, exactly as the model's Matryoshka truncation does.
    pub fn query(&self, query: &[f32], dims: usize) -> Result<Query, IndexError> {
        if !self.inv_norms.contains_key(&dims) {
            return Err(IndexError::Dims { dims, available: self.dims() });
        }
        if query.len() < dims {
            return Err(IndexError::Width { got: query.len(), want: dims });
        }
        let q = &query[..dims];
        if q.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite { row: 0 });
        }
        let norm = dot(q, q).sqrt();
        if norm == 0.0 {
            return Err(IndexError::Zero { row: 0, dims });
        }
        let unit: Vec<f32> = q.iter().map(|x| x / norm).collect();
        let (codes, step) = quantize(&unit);
        Ok(Query { dims, unit, codes, step })
    }

    /// The scan: every row's cosine with the int8 query (within about 2e-3 of
    /// [`Self::score`]), for choosing candidates.
    pub fn scan(&self, q: &Query) -> Vec<f32> {
        let inv = &self.inv_norms[&q.dims];
        self.codes
            .chunks_exact(self.width)
            .zip(inv)
            .map(|(row, &inv)| idot(&q.codes, &row[..q.dims]) as f32 * q.step * inv)
            .collect()
    }

    /// Row `row`'s cosine with the f32 query.
    pub fn score(&self, q: &Query, row: usize) -> f32 {
        let codes = &self.codes[row * self.width..row * self.width + q.dims];
        let s: f32 = q.unit.iter().zip(codes).map(|(&x, &c)| x * c as f32).sum();
        s * self.inv_norms[&q.dims][row]
    }

    /// The best `k` rows for `query` at `dims`, best first (ties: lower row first).
    pub fn search(&self, query: &[f32], dims: usize, k: usize) -> Result<Vec<Hit>, IndexError> {
        let q = self.query(query, dims)?;
        let mut hits: Vec<Hit> = top_k(&self.scan(&q), candidates(k))
            .into_iter()
            .map(|h| Hit { row: h.row, score: self.score(&q, h.row) })
            .collect();
        hits.sort_unstable_by(order);
        hits.truncate(k);
        Ok(hits)
    }
}

/// Values in [-0.5, 0.5) from a xorshift generator seeded with `seed`: the speed checks'
/// synthetic vectors, natively and in the browser, with no rand crate.
pub fn pseudo_random(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// The `k` best of `scores`, best first; ties go to the lower row.
pub fn top_k(scores: &[f32], k: usize) -> Vec<Hit> {
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

/// Best first; ties go to the lower row.
pub fn order(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// Integer dot product, exact: |sum| ≤ 127² × len fits i32 for any width below 133,000, so
/// the wrapping adds never wrap. They are what lets the compiler widen and multiply in SIMD
/// (wasm simd128, SSE/AVX natively) in every profile: an overflow-checked add (debug builds,
/// which the browser tests run) keeps the loop scalar.
#[inline]
pub fn idot(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] = acc[i].wrapping_add(i32::from(x[i]).wrapping_mul(i32::from(y[i])));
        }
    }
    let mut s = acc.iter().fold(0i32, |s, &v| s.wrapping_add(v));
    for (x, y) in ra.iter().zip(rb) {
        s = s.wrapping_add(i32::from(*x) * i32::from(*y));
    }
    s
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
            // int8 rows: scores within rounding, ranks equal wherever the f32 scores are
            // further apart than that rounding.
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g.score - w.1).abs() < 0.02, "dims {dims}: {} vs {}", g.score, w.1);
                let close = |j: usize| (want[j].1 - w.1).abs() < 0.02;
                let ambiguous = (i > 0 && close(i - 1)) || close(i + 1);
                assert!(g.row == w.0 || ambiguous, "dims {dims}, rank {i}: row {} vs {}", g.row, w.0);
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
        let q = index.query(&[1.0, 0.0, 0.0, 0.0], 2).unwrap();
        assert_eq!(index.scan(&q), vec![1.0, 0.0]);
        assert_eq!((index.score(&q, 0), index.score(&q, 1)), (1.0, 0.0));
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
        // Three int8 codes and one inverse norm for each of the dims 1 and 3.
        assert_eq!(index.bytes(), 3 + 2 * 4);
    }

    #[test]
    fn dot_matches_the_plain_sum_for_every_length() {
        let v = vectors(2, 37, 3);
        for n in 0..=37 {
            let plain: f32 = v[0][..n].iter().zip(&v[1][..n]).map(|(a, b)| a * b).sum();
            assert!((dot(&v[0][..n], &v[1][..n]) - plain).abs() < 1e-5);
        }
    }

    #[test]
    fn idot_matches_the_plain_sum_for_every_length_and_extreme_codes() {
        let a: Vec<i8> = (0..70).map(|i| if i % 3 == 0 { 127 } else { -127 + i as i8 }).collect();
        let b: Vec<i8> = (0..70).map(|i| if i % 2 == 0 { -127 } else { 127 - i as i8 }).collect();
        for n in 0..=70 {
            let plain: i32 = a[..n].iter().zip(&b[..n]).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(idot(&a[..n], &b[..n]), plain);
        }
    }

    #[test]
    fn the_int8_query_scan_changes_no_result() {
        // The scan's choice of candidates, rescored with the f32 query, gives exactly the
        // top 10 that scoring every row with the f32 query gives.
        let mut index = FlatIndex::new(256, &[64, 128]);
        for r in vectors(3000, 256, 11) {
            index.push(&r).unwrap();
        }
        for (seed, dims) in [(5, 64), (6, 128), (7, 256)] {
            let query = &vectors(1, 256, seed)[0];
            let q = index.query(query, dims).unwrap();
            let scan = index.scan(&q);
            let exact: Vec<f32> = (0..index.len()).map(|r| index.score(&q, r)).collect();
            let worst = scan.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 5e-3, "dims {dims}: {worst}");
            assert_eq!(index.search(query, dims, 10).unwrap(), top_k(&exact, 10), "dims {dims}");
        }
        // Rows come back unit-length and within rounding of what went in.
        let first = unit(&vectors(3000, 256, 11)[0]);
        let back = index.row(0);
        assert!((dot(&back, &back) - 1.0).abs() < 1e-5);
        assert!(dot(&back, &first) > 0.9999);
        assert_eq!(index.bytes(), 3000 * 256 + 3000 * 3 * 4);
    }
}
