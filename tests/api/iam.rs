//! Keyless signing (`SIGNER=iam`) against a stand-in for the metadata server and IAM
//! Credentials, started here: it checks each request's shape, signs with the conformance
//! key, and can fail, throttle or hang on demand.
//!
//! Over 500 lines: the stand-in and the tests that drive it belong together.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use storage_signer::key::ServiceAccountKey;
use storage_signer::signing::Signer as _;

use crate::differential::google_urls;
use crate::helpers::{TestApp, conformance_key_path, query_pairs, secret};
use crate::metrics::{sample, scrape};

/// What the stand-in does with the next signBlob call.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    Status(u16),
    Hang,
}

pub(crate) struct StandIn {
    key: ServiceAccountKey,
    email: String,
    pub(crate) token_lifetime: u64,
    pub(crate) tokens_issued: usize,
    /// Tokens that IAM accepts.
    pub(crate) valid_tokens: Vec<String>,
    pub(crate) sign_calls: usize,
    script: VecDeque<Reply>,
    /// Every signBlob call failing when set (IAM down).
    pub(crate) always: Option<Reply>,
    pub(crate) problems: Vec<String>,
    payloads: Vec<Vec<u8>>,
}

pub(crate) type Shared = Arc<Mutex<StandIn>>;

async fn token(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    // Google's metadata server refuses requests without the header (SSRF protection).
    if headers.get("metadata-flavor").is_none_or(|v| v != "Google") {
        state
            .problems
            .push("token request without Metadata-Flavor: Google".into());
        return StatusCode::FORBIDDEN.into_response();
    }
    if headers.contains_key("x-forwarded-for") {
        state
            .problems
            .push("token request with X-Forwarded-For".into());
        return StatusCode::FORBIDDEN.into_response();
    }
    state.tokens_issued += 1;
    let token = format!("ya29.test-token-{}", state.tokens_issued);
    state.valid_tokens.push(token.clone());
    Json(json!({
        "access_token": token,
        "expires_in": state.token_lifetime,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn sign_blob(
    State(state): State<Shared>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let reply = {
        let mut state = state.lock().unwrap();
        state.sign_calls += 1;
        let expected = format!("{}:signBlob", state.email);
        if target != expected {
            state.problems.push(format!("signBlob for {target:?}"));
            return StatusCode::NOT_FOUND.into_response();
        }
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        if !state.valid_tokens.contains(&bearer) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if headers
            .get("content-type")
            .is_none_or(|v| v != "application/json")
        {
            state.problems.push("signBlob body is not JSON".into());
        }
        let payload = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|body| body["payload"].as_str().map(str::to_owned))
            .and_then(|payload| BASE64.decode(payload).ok());
        let Some(payload) = payload else {
            state.problems.push(format!("signBlob body {body:?}"));
            return StatusCode::BAD_REQUEST.into_response();
        };
        let Some(reply) = state.always.or_else(|| state.script.pop_front()) else {
            let signature = state.key.sign_rsa_sha256(&payload).unwrap();
            state.payloads.push(payload);
            return Json(json!({
                "keyId": "stand-in-key-1",
                "signedBlob": BASE64.encode(signature),
            }))
            .into_response();
        };
        reply
    };
    match reply {
        Reply::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

/// Starts the stand-in on a free port of this test's runtime.
pub(crate) async fn stand_in(token_lifetime: u64) -> (Shared, SocketAddr) {
    let json = std::fs::read(conformance_key_path()).unwrap();
    let key = ServiceAccountKey::from_json(&json).unwrap();
    let state = Arc::new(Mutex::new(StandIn {
        email: key.client_email().to_owned(),
        key,
        token_lifetime,
        tokens_issued: 0,
        valid_tokens: Vec::new(),
        sign_calls: 0,
        script: VecDeque::new(),
        always: None,
        problems: Vec::new(),
        payloads: Vec::new(),
    }));
    let router = axum::Router::new()
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            get(token),
        )
        .route("/v1/projects/-/serviceAccounts/{target}", post(sign_blob))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (state, address)
}

pub fn spawn_keyless(stand_in: SocketAddr, extra: &[(&str, &str)]) -> TestApp {
    let key_path = conformance_key_path().display().to_string();
    let mut vars: Vec<(String, String)> = vec![
        ("SIGNER".into(), "iam".into()),
        (
            "IAM_SERVICE_ACCOUNT".into(),
            "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com".into(),
        ),
        ("IAM_ENDPOINT".into(), format!("http://{stand_in}")),
        ("METADATA_ENDPOINT".into(), format!("http://{stand_in}")),
        ("KNOWN_BUCKETS".into(), "test-bucket".into()),
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
        ("ALLOW_ANONYMOUS".into(), "true".into()),
    ];
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push(((*name).into(), (*value).into()));
    }
    assert!(!vars.iter().any(|(_, v)| *v == key_path));
    TestApp::spawn_raw(&vars, &[])
}

async fn issue(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let response = app.post_secret(body).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Waits until the start-up check (one probe signature) has passed.
pub async fn wait_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        if response.status() == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            response.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn problems(state: &Shared) -> Vec<String> {
    state.lock().unwrap().problems.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_urls_are_the_urls_google_signs_with_the_key() {
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(address, &[]);
    wait_ready(&app).await;
    let object = "déclarations/scan 1+2 #?.pdf";
    let (status, v2) = issue(
        &app,
        &json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object, "content_type": "application/pdf"}}),
    )
    .await;
    assert_eq!(status, 201, "{v2}");
    let (status, v4) = issue(
        &app,
        &json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": object, "version": "v4"}}),
    )
    .await;
    assert_eq!(status, 201, "{v4}");
    let v2_url = v2["data"]["secret_url"].as_str().unwrap();
    let v4_url = v4["data"]["secret_url"].as_str().unwrap();
    let v2_query: std::collections::HashMap<_, _> = query_pairs(v2_url).into_iter().collect();
    let v4_query: std::collections::HashMap<_, _> = query_pairs(v4_url).into_iter().collect();

    let expected = google_urls(&[
        json!({"version": "v2", "bucket": "test-bucket", "object": object, "method": "PUT",
               "expiration": v2_query["Expires"].parse::<u64>().unwrap(),
               "content_type": "application/pdf"}),
        json!({"version": "v4", "bucket": "test-bucket", "object": object, "method": "GET",
               "expiration": v4_query["X-Goog-Expires"].parse::<u64>().unwrap(),
               "timestamp": v4_query["X-Goog-Date"]}),
    ]);
    assert_eq!(v2_url, expected[0]);
    assert_eq!(v4_url, expected[1]);

    let state = state.lock().unwrap();
    assert!(state.problems.is_empty(), "{:?}", state.problems);
    // What IAM was asked to sign: the start-up probe, the V2 string to sign, the V4 one.
    assert_eq!(state.payloads.len(), 3);
    assert!(state.payloads[1].starts_with(b"PUT\n\napplication/pdf\n"));
    assert!(state.payloads[2].starts_with(b"GOOG4-RSA-SHA256\n"));
    // The start-up check and both signatures used one token.
    assert_eq!(state.tokens_issued, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_cached_and_renewed_before_it_expires() {
    // A 4 s token is renewed at half its life.
    let (state, address) = stand_in(4).await;
    let app = spawn_keyless(address, &[]);
    wait_ready(&app).await;
    for _ in 0..5 {
        assert_eq!(issue(&app, &secret("GET", "a.txt")).await.0, 201);
    }
    assert_eq!(state.lock().unwrap().tokens_issued, 1, "one token for all");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(issue(&app, &secret("GET", "a.txt")).await.0, 201);
    let state = state.lock().unwrap();
    assert_eq!(state.tokens_issued, 2, "renewed after half its life");
    assert!(state.problems.is_empty(), "{:?}", state.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried() {
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(address, &[]);
    wait_ready(&app).await;
    let before = state.lock().unwrap().sign_calls;
    state
        .lock()
        .unwrap()
        .script
        .extend([Reply::Status(429), Reply::Status(503)]);
    let (status, body) = issue(&app, &secret("GET", "a.txt")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(state.lock().unwrap().sign_calls - before, 3);

    // A revoked token (401) is replaced and the call made again.
    state.lock().unwrap().valid_tokens.clear();
    let (status, body) = issue(&app, &secret("GET", "b.txt")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(state.lock().unwrap().tokens_issued, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_not_retried_and_no_url_is_issued() {
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(address, &[]);
    wait_ready(&app).await;
    let before = state.lock().unwrap().sign_calls;
    state.lock().unwrap().script.push_back(Reply::Status(403));
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "service_unavailable");
    assert!(body["data"].is_null());
    assert_eq!(
        state.lock().unwrap().sign_calls - before,
        1,
        "403 is not retried"
    );
    let logs = app.wait_for_log("IAM signing failed").await;
    assert!(logs.contains("403"), "{logs}");
    assert!(!logs.contains("ya29."), "tokens never reach the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_batch_items_are_logged_under_the_batch_request_id() {
    // Regression: batch items were decided on a blocking thread, where the request id was
    // not known, so their failures were logged without it (or as "unknown").
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(address, &[]);
    wait_ready(&app).await;
    state.lock().unwrap().always = Some(Reply::Status(403));
    let request_id = "batch-with-iam-down";
    let response = app
        .client
        .post(app.url("/media_content_storage_secrets/batch"))
        .header("x-request-id", request_id)
        .json(&json!({"secrets": [
            {"action": "GET", "bucket": "test-bucket", "resource_id": "a.txt"},
            {"action": "GET", "bucket": "test-bucket", "resource_id": "b.txt"},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    for item in body["data"].as_array().unwrap() {
        assert_eq!(item["status"], 503, "{item}");
    }
    app.wait_for_request_log(request_id).await;
    let logs = app.logs();
    let failures: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "ERROR" && line.to_string().contains("answered 403"))
        .collect();
    assert_eq!(failures.len(), 2, "one error line per item: {logs}");
    for failure in &failures {
        assert_eq!(failure["caller_request_id"], request_id, "{failure}");
    }
    assert!(!logs.contains("\"unknown\""), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_iam_gets_a_503_within_the_timeout_not_a_hang() {
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(address, &[("IAM_TIMEOUT", "2")]);
    wait_ready(&app).await;
    state.lock().unwrap().always = Some(Reply::Hang);
    let started = Instant::now();
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    // IAM_TIMEOUT bounds it (the request timeout, 10 s, would be a 408).
    assert!(waited < Duration::from_secs(8), "{waited:?}");

    // Probes and other routes are still served while signatures hang.
    let hanging = secret("GET", "b.txt");
    let (slow, health) = tokio::join!(
        app.post_secret(&hanging),
        app.client.get(app.url("/healthz")).send()
    );
    assert_eq!(health.unwrap().status(), 200);
    assert_eq!(slow.status(), 503);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["reasons"].to_string().contains("IAM"), "{body}");
    assert!(problems(&state).is_empty());

    // IAM comes back: the next signature works and readiness follows.
    state.lock().unwrap().always = None;
    assert_eq!(issue(&app, &secret("GET", "c.txt")).await.0, 201);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"storage_signer_signing_duration_seconds_count{kind="v2-iam"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_metadata_server_makes_the_replica_unready() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let app = spawn_keyless(address, &[("IAM_TIMEOUT", "1")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let body: Value = loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == 503 || Instant::now() > deadline {
            assert_eq!(status, 503, "{body}");
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body["reasons"].to_string().contains("IAM"), "{body}");
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 503);
}

/// The attack pass: a metadata server answering `expires_in` 18446744073709551615 made the
/// token's expiry overflow an `Instant`. The panic gave requests a 500 without an audit
/// record, and killed the background check, so the replica stayed unready for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_token_lifetime_is_refused_logged_and_retried() {
    let (state, address) = stand_in(u64::MAX).await;
    let app = spawn_keyless(address, &[("IAM_TIMEOUT", "2")]);
    let logs = app.wait_for_log("access token refused").await;
    assert!(logs.contains("18446744073709551615"), "{logs}");
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 503, "no URL, and no panic");
    let logs = app.wait_for_log("\"decision\":\"failed\"").await;
    assert!(logs.contains("\"decision\":\"failed\""), "audited: {logs}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    // A sane token again: the background check, still alive, makes the replica ready.
    state.lock().unwrap().token_lifetime = 3600;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "never ready again: {}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(issue(&app, &secret("GET", "b.txt")).await.0, 201);
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}

#[test]
fn keyless_settings_are_validated() {
    let base = [
        ("SIGNER", "iam"),
        ("KNOWN_BUCKETS", "test-bucket"),
        (
            "IAM_SERVICE_ACCOUNT",
            "signer@project.iam.gserviceaccount.com",
        ),
    ];
    let key = conformance_key_path().display().to_string();
    // An empty value removes the variable.
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("IAM_SERVICE_ACCOUNT", "")], "IAM_SERVICE_ACCOUNT"),
        (
            vec![
                ("SIGNER", "key"),
                ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
            ],
            "IAM_SERVICE_ACCOUNT",
        ),
        (
            vec![("IAM_SERVICE_ACCOUNT", "not an email")],
            "IAM_SERVICE_ACCOUNT",
        ),
        (
            vec![("SERVICE_ACCOUNT_KEY_PATH", key.as_str())],
            "SERVICE_ACCOUNT_KEY_PATH",
        ),
        (
            vec![("IAM_ENDPOINT", "iamcredentials.googleapis.com")],
            "IAM_ENDPOINT",
        ),
        (vec![("METADATA_ENDPOINT", "ftp://x")], "METADATA_ENDPOINT"),
        (vec![("IAM_TIMEOUT", "0")], "IAM_TIMEOUT"),
        (vec![("SIGNER", "kms")], "SIGNER"),
    ];
    for (overrides, variable) in cases {
        let mut vars: Vec<(&str, &str)> = base.to_vec();
        for (name, value) in &overrides {
            vars.retain(|(n, _)| n != name);
            if !value.is_empty() {
                vars.push((name, value));
            }
        }
        let (status, _, stderr) = crate::helpers::run_to_exit(&vars, &[]);
        assert_eq!(status.code(), Some(2), "{overrides:?}: {stderr}");
        assert!(stderr.contains(variable), "{overrides:?}: {stderr}");
    }
}
