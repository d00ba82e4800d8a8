//! Safe uploads enforced per client: size limits and no-overwrite signed into the URL.

use serde_json::{Value, json};

use crate::helpers::{TestApp, temp_file};
use crate::policy::spawn_without_open_mode;

const CLIENTS: &str = r#"
[[clients]]
id = "anonymous"
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/safe/**"]
content_types = ["image/*"]
max_size = 1048576
require_no_overwrite = true
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/free/**"]
"#;

fn spawn() -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(CLIENTS);
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    (app, clients)
}

async fn upload(app: &TestApp, extra: Value) -> (u16, Value) {
    let mut secret = json!({"action": "PUT", "bucket": "test-bucket", "resource_id": "safe/a.png", "content_type": "image/png"});
    for (name, value) in extra.as_object().unwrap() {
        secret[name] = value.clone();
    }
    let response = app.post_secret(&json!({ "secret": secret })).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_rule_signs_its_limits_into_a_request_that_names_none() {
    let (app, _clients) = spawn();
    for version in ["v2", "v4"] {
        let (status, body) = upload(&app, json!({"version": version})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            body["data"]["headers"],
            json!({"Content-Type": "image/png", "x-goog-content-length-range": "0,1048576", "x-goog-if-generation-match": "0"}),
            "{version}"
        );
    }
}

#[tokio::test]
async fn narrower_requests_are_kept_and_wider_ones_refused() {
    let (app, _clients) = spawn();
    let (status, body) = upload(
        &app,
        json!({"content_length_range": [10, 2048], "if_generation_match": 0}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        body["data"]["headers"]["x-goog-content-length-range"],
        "10,2048"
    );

    let (status, body) = upload(&app, json!({"max_size": 1_048_577})).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1048576 bytes"),
        "{body}"
    );

    let (status, body) = upload(&app, json!({"if_generation_match": 42})).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("if_generation_match must be 0"),
        "{body}"
    );

    let (status, _) = upload(&app, json!({"content_type": "text/html"})).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn without_limits_in_the_rule_the_request_chooses() {
    let (app, _clients) = spawn();
    let (status, body) = upload(
        &app,
        json!({"resource_id": "free/x.bin", "content_type": null}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["headers"], json!({}));
    let (status, body) = upload(
        &app,
        json!({"resource_id": "free/x.bin", "if_generation_match": 0, "max_size": 10}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["headers"]["x-goog-if-generation-match"], "0");
    assert_eq!(
        body["data"]["headers"]["x-goog-content-length-range"],
        "0,10"
    );
}
