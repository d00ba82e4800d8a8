//! Download overrides (`response_content_disposition`, `response_content_type`) and upload
//! headers (`metadata`, `cache_control`, `content_disposition`): what the policy lets a caller
//! ask for, what the request may hold, and what the dev store does with the URLs.

use serde_json::{Value, json};

use crate::helpers::{TestApp, conformance_key_path, temp_file};

/// `serve --dev` whose anonymous client may read `/dev-bucket/**` with attachment
/// dispositions and PDF or octet-stream types forced, and upload under `/dev-bucket/in/**`
/// with `owner` metadata and `Cache-Control`, but not `Content-Disposition`.
fn spawn() -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(
        r#"
[[clients]]
id = "anonymous"
[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/dev-bucket/**"]
response_dispositions = ["attachment"]
response_content_types = ["application/pdf", "application/octet-stream"]
[[clients.allow]]
methods = ["PUT", "RESUMABLE"]
resources = ["/dev-bucket/in/**"]
metadata = ["owner"]
upload_headers = ["cache-control"]
"#,
    );
    let vars: Vec<(String, String)> = [
        (
            "SERVICE_ACCOUNT_KEY_PATH",
            conformance_key_path().display().to_string(),
        ),
        ("KNOWN_BUCKETS", "dev-bucket".to_owned()),
        ("CLIENTS_CONFIG_PATH", clients.path().display().to_string()),
        ("DEV_ALLOW_KEY_FILE", "true".to_owned()),
        ("PORT", "0".to_owned()),
        ("DEV_STORE_PORT", "0".to_owned()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    (TestApp::spawn_raw(&vars, &["--dev"]), clients)
}

async fn ask(app: &TestApp, secret: Value) -> (u16, Value) {
    let mut secret = secret;
    secret["bucket"] = json!("dev-bucket");
    let response = app.post_secret(&json!({ "secret": secret })).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn send(
    app: &TestApp,
    data: &Value,
    method: reqwest::Method,
    body: &[u8],
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, data["secret_url"].as_str().unwrap())
        .body(body.to_vec());
    for (name, value) in data["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_keep_signed_metadata_and_downloads_get_their_overrides() {
    let (app, _clients) = spawn();
    for version in ["v4", "v2"] {
        let object = format!("in/{version}/report.bin");
        let mut put = json!({"action": "PUT", "resource_id": object, "content_type": "text/plain",
                             "version": version, "metadata": {"owner": "user-42"}});
        if version == "v4" {
            put["cache_control"] = json!("private, max-age=60");
        }
        let (status, upload) = ask(&app, put).await;
        assert_eq!(status, 201, "{upload}");
        let upload = &upload["data"];
        assert_eq!(upload["headers"]["x-goog-meta-owner"], "user-42");
        assert_eq!(upload["method"], "PUT", "Uppy's getUploadParameters shape");
        assert_eq!(upload["url"], upload["secret_url"]);
        assert_eq!(upload["fields"], json!({}));
        assert_eq!(
            send(&app, upload, reqwest::Method::PUT, b"hello")
                .await
                .status(),
            200
        );

        let (status, read) = ask(
            &app,
            json!({"action": "GET", "resource_id": object, "version": version,
            "response_content_disposition": "attachment; filename=\"Report 1.pdf\"",
            "response_content_type": "application/pdf"}),
        )
        .await;
        assert_eq!(status, 201, "{read}");
        let response = send(&app, &read["data"], reqwest::Method::GET, b"").await;
        assert_eq!(response.status(), 200, "{version}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("content-disposition").as_deref(),
            Some("attachment; filename=\"Report 1.pdf\""),
            "{version}"
        );
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/pdf"),
            "{version}"
        );
        assert_eq!(
            header("x-goog-meta-owner").as_deref(),
            Some("user-42"),
            "{version}"
        );
        if version == "v4" {
            assert_eq!(
                header("cache-control").as_deref(),
                Some("private, max-age=60")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_upload_without_its_signed_metadata_is_refused_by_the_store() {
    let (app, _clients) = spawn();
    let (_, upload) = ask(
        &app,
        json!({"action": "PUT", "resource_id": "in/x", "version": "v4",
                                       "metadata": {"owner": "user-42"}}),
    )
    .await;
    let url = upload["data"]["secret_url"].as_str().unwrap();
    let response = app.client.put(url).body("x").send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("SignatureDoesNotMatch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_which_options_a_url_may_carry() {
    let (app, _clients) = spawn();
    for (secret, expected) in [
        (
            json!({"action": "GET", "resource_id": "a", "response_content_disposition": "inline"}),
            "response_content_disposition \"inline\" is not allowed for GET",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "response_content_type": "text/html"}),
            "response_content_type \"text/html\" is not allowed for GET",
        ),
        (
            json!({"action": "PUT", "resource_id": "in/a", "metadata": {"role": "admin"}}),
            "metadata \"role\" is not allowed for PUT",
        ),
        (
            json!({"action": "PUT", "resource_id": "in/a", "version": "v4", "content_disposition": "inline"}),
            "content-disposition is not allowed for PUT",
        ),
    ] {
        let (status, body) = ask(&app, secret.clone()).await;
        assert_eq!(status, 403, "{secret}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{secret}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misplaced_or_malformed_options_are_a_422_naming_the_field() {
    let (app, _clients) = spawn();
    for (secret, entry) in [
        (
            json!({"action": "PUT", "resource_id": "in/a", "response_content_type": "application/pdf"}),
            "$.secret.response_content_type",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "metadata": {"owner": "x"}}),
            "$.secret.metadata",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "cache_control": "no-cache"}),
            "$.secret.cache_control",
        ),
        (
            json!({"action": "PUT", "resource_id": "in/a", "version": "v2", "cache_control": "no-cache"}),
            "$.secret.cache_control",
        ),
        (
            json!({"action": "PUT", "resource_id": "in/a", "metadata": {"owner": "a\r\nx-evil: 1"}}),
            "$.secret.metadata",
        ),
        (
            json!({"action": "PUT", "resource_id": "in/a", "metadata": {"Bad Name": "x"}}),
            "$.secret.metadata",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "response_content_disposition": "; filename=x"}),
            "$.secret.response_content_disposition",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "response_content_disposition": "attachment; filename=\"日本.pdf\""}),
            "$.secret.response_content_disposition",
        ),
        (
            json!({"action": "GET", "resource_id": "a", "response_content_type": "text/plain\nx"}),
            "$.secret.response_content_type",
        ),
    ] {
        let (status, body) = ask(&app, secret.clone()).await;
        assert_eq!(status, 422, "{secret}: {body}");
        assert_eq!(
            body["error"]["invalid"][0]["entry"], entry,
            "{secret}: {body}"
        );
    }
}
