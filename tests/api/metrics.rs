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
