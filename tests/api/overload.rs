//! Past `MAX_CONCURRENT_REQUESTS`, a 503 with `Retry-After` at once, not a queue; probes and
//! metrics stay reachable.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{SECRETS_PATH, TestApp, secret};
use crate::metrics::{sample, scrape};

/// Opens a request whose body never completes, so it holds a slot until the timeout.
async fn stalled_request(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    let head = format!(
        "POST {SECRETS_PATH} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"secret\":",
        app.address
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn refuses_past_the_limit_with_503_and_retry_after() {
    let app = TestApp::spawn_with(
        &[("MAX_CONCURRENT_REQUESTS", "2"), ("REQUEST_TIMEOUT", "3")],
        &[],
    );
    let mut first = stalled_request(&app).await;
    let mut second = stalled_request(&app).await;
    // Let both reach the handler.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded");
    assert_eq!(body["meta"]["code"], 503);

    // The replica still answers its probes and metrics while full.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "storage_signer_overload_rejections_total"),
        Some(1.0),
        "{text}"
    );

    // The stalled requests end with 408 at REQUEST_TIMEOUT, which frees their slots.
    for stream in [&mut first, &mut second] {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
            .await
            .expect("the stalled request is answered")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let response = app.post_secret(&secret("GET", "a.txt")).await;
    assert_eq!(response.status(), 201);
}

#[test]
fn the_limit_is_validated() {
    for bad in ["0", "-1", "many", "100001"] {
        let (status, _, stderr) = crate::helpers::run_to_exit(
            &[
                (
                    "SERVICE_ACCOUNT_KEY_PATH",
                    crate::helpers::conformance_key_path().to_str().unwrap(),
                ),
                ("KNOWN_BUCKETS", "test-bucket"),
                ("MAX_CONCURRENT_REQUESTS", bad),
            ],
            &[],
        );
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("MAX_CONCURRENT_REQUESTS"), "{stderr}");
    }
}
