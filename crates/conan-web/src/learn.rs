//! The Learn page: how an LLM-based embedder reads text, drawn from the loaded model itself.
//! Every number comes from the worker; this page only draws.

use std::collections::BTreeMap;

use conan_protocol::{ModelSummary, ProjectedPoint, QuantHistogram, Request, Response, TaskSource};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::bench::EvalState;
use crate::charts::{Heatmap, Histogram, LineChart, Scatter};

/// What the Learn page knows: each section's latest picture.
#[derive(Clone, PartialEq, Default)]
pub struct State {
    /// Requests in flight: id → its section.
    pub pending: BTreeMap<u32, Section>,
    /// (the token's text, its id)
    pub tokens: Option<Vec<(String, u32)>>,
    pub soft_mask: Option<SoftMask>,
    pub attention: Option<Attention>,
    pub projection: Option<Projection>,
    pub quant: Option<QuantErrors>,
    pub error: Option<String>,
}

/// The page's sections that wait on the worker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Section {
    Tokens,
    SoftMask,
    Attention,
    Projection,
    Quant,
}

impl Section {
    /// The section a Learn request belongs to (for its busy state).
    fn of(r: &Request) -> Option<(u32, Section)> {
        match r {
            Request::Tokens { id, .. } => Some((*id, Section::Tokens)),
            Request::SoftMask { id, .. } => Some((*id, Section::SoftMask)),
            Request::Attention { id, .. } => Some((*id, Section::Attention)),
            Request::Projection { id, .. } => Some((*id, Section::Projection)),
            Request::QuantErrors { id } => Some((*id, Section::Quant)),
            _ => None,
        }
    }
}

/// The soft mask M for a `len`-token text at each α.
#[derive(Clone, PartialEq)]
pub struct SoftMask {
    pub len: usize,
    pub alphas: Vec<f32>,
    /// M for each α, row-major `[alphas, len, len]`.
    pub maps: Vec<f32>,
}

/// One layer's attention, as trained and under a causal mask.
#[derive(Clone, PartialEq)]
pub struct Attention {
    pub layer: usize,
    pub tokens: Vec<String>,
    pub heads: usize,
    /// `[heads, t, t]` each.
    pub bidirectional: Vec<f32>,
    pub causal: Vec<f32>,
}

/// Translation pairs: their cosine matrix, and the same vectors projected to 2-D.
#[derive(Clone, PartialEq)]
pub struct Projection {
    pub points: Vec<ProjectedPoint>,
    /// Share of the variance along each axis.
    pub explained: [f64; 2],
    /// Row-major Chinese × English cosines.
    pub cosines: Vec<f32>,
    /// Rank of each Chinese sentence's translation among the English (1 = first).
    pub ranks: Vec<usize>,
    pub mean_true: f32,
    pub mean_other: f32,
}

/// One weight matrix quantized to q8 and q4 and back.
#[derive(Clone, PartialEq)]
pub struct QuantErrors {
    pub tensor: String,
    /// How the loaded weights were stored (the errors are against them).
    pub source: String,
    pub histograms: Vec<QuantHistogram>,
}

impl State {
    fn busy(&self, section: Section) -> bool {
        self.pending.values().any(|s| *s == section)
    }

    pub fn on_sent(&mut self, request: &Request) {
        if let Some((id, section)) = Section::of(request) {
            self.pending.insert(id, section);
            self.error = None;
        }
    }

    /// Takes the answers (pictures or failures) to its own requests.
    pub fn on_response(&mut self, response: &Response) -> bool {
        let Some(id) = response_id(response).filter(|id| self.pending.contains_key(id)) else { return false };
        match response {
            Response::Tokens { tokens, .. } => self.tokens = Some(tokens.clone()),
            Response::SoftMask { len, alphas, maps, .. } => {
                self.soft_mask = Some(SoftMask { len: *len, alphas: alphas.clone(), maps: maps.clone() })
            }
            Response::Attention { layer, tokens, heads, bidirectional, causal, .. } => {
                self.attention = Some(Attention {
                    layer: *layer,
                    tokens: tokens.clone(),
                    heads: *heads,
                    bidirectional: bidirectional.clone(),
                    causal: causal.clone(),
                });
            }
            Response::Projection { points, explained, cosines, ranks, mean_true, mean_other, .. } => {
                self.projection = Some(Projection {
                    points: points.clone(),
                    explained: *explained,
                    cosines: cosines.clone(),
                    ranks: ranks.clone(),
                    mean_true: *mean_true,
                    mean_other: *mean_other,
                })
            }
            Response::QuantErrors { tensor, source, histograms, .. } => {
                self.quant =
                    Some(QuantErrors { tensor: tensor.clone(), source: source.clone(), histograms: histograms.clone() })
            }
            Response::Failed { message, .. } => self.error = Some(message.clone()),
            _ => return false,
        }
        self.pending.remove(&id);
        true
    }
}

/// The id of a response this page may be waiting for.
fn response_id(response: &Response) -> Option<u32> {
    match response {
        Response::Tokens { id, .. }
        | Response::SoftMask { id, .. }
        | Response::Attention { id, .. }
        | Response::Projection { id, .. }
        | Response::QuantErrors { id, .. } => Some(*id),
        Response::Failed { id, .. } => *id,
        _ => None,
    }
}

const DEFAULT_TEXT: &str = "我们明天去看长城。We visit the Great Wall tomorrow.";
const ALPHAS: [f32; 4] = [0.0, 0.25, 0.5, 1.0];
const MASK_LEN: usize = 8;
const PAIRS: usize = 40;
/// The slice whose score the Matryoshka curve follows.
const CURVE_TASK: &str = "tatoeba-zh2en-bitext";

#[derive(Properties, PartialEq)]
pub struct LearnProps {
    pub ready: bool,
    pub model: Option<ModelSummary>,
    pub state: State,
    pub eval: EvalState,
    pub next_id: u32,
    pub send: Callback<Request>,
}

#[function_component(LearnPage)]
pub fn learn_page(p: &LearnProps) -> Html {
    let text = use_node_ref();
    let layer = use_state(|| 0usize);
    let head = use_state(|| 0usize);

    // First pictures as soon as a model is there: the default sentence and the schedule.
    {
        let (send, id, ready) = (p.send.clone(), p.next_id, p.ready);
        use_effect_with(ready, move |ready| {
            if *ready {
                send.emit(Request::SoftMask { id, len: MASK_LEN, alphas: ALPHAS.to_vec() });
                send.emit(Request::Tokens { id: id + 1, text: DEFAULT_TEXT.into() });
                send.emit(Request::Attention { id: id + 2, text: DEFAULT_TEXT.into(), layer: 0 });
            }
        });
    }
    let read = {
        let text = text.clone();
        move || text.cast::<HtmlInputElement>().map(|t| t.value()).unwrap_or_default()
    };
    let analyse = {
        let (send, id, layer, read) = (p.send.clone(), p.next_id, layer.clone(), read.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            send.emit(Request::Tokens { id, text: read() });
            send.emit(Request::Attention { id: id + 1, text: read(), layer: *layer });
        })
    };
    let on_layer = {
        let (send, id, layer, read) = (p.send.clone(), p.next_id, layer.clone(), read.clone());
        Callback::from(move |e: Event| {
            let l = e.target_unchecked_into::<HtmlSelectElement>().value().parse().unwrap_or(0);
            layer.set(l);
            send.emit(Request::Attention { id, text: read(), layer: l });
        })
    };
    let on_head = {
        let head = head.clone();
        Callback::from(move |e: Event| {
            head.set(e.target_unchecked_into::<HtmlSelectElement>().value().parse().unwrap_or(0))
        })
    };
    let project = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::Projection { id, pairs: PAIRS }))
    };

    let quant = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| send.emit(Request::QuantErrors { id }))
    };
    let curve = {
        let (send, id) = (p.send.clone(), p.next_id);
        Callback::from(move |_: MouseEvent| {
            send.emit(Request::Eval { id, tasks: vec![TaskSource::Bundled { name: CURVE_TASK.into() }], dims: None })
        })
    };

    let v = &p.state;
    let curve_view = p.eval.view.as_ref().filter(|e| e.summary.len() == 1 && e.summary[0].name == CURVE_TASK);
    let layers = p
        .model
        .as_ref()
        .map(|m| m.card.details.iter().find(|(k, _)| k == "layers").and_then(|(_, v)| v.parse().ok()).unwrap_or(1))
        .unwrap_or(1);
    html! {
        <>
        <section class="card" id="learn-tokens">
            <h2>{ "1 · Text → tokens" }</h2>
            <p class="muted">{ "The tokenizer cuts text into pieces from a fixed vocabulary; the model only ever sees their ids. \
                A piece shown as � holds part of a character's bytes (byte-level BPE never meets an unknown character)." }</p>
            <form class="row" onsubmit={analyse}>
                <label for="learn-text" class="sr-only">{ "Sentence" }</label>
                <input id="learn-text" ref={text} class="grow" value={DEFAULT_TEXT} />
                <button type="submit" disabled={!p.ready}>{ "Tokenize and attend" }</button>
            </form>
            if let Some(tokens) = &v.tokens {
                <div class="tokens" id="token-list" data-count={tokens.len().to_string()}>
                    { for tokens.iter().map(|(piece, id)| html! {
                        <span class="token"><span>{ if piece.trim().is_empty() { "␣".to_string() } else { piece.clone() } }</span><span class="id">{ id }</span></span> }) }
                </div>
                <p class="muted small">{ format!("{} tokens", tokens.len()) }</p>
            }
        </section>
        <section class="card" id="learn-mask">
            <h2>{ "2 · From causal to bidirectional: the soft mask" }</h2>
            <p class="muted">{ "Conan-v2 starts from an LLM that reads left to right, and opens the attention gradually during training: \
                query i may see a later key j with weight min(α·l/i, 1), α rising from 0 to 1. Rows are queries, columns keys (8 tokens)." }</p>
            if let Some(SoftMask { len, alphas, maps }) = &v.soft_mask {
                <div class="heatmaps" id="soft-mask-maps" data-count={alphas.len().to_string()}>
                    { for alphas.iter().zip(maps.chunks(len * len)).map(|(a, m)| html! {
                        <figure><Heatmap values={m.to_vec()} rows={*len} cols={*len} title={format!("soft mask at α = {a}")} />
                        <figcaption>{ match *a { 0.0 => "α = 0: causal".to_string(), a if a >= 1.0 => "α = 1: bidirectional".into(), a => format!("α = {a}") } }</figcaption></figure> }) }
                </div>
            }
        </section>
        <section class="card" id="learn-attention">
            <h2>{ "3 · What one layer looks at" }</h2>
            <p class="muted">{ "Attention weights of one head for the sentence above (rows: each token; columns: the tokens it reads). \
                Left: the model as trained, bidirectional. Right: the same weights under a causal mask, as the LLM it started from would read." }</p>
            <div class="row">
                <label for="learn-layer">{ "Layer" }</label>
                <select id="learn-layer" onchange={on_layer}>{ for (0..layers).map(|l| html! { <option value={l.to_string()} selected={l == *layer}>{ l + 1 }</option> }) }</select>
                <label for="learn-head">{ "Head" }</label>
                <select id="learn-head" onchange={on_head}>
                    { for (0..v.attention.as_ref().map(|a| a.heads).unwrap_or(1)).map(|h| html! { <option value={h.to_string()} selected={h == *head}>{ h + 1 }</option> }) }
                </select>
                if v.busy(Section::Attention) { <progress class="inline"></progress> }
            </div>
            if let Some(Attention { layer: l, tokens, heads, bidirectional: bidi, causal }) = &v.attention {
                { {
                    let t = tokens.len();
                    let h = (*head).min(heads.saturating_sub(1));
                    let slice = |m: &Vec<f32>| m[h * t * t..(h + 1) * t * t].to_vec();
                    html! {
                        <div class="heatmaps" id="attention-maps" data-tokens={t.to_string()} data-layer={l.to_string()}>
                            <figure><Heatmap values={slice(bidi)} rows={t} cols={t} labels={tokens.clone()} title={format!("layer {} head {} bidirectional", l + 1, h + 1)} />
                                <figcaption>{ format!("layer {}, head {}: bidirectional (as trained)", l + 1, h + 1) }</figcaption></figure>
                            <figure><Heatmap values={slice(causal)} rows={t} cols={t} labels={tokens.clone()} title={format!("layer {} head {} causal", l + 1, h + 1)} />
                                <figcaption>{ "the same head under a causal mask" }</figcaption></figure>
                        </div>
                    }
                } }
            }
        </section>
        <section class="card" id="learn-projection">
            <h2>{ "4 · Translations land together" }</h2>
            <p class="muted">{ format!("The first {PAIRS} Chinese–English pairs of the corpus, embedded now. Each Chinese sentence (a row) \
                against each English one (a column): a bright diagonal means every sentence is closest to its own translation, \
                whatever the language. Below, the same vectors projected to 2-D.") }</p>
            <button type="button" class="secondary" id="projection-run" onclick={project} disabled={!p.ready || v.busy(Section::Projection)}>
                { if v.busy(Section::Projection) { "Embedding…" } else { "Embed and project" } }</button>
            if v.busy(Section::Projection) { <progress class="inline"></progress> }
            if let Some(projection @ Projection { points, explained, cosines, ranks, .. }) = &v.projection {
                <figure id="translation-matrix" data-first={ranks.iter().filter(|&&r| r == 1).count().to_string()}
                        data-pairs={ranks.len().to_string()}>
                    <Heatmap values={contrast(cosines)} rows={ranks.len()} cols={ranks.len()}
                        title="cosine of each Chinese sentence (rows) with each English sentence (columns)" />
                    <figcaption>{ translation_summary(projection) }</figcaption>
                </figure>
                <div id="projection" data-points={points.len().to_string()}>
                    <Scatter title="PCA of Chinese and English sentence vectors"
                        points={points.iter().map(|q| (q.x, q.y, q.lang.clone(), q.text.clone())).collect::<Vec<_>>()}
                        links={(0..points.len() / 2).map(|k| (2 * k, 2 * k + 1)).collect::<Vec<_>>()} />
                    <p class="muted small">{ format!("PCA keeps only what the two axes explain ({:.1}% and {:.1}% of the variance), \
                        so pairs that the matrix shows apart from all others can still cross here. Red: Chinese, blue: English; \
                        a line joins each pair. Hover a point for its sentence.",
                        100.0 * explained[0], 100.0 * explained[1]) }</p>
                </div>
            }
        </section>
        <section class="card" id="learn-matryoshka">
            <h2>{ "5 · Matryoshka: shorter vectors, gracefully worse" }</h2>
            <p class="muted">{ format!("Training sums the loss over several prefix lengths, so the first dims carry the most meaning.                 The evaluator scores the {CURVE_TASK} slice (1,000 sentences) at every Matryoshka dims of the loaded model.") }</p>
            <button type="button" class="secondary" id="curve-run" onclick={curve} disabled={!p.ready || p.eval.running.is_some()}>
                { match &p.eval.running { Some(r) => format!("{} {} of {}…", r.stage, r.done, r.total), None => "Score at every dims".into() } }</button>
            if let Some(e) = curve_view {
                <div id="learn-curve" data-points={e.curve.len().to_string()}>
                    <LineChart title="bitext F1 against dims" x_label="dims" xs={e.curve.iter().map(|(d, _)| *d).collect::<Vec<_>>()}
                        series={vec![(e.summary[0].main_metric.clone(), e.curve.iter().map(|(_, s)| s[0]).collect::<Vec<_>>())]} />
                    <p class="muted small">{ e.curve.iter().map(|(d, s)| format!("{d} dims: {:.3}", s[0])).collect::<Vec<_>>().join(" · ") }</p>
                </div>
            }
        </section>
        <section class="card" id="learn-quant">
            <h2>{ "6 · What quantization costs" }</h2>
            <p class="muted">{ "One weight matrix of the loaded model, stored as a pack stores it (blocks of 32 values sharing one f16 scale;                 8-bit or 4-bit codes) and read back. The histograms show the error per weight; q4's steps are 16 times coarser than q8's." }</p>
            <button type="button" class="secondary" id="quant-run" onclick={quant} disabled={!p.ready || v.busy(Section::Quant)}>{ "Quantize and compare" }</button>
            if v.busy(Section::Quant) { <progress class="inline"></progress> }
            if let Some(QuantErrors { tensor, source, histograms: hists }) = &v.quant {
                <p class="muted small">{ format!("{tensor}, as loaded from {source}.") }
                    { if source.contains("q8") { " These weights already are q8 values, so q8 reproduces them exactly; the q4 row is the cost of going from this pack to q4." } else { "" } }</p>
                <div class="heatmaps" id="quant-histograms" data-rms={hists.iter().map(|h| format!("{:.6}", h.relative_rms)).collect::<Vec<_>>().join(",")}>
                    { for hists.iter().map(|h| if h.relative_rms == 0.0 {
                        html! { <figure><figcaption>{ format!("{}: every weight reproduced exactly (no error)", h.scheme) }</figcaption></figure> }
                    } else {
                        html! { <figure><Histogram bins={h.bins.clone()} lo={h.lo} hi={h.hi} title={format!("{} error histogram", h.scheme)} />
                            <figcaption>{ format!("{}: error within ±{:.2e}; RMS error {:.2}% of RMS weight", h.scheme, h.hi, 100.0 * h.relative_rms) }</figcaption></figure> }
                    }) }
                </div>
            }
        </section>
        if let Some(e) = &v.error { <p class="error" id="learn-error" role="alert">{ e }</p> }
        </>
    }
}

/// Cosines stretched to 0..=1 over the matrix's own range, so the diagonal stands out in
/// the heatmap's shades (each cell's title keeps its cosine).
fn contrast(cosines: &[f32]) -> Vec<f32> {
    let (lo, hi) = cosines.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &c| (lo.min(c), hi.max(c)));
    cosines.iter().map(|&c| if hi > lo { (c - lo) / (hi - lo) } else { 1.0 }).collect()
}

fn translation_summary(p: &Projection) -> String {
    let n = p.ranks.len();
    let first = p.ranks.iter().filter(|&&r| r == 1).count();
    let worst = p.ranks.iter().max().copied().unwrap_or(0);
    format!(
        "{first} of {n} Chinese sentences find their English translation first (the worst at rank {worst}); \
         mean cosine {:.2} with the translation, {:.2} with the other sentences.",
        p.mean_true, p.mean_other
    )
}
