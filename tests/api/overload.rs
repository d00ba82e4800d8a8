//! Past `MAX_CONCURRENT_REQUESTS` signing requests, a 503 with `Retry-After` at once, not a
//! queue; probes and metrics stay reachable. The slots are held by authenticated work only:
//! a caller that trickles its body holds none.

use std::time::{Duration, Instant};

use crate::helpers::{SECRETS_PATH, secret};
use crate::iam::{Reply, spawn_keyless, stand_in, wait_ready};
use crate::metrics::{sample, scrape};

/// Signatures that hang in IAM hold their slots (up to `IAM_TIMEOUT`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_past_the_limit_with_503_and_retry_after() {
    let (state, address) = stand_in(3600).await;
    let app = spawn_keyless(
        address,
        &[("MAX_CONCURRENT_REQUESTS", "2"), ("IAM_TIMEOUT", "5")],
    );
    wait_ready(&app).await;
    state.lock().unwrap().always = Some(Reply::Hang);
    let url = app.url(SECRETS_PATH);
    let hanging: Vec<_> = (0..2)
        .map(|n| {
            let (client, url) = (app.client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&secret("GET", &format!("hang-{n}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    // Both are signing: the IAM stand-in has their calls.
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.lock().unwrap().sign_calls < 3 {
        assert!(Instant::now() < deadline, "the requests did not reach IAM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

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

    // The hanging ones end at IAM_TIMEOUT, which frees their slots.
    for request in hanging {
        assert_eq!(request.await.unwrap(), 503);
    }
    state.lock().unwrap().always = None;
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
