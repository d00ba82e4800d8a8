//! Differential test: every URL the running service issues must be the URL Google's Python
//! client builds for the same key, object, method, headers and `Expires`.

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

#[path = "../support/corpus.rs"]
mod corpus;
#[path = "../support/oracle.rs"]
mod oracle;

use corpus::Rng;

use crate::helpers::{BUCKET, TestApp, conformance_key_path, query_pairs, temp_file};
use crate::policy::spawn_without_open_mode;

const CASES: usize = 1200;
const ENDPOINT: &str = "https://storage.googleapis.com";
const ACTIONS: [&str; 5] = ["GET", "HEAD", "PUT", "DELETE", "RESUMABLE"];

pub use oracle::oracle_python;

/// Runs Google's client (`tests/oracle/google_signer.py`) on `job` and returns its answer.
pub fn run_oracle(job: &Value) -> Value {
    oracle::run_oracle("google_signer.py", job)
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

fn generate(count: usize, version: &str, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|i| {
            let action = ACTIONS[i % ACTIONS.len()];
            let mut secret = json!({
                "action": action,
                "bucket": BUCKET,
                "resource_id": corpus::object_name(&mut rng, 3),
                "version": version,
            });
            if rng.chance(60) {
                secret["resource_name"] = json!(corpus::object_name(&mut rng, 2));
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
            if matches!(action, "PUT" | "RESUMABLE") && rng.chance(40) {
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
    oracle::assert_no_mismatches("V2 URLs differ from Google's client", CASES, &mismatches);
}

#[tokio::test]
async fn v4_urls_match_google_python_client_for_generated_requests() {
    let (app, _clients) = spawn_permissive();
    let requests = generate(CASES, "v4", 0x5EED_0004);
    let mismatches = compare_with_google(&app, &requests).await;
    oracle::assert_no_mismatches("V4 URLs differ from Google's client", CASES, &mismatches);
}
