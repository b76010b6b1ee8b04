//! The hyper-parameters of a run: [`Recipe`] decides everything the loop does and is written
//! to training.json with the results.

/// Everything that decides a run; written to training.json with the results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recipe {
    pub seed: u64,
    pub weak_steps: usize,
    pub supervised_steps: usize,
    /// Translation pairs per step (Chinese and English rows each).
    pub batch: usize,
    /// Of those, CC-CEDICT word pairs.
    pub dictionary_pairs: usize,
    pub max_len: usize,
    pub peak_lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    pub warmup: usize,
    pub temperature: f64,
    pub distill_weight: f64,
    pub distill_target: DistillTarget,
    /// Weight of the per-text distillation through a linear head (student → teacher dims,
    /// trained with the model, dropped at export): 1 − cosine to each text's own teacher
    /// vector. 0 = off. Unlike the similarity-matrix term, every text gets an absolute
    /// target that is the same from batch to batch.
    pub head_weight: f64,
    /// Share of tokens dropped at random from each training row (at least one token is
    /// kept): an augmentation against memorising the train pairs token by token.
    pub token_dropout: f64,
    /// Soft-mask τ as a share of the weakly supervised stage.
    pub soft_mask_share: f64,
    pub soft_mask: bool,
    pub cross_lingual: bool,
    /// The batch's other texts in the query's own language are negatives too, so a
    /// translation must beat same-language sentences (a mixed zh+en corpus must not rank by
    /// language).
    pub same_language_negatives: bool,
    pub dynamic_negatives: bool,
    /// Steps between two full re-minings of hard negatives in the supervised stage.
    pub remine_every: usize,
    /// Cross-batch memory: the vectors of this many recent batches are extra negatives
    /// (0 = in-batch negatives only). Filled once attention is bidirectional.
    pub memory_batches: usize,
    pub eval_every: usize,
}

/// Whose teacher vector a Chinese sentence is distilled to.
#[derive(clap::ValueEnum, serde::Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DistillTarget {
    /// The teacher's vector of the Chinese text itself.
    Own,
    /// Its English translation's (the teacher is stronger in English, and a translation
    /// should land on the same point).
    English,
}
