//! `GET /metrics`: requests, decisions, latency, audit failures and the key in use.

use serde_json::json;

use crate::helpers::{TestApp, secret};
use crate::policy::{BACKEND_KEY, FRONTEND_KEY, spawn_with_clients};

/// The value of the sample whose line starts with `series` (name and labels as written).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

pub async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    text
}

#[tokio::test]
async fn counts_requests_and_decisions_by_action_client_and_outcome() {
    let (app, _clients) = spawn_with_clients(&[]);
    let issued =
        json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a.txt"}});
    for _ in 0..2 {
        let response = app.post_secret_as(Some(BACKEND_KEY), &issued).await;
        assert_eq!(response.status(), 201);
    }
    let denied =
        json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": "private/x"}});
    assert_eq!(
        app.post_secret_as(Some(FRONTEND_KEY), &denied)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.post_secret_as(Some("ssk_wrong"), &issued)
            .await
            .status(),
        401
    );
    let invalid =
        json!({"secret": {"action": "POKE", "bucket": "test-bucket", "resource_id": "a"}});
    assert_eq!(
        app.post_secret_as(Some(BACKEND_KEY), &invalid)
            .await
            .status(),
        422
    );

    let text = scrape(&app).await;
    let route = r#"route="/media_content_storage_secrets""#;
    for (series, expected) in [
        (
            format!(r#"storage_signer_requests_total{{{route},method="POST",status="201"}}"#),
            2.0,
        ),
        (
            format!(r#"storage_signer_requests_total{{{route},method="POST",status="403"}}"#),
            1.0,
        ),
        (
            format!(r#"storage_signer_requests_total{{{route},method="POST",status="401"}}"#),
            1.0,
        ),
        (
            format!(r#"storage_signer_requests_total{{{route},method="POST",status="422"}}"#),
            1.0,
        ),
        (
            r#"storage_signer_decisions_total{action="GET",client="backend",outcome="issued"}"#
                .to_owned(),
            2.0,
        ),
        (
            r#"storage_signer_decisions_total{action="PUT",client="frontend",outcome="denied"}"#
                .to_owned(),
            1.0,
        ),
        (
            r#"storage_signer_decisions_total{action="-",client="-",outcome="unauthenticated"}"#
                .to_owned(),
            1.0,
        ),
        (
            r#"storage_signer_decisions_total{action="-",client="backend",outcome="invalid"}"#
                .to_owned(),
            1.0,
        ),
        (
            format!("storage_signer_request_duration_seconds_count{{{route}}}"),
            5.0,
        ),
        (
            r#"storage_signer_signing_duration_seconds_count{kind="v2-rsa"}"#.to_owned(),
            2.0,
        ),
        ("storage_signer_audit_write_failures_total".to_owned(), 0.0),
        ("storage_signer_overload_rejections_total".to_owned(), 0.0),
    ] {
        assert_eq!(sample(&text, &series), Some(expected), "{series}\n{text}");
    }
    // The key of the conformance key file, by id.
    assert!(
        text.lines()
            .any(|l| l.starts_with("storage_signer_key_info{key_id=\"")
                && l.contains("client_email=\"")
                && l.ends_with(" 1")),
        "{text}"
    );
    let age = sample(&text, "storage_signer_key_age_seconds").expect("key age");
    assert!((0.0..600.0).contains(&age), "{age}");
}

#[tokio::test]
async fn counts_audit_write_failures_and_never_shows_urls() {
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", "/dev/full")], &[]);
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 503);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "storage_signer_audit_write_failures_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"storage_signer_decisions_total{action="GET",client="anonymous",outcome="audit_failed"}"#
        ),
        Some(1.0),
        "{text}"
    );

    let app = TestApp::spawn();
    let body = app
        .post_secret(&secret("GET", "b.txt"))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Signature="));
    let text = scrape(&app).await;
    assert!(
        !text.contains("Signature") && !text.contains("b.txt"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_paths_are_one_series() {
    let app = TestApp::spawn();
    // Not one per path a scanner tries.
    let _ = app.client.get(app.url("/wp-admin/x")).send().await.unwrap();
    let _ = app.client.get(app.url("/.env")).send().await.unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"storage_signer_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains("wp-admin"));
}

#[tokio::test]
async fn an_invalid_secret_is_counted_under_the_action_it_asked_for() {
    let app = TestApp::spawn();
    let bad_name =
        json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": "a//b"}});
    assert_eq!(app.post_secret(&bad_name).await.status(), 422);
    let bad_action =
        json!({"secret": {"action": "POKE", "bucket": "test-bucket", "resource_id": "a"}});
    assert_eq!(app.post_secret(&bad_action).await.status(), 422);
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"storage_signer_decisions_total{action="PUT",client="anonymous",outcome="invalid"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"storage_signer_decisions_total{action="-",client="anonymous",outcome="invalid"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

/// Sends `count` requests with invented methods and paths, pipelined on a few connections, and
/// returns how many answers came back.
async fn invented_requests(app: &TestApp, count: usize) -> usize {
    use std::fmt::Write as _;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let per_connection = 100;
    let mut answered = 0;
    for batch in 0..count.div_ceil(per_connection) {
        let mut stream = tokio::net::TcpStream::connect(&app.address).await.unwrap();
        let mut requests = String::new();
        for n in 0..per_connection {
            let id = batch * per_connection + n;
            let last = n + 1 == per_connection;
            let close = if last { "connection: close\r\n" } else { "" };
            let _ = write!(
                requests,
                "M{id:06}X /p/{id} HTTP/1.1\r\nhost: t\r\n{close}\r\n"
            );
        }
        stream.write_all(requests.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            stream.read_to_end(&mut received),
        )
        .await
        .expect("answered")
        .unwrap();
        answered += String::from_utf8_lossy(&received)
            .matches("HTTP/1.1 405")
            .count();
    }
    answered
}

/// The attack pass: 20,000 requests with invented methods took `/metrics` from 14 KB to
/// 21.6 MB, one series per method.
#[tokio::test]
async fn invented_methods_and_paths_add_no_series() {
    let app = TestApp::spawn();
    let _ = app.post_secret(&secret("GET", "a.txt")).await;
    let before = scrape(&app).await;
    assert_eq!(invented_requests(&app, 2000).await, 2000, "each gets a 405");
    let after = scrape(&app).await;
    assert!(!after.contains("M000001X"), "{after}");
    assert!(!after.contains("/p/1"), "{after}");
    assert_eq!(
        sample(
            &after,
            r#"storage_signer_requests_total{route="unmatched",method="other",status="405"}"#
        ),
        Some(2000.0),
        "{after}"
    );
    assert!(after.len() < 64 * 1024, "{} bytes", after.len());
    assert!(
        after.lines().count() <= before.lines().count() + 40,
        "a few new series, not one per method:\n{after}"
    );
}

#[tokio::test]
async fn an_absurd_method_is_refused_before_it_reaches_the_service() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn();
    for (length, status) in [(20_000, "405"), (300_000, "431")] {
        let mut stream = tokio::net::TcpStream::connect(&app.address).await.unwrap();
        let request = format!("{} / HTTP/1.1\r\nhost: t\r\n\r\n", "M".repeat(length));
        // The service may answer and close before reading all of it.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut received = vec![0; 4096];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            stream.read(&mut received),
        )
        .await
        .expect("answered")
        .unwrap_or(0);
        let answer = String::from_utf8_lossy(&received[..read]);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{length}: {answer}"
        );
    }
    let text = scrape(&app).await;
    assert!(!text.contains("MMMM"));
}

#[tokio::test]
async fn metrics_port_serves_metrics_apart_from_the_api() {
    let app = TestApp::spawn_with(&[("METRICS_PORT", "0")], &[]);
    let listening = app.wait_for_log("metrics_address").await;
    let address = listening
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|line| line["metrics_address"].as_str().map(str::to_owned))
        .expect("the listening line names the metrics address");
    let on_api = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404, "not on the API's listener");
    let _ = app.post_secret(&secret("GET", "a.txt")).await;
    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let text = app
        .client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("storage_signer_decisions_total"), "{text}");
    let on_metrics_port = app
        .client
        .post(format!("http://{address}/media_content_storage_secrets"))
        .json(&secret("GET", "a.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_metrics_port.status(),
        404,
        "no signing on the metrics port"
    );
}
