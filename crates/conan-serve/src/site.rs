//! What one request gets: a file under the root, or a short plain-text refusal. Every
//! response carries the same security headers.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The policy on every response, so it binds the inference worker too (a worker gets its
/// policy from its own script's headers, not from the page). The page adds the same policy
/// in a meta tag (web/main.js), widened only by a model URL the user gave.
pub fn content_security_policy(allow_origins: &[String]) -> String {
    let connect: Vec<&str> = std::iter::once("'self'").chain(allow_origins.iter().map(String::as_str)).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src {}; \
         img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'",
        connect.join(" ")
    )
}

pub struct Site {
    /// Canonical: every served file's canonical path must start with it.
    root: PathBuf,
    headers: HeaderMap,
}

impl Site {
    /// `allow_origins` must already be checked ASCII origins (`parse_origin`).
    pub fn new(root: PathBuf, allow_origins: &[String]) -> anyhow::Result<Self> {
        let csp = content_security_policy(allow_origins);
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (header::CONTENT_SECURITY_POLICY, csp.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            // Cross-origin isolation: what SharedArrayBuffer (wasm threads) needs. Models from
            // an allowed origin still load, as CORS fetches.
            (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
            (HeaderName::from_static("cross-origin-embedder-policy"), "require-corp"),
            (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
        ] {
            headers.insert(name, HeaderValue::from_str(value)?);
        }
        Ok(Self { root, headers })
    }

    /// The file a URL path names: percent-decoded, plain components only, and inside the
    /// root once symlinks are resolved. A folder means its index.html.
    async fn file_for(&self, url_path: &str) -> Option<PathBuf> {
        let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
        let mut path = self.root.clone();
        for part in Path::new(decoded.trim_start_matches('/')).components() {
            match part {
                Component::Normal(p) => path.push(p),
                Component::CurDir => {}
                _ => return None,
            }
        }
        let mut path = self.inside(&path).await?;
        if tokio::fs::metadata(&path).await.ok()?.is_dir() {
            path = self.inside(&path.join("index.html")).await?;
        }
        tokio::fs::metadata(&path).await.ok()?.is_file().then_some(path)
    }

    async fn inside(&self, path: &Path) -> Option<PathBuf> {
        let canonical = tokio::fs::canonicalize(path).await.ok()?;
        canonical.starts_with(&self.root).then_some(canonical)
    }

    async fn answer(&self, request: Request) -> Response {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "only GET and HEAD are served\n")
                .into_response();
        }
        // No request here has a body; refusing it at once (and closing) means an announced
        // body is never waited for or read.
        let announced = request.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v != "0")
            || request.headers().contains_key(header::TRANSFER_ENCODING);
        if announced {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                [(header::CONNECTION, "close")],
                "this server takes no request bodies\n",
            )
                .into_response();
        }
        let Some(path) = self.file_for(request.uri().path()).await else {
            return (StatusCode::NOT_FOUND, "not found\n").into_response();
        };
        match ServeFile::new(path).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    }
}

pub async fn respond(State(site): State<Arc<Site>>, request: Request) -> Response {
    let mut response = site.answer(request).await;
    for (name, value) in &site.headers {
        response.headers_mut().insert(name, value.clone());
    }
    response
}
