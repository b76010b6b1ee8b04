//! Metrics with MTEB's definitions (mteb 1.39 / 2.x; see each function for the reference
//! it follows). They take scores or vectors, never a model.

pub mod classification;
pub mod clustering;
pub mod correlation;
pub mod pair;
pub mod ranking;
pub mod rng;

/// Dot product; vectors here are L2-normalised, so it is the cosine.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

/// Cosine similarity, computed in f64; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot(a, b) / (na * nb) }
}
