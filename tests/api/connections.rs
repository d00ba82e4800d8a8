//! Slow and idle connections: the attack pass kept connections open forever by never finishing
//! their headers (one was still open after 65 s; 20,000 of them reached EMFILE), and 260
//! callers trickling bodies held all 256 signing slots.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{SECRETS_PATH, TestApp, secret};

/// Deadline for a read that should end because the service closed the connection: far above
/// the timeouts under test, only there so that a broken service fails instead of hanging.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);

/// Reads until the service closes the connection; what it sent before closing.
async fn read_until_closed(stream: &mut TcpStream) -> Result<String, &'static str> {
    let mut received = Vec::new();
    match tokio::time::timeout(CLOSE_DEADLINE, stream.read_to_end(&mut received)).await {
        Ok(_) => Ok(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => Err("the connection was still open"),
    }
}

/// Sends a complete `GET /healthz` and reads its whole response (it has a `content-length`).
async fn healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let read = tokio::time::timeout(CLOSE_DEADLINE, stream.read(&mut buffer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(read > 0, "closed before answering");
        received.extend_from_slice(&buffer[..read]);
        if String::from_utf8_lossy(&received).ends_with('}') {
            return String::from_utf8_lossy(&received).into_owned();
        }
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let app = TestApp::spawn_with(&[("HEADER_READ_TIMEOUT", "1")], &[]);
    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .unwrap();
    read_until_closed(&mut stream).await.unwrap();

    let mut silent = TcpStream::connect(&app.address).await.unwrap();
    let said = read_until_closed(&mut silent).await.unwrap();
    assert_eq!(said, "", "a connection that sends nothing is closed too");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::spawn_with(&[("KEEP_ALIVE_TIMEOUT", "1")], &[]);
    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    assert!(healthz(&mut stream).await.starts_with("HTTP/1.1 200"));
    assert!(
        healthz(&mut stream).await.starts_with("HTTP/1.1 200"),
        "kept alive between requests"
    );
    read_until_closed(&mut stream).await.unwrap();
}

#[tokio::test]
async fn past_max_connections_new_ones_are_refused_and_open_ones_still_served() {
    let app = TestApp::spawn_with(&[("MAX_CONNECTIONS", "4")], &[]);
    let mut open = TcpStream::connect(&app.address).await.unwrap();
    assert!(healthz(&mut open).await.starts_with("HTTP/1.1 200"));
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&app.address).await.unwrap());
    }
    let mut refused = TcpStream::connect(&app.address).await.unwrap();
    let said = read_until_closed(&mut refused).await.unwrap();
    assert!(said.starts_with("HTTP/1.1 503"), "{said:?}");
    assert!(said.contains("retry-after: 1"), "{said}");

    assert!(
        healthz(&mut open).await.starts_with("HTTP/1.1 200"),
        "an open connection keeps being served"
    );
    drop(idle);
    // The service frees the idle connections' slots once it reads their close: until then a
    // new connection may still be refused.
    let deadline = std::time::Instant::now() + CLOSE_DEADLINE;
    let mut refused_while_closing = 0;
    while !app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .is_ok_and(|response| response.status() == reqwest::StatusCode::OK)
    {
        refused_while_closing += 1;
        assert!(std::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each refusal is counted once: the one above, and any while the idle ones were closing.
    let text = crate::metrics::scrape(&app).await;
    assert_eq!(
        crate::metrics::sample(&text, "storage_signer_connections_refused_total"),
        Some(f64::from(1 + refused_while_closing)),
        "{text}"
    );
}

/// Opens a signing request whose body never completes.
async fn trickling_body(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(&app.address).await.unwrap();
    let head = format!(
        "POST {SECRETS_PATH} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"secret\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn callers_trickling_bodies_hold_no_signing_slot() {
    let app = TestApp::spawn_with(
        &[("MAX_CONCURRENT_REQUESTS", "2"), ("REQUEST_TIMEOUT", "30")],
        &[],
    );
    let mut trickling = Vec::new();
    for _ in 0..6 {
        trickling.push(trickling_body(&app).await);
    }
    // Give them every chance to reach a handler.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..3 {
        let response = app.post_secret(&secret("GET", &format!("ok-{n}"))).await;
        assert_eq!(response.status(), 201, "a well-behaved caller is served");
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(trickling);
}

#[tokio::test]
async fn with_2000_slow_connections_open_a_caller_gets_its_urls_and_probes_answer() {
    let app = TestApp::spawn_with(&[("HEADER_READ_TIMEOUT", "60")], &[]);
    let mut slow = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut stream = TcpStream::connect(&app.address).await.unwrap();
        stream
            .write_all(b"POST /media_content_storage_secrets HTTP/1.1\r\nhost: t")
            .await
            .unwrap();
        slow.push(stream);
    }
    for n in 0..20 {
        let response = app.post_secret(&secret("GET", &format!("ok-{n}"))).await;
        assert_eq!(response.status(), 201);
    }
    for probe in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(probe)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{probe}");
    }
    let text = crate::metrics::scrape(&app).await;
    let open = crate::metrics::sample(&text, "storage_signer_open_connections").unwrap();
    assert!(open >= 2000.0, "{open}");
    drop(slow);
}
