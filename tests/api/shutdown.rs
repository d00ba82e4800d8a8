//! SIGTERM lets in-flight requests finish.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{SECRETS_PATH, TestApp, secret};

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let mut app = TestApp::spawn();
    let body = serde_json::to_vec(&secret("GET", "in-flight")).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);

    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    let request_head = format!(
        "POST {SECRETS_PATH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request_head.as_bytes()).await.unwrap();
    stream.write_all(head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.send_sigterm();
    app.wait_for_log("shutting down").await;
    stream.write_all(tail).await.unwrap();

    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("secret_url"));

    let status = app.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    // New connections are refused once it has stopped.
    assert!(TcpStream::connect(&app.address).await.is_err());
}

#[tokio::test]
async fn a_trickled_body_gets_408_after_request_timeout() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT", "1")], &[]);
    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    let head = format!(
        "POST {SECRETS_PATH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"secret\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let mut response = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response))
        .await
        .expect("answered within the timeout, not left hanging")
        .unwrap();
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("\"request_timeout\""), "{response}");
}

#[tokio::test]
async fn during_the_drain_readiness_fails_but_requests_are_still_served() {
    let mut app = TestApp::spawn_with(&[("SHUTDOWN_DRAIN_SECONDS", "2")], &[]);
    app.send_sigterm();
    app.wait_for_log("draining").await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["reasons"], serde_json::json!(["shutting down"]));
    // A load balancer that has not noticed yet still gets answers, on new connections too.
    let fresh = reqwest::Client::new();
    let response = fresh
        .post(app.url(SECRETS_PATH))
        .json(&secret("GET", "late"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let status = app.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    // The lines of a process that has exited may still be on their way through the pipe.
    assert!(
        app.wait_for_log("closing the listener")
            .await
            .contains("closing the listener")
    );
}

/// A connection with nothing in flight (here: a head that never completes) does not hold the
/// exit up to `HEADER_READ_TIMEOUT`.
#[tokio::test]
async fn sigterm_closes_connections_with_nothing_in_flight_at_once() {
    let mut app = TestApp::spawn_with(&[("HEADER_READ_TIMEOUT", "120")], &[]);
    let mut slow = TcpStream::connect(&app.address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: t")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send_sigterm();
    // Far below the header timeout: only a bound against a hang.
    let status = app.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest).await;
}
