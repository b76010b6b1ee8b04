//! The Benchmark page: pick bundled slices or load task folders / zips from disk, run them
//! in the worker with progress, and show the table, a bar chart, the Matryoshka curve and
//! the JSON export (identical to `conan eval --json`).

use std::collections::BTreeSet;

use conan_protocol::{Request, TaskInfo, TaskSource};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::charts::{BarChart, LineChart};
use crate::files::read_files;
use crate::{EvalState, EvalView};

/// Conan-embedding-v2's published MTEB averages, shown for context only.
const PUBLISHED: &str = include_str!("published.txt");

#[derive(Properties, PartialEq)]
pub struct BenchProps {
    pub tasks: Vec<TaskInfo>,
    pub eval: EvalState,
    pub ready: bool,
    pub next_id: u32,
    pub matryoshka_dims: Vec<usize>,
    pub send: Callback<Request>,
}

#[function_component(BenchPage)]
pub fn bench_page(p: &BenchProps) -> Html {
    let selected = use_state(BTreeSet::<String>::new);
    let uploads = use_state(Vec::<TaskSource>::new);
    let dims = use_state(|| None::<usize>);
    let upload_error = use_state(|| None::<String>);

    {
        let send = p.send.clone();
        let empty = p.tasks.is_empty() && p.ready;
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
        let (selected, tasks) = (selected.clone(), p.tasks.clone());
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
        Callback::from(move |e: Event| {
            dims.set(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse().ok());
        })
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

    let running = p.eval.running.is_some();
    let nothing_chosen = selected.is_empty() && uploads.is_empty();
    html! {
        <section class="card" id="bench">
            <h2>{ "Benchmark" }</h2>
            <p class="muted">{ "MTEB-style slices scored in this page's worker with MTEB's metric definitions; the same numbers as `conan eval`." }</p>
            <fieldset>
                <legend>{ "Bundled slices (dev splits of Tatoeba and HSK)" }</legend>
                if p.tasks.is_empty() { <p class="pending">{ "Loading the task list…" }</p> }
                <ul class="task-list">
                    { for p.tasks.iter().map(|t| html! {
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
                <select id="bench-dims" onchange={on_dims}>
                    <option value="" selected=true>{ "full" }</option>
                    { for p.matryoshka_dims.iter().map(|d| html! { <option value={d.to_string()}>{ d }</option> }) }
                </select>
                <button id="run-bench" onclick={run} disabled={!p.ready || running || nothing_chosen}>
                    { if running { "Running…" } else { "Run benchmark" } }
                </button>
            </div>
            if let Some(progress) = &p.eval.running {
                <Progress progress={progress.clone()} />
            }
            if let Some(error) = &p.eval.error {
                <p class="error" id="bench-error" role="alert">{ error }</p>
            }
            if let Some(view) = &p.eval.view {
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
    progress: crate::EvalProgress,
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
