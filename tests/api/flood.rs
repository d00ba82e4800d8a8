//! Refused requests cost a bounded number of audit bytes: past the refusal limit of a source
//! address (or client) they get a 429 and are counted in a periodic summary record instead of
//! one record each. The attack pass wrote 257 KB of audit per anonymous batch of 100 denied
//! items with 1 KB names, until the disk filled and fail-closed refused everyone.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, sha256_hex, temp_file};
use crate::policy::spawn_without_open_mode;

const FRONTEND_KEY: &str = "ssk_flood-test-frontend";
const LIMITED_KEY: &str = "ssk_flood-test-limited";

/// The clients file; `with_rate_limit` adds the client with a `rate_limit`.
fn clients(with_rate_limit: bool) -> String {
    let mut clients = format!(
        r#"
[[clients]]
id = "anonymous"
[[clients.allow]]
methods = ["GET"]
resources = ["/test-bucket/public/**"]

[[clients]]
id = "frontend"
api_key_sha256 = "{}"
[[clients.allow]]
methods = ["GET"]
resources = ["/test-bucket/**"]
"#,
        sha256_hex(FRONTEND_KEY),
    );
    if with_rate_limit {
        let _ = write!(
            clients,
            r#"
[[clients]]
id = "limited"
api_key_sha256 = "{}"
rate_limit = {{ per_minute = 60, burst = 3 }}
[[clients.allow]]
methods = ["GET"]
resources = ["/test-bucket/ok/**"]
"#,
            sha256_hex(LIMITED_KEY)
        );
    }
    clients
}

fn spawn(audit: &Path) -> (TestApp, tempfile::NamedTempFile) {
    spawn_with(audit, false)
}

fn spawn_with(audit: &Path, with_rate_limit: bool) -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(&clients(with_rate_limit));
    let app = spawn_without_open_mode(&[
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("AUDIT_LOG_PATH", audit.to_str().unwrap()),
        ("REFUSALS_PER_MINUTE", "60"),
        ("REFUSAL_BURST", "5"),
        ("AUDIT_SUMMARY_INTERVAL", "1"),
    ]);
    (app, clients)
}

fn audit(path: &Path) -> (usize, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    (text.len(), audit_records(&text))
}

/// Waits for the summary records to account for `expected` turned-away requests.
async fn summarised(path: &Path, expected: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let summaries: Vec<Value> = audit(path)
            .1
            .into_iter()
            .filter(|r| r["decision"] == "suppressed")
            .collect();
        let counted: u64 = summaries
            .iter()
            .flat_map(|s| s["suppressed"].as_array().cloned().unwrap_or_default())
            .map(|row| row["count"].as_u64().unwrap())
            .sum();
        if counted >= expected {
            assert_eq!(counted, expected, "{summaries:?}");
            return summaries;
        }
        assert!(Instant::now() < deadline, "counted {counted} of {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_flood_of_denied_batches_costs_a_bounded_number_of_audit_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (app, _clients) = spawn(&path);
    let long_name = "n".repeat(1000);
    let items: Vec<Value> = (0..100)
        .map(|n| json!({"action": "GET", "bucket": "test-bucket", "resource_id": format!("private/{n}/{long_name}")}))
        .collect();
    let batch = json!({ "secrets": items });
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = app
            .client
            .post(app.url("/media_content_storage_secrets/batch"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        statuses.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["status"].as_u64().unwrap()),
        );
    }
    let denied = statuses.iter().filter(|s| **s == 403).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        denied <= 10,
        "only the burst is denied one by one: {denied}"
    );
    assert_eq!(denied + limited, 2000);

    // A legitimate caller from the same address is still served: issued URLs are no refusals.
    let issued = app
        .post_secret_as(
            Some(FRONTEND_KEY),
            &json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a.txt"}}),
        )
        .await;
    assert_eq!(issued.status(), 201);

    let summaries = summarised(&path, limited as u64).await;
    let row = &summaries[0]["suppressed"][0];
    assert_eq!(row["source"], "127.0.0.1", "{row}");
    assert_eq!(row["reason"], "denied", "{row}");
    let (bytes, records) = audit(&path);
    assert!(
        bytes < 64 * 1024,
        "{bytes} bytes of audit for 2000 refusals"
    );
    for record in records.iter().filter(|r| r["decision"] == "denied") {
        let reason = record["reason"].as_str().unwrap();
        assert!(
            !reason.contains(&long_name),
            "the reason repeats the name: {reason}"
        );
    }
}

#[tokio::test]
async fn a_401_flood_is_limited_per_source_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (app, _clients) = spawn(&path);
    let body =
        json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a.txt"}});
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let response = app.post_secret_as(Some("ssk_wrong"), &body).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["type"], "rate_limited");
        }
    }
    let unauthenticated = statuses.iter().filter(|s| **s == 401).count();
    assert!(unauthenticated <= 10, "{unauthenticated}");
    summarised(&path, (200 - unauthenticated) as u64).await;
    let (_, records) = audit(&path);
    let one_by_one = records
        .iter()
        .filter(|r| r["decision"] == "unauthenticated")
        .count();
    assert_eq!(one_by_one, unauthenticated);
    let verified = std::process::Command::new(crate::helpers::BIN)
        .args(["audit", "verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "the chain holds with summaries in it"
    );
}

#[tokio::test]
async fn a_clients_rate_limit_answers_429_past_its_burst() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (app, _clients) = spawn_with(&path, true);
    let body =
        json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "ok/a.txt"}});
    for _ in 0..3 {
        let response = app.post_secret_as(Some(LIMITED_KEY), &body).await;
        assert_eq!(response.status(), 201);
    }
    let response = app.post_secret_as(Some(LIMITED_KEY), &body).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Other clients are not affected.
    let other = app.post_secret_as(Some(FRONTEND_KEY), &body).await;
    assert_eq!(other.status(), 201);
    let summaries = summarised(&path, 1).await;
    let row = &summaries[0]["suppressed"][0];
    assert_eq!(
        (row["client"].as_str(), row["reason"].as_str()),
        (Some("limited"), Some("rate_limited"))
    );
    let text = crate::metrics::scrape(&app).await;
    assert_eq!(
        crate::metrics::sample(
            &text,
            r#"storage_signer_rate_limited_total{limit="client"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

/// `-` is the request id of the service's own records: a caller sending it could make its
/// records pass for them.
#[tokio::test]
async fn the_callers_request_id_is_recorded_apart_from_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (app, _clients) = spawn(&path);
    let response = app
        .client
        .post(app.url(crate::helpers::SECRETS_PATH))
        .header("x-request-id", "-")
        .bearer_auth(FRONTEND_KEY)
        .json(
            &json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a.txt"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, records) = audit(&path);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["caller_request_id"], "-");
    let own = records[0]["request_id"].as_str().unwrap();
    assert_ne!(own, "-");
    assert_eq!(own.len(), 36, "a UUID of the service's own: {own}");
    let logged = app.wait_for_request_log(own).await;
    assert_eq!(logged[0]["caller_request_id"], "-", "{logged:?}");
}
