//! What the browser tests share: build web/dist once, serve it on 127.0.0.1, and drive
//! headless Chromium (Debian's chromium + chromedriver, real WebGPU on SwiftShader) over
//! W3C WebDriver.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir`, by path relative to it.
pub fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    // A case that only removes files has no folder of its own.
    let mut stack: Vec<PathBuf> = dir.is_dir().then(|| dir.to_path_buf()).into_iter().collect();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A malformed case's files as the user would hand them over: for a model or pack, the
/// case's own files laid over its base folder, less the ones it removes; a task folder's
/// files; a zip or an upload as its one file.
pub fn case_files(dir: &Path, name: &str, spec: &Value) -> BTreeMap<String, Vec<u8>> {
    let (kind, file) = name.split_once('/').unwrap();
    let mut files = match kind {
        "model" => files_under(&root().join("static/models/tiny")),
        "pack" => files_under(&dir.join("base-pack")),
        "zip" => return [(format!("{file}.zip"), std::fs::read(dir.join(format!("{name}.zip"))).unwrap())].into(),
        "document" => return [(file.to_string(), std::fs::read(dir.join(name)).unwrap())].into(),
        _ => BTreeMap::new(),
    };
    files.extend(files_under(&dir.join(name)));
    for r in spec["remove"].as_array().into_iter().flatten() {
        files.remove(r.as_str().unwrap());
    }
    files
}

/// The dev sentences of a shipped bitext task: each pair's first sentence, then its second.
pub fn bitext_sentences(task: &str) -> Vec<String> {
    let pairs = std::fs::read_to_string(root().join(format!("static/tasks/{task}/pairs.jsonl"))).unwrap();
    pairs
        .lines()
        .flat_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            [v["sentence1"].as_str().unwrap().to_string(), v["sentence2"].as_str().unwrap().to_string()]
        })
        .collect()
}

/// Build web/dist once per test run: the debug build, or the release one with
/// `CONAN_WEB_RELEASE=1` (for the benchmarks that measure what the demo serves). With
/// `CONAN_WEB_BUILT=1` (tools/test.sh, which has just built it) web/dist is used as it is.
pub fn build_app() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("CONAN_WEB_BUILT").is_some() {
            let built = root().join("web/dist/precache.json");
            assert!(built.exists(), "CONAN_WEB_BUILT is set but {} is missing: run web/build.sh", built.display());
            return;
        }
        let mut build = Command::new("bash");
        build.arg("web/build.sh").current_dir(root());
        if std::env::var_os("CONAN_WEB_RELEASE").is_some() {
            build.arg("--release");
        }
        let out = build.output().expect("bash runs");
        assert!(
            out.status.success(),
            "web/build.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Kills the child process when the test ends, pass or fail.
pub struct Guard(pub Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve() -> (Guard, String) {
    serve_dir(Path::new("web/dist"))
}

/// Serve `dir` with `conan serve` on a free port; returns its URL, ending in `/`.
pub fn serve_dir(dir: &Path) -> (Guard, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conan"))
        .arg("serve")
        .arg(dir)
        .args(["--port", "0"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .expect("conan serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().last().expect("serve prints its URL").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (Guard(child), url)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal W3C WebDriver client: sessions, navigation and script execution are all
/// these tests need.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
    session: String,
    _driver: Guard,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(webgpu: bool) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (tools/setup.sh installs Debian's chromium-driver)");
        let driver = Guard(driver);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1100,1300".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if webgpu {
            args.push("--enable-unsafe-webgpu".into());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args, "perfLoggingPrefs": {"enableNetwork": true, "enablePage": false}},
            // Network events, so a test can list every request the page and its worker made.
            "goog:loggingPrefs": {"performance": "ALL"}
        }}});
        let mut resp = agent.post(&format!("{base}/session")).send_json(&caps).expect("new session");
        let v: Value = resp.body_mut().read_json().unwrap();
        let session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        Self { agent, base, session, _driver: driver, _profile: profile }
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let mut resp = self.agent.post(&url).send_json(&body).expect("webdriver answers");
        let v: Value = resp.body_mut().read_json().unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Save a PNG of the page to target/screenshots/NAME.png (for docs and debugging).
    pub fn screenshot(&self, name: &str) {
        let url = format!("{}/session/{}/screenshot", self.base, self.session);
        let mut resp = self.agent.get(&url).call().expect("webdriver answers");
        let v: Value = resp.body_mut().read_json().unwrap();
        let png =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v["value"].as_str().unwrap()).unwrap();
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub fn current_url(&self) -> String {
        let url = format!("{}/session/{}/url", self.base, self.session);
        let mut resp = self.agent.get(&url).call().expect("webdriver answers");
        let v: Value = resp.body_mut().read_json().unwrap();
        v["value"].as_str().unwrap_or_default().to_string()
    }

    pub fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url }));
    }

    pub fn js(&self, script: &str, args: Value) -> Value {
        self.post("execute/sync", json!({ "script": script, "args": args }))
    }

    /// URLs of the requests the browser sent since the last call (DevTools network events
    /// of the page and of the targets it started).
    pub fn requests(&self) -> Vec<String> {
        let log = self.post("se/log", json!({"type": "performance"}));
        let mut urls = Vec::new();
        for entry in log.as_array().into_iter().flatten() {
            let Some(message) = entry["message"].as_str() else { continue };
            let Ok(event) = serde_json::from_str::<Value>(message) else { continue };
            if event["message"]["method"] == "Network.requestWillBeSent"
                && let Some(url) = event["message"]["params"]["request"]["url"].as_str()
            {
                urls.push(url.to_string());
            }
        }
        urls
    }

    /// Give a file input the file at `path`, as a user picking it would.
    pub fn pick_file(&self, selector: &str, path: &Path) {
        let id = self.element(selector);
        // chromedriver wants a canonical path (no `..`).
        let path = path.canonicalize().expect("the picked path exists");
        self.post(&format!("element/{id}/value"), json!({"text": path.display().to_string()}));
    }

    /// Click the element `selector` as a pointer would (it also moves the point that Tab
    /// continues from).
    pub fn click(&self, selector: &str) {
        let id = self.element(selector);
        self.post(&format!("element/{id}/click"), json!({}));
    }

    /// WebDriver's id of the element `selector`.
    fn element(&self, selector: &str) -> String {
        let element = self.post("element", json!({"using": "css selector", "value": selector}));
        element.as_object().and_then(|o| o.values().next()).and_then(|v| v.as_str()).expect("element id").to_string()
    }

    /// Type `keys` into whatever has focus, one key press each, as a keyboard would (WebDriver
    /// special keys are private-use characters: TAB is '\u{e004}', ENTER '\u{e007}').
    pub fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})]
            })
            .collect();
        self.post("actions", json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}));
    }

    /// Drop the file or folder at `path` on the element `selector`, as a user dragging it
    /// from the desktop would (DevTools' Input.dispatchDragEvent: real file-system entries).
    pub fn drop_path(&self, selector: &str, path: &Path) {
        let at = self.js(
            "const r = document.querySelector(arguments[0]); r.scrollIntoView({block: 'center'}); \
             const b = r.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]",
            json!([selector]),
        );
        let path = path.canonicalize().expect("the dropped path exists");
        for kind in ["dragEnter", "dragOver", "drop"] {
            self.post(
                "goog/cdp/execute",
                json!({"cmd": "Input.dispatchDragEvent", "params": {"type": kind, "x": at[0], "y": at[1],
                    "data": {"items": [], "files": [path.display().to_string()], "dragOperationsMask": 1}}}),
            );
        }
    }

    /// Poll `script` until it returns something other than null; after `timeout`, fail
    /// with what the page says.
    pub fn wait_for(&self, what: &str, script: &str, args: Value, timeout: Duration) -> Value {
        self.poll(script, args, timeout).unwrap_or_else(|| {
            let status = self.js("return document.body.innerText", json!([]));
            panic!("timed out waiting for {what}; page says:\n{status}");
        })
    }

    /// What `script` returns once it is not null, or `None` after `timeout`: for a caller
    /// that records a timeout instead of failing on it.
    pub fn poll(&self, script: &str, args: Value, timeout: Duration) -> Option<Value> {
        retry(timeout, || Some(self.js(script, args.clone())).filter(|v| !v.is_null()))
    }
}

/// What `attempt` returns once it is `Some`, tried every 250 ms, or `None` after `timeout`.
pub fn retry<T>(timeout: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = attempt() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&format!("{}/session/{}", self.base, self.session)).call();
    }
}
/// Open `page` and wait for the model to be ready or failed; returns the phase and the
/// status panel's text.
pub fn open_page(browser: &Browser, page: &str) -> (String, String) {
    // Navigating to the URL already shown only scrolls when it has a #fragment: reload then.
    if browser.current_url() == page {
        return reload_page(browser);
    }
    browser.goto(page);
    wait_loaded(browser)
}

/// Build and serve the app, start a browser and open `path` (e.g. `?backend=cpu#learn`)
/// on it; the model must load. Keep the guard alive as long as the server is needed.
pub fn open_app(webgpu: bool, path: &str) -> (Guard, Browser, String) {
    build_app();
    let (server, url) = serve();
    let browser = Browser::start(webgpu);
    let (phase, status) = open_page(&browser, &format!("{url}{path}"));
    assert_eq!(phase, "ready", "{status}");
    (server, browser, url)
}

/// Reload the current page, as a second visit does (navigating to the same URL with a
/// `#fragment` would only scroll), and wait like `open_page`.
pub fn reload_page(browser: &Browser) -> (String, String) {
    browser.post("refresh", json!({}));
    wait_loaded(browser)
}

fn wait_loaded(browser: &Browser) -> (String, String) {
    wait_loaded_within(browser, Duration::from_secs(240))
}

/// Wait up to `timeout` for the model to load or fail: the phase and the status panel's text.
pub fn wait_loaded_within(browser: &Browser, timeout: Duration) -> (String, String) {
    let phase = browser.wait_for(
        "the model to load or fail",
        "const s = document.querySelector('#status'); \
         return s && (s.dataset.phase === 'ready' || s.dataset.phase === 'failed') ? s.dataset.phase : null",
        json!([]),
        timeout,
    );
    let text = browser.js("return document.querySelector('#status').innerText", json!([]));
    (phase.as_str().unwrap().to_string(), text.as_str().unwrap_or_default().to_string())
}

pub fn load_model(browser: &Browser, url: &str, model: &str) -> (String, String) {
    open_page(browser, &format!("{url}?model={model}#embed"))
}
