//! The static file server for the built web app, bound to one host (loopback by default).
//! It has no model stack, so `tools/demo.sh` serves the page without compiling burn for
//! the host; `conan serve` runs the same server.
//!
//! No single request and no handful of hostile connections stop it (RELIABILITY.md, "The
//! server"): request heads are bounded in size and time, request bodies are refused
//! unread, a connection that moves no bytes for the idle limit is closed, connections are
//! counted, and a file is served only if its canonical path (symlinks resolved) lies inside
//! the root.

mod activity;
mod origin;
mod site;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use activity::{Activity, Watched};
pub use origin::parse_origin;
use site::Site;
pub use site::content_security_policy;

/// The largest request head (request line and headers) read; hyper answers 431 past it.
const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The folder to serve: the built web app
    #[arg(default_value = "web/dist")]
    pub dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// 0 picks a free port
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Another origin the app may fetch models from (Content-Security-Policy
    /// connect-src); repeatable. Without it the app talks to this server only.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Seconds a client may take to send a request head, or leave its connection without
    /// moving a byte
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_secs: u64,
    /// Connections served at once; more wait to be accepted
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,
}

/// A bound server, not yet answering: binding fails here, with the address in the message.
pub struct Server {
    listener: std::net::TcpListener,
    site: Arc<Site>,
    root: PathBuf,
    timeout: Duration,
    max_connections: usize,
}

impl Server {
    pub fn bind(args: &ServeArgs) -> Result<Self> {
        if !args.dir.join("index.html").is_file() {
            bail!("{} has no index.html; build the web app first (web/build.sh)", args.dir.display());
        }
        let root = args.dir.canonicalize().with_context(|| format!("cannot resolve {}", args.dir.display()))?;
        let origins = args.allow_origins.iter().map(|o| parse_origin(o)).collect::<Result<Vec<_>>>()?;
        let site = Arc::new(Site::new(root.clone(), &origins)?);
        let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            site,
            root,
            timeout: Duration::from_secs(args.timeout_secs),
            max_connections: args.max_connections as usize,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Answer until the process ends.
    pub async fn run(self) -> Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let app = Router::new().fallback(site::respond).with_state(self.site);
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let timeout = self.timeout;
        loop {
            let slot = slots.clone().acquire_owned().await?;
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin or exit.
                    eprintln!("warning: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let activity = Activity::new();
            let io = TokioIo::new(Watched::new(stream, activity.clone()));
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeout)
                    .max_buf_size(MAX_HEAD_BYTES)
                    .serve_connection(io, service);
                // Errors here are the client's (reset, malformed, too slow): nothing to report.
                tokio::select! {
                    _ = connection => {}
                    _ = activity.idle(timeout) => {}
                }
                drop(slot);
            });
        }
    }

    pub fn root(&self) -> &PathBuf {
        &self.root
    }
}

/// Bind, print `serving DIR on http://ADDR/` (tests read the port from it) and answer until
/// the process ends.
pub fn serve(args: &ServeArgs) -> Result<()> {
    let server = Server::bind(args)?;
    let addr = server.local_addr()?;
    println!("serving {} on http://{addr}/", server.root().display());
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server.run())
}
