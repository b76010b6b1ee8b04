//! Negatives beyond the in-batch ones: hard negatives for the supervised stage, mined among
//! all English sentences and replaced by the paper's dynamic rule, and which texts translate
//! which, so that neither a hard negative, a remembered vector nor a same-language passage is
//! ever a query's own translation.

use std::collections::{HashMap, HashSet};

use burn::prelude::*;
use conan_model::ConanModel;

use crate::corpus::Pair;
use crate::encode::{Tokens, embed_all, host};
use crate::memory::Remembered;

/// The paper's dynamic hard-negative rule: a negative is replaced when it was easy from
/// the start (initial score `s0` < 0.4) or when the model has learnt to push it away
/// (now `1.2·s_now < s0` and `s_now < 0.7`).
pub fn replace_negative(s0: f32, s_now: f32) -> bool {
    s0 < 0.4 || (1.2 * s_now < s0 && s_now < 0.7)
}

/// A hard negative in a step's batch: for the Chinese query of pair `pair`, the English
/// text `text`, which scored `s0` when it was mined.
#[derive(Debug, Clone, Copy)]
pub struct HardNegative {
    pub pair: usize,
    pub text: usize,
    pub s0: f32,
}

/// Which texts translate which, in both directions: such a pair is never a negative.
#[derive(Default)]
pub struct Translations(HashMap<usize, HashSet<usize>>);

/// The `(query, passage)` cells of the two InfoNCE terms that pair a query with one of its
/// translations (see [`Translations::exclusions`]).
pub struct Exclusions {
    pub zh_to_en: Vec<(usize, usize)>,
    pub en_to_zh: Vec<(usize, usize)>,
}

impl Translations {
    pub fn new(pairs: impl Iterator<Item = Pair>) -> Self {
        let mut map: HashMap<usize, HashSet<usize>> = HashMap::new();
        for p in pairs {
            map.entry(p.zh).or_default().insert(p.en);
            map.entry(p.en).or_default().insert(p.zh);
        }
        Self(map)
    }

    fn related(&self, a: usize, b: usize) -> bool {
        a == b || self.0.get(&a).is_some_and(|s| s.contains(&b))
    }

    /// The cells to leave out of each direction's InfoNCE, with the passages laid out as
    /// `losses::Contrastive` does: zh → en sees the batch's English, the hard negatives, the
    /// remembered English, then (same-language negatives) the batch's Chinese; en → zh the
    /// batch's Chinese, the remembered Chinese, then the batch's English. In-batch cells keep
    /// their old treatment (batches hold no text twice); only hard negatives, memory and
    /// same-language passages are checked against the query's translations, and the query
    /// itself is excluded by `related`.
    pub fn exclusions(
        &self,
        pairs: &[Pair],
        hard: &[HardNegative],
        remembered: Option<&Remembered>,
        same_language: bool,
    ) -> Exclusions {
        let n = pairs.len();
        let mut en_ids: Vec<usize> = pairs
            .iter()
            .map(|p| p.en)
            .chain(hard.iter().map(|h| h.text))
            .chain(remembered.iter().flat_map(|m| m.en.iter().copied()))
            .collect();
        let mut zh_ids: Vec<usize> =
            pairs.iter().map(|p| p.zh).chain(remembered.iter().flat_map(|m| m.zh.iter().copied())).collect();
        // Same-language negatives go last.
        if same_language {
            en_ids.extend(pairs.iter().map(|p| p.zh));
            zh_ids.extend(pairs.iter().map(|p| p.en));
        }
        let exclude = |queries: &[usize], passages: &[usize], from: usize| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for (q, &qt) in queries.iter().enumerate() {
                for (p, &pt) in passages.iter().enumerate().skip(from) {
                    if p != q && self.related(qt, pt) {
                        out.push((q, p));
                    }
                }
            }
            out
        };
        let zh_queries: Vec<usize> = pairs.iter().map(|p| p.zh).collect();
        let en_queries: Vec<usize> = pairs.iter().map(|p| p.en).collect();
        Exclusions { zh_to_en: exclude(&zh_queries, &en_ids, n), en_to_zh: exclude(&en_queries, &zh_ids, n) }
    }
}

/// Hard-negative state of one Chinese query: candidate English sentences from the last
/// mining, best first, with their scores then (S0), and which one is in use.
#[derive(Default, Clone)]
struct Negatives {
    candidates: Vec<(usize, f32)>,
    current: usize,
}

impl Negatives {
    fn active(&self) -> Option<(usize, f32)> {
        self.candidates.get(self.current).copied()
    }
}

/// Every Chinese query's hard-negative state (empty until the first mining).
#[derive(Default)]
pub struct HardNegatives(HashMap<usize, Negatives>);

impl HardNegatives {
    /// Mine hard negatives for every sentence pair's Chinese side among all English
    /// sentences: top candidates by cosine (128-d prefix, for speed), minus its own
    /// translations and any candidate scoring above 0.95× the positive (likely an
    /// unlabelled paraphrase), and minus those the paper's rule already rejects (S0 < 0.4).
    pub fn mine(model: &ConanModel, tokens: &Tokens, pairs: &[Pair], device: &Device) -> Self {
        let mut translations: HashMap<usize, HashSet<usize>> = HashMap::new();
        for p in pairs {
            translations.entry(p.zh).or_default().insert(p.en);
        }
        let queries: Vec<usize> = translations.keys().copied().collect();
        let mut pool: Vec<usize> = pairs.iter().map(|p| p.en).collect::<HashSet<_>>().into_iter().collect();
        pool.sort_unstable();
        let dims = 128.min(model.hidden_size());
        let q = embed_all(model, tokens, &queries, dims, device);
        let p = embed_all(model, tokens, &pool, dims, device);
        let pool_index: HashMap<usize, usize> = pool.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let k = 8;
        let mut out = HashMap::new();
        let p_host = host(p.clone());
        let p_t = p.transpose();
        for (c, chunk) in queries.chunks(512).enumerate() {
            let rows = q.clone().narrow(0, c * 512, chunk.len());
            let sims = rows.clone().matmul(p_t.clone());
            let (scores, idx) = sims.topk_with_indices(k, 1);
            let scores = host(scores);
            let idx: Vec<i64> = idx.into_data().convert::<i64>().try_into_vec::<i64>().expect("indices");
            let rows_host = host(rows);
            for (r, &query) in chunk.iter().enumerate() {
                let own = &translations[&query];
                let positive = own
                    .iter()
                    .map(|e| {
                        let j = pool_index[e];
                        let pv = &p_host[j * dims..(j + 1) * dims];
                        rows_host[r * dims..(r + 1) * dims].iter().zip(pv).map(|(a, b)| a * b).sum::<f32>()
                    })
                    .fold(f32::MIN, f32::max);
                let candidates: Vec<(usize, f32)> = (0..k)
                    .map(|j| (pool[idx[r * k + j] as usize], scores[r * k + j]))
                    .filter(|(t, s)| !own.contains(t) && *s <= 0.95 * positive && !replace_negative(*s, *s))
                    .collect();
                out.insert(query, Negatives { candidates, current: 0 });
            }
        }
        Self(out)
    }

    /// The active hard negative of each Chinese query in `pairs` that has one, unless that
    /// text is in the batch already.
    pub fn for_batch(&self, pairs: &[Pair], in_batch: &HashSet<usize>) -> Vec<HardNegative> {
        let mut hard = Vec::new();
        for (i, p) in pairs.iter().enumerate() {
            if let Some((t, s0)) = self.0.get(&p.zh).and_then(Negatives::active)
                && !in_batch.contains(&t)
            {
                hard.push(HardNegative { pair: i, text: t, s0 });
            }
        }
        hard
    }

    /// Dynamic hard negatives: scores each used negative now (`full`: the step's unit
    /// vectors, Chinese 0..n, English n..2n, `hard` after) and, when `dynamic`, moves each
    /// query the rule rejects on to its next candidate. Returns how many moved.
    pub fn replace(&mut self, pairs: &[Pair], hard: &[HardNegative], full: &Tensor<2>, dynamic: bool) -> usize {
        let n = pairs.len();
        let [_, h] = full.dims();
        let mut replaced = 0;
        let e = host(full.clone().inner());
        let dot = |a: usize, b: usize| {
            e[a * h..(a + 1) * h].iter().zip(&e[b * h..(b + 1) * h]).map(|(x, y)| x * y).sum::<f32>()
        };
        for (k, neg) in hard.iter().enumerate() {
            if dynamic
                && replace_negative(neg.s0, dot(neg.pair, 2 * n + k))
                && let Some(state) = self.0.get_mut(&pairs[neg.pair].zh)
            {
                state.current += 1;
                replaced += 1;
            }
        }
        replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_negative_rule_matches_the_paper() {
        assert!(replace_negative(0.3, 0.3), "easy from the start");
        assert!(replace_negative(0.6, 0.45), "pushed away: 0.54 < 0.6 and 0.45 < 0.7");
        assert!(!replace_negative(0.6, 0.55), "still hard");
        assert!(!replace_negative(0.9, 0.72), "dropped but still above 0.7");
    }
}
