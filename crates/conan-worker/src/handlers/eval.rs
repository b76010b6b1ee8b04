//! The Benchmark page: the bundled slices on offer, and running tasks on the loaded model.

use std::cell::RefCell;

use conan_protocol::{Response, TaskInfo, TaskSource};

use crate::error::Result;
use crate::state::State;
use crate::tasks::{bundled_meta, bundled_names, run_eval};

pub async fn list_tasks() -> Result<Response> {
    let mut tasks = Vec::new();
    // Only task.json: the data files are fetched when a task runs.
    for name in bundled_names().await? {
        let (_, _, meta) = bundled_meta(&name).await?;
        tasks.push(TaskInfo {
            name,
            task_type: format!("{:?}", meta.task_type).to_lowercase(),
            languages: meta.languages,
            description: meta.description,
            license: meta.license,
        });
    }
    Ok(Response::Tasks { tasks })
}

pub async fn eval(state: &RefCell<State>, id: u32, tasks: Vec<TaskSource>, dims: Option<usize>) -> Result<Response> {
    let (embedder, pool, model) = {
        let st = state.borrow();
        (st.embedder()?, st.pool(), st.origin.as_ref().map(|o| o.shown()).unwrap_or_default())
    };
    run_eval(&embedder, &pool, id, tasks, dims, &model).await
}
