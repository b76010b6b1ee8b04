//! Model files over HTTP, with pack shards kept in the browser's Cache API.
//!
//! A shard is addressed by its SHA-256 (from the manifest), so a stored copy is valid for
//! any pack that lists the same hash and a changed pack never reads a stale one. Shards are
//! streamed with progress (bytes, percent, speed), verified, then stored one by one: an
//! interrupted download resumes from the shards already stored, and a second visit reads
//! them all from the cache with no network. A shard that fails its hash is fetched once more
//! bypassing every cache, then refused by name. A full storage quota only costs the cache:
//! the model still loads from memory, and the user is told.

use std::cell::RefCell;

use conan_model::pack::{Manifest, ShardEntry, sha256_hex, verify_shard};
use conan_model::placement::check_limits;
use conan_model::source::too_large;
use conan_model::{FileSource, GpuLimits, ModelError};
use conan_protocol::{DownloadSummary, Response};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::js::{js_error, now_ms, post, scope};

const CACHE_NAME: &str = "conan-packs-v1";

pub struct FetchSource {
    pub base: String,
    pub limits: GpuLimits,
    pub summary: RefCell<DownloadSummary>,
}

impl FetchSource {
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into(), limits: GpuLimits::default(), summary: RefCell::new(DownloadSummary::default()) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.trim_end_matches('/'), path)
    }

    /// GET `url`; `Ok(None)` on 404. `reload` bypasses the HTTP cache.
    async fn fetch(&self, url: &str, reload: bool) -> Result<Option<web_sys::Response>, ModelError> {
        let io = |e: JsValue| ModelError::Source(format!("{url}: {}", js_error(&e)));
        let init = web_sys::RequestInit::new();
        if reload {
            init.set_cache(web_sys::RequestCache::Reload);
        }
        let response: web_sys::Response =
            JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.map_err(io)?.unchecked_into();
        if response.status() == 404 {
            return Ok(None);
        }
        if !response.ok() {
            return Err(ModelError::Source(format!("{url}: HTTP {}", response.status())));
        }
        Ok(Some(response))
    }

    /// Stream a shard's body, posting progress at most every 100 ms.
    async fn stream(&self, entry: &ShardEntry, response: web_sys::Response) -> Result<Vec<u8>, ModelError> {
        let url = self.url(&entry.file);
        let io = |e: JsValue| ModelError::Source(format!("{url}: {}", js_error(&e)));
        let Some(body) = response.body() else {
            let buffer = JsFuture::from(response.array_buffer().map_err(io)?).await.map_err(io)?;
            return Ok(Uint8Array::new(&buffer).to_vec());
        };
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        // The manifest's size, if this memory can hold it: a refusal rather than a panic.
        let mut bytes = Vec::new();
        usize::try_from(entry.bytes).ok().and_then(|n| bytes.try_reserve_exact(n).ok()).ok_or_else(|| {
            ModelError::Weights(format!(
                "shard {} lists {} bytes, more than this tab's memory holds",
                entry.file, entry.bytes
            ))
        })?;
        let (start, mut last) = (now_ms(), 0.0);
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(io)?;
            if Reflect::get(&chunk, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
                break;
            }
            let value: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(io)?.unchecked_into();
            bytes.extend_from_slice(&value.to_vec());
            if bytes.len() as u64 > entry.bytes {
                return Err(ModelError::Weights(format!(
                    "shard {} is larger than the {} bytes its manifest lists",
                    entry.file, entry.bytes
                )));
            }
            let now = now_ms();
            if now - last > 100.0 {
                last = now;
                self.progress(entry, bytes.len() as u64, bytes.len() as f64 / ((now - start) / 1000.0).max(1e-3));
            }
        }
        Ok(bytes)
    }

    fn progress(&self, entry: &ShardEntry, loaded: u64, bytes_per_s: f64) {
        let s = self.summary.borrow();
        post(Response::Download {
            file: entry.file.clone(),
            loaded: s.fetched_bytes + s.cached_bytes + loaded,
            total: s.total_bytes,
            files_done: s.fetched_files + s.cached_files,
            files: s.files,
            bytes_per_s,
        });
    }

    async fn cache(&self) -> Option<web_sys::Cache> {
        let storage = scope().caches().ok()?;
        JsFuture::from(storage.open(CACHE_NAME)).await.ok().map(JsCast::unchecked_into)
    }

    fn cache_key(&self, entry: &ShardEntry) -> String {
        // A query the server never sees: it only names the content.
        format!("{}?sha256={}", self.url(&entry.file), entry.sha256)
    }

    async fn cached(&self, cache: &web_sys::Cache, entry: &ShardEntry) -> Option<Vec<u8>> {
        let hit = JsFuture::from(cache.match_with_str(&self.cache_key(entry))).await.ok()?;
        let response: web_sys::Response = hit.dyn_into().ok()?;
        let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
        let bytes = Uint8Array::new(&buffer).to_vec();
        if verify_shard(entry, &bytes).is_ok() {
            Some(bytes)
        } else {
            // A damaged copy is dropped and fetched again.
            let _ = JsFuture::from(cache.delete_with_str(&self.cache_key(entry))).await;
            None
        }
    }

    async fn store(&self, cache: &web_sys::Cache, entry: &ShardEntry, bytes: &mut [u8]) {
        let stored = async {
            let response = web_sys::Response::new_with_opt_u8_array(Some(bytes))?;
            JsFuture::from(cache.put_with_str(&self.cache_key(entry), &response)).await
        }
        .await;
        if let Err(e) = stored {
            let message = format!(
                "could not keep {} in the browser's cache ({}); the model still runs from memory, but the next visit downloads it again",
                entry.file,
                js_error(&e)
            );
            self.summary.borrow_mut().notices.push(message.clone());
            post(Response::Status { message });
        }
    }
}

/// A page's wasm memory ends at 4 GiB; the downloaded shards, the weights decoded from them
/// and the running model must fit together, so packs over this are refused before download.
pub const MAX_PACK_BYTES: u64 = 2 << 30;

impl FileSource for FetchSource {
    async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ModelError> {
        let url = self.url(path);
        let io = |e: JsValue| ModelError::Source(format!("{url}: {}", js_error(&e)));
        let Some(response) = self.fetch(&url, false).await? else { return Ok(None) };
        // A declared length over the cap is refused before the body is read.
        let declared = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
        if let Some(size) = declared.filter(|&size| size > max) {
            return Err(too_large(&self.base, path, size, max));
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(io)?).await.map_err(io)?;
        let bytes = Uint8Array::new(&buffer);
        if u64::from(bytes.length()) > max {
            return Err(too_large(&self.base, path, u64::from(bytes.length()), max));
        }
        Ok(Some(bytes.to_vec()))
    }

    fn label(&self) -> String {
        self.base.clone()
    }

    async fn before_shards(&self, manifest: &Manifest) -> Result<(), ModelError> {
        let need = check_limits(&manifest.config, self.limits)
            .map_err(|e| ModelError::Weights(format!("{e}; nothing was downloaded")))?;
        let total = manifest.total_bytes();
        if total > MAX_PACK_BYTES {
            return Err(ModelError::Weights(format!(
                "this pack is {:.1} GB, more than the {:.1} GB a browser tab's wasm memory can load (it ends at 4 GiB); use a q4 or q8 pack; nothing was downloaded",
                total as f64 / 1e9,
                MAX_PACK_BYTES as f64 / 1e9
            )));
        }
        let mut s = self.summary.borrow_mut();
        s.files = manifest.shards.len();
        s.total_bytes = total;
        s.largest_buffer_bytes = need;
        drop(s);
        post(Response::Status {
            message: format!(
                "pack: {} shard(s), {:.1} MB ({:?}); largest GPU buffer {:.1} MB",
                manifest.shards.len(),
                total as f64 / 1e6,
                manifest.quantization.scheme,
                need as f64 / 1e6
            ),
        });
        Ok(())
    }

    async fn read_shard(&self, entry: &ShardEntry) -> Result<Vec<u8>, ModelError> {
        let cache = self.cache().await;
        if let Some(cache) = &cache
            && let Some(bytes) = self.cached(cache, entry).await
        {
            let mut s = self.summary.borrow_mut();
            s.cached_files += 1;
            s.cached_bytes += entry.bytes;
            drop(s);
            self.progress(entry, 0, 0.0);
            return Ok(bytes);
        }
        let url = self.url(&entry.file);
        let mut last_error = None;
        for reload in [false, true] {
            let Some(response) = self.fetch(&url, reload).await? else {
                return Err(ModelError::Weights(format!("shard {} is missing from {}", entry.file, self.base)));
            };
            let mut bytes = self.stream(entry, response).await?;
            match verify_shard(entry, &bytes) {
                Ok(()) => {
                    if let Some(cache) = &cache {
                        self.store(cache, entry, &mut bytes).await;
                    }
                    let mut s = self.summary.borrow_mut();
                    s.fetched_files += 1;
                    s.fetched_bytes += entry.bytes;
                    s.refetched += usize::from(reload);
                    drop(s);
                    self.progress(entry, 0, 0.0);
                    return Ok(bytes);
                }
                Err(e) => {
                    web_sys::console::warn_1(&format!("{e} (sha256 {}); fetching it again", sha256_hex(&bytes)).into());
                    last_error = Some(e);
                }
            }
        }
        Err(ModelError::Weights(format!(
            "{} — also after fetching it again, so the server's copy is bad",
            last_error.expect("two failed tries")
        )))
    }
}
