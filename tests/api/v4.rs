//! V4 URLs through the API: shape, URL styles, the default version, and HMAC signing checked by
//! an independent implementation of Google's documented algorithm.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::differential::run_oracle;
use crate::helpers::{BUCKET, TestApp, query_pairs};

const HMAC_ID: &str = "GOOG1EXAMPLEACCESSID0123456789";
const HMAC_SECRET: &str = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ";

fn query(url: &str) -> HashMap<String, String> {
    query_pairs(url).into_iter().collect()
}

async fn issue(app: &TestApp, secret: Value) -> Value {
    let response = app.post_secret(&json!({ "secret": secret })).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["data"].clone()
}

#[tokio::test]
async fn v4_secret_returns_a_goog4_url_and_the_headers_to_send() {
    let app = TestApp::spawn();
    let data = issue(
        &app,
        json!({"action": "PUT", "bucket": BUCKET, "resource_id": "a b.png", "version": "v4",
               "content_type": "image/png", "if_generation_match": 0, "max_size": 1024, "expires_in": 300}),
    )
    .await;
    let url = data["secret_url"].as_str().unwrap();
    assert!(url.starts_with("https://storage.googleapis.com/test-bucket/a%20b.png?X-Goog-Algorithm=GOOG4-RSA-SHA256&"), "{url}");
    let q = query(url);
    assert_eq!(q["X-Goog-Expires"], "300");
    assert_eq!(
        q["X-Goog-SignedHeaders"],
        "content-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-if-generation-match"
    );
    assert_eq!(q["X-Goog-Signature"].len(), 512, "hex RSA-2048 signature");
    assert_eq!(data["version"], "v4");
    assert_eq!(
        data["headers"],
        json!({"Content-Type": "image/png", "x-goog-content-length-range": "0,1024", "x-goog-if-generation-match": "0"})
    );
    // X-Goog-Date is inserted_at, and expires_at is 300 s later.
    let inserted: String = data["inserted_at"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    assert_eq!(q["X-Goog-Date"], inserted);
}

#[tokio::test]
async fn signing_version_sets_the_default_and_v2_stays_available() {
    let app = TestApp::spawn_with(&[("SIGNING_VERSION", "v4")], &[]);
    let data = issue(
        &app,
        json!({"action": "GET", "bucket": BUCKET, "resource_id": "x"}),
    )
    .await;
    assert_eq!(data["version"], "v4");
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .contains("X-Goog-Algorithm=")
    );
    let data = issue(
        &app,
        json!({"action": "GET", "bucket": BUCKET, "resource_id": "x", "version": "v2"}),
    )
    .await;
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .contains("GoogleAccessId=")
    );
}

#[tokio::test]
async fn resumable_start_signs_post_with_x_goog_resumable() {
    let clients = crate::helpers::temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"RESUMABLE\"]\nresources = [\"/**\"]\n",
    );
    let app = crate::policy::spawn_without_open_mode(&[(
        "CLIENTS_CONFIG_PATH",
        clients.path().to_str().unwrap(),
    )]);
    for version in ["v2", "v4"] {
        let data = issue(&app, json!({"action": "RESUMABLE", "bucket": BUCKET, "resource_id": "big.bin", "version": version})).await;
        assert_eq!(
            data["headers"],
            json!({"x-goog-resumable": "start"}),
            "{version}"
        );
    }
    // Open mode and other rules do not grant it.
    let open = TestApp::spawn();
    let response = open
        .post_secret(
            &json!({"secret": {"action": "RESUMABLE", "bucket": BUCKET, "resource_id": "x"}}),
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = open
        .post_secret(&json!({"secret": {"action": "DELETE", "bucket": BUCKET, "resource_id": "x"}}))
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn url_styles_are_chosen_per_bucket() {
    let app = TestApp::spawn_with(
        &[
            ("KNOWN_BUCKETS", "test-bucket,other-bucket,cdn-bucket"),
            (
                "BUCKET_URL_STYLES",
                "other-bucket=virtual-hosted,cdn-bucket=https://media.example.com",
            ),
        ],
        &[],
    );
    let url = |bucket: &'static str| {
        let app = &app;
        async move {
            let data = issue(app, json!({"action": "GET", "bucket": bucket, "resource_id": "d/x.txt", "version": "v4"})).await;
            data["secret_url"]
                .as_str()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(
        url("test-bucket").await,
        "https://storage.googleapis.com/test-bucket/d/x.txt"
    );
    assert_eq!(
        url("other-bucket").await,
        "https://other-bucket.storage.googleapis.com/d/x.txt"
    );
    assert_eq!(url("cdn-bucket").await, "https://media.example.com/d/x.txt");
}

#[tokio::test]
async fn hmac_buckets_are_signed_with_the_hmac_key_as_google_documents() {
    let clients = crate::helpers::temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\", \"RESUMABLE\"]\nresources = [\"/**\"]\n",
    );
    let app = crate::policy::spawn_without_open_mode(&[
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("HMAC_ACCESS_ID", HMAC_ID),
        ("HMAC_SECRET", HMAC_SECRET),
        ("HMAC_BUCKETS", BUCKET),
    ]);
    let secrets = [
        json!({"action": "GET", "resource_id": "plain.txt"}),
        json!({"action": "PUT", "resource_id": "up/ü ñ+#?.png", "content_type": "image/png", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "if_generation_match": 0, "content_length_range": [1, 99]}),
        json!({"action": "RESUMABLE", "resource_id": "big.bin", "if_generation_match": 0}),
        json!({"action": "DELETE", "resource_id": "old.txt", "if_generation_match": 12345}),
        json!({"action": "HEAD", "resource_id": "dir/😀", "expires_in": 60}),
    ];
    let mut cases = Vec::new();
    for secret in secrets {
        let mut secret = secret;
        secret["bucket"] = json!(BUCKET);
        secret["version"] = json!("v4");
        let data = issue(&app, secret.clone()).await;
        let url = data["secret_url"].as_str().unwrap();
        assert!(url.contains("X-Goog-Algorithm=GOOG4-HMAC-SHA256"), "{url}");
        assert!(
            url.contains(&format!("X-Goog-Credential={HMAC_ID}%2F")),
            "{url}"
        );
        let method = match secret["action"].as_str().unwrap() {
            "RESUMABLE" => "POST",
            other => other,
        };
        cases.push(json!({"url": url, "method": method, "headers": data["headers"]}));
    }
    // A tampered copy must fail the same check, or the check proves nothing.
    let mut tampered = cases[0].clone();
    tampered["url"] = json!(
        tampered["url"]
            .as_str()
            .unwrap()
            .replace("plain.txt", "plain.txu")
    );
    cases.push(tampered);

    let result = run_oracle(
        &json!({"mode": "verify_hmac", "access_id": HMAC_ID, "secret": HMAC_SECRET, "cases": cases}),
    );
    let results = result["results"].as_array().unwrap();
    let (genuine, forged) = results.split_at(results.len() - 1);
    assert!(genuine.iter().all(|r| r == &json!(true)), "{results:?}");
    assert_eq!(forged[0], "signature mismatch");

    // Other buckets and V2 URLs stay on the RSA key; the secret never shows in the logs.
    let data = issue(
        &app,
        json!({"action": "GET", "bucket": "other-bucket", "resource_id": "x", "version": "v4"}),
    )
    .await;
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .contains("GOOG4-RSA-SHA256")
    );
    let data = issue(
        &app,
        json!({"action": "GET", "bucket": BUCKET, "resource_id": "x", "version": "v2"}),
    )
    .await;
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .contains("GoogleAccessId=")
    );
    assert!(!app.logs().contains(HMAC_SECRET));
}

#[tokio::test]
async fn hmac_buckets_without_a_key_stop_start_up() {
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, _, stderr) = crate::helpers::run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", BUCKET),
            ("ALLOW_ANONYMOUS", "true"),
            ("HMAC_BUCKETS", BUCKET),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("HMAC_BUCKETS"), "{stderr}");
    let (status, _, stderr) = crate::helpers::run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", BUCKET),
            ("ALLOW_ANONYMOUS", "true"),
            ("BUCKET_URL_STYLES", "nope-bucket=virtual-hosted"),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("BUCKET_URL_STYLES") && stderr.contains("nope-bucket"),
        "{stderr}"
    );
}
