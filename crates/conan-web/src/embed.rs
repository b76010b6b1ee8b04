//! The Embed page: one or two texts to vectors, with their norms, their cosine and what the
//! run cost; all computed in the worker.

use conan_protocol::{EmbedResult, ModelSummary, Request, Response};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::dims::DimsSelect;

/// What the Embed page knows: the last result and the texts it was asked for.
#[derive(Clone, PartialEq, Default)]
pub struct State {
    pub result: Option<EmbedResult>,
    /// Texts of the last embed request, shown beside their vectors.
    pub texts: Vec<String>,
    pub error: Option<String>,
    pub busy: bool,
}

impl State {
    pub fn on_sent(&mut self, request: &Request) {
        if let Request::Embed { texts, .. } = request {
            self.busy = true;
            self.error = None;
            self.texts = texts.clone();
        }
    }

    /// Takes its vectors, and any failure no other page claimed.
    pub fn on_response(&mut self, response: &Response) -> bool {
        match response {
            Response::Embedded(result) => {
                self.busy = false;
                self.result = Some(result.clone());
            }
            Response::Failed { message, .. } => {
                self.busy = false;
                self.error = Some(message.clone());
            }
            _ => return false,
        }
        true
    }
}

#[derive(Properties, PartialEq)]
pub struct EmbedProps {
    pub ready: bool,
    pub model: Option<ModelSummary>,
    pub state: State,
    pub next_id: u32,
    pub send: Callback<Request>,
}

#[function_component(EmbedPage)]
pub fn embed_page(p: &EmbedProps) -> Html {
    let text_a = use_node_ref();
    let text_b = use_node_ref();
    let dims = use_state(|| None::<usize>);

    let on_embed = {
        let (text_a, text_b, dims, send, id) =
            (text_a.clone(), text_b.clone(), dims.clone(), p.send.clone(), p.next_id);
        Callback::from(move |_: ()| {
            let read = |r: &NodeRef| r.cast::<HtmlTextAreaElement>().map(|t| t.value()).unwrap_or_default();
            let mut texts = vec![read(&text_a)];
            let b = read(&text_b);
            if !b.is_empty() {
                texts.push(b);
            }
            send.emit(Request::Embed { id, texts, dims: *dims });
        })
    };
    let on_click = on_embed.reform(|_: MouseEvent| ());
    let on_key = {
        let on_embed = on_embed.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
                e.prevent_default();
                on_embed.emit(());
            }
        })
    };
    let on_dims = {
        let dims = dims.clone();
        Callback::from(move |d: Option<usize>| dims.set(d))
    };
    let s = &p.state;

    html! {
        <section class="card">
            <h2>{ "Embed" }</h2>
            <label for="text-a">{ "Text A" }</label>
            <textarea id="text-a" ref={text_a} rows="2" onkeydown={on_key.clone()} placeholder="Type English or 中文 …" defaultvalue="The weather is lovely today." />
            <label for="text-b">{ "Text B (optional: cosine similarity with A)" }</label>
            <textarea id="text-b" ref={text_b} rows="2" onkeydown={on_key} placeholder="今天天气很好。" defaultvalue="今天天气很好。" />
            <div class="row">
                <label for="dims">{ "Dimensions" }</label>
                <DimsSelect id="dims" dims={p.model.as_ref().map(|m| m.matryoshka_dims.clone()).unwrap_or_default()} onchange={on_dims} />
                <button id="embed" onclick={on_click} disabled={!p.ready || s.busy}>
                    { if s.busy { "Embedding…" } else { "Embed (Ctrl+Enter)" } }
                </button>
            </div>
            if let Some(error) = &s.error {
                <p class="error" id="embed-error" role="alert">{ error }</p>
            }
            if let Some(result) = &s.result {
                <ResultView result={result.clone()} texts={s.texts.clone()} />
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct ResultProps {
    pub result: EmbedResult,
    pub texts: Vec<String>,
}

#[function_component(ResultView)]
pub fn result_view(p: &ResultProps) -> Html {
    let r = &p.result;
    html! {
        <div class="result" id="result" data-id={r.id.to_string()}>
            <p class="muted" id="embed-cost" data-wasm-bytes={r.wasm_heap_bytes.to_string()} data-device-bytes={r.device_bytes.unwrap_or(0).to_string()}>
                { format!("{} vector(s) of {} dims in {:.1} ms · worker memory {:.1} MB{}", r.rows().count(), r.dims, r.embed_ms,
                    r.wasm_heap_bytes as f64 / 1e6,
                    r.device_bytes.map(|b| format!(" · GPU buffers {:.1} MB", b as f64 / 1e6)).unwrap_or_default()) }</p>
            if let Some(cos) = r.cosine {
                <p class="cosine">{ "Cosine similarity A·B: " }<strong id="cosine">{ format!("{cos:.4}") }</strong></p>
            }
            { for r.rows().enumerate().map(|(i, v)| html! {
                <div class="vector">
                    <p><strong>{ if i == 0 { "A" } else { "B" } }</strong>
                       { format!(" “{}” · {} tokens{} · norm {:.4}", p.texts.get(i).map(String::as_str).unwrap_or(""), r.tokens[i],
                                 if r.truncated[i] { " (truncated)" } else { "" }, r.norms[i]) }</p>
                    <code class="head">{ format!("[{} …]", v.iter().take(8).map(|x| format!("{x:+.4}")).collect::<Vec<_>>().join(", ")) }</code>
                    <details>
                        <summary>{ format!("Full vector ({} values, JSON)", v.len()) }</summary>
                        <pre id={format!("vector-{i}")}>{ serde_json_like(v) }</pre>
                    </details>
                </div>
            }) }
        </div>
    }
}

/// `[a,b,...]` with each float in Rust's shortest round-trip form, so the page shows
/// exactly the numbers the worker produced.
fn serde_json_like(v: &[f32]) -> String {
    format!("[{}]", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
}
