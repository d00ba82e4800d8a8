//! A content type is one media type, compared by its parsed type and subtype: the attack pass
//! got upload URLs pinning `image/png;,text/html` from an `image/png` rule, and a browser
//! rendered the upload as HTML.

use serde_json::{Value, json};

use crate::helpers::{TestApp, temp_file};
use crate::policy::spawn_without_open_mode;
use crate::upload_policies::post_policy;

const CLIENTS: &str = r#"
[[clients]]
id = "anonymous"
[[clients.allow]]
methods = ["PUT", "POST"]
resources = ["/test-bucket/png/**"]
content_types = ["image/png"]
[[clients.allow]]
methods = ["PUT", "POST"]
resources = ["/test-bucket/images/**"]
content_types = ["image/*"]
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/svg/**"]
content_types = ["image/svg+xml"]
[[clients.allow]]
methods = ["POST"]
resources = ["/test-bucket/anything/**"]
"#;

fn spawn() -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(CLIENTS);
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    (app, clients)
}

async fn put(app: &TestApp, object: &str, content_type: &str) -> (u16, Value) {
    let response = app
        .post_secret(&json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object, "content_type": content_type}}))
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn invalid_entries(body: &Value) -> Vec<String> {
    body["error"]["invalid"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| entry["entry"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_value_that_is_more_than_one_media_type_is_422_naming_the_field() {
    let (app, _clients) = spawn();
    for (object, content_type) in [
        ("png/a", "image/png;,text/html"),
        ("png/a", "IMAGE/PNG;text/html"),
        ("images/a", "image/jpeg, text/html"),
        ("images/a", "image/x,text/html"),
        ("images/a", "image/png; charset=\"x\""),
    ] {
        let (status, body) = put(&app, object, content_type).await;
        assert_eq!(status, 422, "{content_type}: {body}");
        assert_eq!(invalid_entries(&body), ["$.secret.content_type"], "{body}");
    }
    let (status, body) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key": "png/a", "content_type": "image/png;,text/html"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(invalid_entries(&body), ["$.policy.content_type"]);
    let (status, body) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key_prefix": "anything/", "content_type_prefix": "image/x,text/html"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(invalid_entries(&body), ["$.policy.content_type_prefix"]);
}

#[tokio::test]
async fn types_compare_without_case_and_wildcards_never_admit_scriptable_types() {
    let (app, _clients) = spawn();
    assert_eq!(put(&app, "png/a", "IMAGE/PNG").await.0, 201);
    assert_eq!(put(&app, "images/a", "image/webp").await.0, 201);
    for scriptable in ["image/svg+xml", "text/html", "application/xhtml+xml"] {
        let (status, body) = put(&app, "images/a", scriptable).await;
        assert_eq!(status, 403, "{scriptable} passed image/*: {body}");
    }
    assert_eq!(
        put(&app, "png/a", "image/png; a=b").await.0,
        403,
        "unlisted parameters"
    );
    assert_eq!(
        put(&app, "svg/a", "image/svg+xml").await.0,
        201,
        "listed by name"
    );
}

#[tokio::test]
async fn a_content_type_prefix_is_refused_where_a_rule_lists_types() {
    let (app, _clients) = spawn();
    // `starts-with image/` would let GCS take `image/svg+xml`, or `image/x,text/html`.
    let (status, body) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key_prefix": "images/1/", "content_type_prefix": "image/"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content_type_prefix"),
        "{body}"
    );
    let (status, body) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key_prefix": "images/1/", "content_type": "image/png"}),
    )
    .await;
    assert_eq!(status, 201, "the exact type: {body}");
    let (status, _) = post_policy(
        &app,
        json!({"bucket": "test-bucket", "key_prefix": "anything/1/", "content_type_prefix": "image/"}),
    )
    .await;
    assert_eq!(status, 201, "a rule that allows any type may take a prefix");
}

#[tokio::test]
async fn batch_items_with_two_media_types_are_422() {
    let (app, _clients) = spawn();
    let response = app
        .client
        .post(app.url("/media_content_storage_secrets/batch"))
        .json(&json!({"secrets": [
            {"action": "PUT", "bucket": "test-bucket", "resource_id": "png/a", "content_type": "image/png;,text/html"},
            {"action": "PUT", "bucket": "test-bucket", "resource_id": "png/b", "content_type": "image/png"},
        ]}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let statuses: Vec<u64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [422, 201], "{body}");
}
