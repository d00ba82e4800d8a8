//! Differential test: every URL the running service issues must be the URL Google's Python
//! client builds for the same key, object, method, headers and `Expires`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{BUCKET, TestApp, conformance_key_path, query_pairs, temp_file};
use crate::policy::spawn_without_open_mode;

const CASES: usize = 1200;
const ENDPOINT: &str = "https://storage.googleapis.com";
const ACTIONS: [&str; 5] = ["GET", "HEAD", "PUT", "DELETE", "RESUMABLE"];

/// The Python that has `google-cloud-storage` installed: `STORAGE_SIGNER_ORACLE_PYTHON`, or the
/// virtualenv `scripts/test` creates. Missing is a failure, not a skip.
pub fn oracle_python() -> PathBuf {
    let python = std::env::var_os("STORAGE_SIGNER_ORACLE_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "Google's Python client is needed for the differential test: run `scripts/test`, which \
         creates .venv with tests/oracle/requirements.txt, or set STORAGE_SIGNER_ORACLE_PYTHON \
         (looked for {})",
        python.display()
    );
    python
}

/// Runs the Python oracle (`tests/oracle/google_signer.py`) on `job` and returns its answer.
pub fn run_oracle(job: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/google_signer.py");
    let mut child = Command::new(oracle_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Google's client's URLs for `cases`, signed with the conformance key.
pub fn google_urls(cases: &[Value]) -> Vec<String> {
    let result = run_oracle(&json!({
        "mode": "sign",
        "key_path": conformance_key_path(),
        "endpoint": ENDPOINT,
        "cases": cases,
    }));
    eprintln!("oracle: google-cloud-storage {}", result["library"]);
    result["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect()
}

/// `SplitMix64`: a small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Character pools for object names: what users actually upload.
const POOLS: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "-_.~",
    " !#$&'()*+,;=:@[]?%\"<>\\^`{|}",
    "привітсвЁёЖжЩщ",
    "日本語中文字한국어",
    "😀🎉👍🏽🇺🇦🧪",
    "e\u{301}a\u{308}o\u{303}\u{20dd}",
    "ÀéîõüßØæ",
];

fn segment(rng: &mut Rng) -> String {
    loop {
        let len = 1 + rng.below(12);
        let text: String = (0..len)
            .map(|_| {
                let pool: Vec<char> = POOLS[rng.below(POOLS.len())].chars().collect();
                pool[rng.below(pool.len())]
            })
            .collect();
        // `.` and `..` segments are refused by the API (tested elsewhere).
        if text != "." && text != ".." {
            return text;
        }
    }
}

fn path(rng: &mut Rng, max_segments: usize) -> String {
    (0..=rng.below(max_segments))
        .map(|_| segment(rng))
        .collect::<Vec<_>>()
        .join("/")
}

fn generate(count: usize, version: &str, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|i| {
            let action = ACTIONS[i % ACTIONS.len()];
            let mut secret = json!({
                "action": action,
                "bucket": BUCKET,
                "resource_id": path(&mut rng, 3),
                "version": version,
            });
            if rng.chance(60) {
                secret["resource_name"] = json!(path(&mut rng, 2));
            }
            if rng.chance(50) {
                secret["content_type"] = json!(rng.pick(&[
                    "image/png",
                    "application/pdf",
                    "text/plain; charset=utf-8",
                    "application/vnd.api+json",
                    "multipart/form-data; boundary=x",
                ]));
            }
            if rng.chance(30) {
                let digest: Vec<u8> = (0..16).map(|_| rng.next().to_le_bytes()[0]).collect();
                secret["content_md5"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(digest));
            }
            if rng.chance(30) {
                secret["if_generation_match"] =
                    json!(if rng.chance(50) { 0 } else { rng.next() >> 20 });
            }
            // PUT only: a size range is not enforced on RESUMABLE uploads (refused there).
            if action == "PUT" && rng.chance(40) {
                let max = rng.next() >> 24;
                secret["content_length_range"] = json!([max / 2, max]);
            }
            if rng.chance(20) {
                secret["expires_in"] = json!(1 + rng.below(604_800));
            }
            json!({ "secret": secret })
        })
        .collect()
}

/// Asks the running service for each request, then Google's client for the same inputs, and
/// returns the differences.
async fn compare_with_google(app: &TestApp, requests: &[Value]) -> Vec<String> {
    let responses: Vec<Value> = futures_util::stream::iter(requests.iter())
        .map(|body| async move {
            let response = app.post_secret(body).await;
            assert_eq!(response.status(), 201, "{body}");
            response.json::<Value>().await.unwrap()
        })
        .buffered(8)
        .collect()
        .await;
    let oracle_cases: Vec<Value> = responses.iter().map(|r| oracle_case(&r["data"])).collect();
    let expected = google_urls(&oracle_cases);
    assert_eq!(expected.len(), requests.len());

    let mut mismatches = Vec::new();
    for ((response, case), google) in responses.iter().zip(&oracle_cases).zip(&expected) {
        let ours = response["data"]["secret_url"].as_str().unwrap();
        let (our_path, _) = ours.split_once('?').unwrap();
        let (google_path, _) = google.split_once('?').unwrap();
        let mut our_query = query_pairs(ours);
        let mut google_query = query_pairs(google);
        our_query.sort();
        google_query.sort();
        let same = our_path.as_bytes() == google_path.as_bytes() && our_query == google_query;
        if !same || ours != google {
            mismatches.push(format!("{case}\n  ours:   {ours}\n  google: {google}"));
        }
    }
    mismatches
}

/// The inputs Google's client needs to build the URL the service issued in `data`.
fn oracle_case(data: &Value) -> Value {
    let url = data["secret_url"].as_str().unwrap();
    let query: std::collections::HashMap<String, String> = query_pairs(url).into_iter().collect();
    let object = match data["resource_name"].as_str() {
        Some(name) => format!("{}/{name}", data["resource_id"].as_str().unwrap()),
        None => data["resource_id"].as_str().unwrap().to_owned(),
    };
    // Content-Type and Content-MD5 are arguments of their own; Google's client adds
    // x-goog-resumable itself for RESUMABLE.
    let headers: serde_json::Map<String, Value> = data["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with("x-goog-") && *name != "x-goog-resumable")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let mut case = json!({
        "version": data["version"],
        "bucket": data["bucket"],
        "object": object,
        "method": data["action"],
        "content_type": data["content_type"],
        "content_md5": data["content_md5"],
        "headers": headers,
    });
    if data["version"] == "v2" {
        case["expiration"] = json!(query["Expires"].parse::<u64>().unwrap());
    } else {
        case["expiration"] = json!(query["X-Goog-Expires"].parse::<u64>().unwrap());
        case["timestamp"] = json!(query["X-Goog-Date"]);
    }
    case
}

/// The service with a clients file that lets anyone have any URL method for up to 7 days.
fn spawn_permissive() -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\nmax_ttl = 604800\n[[clients.allow]]\nmethods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\", \"RESUMABLE\"]\nresources = [\"/**\"]\n",
    );
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    (app, clients)
}

#[tokio::test]
async fn v2_urls_match_google_python_client_for_generated_requests() {
    let (app, _clients) = spawn_permissive();
    let requests = generate(CASES, "v2", 0x5EED_2026);
    let mismatches = compare_with_google(&app, &requests).await;
    eprintln!(
        "differential V2: {CASES} requests, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {CASES} V2 URLs differ from Google's client; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn v4_urls_match_google_python_client_for_generated_requests() {
    let (app, _clients) = spawn_permissive();
    let requests = generate(CASES, "v4", 0x5EED_0004);
    let mismatches = compare_with_google(&app, &requests).await;
    eprintln!(
        "differential V4: {CASES} requests, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {CASES} V4 URLs differ from Google's client; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
