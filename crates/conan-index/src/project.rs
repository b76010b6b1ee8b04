//! vectors → pictures of a bitext: the cosine matrix of sentences against their
//! translations (what the model does), and principal component analysis (a 2-D view).

/// Project `rows` onto their first two principal components. Returns one (x, y) per row and
/// the share of the variance each component explains. Power iteration on the covariance
/// matrix with deflation: exact enough for a picture, and no linear-algebra crate in wasm.
pub fn pca2(rows: &[Vec<f32>]) -> (Vec<[f32; 2]>, [f64; 2]) {
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if n < 2 || d == 0 {
        return (vec![[0.0, 0.0]; n], [0.0, 0.0]);
    }
    let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|r| r[j] as f64).sum::<f64>() / n as f64).collect();
    let centred: Vec<Vec<f64>> =
        rows.iter().map(|r| r.iter().zip(&mean).map(|(x, m)| *x as f64 - m).collect()).collect();
    let mut cov = vec![0.0f64; d * d];
    for r in &centred {
        for i in 0..d {
            let ri = r[i];
            for j in i..d {
                cov[i * d + j] += ri * r[j];
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            cov[i * d + j] /= (n - 1) as f64;
            cov[j * d + i] = cov[i * d + j];
        }
    }
    let total: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let mut axes: Vec<Vec<f64>> = Vec::new();
    let mut explained = [0.0; 2];
    for (c, share) in explained.iter_mut().enumerate() {
        // A fixed, non-symmetric start so the iteration is deterministic.
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618_034 + c as f64).fract()).collect();
        let mut lambda = 0.0;
        for _ in 0..300 {
            let mut w: Vec<f64> = (0..d).map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum()).collect();
            for a in &axes {
                let p: f64 = w.iter().zip(a).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(a).for_each(|(x, y)| *x -= p * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            let done = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) < 1e-10;
            v = w;
            lambda = norm;
            if done {
                break;
            }
        }
        *share = if total > 0.0 { lambda / total } else { 0.0 };
        axes.push(v);
    }
    let points = centred
        .iter()
        .map(|r| {
            let p = |a: &Vec<f64>| r.iter().zip(a).map(|(x, y)| x * y).sum::<f64>() as f32;
            [p(&axes[0]), p(&axes[1])]
        })
        .collect();
    (points, explained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_axes_of_an_elongated_cloud() {
        // Points spread 10× more along (1, 1, 0) than along (1, -1, 0), none along z.
        let mut rows = Vec::new();
        for i in 0..50 {
            let a = (i as f32 - 25.0) / 5.0;
            let b = ((i * 7 % 11) as f32 - 5.0) / 10.0;
            rows.push(vec![a + b, a - b, 0.0]);
        }
        let (points, explained) = pca2(&rows);
        assert!(explained[0] > 0.95 && explained[1] > 0.0 && explained[0] + explained[1] > 0.999, "{explained:?}");
        // The first coordinate is the centred position along (1, 1)/√2, up to sign.
        let along: Vec<f32> = rows.iter().map(|r| (r[0] + r[1]) / 2f32.sqrt()).collect();
        let mean = along.iter().sum::<f32>() / along.len() as f32;
        let sign = points[0][0].signum() * (along[0] - mean).signum();
        for (p, a) in points.iter().zip(&along) {
            assert!((p[0] - sign * (a - mean)).abs() < 1e-3, "{p:?} vs {}", a - mean);
        }
        assert_eq!(pca2(&rows[..1]).0, vec![[0.0, 0.0]]);
    }
}

/// Sentences against their translations, as the model sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslationMatrix {
    /// Row-major `n × n` cosines: sentence i (rows) against translation j (columns).
    pub cosines: Vec<f32>,
    /// For each row, the 1-based rank of its true translation among all columns (1 =
    /// found first; ties count against it).
    pub ranks: Vec<usize>,
    /// Mean cosine on the diagonal (true translations) and off it.
    pub mean_true: f32,
    pub mean_other: f32,
}

/// [`TranslationMatrix`] of unit vectors `a[i]` against their translations `b[i]`.
pub fn translation_matrix(a: &[Vec<f32>], b: &[Vec<f32>]) -> TranslationMatrix {
    let n = a.len().min(b.len());
    let cosines: Vec<f32> = a[..n]
        .iter()
        .flat_map(|x| b[..n].iter().map(move |y| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>()))
        .collect();
    let ranks = (0..n)
        .map(|i| {
            let row = &cosines[i * n..(i + 1) * n];
            1 + row.iter().enumerate().filter(|&(j, &c)| j != i && c >= row[i]).count()
        })
        .collect();
    let diagonal: f32 = (0..n).map(|i| cosines[i * n + i]).sum();
    TranslationMatrix {
        mean_true: diagonal / n.max(1) as f32,
        mean_other: (cosines.iter().sum::<f32>() - diagonal) / (n * n - n).max(1) as f32,
        cosines,
        ranks,
    }
}

#[cfg(test)]
mod translation_tests {
    use super::*;

    #[test]
    fn ranks_count_the_candidates_at_or_above_the_true_translation() {
        let a = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]];
        let b = vec![vec![1.0, 0.0], vec![0.6, 0.8], vec![0.0, 1.0]];
        let m = translation_matrix(&a, &b);
        assert_eq!(m.cosines.len(), 9);
        assert!((m.cosines[1] - 0.6).abs() < 1e-6);
        // Row 0 finds b[0] first; row 1 (0, 1) prefers b[2] over b[1]; row 2 prefers b[1].
        assert_eq!(m.ranks, vec![1, 2, 2]);
        assert!((m.mean_true - (1.0 + 0.8 + 0.8) / 3.0).abs() < 1e-6);
    }
}
