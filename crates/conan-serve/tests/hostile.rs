//! `conan-serve` against careless and hostile clients (issue: one request must not kill the
//! server, nor a few connections stop it serving). Each test starts the binary on a
//! loopback port over a temporary folder and sends a bounded number of raw requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
    _root: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BIG: usize = 64 << 20;

/// A site with an index, a wasm file, a 64 MiB file, a folder, and symlinks: one inside the
/// root, one to a file outside it, one to a folder outside it.
fn start(args: &[&str]) -> Server {
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    std::fs::write(site.join("sub/index.html"), "sub index").unwrap();
    std::fs::write(site.join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(site.join("big.bin"), vec![7u8; BIG]).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), site.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, site.join("outdir")).unwrap();
    std::os::unix::fs::symlink(site.join("app.wasm"), site.join("inner.wasm")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_conan-serve"))
        .arg(&site)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().trim_end_matches('/').to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    Server { child, addr, _root: root }
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Send raw request bytes, read the whole answer (the server closes, or we asked it to).
fn raw(addr: &str, request: &[u8]) -> Answer {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer") + 4;
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Answer { status, head, body: bytes[split..].to_vec() }
}

fn get(addr: &str, path: &str, extra: &str) -> Answer {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes())
}

#[test]
fn files_come_with_types_ranges_and_the_security_headers() {
    let server = start(&["--allow-origin", "https://models.example.org"]);
    let index = get(&server.addr, "/", "");
    assert_eq!(index.status, 200);
    assert_eq!(index.body, b"<!doctype html><title>t</title>");
    assert!(index.header("content-type").unwrap().starts_with("text/html"));
    let csp = index.header("content-security-policy").unwrap();
    assert!(csp.contains("connect-src 'self' https://models.example.org;"), "{csp}");
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(index.header("cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(index.header("cross-origin-embedder-policy"), Some("require-corp"));
    assert_eq!(get(&server.addr, "/sub/", "").body, b"sub index");
    assert_eq!(get(&server.addr, "/app.wasm", "").header("content-type"), Some("application/wasm"));
    assert_eq!(get(&server.addr, "/inner.wasm", "").status, 200, "a symlink that stays inside is served");
    let part = get(&server.addr, "/big.bin", "Range: bytes=10-19\r\n");
    assert_eq!((part.status, part.body.len()), (206, 10));
    let missing = get(&server.addr, "/nope.js", "");
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-security-policy").is_some(), "refusals carry the headers too");
}

#[test]
fn nothing_outside_the_root_is_served() {
    let server = start(&[]);
    for path in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/sub/%2E%2E/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/link.txt",
        "/outdir/secret.txt",
        "/outdir/",
        "/%00",
        "/%ff",
    ] {
        let answer = get(&server.addr, path, "");
        assert_eq!(answer.status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&answer.body).contains("secret"), "{path}");
    }
}

#[test]
fn no_single_request_kills_it() {
    let server = start(&[]);
    // tiny_http answered this 200, then aborted allocating the announced body.
    let huge = raw(&server.addr, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\n");
    assert_eq!(huge.status, 413);
    let chunked = raw(&server.addr, b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(chunked.status, 413);
    let post = raw(&server.addr, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(raw(&server.addr, b"NONSENSE\r\n\r\n").status, 400);
    // A header line that never ends: answered 431 (or cut off) after 16 KiB, not stored.
    let mut stream = connect(&server.addr);
    stream.write_all(b"GET / HTTP/1.1\r\nX-Long: ").unwrap();
    let line = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    for _ in 0..64 {
        match stream.write_all(&line) {
            Ok(()) => sent += line.len(),
            Err(_) => break,
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let head = String::from_utf8_lossy(&answer);
    assert!(head.is_empty() || head.starts_with("HTTP/1.1 431"), "{head}");
    assert!(sent < 64 * line.len() || head.starts_with("HTTP/1.1 431"), "the server read 4 MiB of one header");
    assert_eq!(get(&server.addr, "/", "").status, 200, "still serving");
}

#[test]
fn hostile_connections_do_not_stop_a_normal_get() {
    let server = start(&[]);
    let mut hostile = Vec::new();
    for i in 0..8 {
        let mut stream = connect(&server.addr);
        let request: &[u8] = match i % 4 {
            // A head that never ends.
            0 => b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            // Nothing at all.
            1 => b"",
            // A 64 MiB answer that is never read.
            2 => b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
            // Two requests pipelined, the second unfinished.
            _ => b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTT",
        };
        stream.write_all(request).unwrap();
        hostile.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(&server.addr, "/index.html", "").status, 200);
    }
    assert!(start.elapsed() < Duration::from_secs(5), "5 GETs took {:?}", start.elapsed());
    drop(hostile);
}

#[test]
fn idle_connections_are_closed_after_the_timeout() {
    let server = start(&["--timeout-secs", "1"]);
    // Silent, half a head, and a 64 MiB answer left unread: each is closed within seconds.
    let silent = connect(&server.addr);
    let mut half = connect(&server.addr);
    half.write_all(b"GET / HTTP/1.1\r\nHost").unwrap();
    let mut unread = connect(&server.addr);
    unread.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let start = Instant::now();
    for mut stream in [silent, half] {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    let mut received = Vec::new();
    let _ = unread.read_to_end(&mut received);
    assert!(received.len() < BIG, "the unread answer was held open until read ({} bytes)", received.len());
    assert!(start.elapsed() < Duration::from_secs(5), "connections were still open: {:?}", start.elapsed());
    assert_eq!(get(&server.addr, "/", "").status, 200);
}

#[test]
fn bad_origins_and_folders_are_one_clear_error() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "x").unwrap();
    let run = |dir: &Path, origin: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_conan-serve"))
            .arg(dir)
            .args(["--port", "0", "--allow-origin", origin])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{origin:?} was accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    for origin in ["https://a.org\r\nSet-Cookie: x=1", "https://exämple.org", "https://a.org/path", "a.org"] {
        assert!(run(site.path(), origin).starts_with("error: --allow-origin"), "{origin:?}");
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(run(empty.path(), "https://a.org").contains("has no index.html"));
}
