//! One JSON log line per request, and no credential in any of them.

use serde_json::{Value, json};

use crate::helpers::{BUCKET, TestApp, conformance_key_path, form_decode, query_pairs};

#[tokio::test]
async fn each_request_writes_one_json_line_with_its_details() {
    let app = TestApp::spawn();
    let response = app
        .client
        .post(app.url("/media_content_storage_secrets"))
        .header("x-request-id", "log-test-1")
        .json(&json!({"secret": {"action": "PUT", "bucket": BUCKET, "resource_id": "dir", "resource_name": "a b.txt", "content_type": "text/plain"}}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let lines = app.wait_for_request_log("log-test-1").await;
    assert_eq!(lines.len(), 1, "{}", app.logs());
    let line = &lines[0];
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/media_content_storage_secrets");
    assert_eq!(line["status"], 201);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    // Milliseconds to the microsecond, as written: not the 17 digits of an unrounded float.
    let raw = app
        .logs()
        .lines()
        .find(|l| l.contains("\"log-test-1\"") && l.contains("\"message\":\"request\""))
        .map(str::to_owned)
        .unwrap();
    let latency = raw.split("\"latency_ms\":").nth(1).unwrap();
    let latency = &latency[..latency.find([',', '}']).unwrap()];
    let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3, "latency_ms {latency} in {raw}");
    assert_eq!(line["action"], "PUT");
    assert_eq!(line["bucket"], BUCKET);
    assert_eq!(line["object"], "dir/a b.txt");
    assert_eq!(line["expires_at"], body["data"]["expires_at"]);
}

#[tokio::test]
async fn refused_requests_are_logged_with_their_status() {
    let app = TestApp::spawn();
    app.client
        .post(app.url("/media_content_storage_secrets"))
        .header("x-request-id", "log-test-422")
        .json(&json!({"secret": {}}))
        .send()
        .await
        .unwrap();
    let lines = app.wait_for_request_log("log-test-422").await;
    assert_eq!(lines[0]["status"], 422);
    assert_eq!(lines[0]["decision"], "invalid");
}

#[tokio::test]
async fn no_url_signature_or_key_appears_in_the_logs() {
    let app = TestApp::spawn();
    let mut urls = Vec::new();
    for action in ["GET", "HEAD", "PUT"] {
        let body = json!({"secret": {"action": action, "bucket": BUCKET, "resource_id": "secret-test", "content_type": "image/png"}});
        let response: Value = app.post_secret(&body).await.json().await.unwrap();
        urls.push(response["data"]["secret_url"].as_str().unwrap().to_owned());
    }
    // Some refused requests too: their logs and error bodies must not echo key material.
    app.post_secret(&json!({"secret": {"action": "GET"}})).await;
    app.client
        .get(app.url("/nope?Signature=abc"))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url("/healthz"))
        .header("x-request-id", "last")
        .send()
        .await
        .unwrap();
    let logs = app.wait_for_log("\"last\"").await;

    for url in &urls {
        let query = query_pairs(url);
        let signature_encoded = &query[2].1;
        let signature = form_decode(signature_encoded);
        assert!(!logs.contains(url.as_str()), "URL in logs");
        assert!(
            !logs.contains(signature_encoded.as_str()),
            "encoded signature in logs"
        );
        assert!(!logs.contains(&signature), "signature in logs");
        assert!(
            !logs.contains(&signature[..40]),
            "part of a signature in logs"
        );
        assert!(!logs.contains("Signature="), "a signed query in logs");
    }
    let key_file: Value =
        serde_json::from_str(&std::fs::read_to_string(conformance_key_path()).unwrap()).unwrap();
    let pem = key_file["private_key"].as_str().unwrap();
    assert!(!logs.contains("PRIVATE KEY"));
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "a line of the private key in logs");
    }
    assert!(
        logs.contains("test-iam-credentials@dummy-project-id"),
        "the account is logged at start-up"
    );
}

/// A stdout nobody reads (a stuck log collector) must not stall requests: log lines past the
/// writer's bound are dropped. The writer this replaced waited instead, once 128,000 lines
/// were queued, with the tokio worker blocked in the log call.
#[tokio::test]
async fn a_stdout_nobody_reads_drops_log_lines_instead_of_stalling_requests() {
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let key = conformance_key_path().display().to_string();
    let (mut child, stdout, address) = crate::helpers::spawn_with_unread_stdout(&[
        ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
        ("KNOWN_BUCKETS", BUCKET),
        ("ALLOW_ANONYMOUS", "true"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("AUDIT_LOG_PATH", audit.to_str().unwrap()),
    ]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://{address}/healthz");
    // Each request logs a line: 160,000 lines is more than the old writer queued before it
    // blocked, and far more than the 4 MiB the new one holds.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..10_000 {
                    let response = client
                        .get(&url)
                        .send()
                        .await
                        .expect("answered, not stalled");
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);
}
