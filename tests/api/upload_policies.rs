//! `POST /upload_policies`: signed V4 POST policies for browser form uploads.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, temp_file};
use crate::policy::spawn_without_open_mode;

const CLIENTS: &str = r#"
[[clients]]
id = "anonymous"
max_ttl = 900
[[clients.allow]]
methods = ["POST"]
resources = ["/test-bucket/forms/**"]
content_types = ["image/*"]
max_size = 5000000
[[clients.allow]]
methods = ["POST"]
resources = ["/test-bucket/exact/*.pdf"]
[[clients.allow]]
methods = ["POST"]
resources = ["/test-bucket/locked/**"]
require_no_overwrite = true
"#;

fn spawn(audit: &std::path::Path) -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(CLIENTS);
    let app = spawn_without_open_mode(&[
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("AUDIT_LOG_PATH", audit.to_str().unwrap()),
    ]);
    (app, clients)
}

pub async fn post_policy(app: &TestApp, policy: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/upload_policies"))
        .json(&json!({ "policy": policy }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn decoded_policy(data: &Value) -> Value {
    let encoded = data["fields"]["policy"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_prefix_policy_carries_every_condition() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _clients) = spawn(&dir.path().join("audit.log"));
    let (status, body) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key_prefix": "forms/42/", "content_type": "image/png",
               "metadata": {"owner": "user-42"}, "success_action_status": 201, "expires_in": 600}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let data = &body["data"];
    assert_eq!(data["url"], "https://storage.googleapis.com/test-bucket/");
    assert_eq!(data["key_prefix"], "forms/42/");
    let fields = &data["fields"];
    assert_eq!(fields["key"], "forms/42/${filename}");
    assert_eq!(fields["x-goog-meta-owner"], "user-42");
    assert_eq!(fields["success_action_status"], "201");
    assert_eq!(fields["x-goog-algorithm"], "GOOG4-RSA-SHA256");
    assert_eq!(fields["x-goog-signature"].as_str().unwrap().len(), 512);

    let policy = decoded_policy(data);
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(
        conditions.contains(&json!(["content-length-range", 0, 5_000_000])),
        "the rule's max_size: {policy}"
    );
    assert_eq!(
        data["fields"]["content-type"], "image/png",
        "the exact type, as a field"
    );
    assert!(conditions.contains(&json!(["starts-with", "$key", "forms/42/"])));
    assert!(conditions.contains(&json!({"bucket": "test-bucket"})));
    assert!(conditions.contains(&json!({"x-goog-meta-owner": "user-42"})));
    assert_eq!(policy["expiration"], data["expires_at"]);

    let records = audit_records(&std::fs::read_to_string(dir.path().join("audit.log")).unwrap());
    assert_eq!(records[0]["action"], "POST");
    assert_eq!(records[0]["object"], "forms/42/*");
    assert_eq!(records[0]["decision"], "issued");
}

#[tokio::test]
async fn an_exact_key_policy_pins_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _clients) = spawn(&dir.path().join("audit.log"));
    let (status, body) = post_policy(&app, json!({"bucket": "test-bucket", "key": "exact/résumé.pdf", "content_type": "application/pdf"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["fields"]["key"], "exact/résumé.pdf");
    assert_eq!(body["data"]["fields"]["content-type"], "application/pdf");
    let policy = decoded_policy(&body["data"]);
    assert!(
        policy["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "exact/résumé.pdf"}))
    );
}

#[tokio::test]
async fn policies_the_rules_do_not_cover_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _clients) = spawn(&dir.path().join("audit.log"));
    for (policy, message) in [
        (
            json!({"bucket": "test-bucket", "key_prefix": "exact/"}),
            "path",
        ),
        (
            json!({"bucket": "test-bucket", "key_prefix": "form"}),
            "path",
        ),
        (
            json!({"bucket": "test-bucket", "key": "forms/a.png", "content_type": "text/html"}),
            "content type",
        ),
        (
            json!({"bucket": "test-bucket", "key": "forms/a.png"}),
            "content_type is required",
        ),
        (
            json!({"bucket": "test-bucket", "key": "forms/a.png", "content_type": "image/png", "max_size": 5_000_001}),
            "at most 5000000 bytes",
        ),
        (
            json!({"bucket": "test-bucket", "key": "locked/a.bin"}),
            "form uploads cannot guarantee",
        ),
    ] {
        let (status, body) = post_policy(&app, policy.clone()).await;
        assert_eq!(status, 403, "{policy}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{policy}: {body}"
        );
    }
    let (status, body) = post_policy(&app, json!({"bucket": "test-bucket", "key": "forms/a.png", "content_type": "image/png", "expires_in": 901})).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["invalid"][0]["entry"], "$.policy.expires_in");
}
