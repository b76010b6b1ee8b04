//! The Benchmark page: pick bundled slices or load task folders / zips from disk, run them
//! in the worker with progress, and show the table, a bar chart, the Matryoshka curve and
//! the JSON export (identical to `conan eval --json`).

use std::collections::BTreeSet;

use conan_protocol::{Request, Response, TaskInfo, TaskSource, TaskSummary};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::charts::{BarChart, LineChart};
use crate::dims::DimsSelect;
use crate::files::read_files;

/// Conan-embedding-v2's published MTEB averages, shown for context only.
const PUBLISHED: &str = include_str!("published.txt");

/// Where a running evaluation is.
#[derive(Clone, PartialEq, Default)]
pub struct EvalProgress {
    pub task: Option<String>,
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

/// A finished evaluation.
#[derive(Clone, PartialEq)]
pub struct EvalView {
    pub summary: Vec<TaskSummary>,
    /// (dims, main score per task in `summary` order).
    pub curve: Vec<(usize, Vec<f64>)>,
    pub results_json: String,
}

/// The evaluation running and the last one's result; the Learn page's Matryoshka curve
/// runs through it too.
#[derive(Clone, PartialEq, Default)]
pub struct EvalState {
    pub running_id: Option<u32>,
    pub running: Option<EvalProgress>,
    pub view: Option<EvalView>,
    pub error: Option<String>,
}

/// What the Benchmark page knows.
#[derive(Clone, PartialEq, Default)]
pub struct State {
    /// The bundled slices on offer.
    pub tasks: Vec<TaskInfo>,
    pub eval: EvalState,
}

impl State {
    pub fn on_sent(&mut self, request: &Request) {
        if let Request::Eval { id, .. } = request {
            self.eval.running_id = Some(*id);
            self.eval.running = Some(EvalProgress::default());
            self.eval.error = None;
        }
    }

    /// Takes the task list and the running evaluation's progress, result or failure.
    pub fn on_response(&mut self, response: &Response) -> bool {
        let e = &mut self.eval;
        match response {
            Response::Tasks { tasks } => self.tasks = tasks.clone(),
            Response::EvalProgress { id, task, stage, done, total } if e.running_id == Some(*id) => {
                e.running =
                    Some(EvalProgress { task: Some(task.clone()), stage: stage.clone(), done: *done, total: *total });
            }
            Response::EvalDone { id, results_json, summary, curve } if e.running_id == Some(*id) => {
                e.running = None;
                e.running_id = None;
                e.view = Some(EvalView {
                    summary: summary.clone(),
                    curve: curve.clone(),
                    results_json: results_json.clone(),
                });
            }
            Response::Failed { id: Some(id), message, .. } if e.running_id == Some(*id) => {
                e.running = None;
                e.running_id = None;
                e.error = Some(message.clone());
            }
            _ => return false,
        }
        true
    }
}

#[derive(Properties, PartialEq)]
pub struct BenchProps {
    pub state: State,
    pub ready: bool,
    pub next_id: u32,
    pub matryoshka_dims: Vec<usize>,
    pub send: Callback<Request>,
}

#[function_component(BenchPage)]
pub fn bench_page(p: &BenchProps) -> Html {
    let (tasks, eval) = (&p.state.tasks, &p.state.eval);
    let selected = use_state(BTreeSet::<String>::new);
    let uploads = use_state(Vec::<TaskSource>::new);
    let dims = use_state(|| None::<usize>);
    let upload_error = use_state(|| None::<String>);

    {
        let send = p.send.clone();
        let empty = tasks.is_empty() && p.ready;
        use_effect_with(empty, move |empty| {
            if *empty {
                send.emit(Request::ListTasks);
            }
        });
    }

    let toggle = |name: String| {
        let selected = selected.clone();
        Callback::from(move |_: Event| {
            let mut s = (*selected).clone();
            if !s.remove(&name) {
                s.insert(name.clone());
            }
            selected.set(s);
        })
    };
    let select_all = {
        let (selected, tasks) = (selected.clone(), tasks.clone());
        Callback::from(move |_: MouseEvent| selected.set(tasks.iter().map(|t| t.name.clone()).collect()))
    };
    let on_files = {
        let (uploads, upload_error) = (uploads.clone(), upload_error.clone());
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let (uploads, upload_error) = (uploads.clone(), upload_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match read_files(input.clone()).await {
                    Ok(files) if !files.is_empty() => {
                        let label = files
                            .first()
                            .map(|(p, _)| p.split('/').next().unwrap_or(p).to_string())
                            .unwrap_or_default();
                        let mut u = (*uploads).clone();
                        u.push(TaskSource::Files { label, files });
                        uploads.set(u);
                        upload_error.set(None);
                    }
                    Ok(_) => {}
                    Err(e) => upload_error.set(Some(e)),
                }
                input.set_value("");
            });
        })
    };
    let on_dims = {
        let dims = dims.clone();
        Callback::from(move |d: Option<usize>| dims.set(d))
    };
    let run = {
        let (selected, uploads, dims, send) = (selected.clone(), uploads.clone(), dims.clone(), p.send.clone());
        let next_id = p.next_id;
        Callback::from(move |_: MouseEvent| {
            let mut tasks: Vec<TaskSource> =
                selected.iter().map(|name| TaskSource::Bundled { name: name.clone() }).collect();
            tasks.extend(uploads.iter().cloned());
            send.emit(Request::Eval { id: next_id, tasks, dims: *dims });
        })
    };
    let clear_uploads = {
        let uploads = uploads.clone();
        Callback::from(move |_: MouseEvent| uploads.set(vec![]))
    };

    let running = eval.running.is_some();
    let nothing_chosen = selected.is_empty() && uploads.is_empty();
    html! {
        <section class="card" id="bench">
            <h2>{ "Benchmark" }</h2>
            <p class="muted">{ "MTEB-style slices scored in this page's worker with MTEB's metric definitions; the same numbers as `conan eval`." }</p>
            <fieldset>
                <legend>{ "Bundled slices (dev splits of Tatoeba and HSK)" }</legend>
                if tasks.is_empty() { <p class="pending">{ "Loading the task list…" }</p> }
                <ul class="task-list">
                    { for tasks.iter().map(|t| html! {
                        <li>
                            <label class="check">
                                <input type="checkbox" data-task={t.name.clone()} checked={selected.contains(&t.name)} onchange={toggle(t.name.clone())} />
                                <strong>{ &t.name }</strong>
                                <span class="tag">{ &t.task_type }</span>
                                <span class="muted">{ format!(" {} · {}", t.languages.join(", "), t.license) }</span>
                            </label>
                            <div class="muted small">{ &t.description }</div>
                        </li>
                    }) }
                </ul>
                <button class="secondary" onclick={select_all}>{ "Select all" }</button>
            </fieldset>
            <fieldset>
                <legend>{ "Your own tasks (stay in this page)" }</legend>
                <label>{ "A task folder " }<input type="file" id="task-folder" webkitdirectory=true multiple=true onchange={on_files.clone()} /></label>
                <label>{ "or a .zip of task folders " }<input type="file" id="task-zip" accept=".zip" onchange={on_files} /></label>
                { for uploads.iter().map(|u| match u {
                    TaskSource::Files { label, files } => html! { <span class="tag">{ format!("{label} ({} files)", files.len()) }</span> },
                    TaskSource::Bundled { .. } => html! {},
                }) }
                if !uploads.is_empty() { <button class="secondary" onclick={clear_uploads}>{ "Remove" }</button> }
                if let Some(e) = &*upload_error { <p class="error" role="alert">{ e }</p> }
                <p class="muted small">{ "Format: task.json plus data files by type (see README, \"Task files\")." }</p>
            </fieldset>
            <div class="row">
                <label for="bench-dims">{ "Dimensions" }</label>
                <DimsSelect id="bench-dims" dims={p.matryoshka_dims.clone()} onchange={on_dims} />
                <button id="run-bench" onclick={run} disabled={!p.ready || running || nothing_chosen}>
                    { if running { "Running…" } else { "Run benchmark" } }
                </button>
            </div>
            if let Some(progress) = &eval.running {
                <Progress progress={progress.clone()} />
            }
            if let Some(error) = &eval.error {
                <p class="error" id="bench-error" role="alert">{ error }</p>
            }
            if let Some(view) = &eval.view {
                <Results view={view.clone()} />
            }
            <details class="published">
                <summary>{ "Published Conan-embedding-v2 MTEB averages (for context; not measured here)" }</summary>
                <pre>{ PUBLISHED }</pre>
            </details>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct ProgressProps {
    progress: EvalProgress,
}

#[function_component(Progress)]
fn progress(p: &ProgressProps) -> Html {
    let pr = &p.progress;
    let label = match &pr.task {
        Some(task) => format!("{task}: {} {}/{} texts", pr.stage, pr.done, pr.total),
        None => "starting…".into(),
    };
    html! {
        <div class="progress" id="bench-progress">
            <progress max={pr.total.max(1).to_string()} value={pr.done.to_string()} aria-label="benchmark progress"></progress>
            <span class="muted">{ label }</span>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ResultsProps {
    view: EvalView,
}

#[function_component(Results)]
fn results(p: &ResultsProps) -> Html {
    let v = &p.view;
    let download = {
        let json = v.results_json.clone();
        Callback::from(move |_: MouseEvent| {
            let parts = js_sys::Array::of1(&json.clone().into());
            let options = web_sys::BlobPropertyBag::new();
            options.set_type("application/json");
            let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
                return;
            };
            let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
                return;
            };
            if let Some(a) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.create_element("a").ok())
                .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
            {
                a.set_href(&url);
                a.set_download("conan-eval-results.json");
                a.click();
            }
            let _ = web_sys::Url::revoke_object_url(&url);
        })
    };
    let bars: Vec<(String, f64)> =
        v.summary.iter().map(|s| (format!("{} ({})", s.name, s.main_metric), s.main_score)).collect();
    let xs: Vec<usize> = v.curve.iter().map(|(d, _)| *d).collect();
    let series: Vec<(String, Vec<f64>)> = v
        .summary
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), v.curve.iter().map(|(_, ys)| ys[i]).collect()))
        .collect();
    html! {
        <div id="bench-results">
            <table class="results">
                <thead><tr><th>{ "task" }</th><th>{ "type" }</th><th>{ "main metric" }</th><th>{ "score" }</th><th>{ "texts" }</th><th>{ "seconds" }</th></tr></thead>
                <tbody>
                    { for v.summary.iter().map(|s| html! {
                        <tr data-task={s.name.clone()}>
                            <td>{ &s.name }</td><td>{ &s.task_type }</td><td>{ &s.main_metric }</td>
                            <td class="num">{ format!("{:.4}", s.main_score) }</td><td class="num">{ s.texts }</td><td class="num">{ format!("{:.1}", s.seconds) }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <BarChart bars={bars} title="Main score per task" />
            if xs.len() > 1 {
                <LineChart xs={xs} series={series} title="Matryoshka: main score vs dimensions" x_label="dims" />
            }
            <button onclick={download}>{ "Export results JSON" }</button>
            <details>
                <summary>{ "Results JSON (same as conan eval --json)" }</summary>
                <pre id="results-json">{ &v.results_json }</pre>
            </details>
        </div>
    }
}
