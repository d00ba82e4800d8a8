//! The verifying test servers of `tests/servers/` (s3s-fs, Swift's tempurl middleware, the
//! CMS-checking digital-signature stand-in), started on free ports and stopped when dropped;
//! and two small listeners of the tests' own: one that records whether anything connected
//! (a forbidden host), and one that redirects every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::differential::oracle_python;

/// A server of `tests/servers/`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, from its ready line.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/servers")
        .join(name)
}

/// Runs `tests/servers/{name}` with `args` and waits for its `ready <url> ...` line.
fn start(name: &str, args: &[&str], dir: Option<tempfile::TempDir>) -> Server {
    let mut child = Command::new(oracle_python())
        .arg(script(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(url) = line
        .strip_prefix("ready ")
        .and_then(|rest| rest.split_whitespace().next())
    else {
        let _ = child.kill();
        panic!("{name} did not start: {line:?}");
    };
    Server {
        url: url.to_owned(),
        child,
        _dir: dir,
    }
}

/// s3s-fs with `buckets`, checking SigV4 with this access key.
pub fn s3(access_key: &str, secret_key: &str, buckets: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let mut args = vec![
        "--port",
        "0",
        "--access-key",
        access_key,
        "--secret-key",
        secret_key,
        "--root",
        &root,
    ];
    for bucket in buckets {
        args.extend(["--bucket", bucket]);
    }
    start("s3_server.py", &args, Some(dir))
}

/// Swift's tempurl middleware for `account` with the Temp-URL-Key `key`, accepting
/// `digests` (space-separated).
pub fn swift(account: &str, key: &str, digests: &str) -> Server {
    start(
        "swift_tempurl.py",
        &[
            "--port",
            "0",
            "--account",
            account,
            "--key",
            key,
            "--digests",
            digests,
        ],
        None,
    )
}

/// The digital-signature stand-in, trusting `ca`.
pub fn digital_signature(ca: &Path) -> Server {
    digital_signature_with(ca, &[])
}

/// The same with more arguments (`--delay SECONDS`).
pub fn digital_signature_with(ca: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--port", "0", "--ca", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    start("digital_signature.py", &args, None)
}

/// Signed documents made now (fresh keys): the directory and its `manifest.json`.
pub struct Documents {
    pub dir: tempfile::TempDir,
    pub manifest: Value,
}

impl Documents {
    pub fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(oracle_python())
            .arg(script("make_signed_document.py"))
            .arg(dir.path())
            .output()
            .expect("make signed documents");
        assert!(
            output.status.success(),
            "make_signed_document.py: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let manifest =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        Self { dir, manifest }
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// A TCP listener that answers nothing and counts the connections it gets: it stands for an
/// internal host the service must never reach.
pub struct Tripwire {
    pub address: String,
    connections: Arc<AtomicUsize>,
}

impl Tripwire {
    /// On `ip` (any 127.0.0.0/8 address works on Linux), a free port.
    pub fn on(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self {
            address,
            connections,
        }
    }

    pub fn connections(&self) -> usize {
        // Give a connection that was on its way the time to be counted.
        std::thread::sleep(Duration::from_millis(200));
        self.connections.load(Ordering::SeqCst)
    }
}

/// An HTTP server that answers every request `302 Found` to `location`.
pub fn redirector(location: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    url
}

/// The service with exactly these variables (and `HOST`, `PORT`): no service-account key
/// unless one is given.
pub fn spawn_service(vars: &[(&str, &str)]) -> crate::helpers::TestApp {
    let mut all: Vec<(String, String)> = vec![
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
    ];
    all.extend(vars.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    crate::helpers::TestApp::spawn_raw(&all, &[])
}

/// A clients file whose `anonymous` client may have any URL method, with every URL option,
/// and forms, on every object, for up to 7 days.
pub fn permissive_clients() -> tempfile::NamedTempFile {
    crate::helpers::temp_file(
        "[[clients]]\nid = \"anonymous\"\nmax_ttl = 604800\n[[clients.allow]]\nmethods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\", \"POST\"]\nresources = [\"/**\"]\nresponse_content_types = [\"*/*\"]\nresponse_dispositions = [\"attachment\", \"inline\"]\nmetadata = [\"*\"]\nupload_headers = [\"cache-control\", \"content-disposition\"]\n",
    )
}

/// `data` of a 201 answer, after checking the status.
pub async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// Sends `method` to `url` with `headers` (a JSON object) and `body`.
pub async fn send(method: &str, url: &str, headers: &Value, body: &[u8]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .body(body.to_vec());
    for (name, value) in headers.as_object().into_iter().flatten() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    request.send().await.unwrap()
}
