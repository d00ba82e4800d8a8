//! Spawns the real `storage-signer` binary on port 0 and talks to it over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../support/testdata.rs"]
mod testdata;
pub use testdata::conformance_key_path;

pub const BIN: &str = env!("CARGO_BIN_EXE_storage-signer");

/// The binary under test: `BIN`, or `STORAGE_SIGNER_TEST_BIN` (to run these tests against
/// another build, such as the previous release, and see which of them it fails).
pub fn bin() -> String {
    std::env::var("STORAGE_SIGNER_TEST_BIN").unwrap_or_else(|_| BIN.to_owned())
}
pub const BUCKET: &str = "test-bucket";
pub const SECRETS_PATH: &str = "/media_content_storage_secrets";

/// A running instance of the service, killed when dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl TestApp {
    /// The service with the conformance test key, buckets `test-bucket,other-bucket`, in open
    /// mode (`ALLOW_ANONYMOUS=true`, no clients file).
    pub fn spawn() -> Self {
        Self::spawn_with(&[], &[])
    }

    /// Like [`spawn`](Self::spawn) with extra environment variables (which override the
    /// defaults) and extra `serve` arguments.
    pub fn spawn_with(env: &[(&str, &str)], args: &[&str]) -> Self {
        let key = conformance_key_path();
        let mut vars: Vec<(String, String)> = vec![
            ("SERVICE_ACCOUNT_KEY_PATH".into(), key.display().to_string()),
            ("KNOWN_BUCKETS".into(), format!("{BUCKET},other-bucket")),
            ("HOST".into(), "127.0.0.1".into()),
            ("PORT".into(), "0".into()),
            // ael.api's open mode unless a test gives a clients file.
            ("ALLOW_ANONYMOUS".into(), "true".into()),
            // Tests send many refused requests from one address; the tests of the refusal
            // limit set their own.
            ("REFUSALS_PER_MINUTE".into(), "1000000".into()),
            ("REFUSAL_BURST".into(), "1000000".into()),
        ];
        for (name, value) in env {
            vars.retain(|(n, _)| n != name);
            vars.push(((*name).into(), (*value).into()));
        }
        Self::spawn_raw(&vars, args)
    }

    /// Starts the binary with exactly these variables (plus PATH) and waits for "listening".
    pub fn spawn_raw(vars: &[(String, String)], args: &[&str]) -> Self {
        let mut child = command(vars, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start storage-signer");
        let output = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        collect_lines(stdout, Arc::clone(&output), Some(address_tx));
        collect_lines(stderr, Arc::clone(&output), None);
        let Ok(address) = address_rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "the service did not report its address; output:\n{}",
                output.lock().unwrap()
            );
        };
        Self {
            address,
            client: reqwest::Client::new(),
            child,
            output,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn post_secret(&self, body: &Value) -> reqwest::Response {
        self.post_secret_as(None, body).await
    }

    /// Posts `body` with `Authorization: Bearer <credential>` when one is given.
    pub async fn post_secret_as(
        &self,
        credential: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(SECRETS_PATH)).json(body);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        request.send().await.expect("request")
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the captured output contains `needle` (log lines are written after the
    /// response is sent).
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() > deadline {
                return logs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the request log line of `request_id` (written after the response, by a
    /// background thread) and returns all of them.
    pub async fn wait_for_request_log(&self, request_id: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<Value> = self
                .logs()
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|r| {
                    r["message"] == "request"
                        && (r["request_id"] == request_id || r["caller_request_id"] == request_id)
                })
                .collect();
            if !lines.is_empty() || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send_sigterm(&self) {
        self.send_signal("TERM");
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn send_signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (for start-up failures) and returns status, stdout, stderr.
pub fn run_to_exit(vars: &[(&str, &str)], args: &[&str]) -> (ExitStatus, String, String) {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let mut child = command(&vars, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start storage-signer");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("storage-signer {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stdout, stderr)
}

fn command(vars: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(vars.iter().map(|(n, v)| (n, v)));
    if args.first().is_some_and(|a| !a.starts_with('-')) {
        command.args(args);
    } else {
        command.arg("serve").args(args);
    }
    command
}

fn collect_lines(
    stream: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    address_tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &address_tx
                && let Ok(record) = serde_json::from_str::<Value>(&line)
                && record["message"] == "listening"
            {
                let _ = tx.send(record["address"].as_str().unwrap_or_default().to_owned());
            }
            let mut output = output.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    });
}

/// A minimal valid request body.
pub fn secret(action: &str, resource_id: &str) -> Value {
    serde_json::json!({"secret": {"action": action, "bucket": BUCKET, "resource_id": resource_id}})
}

/// Splits a URL's query into (name, value) pairs, values still percent-encoded.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// Decodes `%XX` escapes and `+` (form encoding).
pub fn form_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

/// Writes `contents` to a temporary file that lives as long as the returned handle.
pub fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file.flush().unwrap();
    file
}

/// Lower-case hex SHA-256, computed here with the test's own code, for clients files.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text.as_bytes(),
    ))
}

/// Parses the JSON lines of `text` that are audit records.
pub fn audit_records(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["log"] == "audit")
        .collect()
}

impl TestApp {
    /// The address of the dev store, from its start-up log line.
    pub async fn dev_store_address(&self) -> String {
        self.wait_for_log("dev store listening").await;
        self.logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|record| {
                record["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("dev store listening"))
            })
            .and_then(|record| record["address"].as_str().map(str::to_owned))
            .expect("the dev store logs its address")
    }
}

/// Starts `serve` with only `envs` and stdout piped, reads stdout up to the "listening" line
/// and returns the child, the (still open, never read again) pipe and the address: a stdout
/// nobody reads fills up.
pub fn spawn_with_unread_stdout(
    envs: &[(&str, &str)],
) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = Command::new(bin())
        .arg("serve")
        .env_clear()
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let address = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no listening line"
        );
        if let Ok(record) = serde_json::from_str::<Value>(&line)
            && record["message"] == "listening"
        {
            break record["address"].as_str().unwrap().to_owned();
        }
    };
    (child, stdout, address)
}
