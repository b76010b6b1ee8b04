//! The user's documents and the search index's vectors in IndexedDB (this browser only).
//!
//! Three object stores: `documents` (document id → JSON of its name and passages),
//! `doc_vectors` and `corpus_vectors` (`{model fingerprint}/{document id or corpus hash}` →
//! little-endian f32 bytes). Texts and vectors are kept apart so a new model re-embeds the
//! user's documents from their stored text: changing models never loses them.

use conan_protocol::ErrorKind;
use js_sys::Uint8Array;
use rexie::{ObjectStore, Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::{Result, WorkerError};

const DB: &str = "conan-search";

thread_local! {
    /// Fault injection (`Request::LimitStorage`): bytes IndexedDB may still take in this
    /// worker. Chromium's DevTools quota override does not reach a worker's IndexedDB, so
    /// tests lower the quota here; a write past it fails as the browser's would.
    static ALLOWANCE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Let IndexedDB take at most `bytes` more in this worker (fault injection).
pub fn limit_storage(bytes: u64) {
    ALLOWANCE.set(Some(bytes));
}

/// Take `value`'s bytes from the allowance; the browser's quota error when they do not fit.
fn spend(value: &JsValue) -> Result<(), String> {
    let bytes = match value.dyn_ref::<Uint8Array>() {
        Some(a) => a.byte_length() as u64,
        None => value.as_string().map_or(0, |s| 2 * s.encode_utf16().count() as u64),
    };
    match ALLOWANCE.get() {
        Some(left) if bytes > left => {
            Err(format!("QuotaExceededError: {bytes} bytes do not fit the {left} left (limit set by LimitStorage)"))
        }
        Some(left) => {
            ALLOWANCE.set(Some(left - bytes));
            Ok(())
        }
        None => Ok(()),
    }
}
const DOCUMENTS: &str = "documents";
const DOC_VECTORS: &str = "doc_vectors";
const CORPUS_VECTORS: &str = "corpus_vectors";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDoc {
    pub id: String,
    pub name: String,
    pub passages: Vec<StoredPassage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPassage {
    pub text: String,
    pub source: String,
}

pub struct Store {
    db: Rexie,
}

/// A failed IndexedDB step, named after `what` was being done.
fn storage_error(what: &str, e: impl std::fmt::Debug) -> WorkerError {
    let e = format!("{e:?}");
    // The browser's words for a full disk vary; say it plainly.
    let message = if e.contains("Quota") {
        format!("{what}: the browser's storage quota is full")
    } else {
        format!("{what}: {e}")
    };
    WorkerError::new(ErrorKind::Storage, message)
}

fn to_bytes(v: &[f32]) -> Uint8Array {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    Uint8Array::from(bytes.as_slice())
}

fn from_bytes(value: &JsValue) -> Option<Vec<f32>> {
    let bytes = value.dyn_ref::<Uint8Array>()?.to_vec();
    (bytes.len() % 4 == 0)
        .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Store {
    pub async fn open() -> Result<Self> {
        let db = Rexie::builder(DB)
            .version(1)
            .add_object_store(ObjectStore::new(DOCUMENTS))
            .add_object_store(ObjectStore::new(DOC_VECTORS))
            .add_object_store(ObjectStore::new(CORPUS_VECTORS))
            .build()
            .await
            .map_err(|e| storage_error("opening IndexedDB", e))?;
        Ok(Self { db })
    }

    /// The user's documents, oldest first (ids sort by creation time).
    pub async fn documents(&self) -> Result<Vec<StoredDoc>> {
        let tx = self
            .db
            .transaction(&[DOCUMENTS], TransactionMode::ReadOnly)
            .map_err(|e| storage_error("reading documents", e))?;
        let values = tx
            .store(DOCUMENTS)
            .map_err(|e| storage_error("reading documents", e))?
            .get_all(None, None)
            .await
            .map_err(|e| storage_error("reading documents", e))?;
        let mut docs = Vec::new();
        for v in values {
            let json = v.as_string().ok_or_else(|| {
                WorkerError::new(ErrorKind::Storage, "reading documents: a stored document is not text")
            })?;
            docs.push(
                serde_json::from_str::<StoredDoc>(&json)
                    .map_err(|e| WorkerError::new(ErrorKind::Storage, format!("reading documents: {e}")))?,
            );
        }
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    pub async fn put_document(&self, doc: &StoredDoc) -> Result<()> {
        let json = serde_json::to_string(doc).map_err(|e| WorkerError::internal(e.to_string()))?;
        self.put(&format!("storing {}", doc.name), DOCUMENTS, &doc.id, &JsValue::from_str(&json)).await
    }

    pub async fn doc_vectors(&self, fingerprint: &str, doc: &str) -> Result<Option<Vec<f32>>> {
        self.get_vectors(DOC_VECTORS, &format!("{fingerprint}/{doc}")).await
    }

    pub async fn put_doc_vectors(&self, fingerprint: &str, doc: &str, v: &[f32]) -> Result<()> {
        self.put("storing your document's vectors", DOC_VECTORS, &format!("{fingerprint}/{doc}"), &to_bytes(v).into())
            .await
    }

    pub async fn corpus_vectors(&self, fingerprint: &str, corpus: &str) -> Result<Option<Vec<f32>>> {
        self.get_vectors(CORPUS_VECTORS, &format!("{fingerprint}/{corpus}")).await
    }

    pub async fn put_corpus_vectors(&self, fingerprint: &str, corpus: &str, v: &[f32]) -> Result<()> {
        self.put("storing the corpus vectors", CORPUS_VECTORS, &format!("{fingerprint}/{corpus}"), &to_bytes(v).into())
            .await
    }

    /// Drop vectors of other models: the texts stay, so they are re-embedded when needed.
    pub async fn prune_vectors(&self, fingerprint: &str) -> Result<()> {
        let keep = format!("{fingerprint}/");
        for name in [DOC_VECTORS, CORPUS_VECTORS] {
            let tx =
                self.db.transaction(&[name], TransactionMode::ReadWrite).map_err(|e| storage_error("pruning", e))?;
            let store = tx.store(name).map_err(|e| storage_error("pruning", e))?;
            for key in store.get_all_keys(None, None).await.map_err(|e| storage_error("pruning", e))? {
                if !key.as_string().is_some_and(|k| k.starts_with(&keep)) {
                    store.delete(key).await.map_err(|e| storage_error("pruning", e))?;
                }
            }
            tx.done().await.map_err(|e| storage_error("pruning", e))?;
        }
        Ok(())
    }

    /// Forget every document the user added and its vectors, in one transaction.
    pub async fn forget_documents(&self) -> Result<()> {
        let tx = self
            .db
            .transaction(&[DOCUMENTS, DOC_VECTORS], TransactionMode::ReadWrite)
            .map_err(|e| storage_error("forgetting documents", e))?;
        for name in [DOCUMENTS, DOC_VECTORS] {
            tx.store(name)
                .map_err(|e| storage_error("forgetting documents", e))?
                .clear()
                .await
                .map_err(|e| storage_error("forgetting documents", e))?;
        }
        tx.done().await.map_err(|e| storage_error("forgetting documents", e))?;
        Ok(())
    }

    async fn get_vectors(&self, store: &str, key: &str) -> Result<Option<Vec<f32>>> {
        let tx = self
            .db
            .transaction(&[store], TransactionMode::ReadOnly)
            .map_err(|e| storage_error("reading vectors", e))?;
        let value = tx
            .store(store)
            .map_err(|e| storage_error("reading vectors", e))?
            .get(JsValue::from_str(key))
            .await
            .map_err(|e| storage_error("reading vectors", e))?;
        Ok(value.as_ref().and_then(from_bytes))
    }

    async fn put(&self, what: &str, store: &str, key: &str, value: &JsValue) -> Result<()> {
        spend(value).map_err(|e| storage_error(what, e))?;
        let tx = self.db.transaction(&[store], TransactionMode::ReadWrite).map_err(|e| storage_error(what, e))?;
        tx.store(store)
            .map_err(|e| storage_error(what, e))?
            .put(value, Some(&JsValue::from_str(key)))
            .await
            .map_err(|e| storage_error(what, e))?;
        tx.done().await.map_err(|e| storage_error(what, e))?;
        Ok(())
    }
}
