use base64::Engine as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{BUCKET, TestApp, form_decode, query_pairs, secret};

const CONFORMANCE_EMAIL: &str = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com";

fn unix(timestamp: &Value) -> i64 {
    let text = timestamp.as_str().expect("timestamp string");
    assert!(
        text.len() == 20 && text.ends_with('Z'),
        "ISO 8601 UTC with whole seconds: {text}"
    );
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn put_secret_returns_201_in_ael_api_shape() {
    let app = TestApp::spawn();
    let before = now();
    let response = app
        .post_secret(&json!({"secret": {
            "action": "PUT",
            "bucket": BUCKET,
            "resource_id": "declarations/42",
            "resource_name": "scan 1.pdf",
            "content_type": "application/pdf",
            "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg=="
        }}))
        .await;
    let after = now();

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();

    assert_eq!(body["meta"]["code"], 201);
    assert_eq!(body["meta"]["type"], "object");
    assert_eq!(body["meta"]["request_id"], header_id.as_str());
    let data = &body["data"];
    let mut keys: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    // ael.api's fields, and `fields`, `method` and `url` for uploader libraries (Uppy's
    // getUploadParameters shape); ael.api's clients ignore fields they do not know.
    assert_eq!(
        keys,
        [
            "action",
            "backend",
            "bucket",
            "content_md5",
            "content_type",
            "expires_at",
            "fields",
            "headers",
            "inserted_at",
            "method",
            "resource_id",
            "resource_name",
            "secret_url",
            "url",
            "version"
        ]
    );
    assert_eq!(data["url"], data["secret_url"]);
    assert_eq!(data["method"], "PUT");
    assert_eq!(data["fields"], json!({}));
    assert_eq!(data["action"], "PUT");
    assert_eq!(data["bucket"], BUCKET);
    assert_eq!(data["resource_id"], "declarations/42");
    assert_eq!(data["resource_name"], "scan 1.pdf");
    assert_eq!(data["content_type"], "application/pdf");
    assert_eq!(data["content_md5"], "1B2M2Y8AsgTpgAmY7PhCfg==");

    let url = data["secret_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://storage.googleapis.com/test-bucket/declarations/42/scan%201.pdf?"),
        "{url}"
    );
    let query = query_pairs(url);
    let names: Vec<_> = query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Expires", "GoogleAccessId", "Signature"]);
    assert_eq!(form_decode(&query[1].1), CONFORMANCE_EMAIL);
    let signature = base64::engine::general_purpose::STANDARD
        .decode(form_decode(&query[2].1))
        .expect("base64 signature");
    assert_eq!(signature.len(), 256, "RSA-2048 signature");

    let inserted_at = unix(&data["inserted_at"]);
    let expires_at = unix(&data["expires_at"]);
    assert!((before..=after).contains(&inserted_at));
    assert_eq!(expires_at - inserted_at, 600, "SECRETS_TTL defaults to 600");
    assert_eq!(
        query[0].1,
        expires_at.to_string(),
        "expires_at is the URL's Expires"
    );
}

#[tokio::test]
async fn get_secret_without_optional_fields_has_nulls() {
    let app = TestApp::spawn();
    let response = app.post_secret(&secret("GET", "file.txt")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["resource_name"], Value::Null);
    assert_eq!(body["data"]["content_type"], Value::Null);
    assert_eq!(body["data"]["content_md5"], Value::Null);
    assert!(
        body["data"]["secret_url"]
            .as_str()
            .unwrap()
            .starts_with("https://storage.googleapis.com/test-bucket/file.txt?Expires=")
    );
}

#[tokio::test]
async fn head_is_a_valid_action() {
    let app = TestApp::spawn();
    let response = app.post_secret(&secret("HEAD", "file.txt")).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn object_names_are_percent_encoded_like_google_clients() {
    let app = TestApp::spawn();
    // Expected paths as in ../shared/testdata/google-client-vectors (Google's Python client).
    let cases = [
        (
            "a b+c=d$e@f:g,h;i!j'k(l)m*n~o",
            "a%20b%2Bc%3Dd%24e%40f%3Ag%2Ch%3Bi%21j%27k%28l%29m%2An~o",
        ),
        ("café/日本.txt", "caf%C3%A9/%E6%97%A5%E6%9C%AC.txt"),
        ("50%off.txt", "50%25off.txt"),
        ("hash#q?x.txt", "hash%23q%3Fx.txt"),
        ("plus+sign", "plus%2Bsign"),
    ];
    for (name, encoded) in cases {
        let response = app.post_secret(&secret("GET", name)).await;
        assert_eq!(response.status(), 201, "{name}");
        let body: Value = response.json().await.unwrap();
        let url = body["data"]["secret_url"].as_str().unwrap();
        let expected = format!("https://storage.googleapis.com/{BUCKET}/{encoded}?");
        assert!(url.starts_with(&expected), "{name}: {url}");
    }
}

#[tokio::test]
async fn secrets_ttl_and_storage_base_url_come_from_the_environment() {
    let app = TestApp::spawn_with(
        &[
            ("SECRETS_TTL", "30"),
            ("STORAGE_BASE_URL", "http://127.0.0.1:9023/storage/"),
        ],
        &[],
    );
    let body: Value = app
        .post_secret(&secret("GET", "x"))
        .await
        .json()
        .await
        .unwrap();
    let data = &body["data"];
    assert_eq!(unix(&data["expires_at"]) - unix(&data["inserted_at"]), 30);
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:9023/storage/test-bucket/x?"),
        "{data}"
    );
}

#[tokio::test]
async fn flags_override_environment_variables() {
    let app = TestApp::spawn_with(&[("SECRETS_TTL", "600")], &["--secrets-ttl", "5"]);
    let body: Value = app
        .post_secret(&secret("GET", "x"))
        .await
        .json()
        .await
        .unwrap();
    let data = &body["data"];
    assert_eq!(unix(&data["expires_at"]) - unix(&data["inserted_at"]), 5);
}

#[tokio::test]
async fn every_known_bucket_is_accepted() {
    let app = TestApp::spawn();
    let body = json!({"secret": {"action": "GET", "bucket": "other-bucket", "resource_id": "x"}});
    assert_eq!(app.post_secret(&body).await.status(), 201);
}

#[tokio::test]
async fn caller_request_id_is_echoed() {
    let app = TestApp::spawn();
    let response = app
        .client
        .post(app.url(crate::helpers::SECRETS_PATH))
        .header("x-request-id", "trace-abc.123")
        .json(&secret("GET", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc.123");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["meta"]["request_id"], "trace-abc.123");
}

#[tokio::test]
async fn unsafe_request_id_is_replaced_by_a_generated_one() {
    let app = TestApp::spawn();
    let response = app
        .client
        .post(app.url(crate::helpers::SECRETS_PATH))
        .header("x-request-id", "evil\" injected")
        .json(&secret("GET", "x"))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "evil\" injected");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["meta"]["request_id"], id.as_str());
}

#[tokio::test]
async fn each_request_gets_its_own_generated_id() {
    let app = TestApp::spawn();
    let first = app.post_secret(&secret("GET", "x")).await;
    let second = app.post_secret(&secret("GET", "x")).await;
    assert_ne!(
        first.headers()["x-request-id"],
        second.headers()["x-request-id"]
    );
}
