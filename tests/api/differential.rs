//! Differential test: every URL the running service issues must be the URL Google's Python
//! client builds for the same key, object, method, headers and `Expires`.

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

#[path = "../support/corpus.rs"]
pub(crate) mod corpus;
#[path = "../support/oracle.rs"]
pub(crate) mod oracle;

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

/// Adds the URL options to the requests generated with `seed`: download overrides on `GET`
/// and `HEAD`, metadata on uploads, and (V4) `Cache-Control` and `Content-Disposition`. A
/// generator of its own, so the corpora without options stay as they were.
fn with_options(mut requests: Vec<Value>, version: &str, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    for request in &mut requests {
        let secret = &mut request["secret"];
        match secret["action"].as_str().unwrap() {
            "GET" | "HEAD" => {
                if rng.chance(70) {
                    secret["response_content_disposition"] = json!(rng.pick(&[
                        "attachment",
                        "inline",
                        "attachment; filename=\"scan 1.pdf\"",
                        "attachment; filename=\"a+b&c=d;e.txt\"",
                        "attachment; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf",
                        "inline; filename=\"~tilde_(1)!.png\"",
                    ]));
                }
                if rng.chance(60) {
                    secret["response_content_type"] = json!(rng.pick(&[
                        "application/pdf",
                        "application/octet-stream",
                        "text/plain; charset=utf-8",
                        "image/png",
                    ]));
                }
            }
            "PUT" | "RESUMABLE" => {
                if rng.chance(70) {
                    let mut metadata = serde_json::Map::new();
                    for _ in 0..=rng.below(3) {
                        let name = rng.pick(&["owner", "source-app", "user_id", "x"]);
                        let value =
                            rng.pick(&["user 42", "a,b", "x=y;z", "\"quoted\"", "tab-free", "50%"]);
                        metadata.insert(name.to_owned(), json!(value));
                    }
                    secret["metadata"] = Value::Object(metadata);
                }
                if version == "v4" && rng.chance(50) {
                    secret["cache_control"] = json!(rng.pick(&[
                        "no-cache",
                        "public, max-age=3600",
                        "private, max-age=0, no-store",
                    ]));
                }
                if version == "v4" && rng.chance(50) {
                    secret["content_disposition"] =
                        json!(rng.pick(&["attachment; filename=\"report.pdf\"", "inline",]));
                }
            }
            _ => {}
        }
    }
    requests
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
    let oracle_cases: Vec<Value> = responses
        .iter()
        .zip(requests)
        .map(|(response, request)| oracle_case(&response["data"], &request["secret"]))
        .collect();
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

/// The inputs Google's client needs to build the URL the service issued in `data` for the
/// secret `request`.
fn oracle_case(data: &Value, request: &Value) -> Value {
    let url = data["secret_url"].as_str().unwrap();
    let query: std::collections::HashMap<String, String> = query_pairs(url).into_iter().collect();
    let object = match data["resource_name"].as_str() {
        Some(name) => format!("{}/{name}", data["resource_id"].as_str().unwrap()),
        None => data["resource_id"].as_str().unwrap().to_owned(),
    };
    // Content-Type and Content-MD5 are arguments of their own; Google's client adds
    // x-goog-resumable itself for RESUMABLE. The rest (x-goog-*, Cache-Control,
    // Content-Disposition) go in `headers`.
    let headers: serde_json::Map<String, Value> = data["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| {
            !["Content-Type", "Content-MD5", "x-goog-resumable"].contains(&name.as_str())
        })
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
        "response_disposition": request["response_content_disposition"],
        "response_type": request["response_content_type"],
    });
    if data["version"] == "v2" {
        case["expiration"] = json!(query["Expires"].parse::<u64>().unwrap());
    } else {
        case["expiration"] = json!(query["X-Goog-Expires"].parse::<u64>().unwrap());
        case["timestamp"] = json!(query["X-Goog-Date"]);
    }
    case
}

/// The service with a clients file that lets anyone have any URL method for up to 7 days,
/// with every URL option.
fn spawn_permissive() -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\nmax_ttl = 604800\n[[clients.allow]]\nmethods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\", \"RESUMABLE\"]\nresources = [\"/**\"]\nresponse_content_types = [\"*/*\"]\nresponse_dispositions = [\"attachment\", \"inline\"]\nmetadata = [\"*\"]\nupload_headers = [\"cache-control\", \"content-disposition\"]\n",
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

/// `OPTION_CASES` requests of each version with download overrides and upload headers.
const OPTION_CASES: usize = 600;

#[tokio::test]
async fn urls_with_response_overrides_and_upload_headers_match_google_python_client() {
    let (app, _clients) = spawn_permissive();
    let mut report = Vec::new();
    for (version, seed) in [("v2", 0x0B71_0002_u64), ("v4", 0x0B71_0004_u64)] {
        let requests = with_options(generate(OPTION_CASES, version, seed), version, seed ^ 0xFF);
        let with_any = requests
            .iter()
            .filter(|r| {
                [
                    "response_content_disposition",
                    "response_content_type",
                    "metadata",
                    "cache_control",
                    "content_disposition",
                ]
                .iter()
                .any(|field| !r["secret"][field].is_null())
            })
            .count();
        let mismatches = compare_with_google(&app, &requests).await;
        eprintln!(
            "differential {version} with options: {OPTION_CASES} requests ({with_any} with an option), {} mismatches",
            mismatches.len()
        );
        report.extend(mismatches);
    }
    assert!(
        report.is_empty(),
        "{} URLs with options differ from Google's client; first ones:\n{}",
        report.len(),
        report
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
