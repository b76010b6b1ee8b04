//! A small static file server for the built web app, bound to one host (loopback by
//! default). It exists so the demo and the browser tests need nothing but `conan`.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use tiny_http::{Header, Response, Server};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" | "md" | "tsv" | "jsonl" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Map a URL path onto `root`, refusing anything that would leave it.
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let mut out = root.to_path_buf();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

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

pub fn serve(dir: &Path, host: &str, port: u16, allow_origins: &[String]) -> Result<()> {
    if !dir.join("index.html").is_file() {
        bail!("{} has no index.html; build the web app first (web/build.sh)", dir.display());
    }
    for origin in allow_origins {
        let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin[origin.find("//").unwrap() + 2..].contains(['/', ' ', ';', '\'']);
        if !ok {
            bail!("--allow-origin {origin:?} is not an origin like https://example.org");
        }
    }
    let csp = content_security_policy(allow_origins);
    let server = Server::http((host, port)).map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port}: {e}"))?;
    let addr = server.server_addr().to_ip().context("server has no IP address")?;
    // Tests read this line to learn the port.
    println!("serving {} on http://{addr}/", dir.display());
    let root = dir.to_path_buf();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Ok(request) = server.recv() {
                    let url = request.url().to_string();
                    let response = match resolve(&root, &url).and_then(|p| std::fs::read(&p).ok().map(|b| (p, b))) {
                        Some((path, bytes)) => Response::from_data(bytes)
                            .with_header(Header::from_bytes("Content-Type", content_type(&path)).unwrap())
                            .with_header(Header::from_bytes("Cache-Control", "no-cache").unwrap())
                            .with_header(Header::from_bytes("Content-Security-Policy", csp.as_bytes()).unwrap())
                            .with_header(Header::from_bytes("X-Content-Type-Options", "nosniff").unwrap()),
                        None => Response::from_data(format!("not found: {url}\n")).with_status_code(404),
                    };
                    let _ = request.respond(response);
                }
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_root() {
        let root = Path::new("/srv/app");
        assert_eq!(resolve(root, "/a/b.js?x=1"), Some(PathBuf::from("/srv/app/a/b.js")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../x"), None);
    }
}
