//! Files the user hands the page: picked through an `<input type=file>` (with or without
//! `webkitdirectory`) or dropped, folders included (the entries API walks them). Each comes
//! back as (folder-relative path, bytes), the shape the worker's `LoadFiles` takes.

use conan_protocol::{ByteBuf, Files};
use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DataTransfer, File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry, HtmlInputElement};

/// A dropped folder with more files than this is refused rather than read for minutes.
const MAX_FILES: usize = 10_000;

/// Read every picked file into memory, keeping its folder-relative path.
pub(crate) async fn read_files(input: HtmlInputElement) -> Result<Files, String> {
    let list = input.files().ok_or("no files")?;
    let mut out = Vec::new();
    for i in 0..list.length() {
        let file = list.get(i).ok_or("file vanished")?;
        let relative = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| file.name());
        out.push((relative.clone(), ByteBuf::from(file_bytes(&file, &relative).await?)));
    }
    Ok(out)
}

/// What was dropped, taken while the drop event lasts (the browser empties `DataTransfer`
/// once the handler returns): file-system entries where the browser gives them, else files.
pub(crate) enum Dropped {
    Entries(Vec<FileSystemEntry>),
    Files(Vec<File>),
}

impl Dropped {
    pub(crate) fn take(dt: &DataTransfer) -> Self {
        let items = dt.items();
        let entries: Vec<FileSystemEntry> = (0..items.length())
            .filter_map(|i| items.get(i))
            .filter(|item| item.kind() == "file")
            .filter_map(|item| item.webkit_get_as_entry().ok().flatten())
            .collect();
        if !entries.is_empty() {
            return Self::Entries(entries);
        }
        let files = dt.files().map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect()).unwrap_or_default();
        Self::Files(files)
    }

    /// The dropped files with their paths (a dropped folder's name leads its files' paths,
    /// as with the folder picker) and a label: the one folder or file, else "dropped files".
    pub(crate) async fn read(self) -> Result<(String, Files), String> {
        let mut out = Vec::new();
        let mut tops = Vec::new();
        match self {
            Self::Files(files) => {
                for file in files {
                    tops.push(file.name());
                    out.push((file.name(), ByteBuf::from(file_bytes(&file, &file.name()).await?)));
                }
            }
            Self::Entries(entries) => {
                tops = entries.iter().map(|e| e.name()).collect();
                let mut stack = entries;
                while let Some(entry) = stack.pop() {
                    let path = entry.full_path().trim_start_matches('/').to_string();
                    if entry.is_directory() {
                        let reader = entry.unchecked_into::<FileSystemDirectoryEntry>().create_reader();
                        // readEntries hands over a batch per call until it gives an empty one.
                        loop {
                            let batch: Array = callback(|ok, err| {
                                reader.read_entries_with_callback_and_error_callback(ok, err.unchecked_ref())
                            })
                            .await
                            .map_err(|e| format!("{path}: the folder could not be read ({e})"))?
                            .unchecked_into();
                            if batch.length() == 0 {
                                break;
                            }
                            stack.extend(batch.iter().map(|e| e.unchecked_into::<FileSystemEntry>()));
                            if stack.len() + out.len() > MAX_FILES {
                                return Err(format!(
                                    "more than {MAX_FILES} files were dropped; drop the model folder itself"
                                ));
                            }
                        }
                    } else {
                        let file_entry = entry.unchecked_into::<FileSystemFileEntry>();
                        let file: File = callback(|ok, err| {
                            file_entry.file_with_callback_and_error_callback(ok, err.unchecked_ref());
                            Ok(())
                        })
                        .await
                        .map_err(|e| format!("{path}: {e}"))?
                        .unchecked_into();
                        out.push((path.clone(), ByteBuf::from(file_bytes(&file, &path).await?)));
                    }
                }
            }
        }
        if out.is_empty() {
            return Err("nothing readable was dropped (an empty folder?)".into());
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let label = if tops.len() == 1 { tops.remove(0) } else { "dropped files".into() };
        Ok((label, out))
    }
}

async fn file_bytes(file: &File, path: &str) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|e| format!("{path}: {}", js_text(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Await a callback-style browser API (success, error) as a future.
async fn callback(
    start: impl FnOnce(&Function, &Function) -> Result<(), wasm_bindgen::JsValue>,
) -> Result<wasm_bindgen::JsValue, String> {
    let mut start = Some(start);
    let mut failed = None;
    let promise = Promise::new(&mut |ok, err| {
        if let Some(start) = start.take()
            && let Err(e) = start(&ok, &err)
        {
            failed = Some(js_text(&e));
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    JsFuture::from(promise).await.map_err(|e| js_text(&e))
}

fn js_text(e: &wasm_bindgen::JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
