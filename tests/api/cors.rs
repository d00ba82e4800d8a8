//! CORS for the API: preflights answered without credentials, only for the configured
//! origins, `Vary: Origin` always, and never `Access-Control-Allow-Credentials`.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::helpers::{SECRETS_PATH, TestApp, sha256_hex, temp_file};
use crate::policy::spawn_without_open_mode;

const PAGE: &str = "https://app.example.com";

/// A service that requires credentials (an API key client, no anonymous), with CORS for
/// `PAGE` unless `origins` says otherwise.
fn spawn(origins: Option<&str>) -> (TestApp, tempfile::NamedTempFile) {
    let clients = temp_file(&format!(
        "[[clients]]\nid = \"frontend\"\napi_key_sha256 = \"{}\"\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/test-bucket/**\"]\n",
        sha256_hex("the-key")
    ));
    let mut env = vec![("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())];
    if let Some(origins) = origins {
        env.push(("CORS_ALLOWED_ORIGINS", origins));
    }
    (spawn_without_open_mode(&env), clients)
}

async fn preflight(app: &TestApp, origin: &str) -> (u16, HeaderMap) {
    let response = app
        .client
        .request(Method::OPTIONS, app.url(SECRETS_PATH))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_without_credentials() {
    let (app, _clients) = spawn(Some(&format!("{PAGE}, http://localhost:5173")));
    let (status, headers) = preflight(&app, PAGE).await;
    assert!((200..300).contains(&status), "{status}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(PAGE));
    assert!(
        header(&headers, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let allowed = header(&headers, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    assert!(varies_on_origin(&headers));
    assert_eq!(header(&headers, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn a_disallowed_origin_gets_no_cors_permission() {
    let (app, _clients) = spawn(Some(PAGE));
    for origin in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ] {
        let (_, headers) = preflight(&app, origin).await;
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            header(&headers, "access-control-allow-credentials"),
            None,
            "{origin}"
        );
        assert!(varies_on_origin(&headers), "{origin}");
    }
}

#[tokio::test]
async fn answers_and_errors_carry_the_origin_so_the_page_can_read_them() {
    let (app, _clients) = spawn(Some(PAGE));
    let body = json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a"}});
    for (credential, status) in [(Some("the-key"), 201), (None, 401), (Some("wrong"), 401)] {
        let mut request = app
            .client
            .post(app.url(SECRETS_PATH))
            .header("origin", PAGE)
            .json(&body);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some(PAGE),
            "{status}"
        );
        assert!(
            header(headers, "access-control-expose-headers")
                .unwrap()
                .contains("x-request-id")
        );
        assert!(varies_on_origin(headers));
    }
    let response = app
        .client
        .post(app.url(SECRETS_PATH))
        .header("origin", "https://evil.example")
        .bearer_auth("the-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_allowed_origins_there_is_no_cors_at_all() {
    let (app, _clients) = spawn(None);
    let (status, headers) = preflight(&app, PAGE).await;
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_bad_origin_setting_stops_start_up_naming_the_variable() {
    let (status, _, stderr) = crate::helpers::run_to_exit(
        &[
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("ALLOW_ANONYMOUS", "true"),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("SERVICE_ACCOUNT_KEY_PATH", "/nonexistent"),
        ],
        &[],
    );
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("CORS_ALLOWED_ORIGINS"), "{stderr}");
}
