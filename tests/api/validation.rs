//! Every request the service must refuse, with the status and the invalid entries it names.

use serde_json::{Value, json};

use crate::helpers::{BUCKET, SECRETS_PATH, TestApp};

/// Sends `body` and returns the `invalid` entries of the 422, after checking the error shape.
async fn invalid_entries(app: &TestApp, body: &Value) -> Vec<(String, String)> {
    let response = app.post_secret(body).await;
    assert_eq!(response.status(), 422, "{body}");
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["meta"]["code"], 422);
    assert_eq!(error["meta"]["request_id"], header_id.as_str());
    assert_eq!(error["error"]["type"], "validation_failed");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Validation failed")
    );
    assert!(error.get("data").is_none());
    error["error"]["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            assert_eq!(entry["entry_type"], "json_data_property");
            let rule = &entry["rules"][0];
            assert!(
                !rule["description"].as_str().unwrap().is_empty(),
                "every rule says why"
            );
            (
                entry["entry"].as_str().unwrap().to_owned(),
                rule["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn with(field: &str, value: Value) -> Value {
    let mut body = json!({"secret": {"action": "PUT", "bucket": BUCKET, "resource_id": "ok"}});
    body["secret"][field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = with("action", json!("PUT"));
    body["secret"].as_object_mut().unwrap().remove(field);
    body
}

fn pair(entry: &str, rule: &str) -> Vec<(String, String)> {
    vec![(format!("$.secret.{entry}"), rule.to_owned())]
}

#[tokio::test]
async fn rejects_unknown_or_malformed_action() {
    let app = TestApp::spawn();
    for action in [json!("PATCH"), json!("get"), json!("POST"), json!(" GET")] {
        assert_eq!(
            invalid_entries(&app, &with("action", action.clone())).await,
            pair("action", "inclusion"),
            "{action}"
        );
    }
    assert_eq!(
        invalid_entries(&app, &without("action")).await,
        pair("action", "required")
    );
    assert_eq!(
        invalid_entries(&app, &with("action", json!(1))).await,
        pair("action", "cast")
    );
}

#[tokio::test]
async fn inclusion_rule_lists_the_allowed_actions() {
    let app = TestApp::spawn();
    let response = app.post_secret(&with("action", json!("PATCH"))).await;
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["invalid"][0]["rules"][0]["params"],
        json!(["GET", "HEAD", "PUT", "DELETE", "RESUMABLE"])
    );
}

#[tokio::test]
async fn rejects_unknown_and_invalid_buckets() {
    let app = TestApp::spawn();
    assert_eq!(
        invalid_entries(&app, &with("bucket", json!("unknown-bucket"))).await,
        pair("bucket", "inclusion")
    );
    for bucket in ["Bad Bucket", "a", "goog-x", "../etc"] {
        assert_eq!(
            invalid_entries(&app, &with("bucket", json!(bucket))).await,
            pair("bucket", "format"),
            "{bucket}"
        );
    }
    assert_eq!(
        invalid_entries(&app, &without("bucket")).await,
        pair("bucket", "required")
    );
}

#[tokio::test]
async fn the_known_bucket_list_is_not_revealed() {
    let app = TestApp::spawn();
    let response = app
        .post_secret(&with("bucket", json!("unknown-bucket")))
        .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("other-bucket"), "{text}");
}

#[tokio::test]
async fn rejects_missing_or_empty_resource_id() {
    let app = TestApp::spawn();
    assert_eq!(
        invalid_entries(&app, &without("resource_id")).await,
        pair("resource_id", "required")
    );
    assert_eq!(
        invalid_entries(&app, &with("resource_id", json!(""))).await,
        pair("resource_id", "required")
    );
    assert_eq!(
        invalid_entries(&app, &with("resource_id", json!(null))).await,
        pair("resource_id", "required")
    );
    assert_eq!(
        invalid_entries(&app, &with("resource_id", json!(["a"]))).await,
        pair("resource_id", "cast")
    );
}

#[tokio::test]
async fn rejects_object_names_with_control_characters() {
    let app = TestApp::spawn();
    for name in [
        "a\u{0}b", "a\rb", "a\nb", "a\tb", "a\u{7f}b", "a\u{1b}b", "a\u{1f}b", "a\u{85}b",
    ] {
        assert_eq!(
            invalid_entries(&app, &with("resource_id", json!(name))).await,
            pair("resource_id", "format"),
            "{name:?}"
        );
        assert_eq!(
            invalid_entries(&app, &with("resource_name", json!(name))).await,
            pair("resource_name", "format"),
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn rejects_object_names_with_empty_or_dot_segments() {
    let app = TestApp::spawn();
    for name in [
        "/lead",
        "trail/",
        "a//b",
        ".",
        "..",
        "a/./b",
        "a/../b",
        "../../etc/passwd",
    ] {
        assert_eq!(
            invalid_entries(&app, &with("resource_id", json!(name))).await,
            pair("resource_id", "format"),
            "{name:?}"
        );
        assert_eq!(
            invalid_entries(&app, &with("resource_name", json!(name))).await,
            pair("resource_name", "format"),
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn rejects_object_names_over_1024_utf8_bytes() {
    let app = TestApp::spawn();
    assert_eq!(
        invalid_entries(&app, &with("resource_id", json!("é".repeat(513)))).await,
        pair("resource_id", "length")
    );
    // id (512) + "/" + name (512) = 1025 bytes.
    let mut body = with("resource_id", json!("a".repeat(512)));
    body["secret"]["resource_name"] = json!("b".repeat(512));
    assert_eq!(
        invalid_entries(&app, &body).await,
        pair("resource_name", "length")
    );
    // Exactly 1024 bytes is fine.
    body["secret"]["resource_name"] = json!("b".repeat(511));
    assert_eq!(app.post_secret(&body).await.status(), 201);
}

#[tokio::test]
async fn rejects_content_type_with_control_characters() {
    let app = TestApp::spawn();
    for value in [
        "text/plain\r\nx-goog-acl: public-read",
        "text/plain\u{0}",
        "a\tb",
        " text/plain",
    ] {
        assert_eq!(
            invalid_entries(&app, &with("content_type", json!(value))).await,
            pair("content_type", "format"),
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn rejects_content_md5_that_is_not_base64_of_16_bytes() {
    let app = TestApp::spawn();
    for value in [
        "abc",
        "d41d8cd98f00b204e9800998ecf8427e",
        "1B2M2Y8AsgTpgAmY7PhCfg",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "1B2M2Y8AsgTpgAmY7PhCfg==\r\n",
    ] {
        assert_eq!(
            invalid_entries(&app, &with("content_md5", json!(value))).await,
            pair("content_md5", "format"),
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn lists_every_invalid_field_not_only_the_first() {
    let app = TestApp::spawn();
    let body = json!({"secret": {
        "action": "PATCH",
        "bucket": "nope-bucket",
        "resource_id": "a//b",
        "resource_name": "x\ny",
        "content_type": "a\rb",
        "content_md5": "zz"
    }});
    let entries: Vec<String> = invalid_entries(&app, &body)
        .await
        .into_iter()
        .map(|(entry, _)| entry)
        .collect();
    assert_eq!(
        entries,
        [
            "$.secret.action",
            "$.secret.bucket",
            "$.secret.resource_id",
            "$.secret.resource_name",
            "$.secret.content_type",
            "$.secret.content_md5"
        ]
    );
}

#[tokio::test]
async fn rejects_body_without_a_secret_object() {
    let app = TestApp::spawn();
    for (body, entry, rule) in [
        (json!({}), "$.secret", "required"),
        (json!({"secret": null}), "$.secret", "required"),
        (json!({"secret": "GET"}), "$.secret", "cast"),
        (json!([]), "$", "cast"),
        (json!("text"), "$", "cast"),
    ] {
        assert_eq!(
            invalid_entries(&app, &body).await,
            vec![(entry.to_owned(), rule.to_owned())],
            "{body}"
        );
    }
}

#[tokio::test]
async fn unknown_fields_in_the_secret_are_ignored_for_ael_api_compatibility() {
    let app = TestApp::spawn();
    let response = app.post_secret(&with("legacy_field", json!(1))).await;
    assert_eq!(response.status(), 201);
}

// --- Errors before validation: media type, size, syntax, routing ---

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["meta"]["code"], status);
    assert_eq!(body["meta"]["request_id"], header_id.as_str());
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    (status, body)
}

/// `body` sent as it is, as JSON, to `path`: its status and error.
async fn post_raw(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    error_of(response).await
}

#[tokio::test]
async fn a_member_named_twice_is_400_and_nothing_is_signed() {
    // serde_json keeps the last `action`; a proxy that keeps the first would have let a GET
    // through and we would sign a PUT.
    let app = TestApp::spawn();
    for raw in [
        format!(
            r#"{{"secret": {{"action": "GET", "bucket": "{BUCKET}", "resource_id": "a", "action": "PUT"}}}}"#
        ),
        format!(
            r#"{{"secret": {{"action": "GET", "bucket": "{BUCKET}", "resource_id": "a"}}, "secret": {{"action": "DELETE", "bucket": "{BUCKET}", "resource_id": "b"}}}}"#
        ),
    ] {
        let (status, body) = post_raw(&app, SECRETS_PATH, raw.clone()).await;
        assert_eq!(status, 400, "{raw}");
        assert_eq!(body["error"]["type"], "request_malformed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("names the same member twice"), "{message}");
        assert!(body.get("data").is_none(), "{body}");
    }
    let batch = format!(
        r#"{{"secrets": [{{"action": "GET", "bucket": "{BUCKET}", "resource_id": "a", "resource_id": "b"}}]}}"#
    );
    let (status, body) = post_raw(&app, &format!("{SECRETS_PATH}/batch"), batch).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "request_malformed");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn();
    for raw in [
        &b"{\"secret\": "[..],
        b"not json",
        b"",
        b"{\"secret\": {\"action\": \"\\ud800\"}}",
        b"{\"a\": \"\xff\"}",
    ] {
        let (status, body) = post_raw(&app, SECRETS_PATH, raw.to_vec()).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(raw));
        assert_eq!(body["error"]["type"], "request_malformed");
    }
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_a_crash() {
    let app = TestApp::spawn();
    let raw = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let (status, _) = post_raw(&app, SECRETS_PATH, raw).await;
    assert_eq!(status, 400);
    // Still alive.
    assert_eq!(
        app.post_secret(&with("action", json!("GET")))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = TestApp::spawn();
    let body = serde_json::to_vec(&with("action", json!("GET"))).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
    ] {
        let mut request = app.client.post(app.url(SECRETS_PATH)).body(body.clone());
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        let (status, error) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, 415, "{content_type:?}");
        assert_eq!(error["error"]["type"], "content_type_invalid");
    }
    let charset = app
        .client
        .post(app.url(SECRETS_PATH))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(charset.status(), 201);
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let app = TestApp::spawn();
    let padding = "x".repeat(64 * 1024);
    let mut body = with("action", json!("GET"));
    body["padding"] = json!(padding);
    let (status, error) = error_of(app.post_secret(&body).await).await;
    assert_eq!(status, 413);
    assert_eq!(error["error"]["type"], "request_too_large");
}

#[tokio::test]
async fn chunked_body_over_64_kib_is_413() {
    let app = TestApp::spawn();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, _) = post_raw(&app, SECRETS_PATH, body).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = TestApp::spawn();
    for path in ["/", "/media_content_storage_secrets/extra", "/secrets"] {
        let (status, error) = error_of(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(error["error"]["type"], "not_found");
    }
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = TestApp::spawn();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(SECRETS_PATH))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "POST", "{method}");
        let (status, error) = error_of(response).await;
        assert_eq!(status, 405, "{method}");
        assert_eq!(error["error"]["type"], "method_not_allowed");
    }
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
}
