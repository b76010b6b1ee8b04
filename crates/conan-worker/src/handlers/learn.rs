//! The Learn page's numbers, all from the real model: token pieces, the soft-mask schedule,
//! attention maps, a PCA projection of translation pairs, and quantization errors.

use std::cell::RefCell;

use conan_index::corpus::MAX_CORPUS_BYTES;
use conan_index::{Lang, parse_corpus};
use conan_model::pack::QuantBits;
use conan_model::{AttentionMode, FileSource};
use conan_protocol::{ErrorKind, ProjectedPoint, QuantHistogram, Response};

use crate::download::FetchSource;
use crate::error::{Result, WorkerError};
use crate::state::State;

pub fn tokens(state: &RefCell<State>, id: u32, text: &str) -> Result<Response> {
    let embedder = state.borrow().embedder()?;
    let ids = embedder.text.encode(text)?;
    Ok(Response::Tokens { id, tokens: ids.iter().map(|&i| (embedder.text.piece(i), i)).collect() })
}

pub fn soft_mask(id: u32, len: usize, alphas: Vec<f32>) -> Result<Response> {
    if !(1..=64).contains(&len) || alphas.len() > 8 {
        return Err(WorkerError::bad_input("the soft-mask picture takes 1–64 tokens and at most 8 values of α"));
    }
    let maps = alphas.iter().flat_map(|&a| conan_model::soft_mask_bias(len, len, a)).map(f32::exp).collect();
    Ok(Response::SoftMask { id, len, alphas, maps })
}

pub async fn attention(state: &RefCell<State>, id: u32, text: &str, layer: usize) -> Result<Response> {
    let embedder = state.borrow().embedder()?;
    if text.trim().is_empty() {
        return Err(WorkerError::bad_input("type a sentence first"));
    }
    let bidi = embedder.attention_map(text, layer, embedder.model.attention_mode()).await?;
    let causal = embedder.attention_map(text, layer, AttentionMode::Causal).await?;
    if bidi.tokens.len() > 48 {
        return Err(WorkerError::bad_input(format!(
            "{} tokens are too many to draw; use a sentence of at most 48",
            bidi.tokens.len()
        )));
    }
    Ok(Response::Attention {
        id,
        layer,
        tokens: bidi.tokens,
        heads: bidi.heads,
        bidirectional: bidi.probs,
        causal: causal.probs,
    })
}

pub async fn projection(state: &RefCell<State>, id: u32, pairs: usize) -> Result<Response> {
    let embedder = state.borrow().embedder()?;
    let bytes = FetchSource::new("static/corpus").require("corpus.jsonl", MAX_CORPUS_BYTES).await?;
    let corpus = parse_corpus(&bytes).map_err(|e| WorkerError::new(ErrorKind::Unreadable, e.to_string()))?;
    let by_id: std::collections::HashMap<&str, usize> =
        corpus.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
    // The first Chinese passages with an English translation, each with its first one.
    let chosen: Vec<(usize, usize)> = corpus
        .iter()
        .enumerate()
        .filter(|(_, p)| p.lang == Lang::Zh)
        .filter_map(|(i, p)| {
            p.translations
                .iter()
                .filter_map(|t| by_id.get(t.as_str()).copied())
                .find(|&j| corpus[j].lang == Lang::En)
                .map(|j| (i, j))
        })
        .take(pairs.clamp(2, 200))
        .collect();
    let texts: Vec<&str> =
        chosen.iter().flat_map(|&(z, e)| [corpus[z].text.as_str(), corpus[e].text.as_str()]).collect();
    let vectors = embedder.embed(&texts, None).await?.vectors;
    let (zh, en): (Vec<_>, Vec<_>) = vectors.chunks(2).map(|p| (p[0].clone(), p[1].clone())).unzip();
    let matrix = conan_index::project::translation_matrix(&zh, &en);
    let (points, explained) = conan_index::project::pca2(&vectors);
    Ok(Response::Projection {
        id,
        points: points
            .into_iter()
            .zip(&texts)
            .enumerate()
            .map(|(k, (p, text))| ProjectedPoint {
                x: p[0],
                y: p[1],
                text: text.to_string(),
                lang: if k % 2 == 0 { "zh" } else { "en" }.into(),
                pair: k / 2,
            })
            .collect(),
        explained,
        cosines: matrix.cosines,
        ranks: matrix.ranks,
        mean_true: matrix.mean_true,
        mean_other: matrix.mean_other,
    })
}

/// The matrix the histogram uses: the first layer's FFN down-projection, a large one.
const QUANT_TENSOR: &str = "layers.0.mlp.down_proj.weight";
const BINS: usize = 41;

pub fn quant_errors(state: &RefCell<State>, id: u32) -> Result<Response> {
    let Some(files) = state.borrow().files.clone() else {
        return Err(WorkerError::new(
            ErrorKind::NoModel,
            "the loaded model's weights are not kept in memory (over 256 MB), so they cannot be re-quantized here",
        ));
    };
    let tensors = conan_model::host_tensors(&files)?;
    let w = tensors
        .get(QUANT_TENSOR)
        .ok_or_else(|| WorkerError::new(ErrorKind::Unsupported, format!("the model has no {QUANT_TENSOR}")))?;
    let cols = *w.shape.last().unwrap_or(&1);
    let rms = (w.values.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / w.values.len().max(1) as f64).sqrt();
    let mut histograms = Vec::new();
    for (scheme, bits) in [("q8", QuantBits::Q8), ("q4", QuantBits::Q4)] {
        let back = conan_model::pack::round_trip(&w.values, cols, bits)?;
        let errors: Vec<f32> = back.iter().zip(&w.values).map(|(b, a)| b - a).collect();
        let m = errors.iter().fold(0.0f32, |m, e| m.max(e.abs())).max(f32::MIN_POSITIVE);
        let mut bins = vec![0u32; BINS];
        for e in &errors {
            let k = (((e + m) / (2.0 * m)) * BINS as f32).floor() as usize;
            bins[k.min(BINS - 1)] += 1;
        }
        let err_rms = (errors.iter().map(|e| (*e as f64).powi(2)).sum::<f64>() / errors.len().max(1) as f64).sqrt();
        histograms.push(QuantHistogram {
            scheme: scheme.into(),
            bins,
            lo: -m,
            hi: m,
            relative_rms: if rms > 0.0 { err_rms / rms } else { 0.0 },
        });
    }
    let source = match &files.pack {
        Some(m) => format!("a {:?} pack", m.quantization.scheme).to_lowercase(),
        None => "full-precision weights".into(),
    };
    Ok(Response::QuantErrors { id, tensor: QUANT_TENSOR.into(), source, histograms })
}
