//! k-means and V-measure. `v_measure` is exactly `sklearn.metrics.v_measure_score`.
//! k-means cannot reproduce sklearn's MiniBatchKMeans run for run (its sampling is its
//! own); this is Lloyd's algorithm with seeded k-means++ starts, the best of `n_init` by
//! inertia, and `lloyd_from` lets tests start both sides from the same centroids.

use std::collections::HashMap;

use super::rng::Mt19937;

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(x: &[f64], centroids: &[Vec<f64>]) -> (usize, f64) {
    centroids
        .iter()
        .enumerate()
        .map(|(c, m)| (c, sq_dist(x, m)))
        .fold((0, f64::INFINITY), |best, cur| if cur.1 < best.1 { cur } else { best })
}

/// Lloyd iterations from given centroids until assignments stop changing (or `max_iter`).
/// Returns labels and inertia. An empty cluster keeps its previous centroid.
pub fn lloyd_from(data: &[Vec<f64>], mut centroids: Vec<Vec<f64>>, max_iter: usize) -> (Vec<usize>, f64) {
    let mut labels = vec![usize::MAX; data.len()];
    for _ in 0..max_iter {
        let mut changed = false;
        for (i, x) in data.iter().enumerate() {
            let (c, _) = nearest(x, &centroids);
            if labels[i] != c {
                labels[i] = c;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let dim = data[0].len();
        let mut sums = vec![vec![0.0; dim]; centroids.len()];
        let mut counts = vec![0usize; centroids.len()];
        for (x, &l) in data.iter().zip(&labels) {
            counts[l] += 1;
            for (s, v) in sums[l].iter_mut().zip(x) {
                *s += v;
            }
        }
        for (c, (sum, count)) in sums.into_iter().zip(counts).enumerate() {
            if count > 0 {
                centroids[c] = sum.into_iter().map(|s| s / count as f64).collect();
            }
        }
    }
    let inertia = data.iter().zip(&labels).map(|(x, &l)| sq_dist(x, &centroids[l])).sum();
    (labels, inertia)
}

/// k-means++ seeding (Arthur & Vassilvitskii) with the given generator.
fn kmeans_pp(data: &[Vec<f64>], k: usize, rng: &mut Mt19937) -> Vec<Vec<f64>> {
    let mut centroids = vec![data[rng.interval(data.len() as u32 - 1) as usize].clone()];
    let mut d2: Vec<f64> = data.iter().map(|x| sq_dist(x, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.next_f64() * total;
            d2.iter()
                .position(|&d| {
                    target -= d;
                    target < 0.0
                })
                .unwrap_or(data.len() - 1)
        } else {
            rng.interval(data.len() as u32 - 1) as usize
        };
        centroids.push(data[pick].clone());
        for (d, x) in d2.iter_mut().zip(data) {
            *d = d.min(sq_dist(x, centroids.last().unwrap()));
        }
    }
    centroids
}

/// Seeded k-means: `n_init` k-means++ starts, the lowest-inertia result wins.
pub fn kmeans(data: &[Vec<f64>], k: usize, seed: u32, n_init: usize) -> Vec<usize> {
    assert!(k >= 1 && data.len() >= k);
    let mut rng = Mt19937::new(seed);
    (0..n_init.max(1))
        .map(|_| lloyd_from(data, kmeans_pp(data, k, &mut rng), 300))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(labels, _)| labels)
        .unwrap()
}

fn entropy(counts: impl Iterator<Item = usize>, n: f64) -> f64 {
    counts
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// `sklearn.metrics.v_measure_score(truth, predicted)` (β = 1).
pub fn v_measure<A: Eq + std::hash::Hash, B: Eq + std::hash::Hash>(truth: &[A], predicted: &[B]) -> f64 {
    assert_eq!(truth.len(), predicted.len());
    let n = truth.len() as f64;
    if truth.is_empty() {
        return 1.0;
    }
    let mut joint: HashMap<(&A, &B), usize> = HashMap::new();
    let mut classes: HashMap<&A, usize> = HashMap::new();
    let mut clusters: HashMap<&B, usize> = HashMap::new();
    for (a, b) in truth.iter().zip(predicted) {
        *joint.entry((a, b)).or_default() += 1;
        *classes.entry(a).or_default() += 1;
        *clusters.entry(b).or_default() += 1;
    }
    let h_c = entropy(classes.values().copied(), n);
    let h_k = entropy(clusters.values().copied(), n);
    // H(C|K) = −Σ n_ck/n · ln(n_ck / n_k); H(K|C) likewise with n_c.
    let (mut h_c_given_k, mut h_k_given_c) = (0.0, 0.0);
    for ((a, b), &nck) in &joint {
        let nck = nck as f64;
        h_c_given_k -= nck / n * (nck / clusters[b] as f64).ln();
        h_k_given_c -= nck / n * (nck / classes[a] as f64).ln();
    }
    let homogeneity = if h_c == 0.0 { 1.0 } else { 1.0 - h_c_given_k / h_c };
    let completeness = if h_k == 0.0 { 1.0 } else { 1.0 - h_k_given_c / h_k };
    if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_measure_known_values() {
        assert_eq!(v_measure(&[0, 0, 1, 1], &[5, 5, 7, 7]), 1.0);
        // sklearn: v_measure_score([0,0,1,1],[0,0,0,0]) == 0.0
        assert_eq!(v_measure(&[0, 0, 1, 1], &[0, 0, 0, 0]), 0.0);
        // sklearn: v_measure_score([0,0,1,2],[0,0,1,1]) == 0.8
        assert!((v_measure(&[0, 0, 1, 2], &[0, 0, 1, 1]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn kmeans_separates_obvious_clusters() {
        let data: Vec<Vec<f64>> =
            (0..20).map(|i| vec![if i < 10 { 0.0 } else { 10.0 } + (i % 3) as f64 * 0.1]).collect();
        let labels = kmeans(&data, 2, 42, 3);
        let truth: Vec<usize> = (0..20).map(|i| usize::from(i >= 10)).collect();
        assert_eq!(v_measure(&truth, &labels), 1.0);
    }
}
