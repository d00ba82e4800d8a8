//! Reused read URLs (`reuse_window`): identical grants of one window get the identical URL,
//! signed once, as Google's client signs it for the window's start; every request is still
//! decided and audited.

use serde_json::{Value, json};

use crate::differential::google_urls;
use crate::helpers::{audit_records, query_pairs, run_to_exit, sha256_hex, temp_file};
use crate::metrics::{sample, scrape};
use crate::policy::spawn_without_open_mode;

const KEY: &str = "ssk_gallery-test-key-0123456789";

fn clients() -> tempfile::NamedTempFile {
    temp_file(&format!(
        r#"
[[clients]]
id = "gallery"
api_key_sha256 = "{}"
max_ttl = 3600
[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/test-bucket/thumbs/**"]
reuse_window = 60
[[clients.allow]]
methods = ["GET"]
resources = ["/test-bucket/fresh/**"]
"#,
        sha256_hex(KEY)
    ))
}

async fn ask(app: &crate::helpers::TestApp, secret: Value) -> Value {
    let response = app
        .post_secret_as(Some(KEY), &json!({ "secret": secret }))
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["data"].clone()
}

fn unix(timestamp: &Value) -> i64 {
    time::OffsetDateTime::parse(
        timestamp.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp()
}

/// Two answers to the same secret within one window (a third if the first pair straddles a
/// window's end).
async fn twice(app: &crate::helpers::TestApp, secret: &Value) -> (Value, Value) {
    let first = ask(app, secret.clone()).await;
    let second = ask(app, secret.clone()).await;
    if first["inserted_at"] == second["inserted_at"] {
        return (first, second);
    }
    let third = ask(app, secret.clone()).await;
    (second, third)
}

#[tokio::test]
async fn identical_reads_in_a_window_get_one_url_as_google_signs_it_for_the_window_start() {
    let clients = clients();
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    let object = "thumbs/ünïcode 1+1.jpg";
    let v4 = json!({"action": "GET", "bucket": "test-bucket", "resource_id": object,
                    "version": "v4", "expires_in": 600});
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let (first, second) = twice(&app, &v4).await;
    assert_eq!(first["secret_url"], second["secret_url"]);
    let signed_at = unix(&first["inserted_at"]);
    assert_eq!(signed_at % 60, 0, "signed as of the window's start");
    assert!(signed_at <= before + 60 && signed_at > before - 120);
    assert_eq!(unix(&first["expires_at"]) - signed_at, 600);
    assert!(
        unix(&second["expires_at"]) <= time::OffsetDateTime::now_utc().unix_timestamp() + 600,
        "never longer than asked"
    );

    // The same URL Google's client builds for that object, lifetime and signing time.
    let url = first["secret_url"].as_str().unwrap();
    let date = query_pairs(url)
        .into_iter()
        .find(|(name, _)| name == "X-Goog-Date")
        .unwrap()
        .1;
    let expected = google_urls(&[json!({"version": "v4", "bucket": "test-bucket",
        "object": object, "method": "GET", "expiration": 600, "timestamp": date})]);
    assert_eq!(url, expected[0]);

    // V2: the same `Expires`, the same URL, Google's.
    let v2 = json!({"action": "GET", "bucket": "test-bucket", "resource_id": object,
                    "version": "v2", "expires_in": 600});
    let (first_v2, second_v2) = twice(&app, &v2).await;
    assert_eq!(first_v2["secret_url"], second_v2["secret_url"]);
    let expires = unix(&first_v2["expires_at"]);
    let expected = google_urls(&[json!({"version": "v2", "bucket": "test-bucket",
        "object": object, "method": "GET", "expiration": expires})]);
    assert_eq!(first_v2["secret_url"], expected[0].as_str());

    // Every request was audited on its own; the reused ones say so.
    let logs = app.wait_for_log("reused").await;
    let issued: Vec<Value> = audit_records(&logs)
        .into_iter()
        .filter(|r| r["decision"] == "issued")
        .collect();
    assert!(issued.len() >= 4, "{logs}");
    assert!(
        issued
            .iter()
            .filter(|r| r["reason"].as_str().unwrap().contains("reused"))
            .count()
            >= 2,
        "{logs}"
    );
    let text = scrape(&app).await;
    assert!(
        sample(&text, "storage_signer_reused_urls_total").unwrap_or(0.0) >= 2.0,
        "{text}"
    );
}

#[tokio::test]
async fn other_objects_other_lifetimes_and_rules_without_reuse_are_signed_anew() {
    let clients = clients();
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    let secret = |object: &str, expires_in: u32| {
        json!({"action": "GET", "bucket": "test-bucket", "resource_id": object,
               "version": "v4", "expires_in": expires_in})
    };
    let (a, _) = twice(&app, &secret("thumbs/a.jpg", 600)).await;
    let (b, _) = twice(&app, &secret("thumbs/b.jpg", 600)).await;
    assert_ne!(a["secret_url"], b["secret_url"]);
    let (longer, _) = twice(&app, &secret("thumbs/a.jpg", 900)).await;
    assert_ne!(a["secret_url"], longer["secret_url"]);
    // A rule without reuse_window signs at the request's own time.
    let fresh = ask(&app, secret("fresh/a.jpg", 600)).await;
    assert_eq!(
        unix(&fresh["expires_at"]) - unix(&fresh["inserted_at"]),
        600
    );
}

#[test]
fn reuse_window_is_for_reads_only() {
    let clients = temp_file(&format!(
        r#"
[[clients]]
id = "uploader"
api_key_sha256 = "{}"
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/in/**"]
reuse_window = 60
"#,
        sha256_hex(KEY)
    ));
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, _, stderr) = run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("reuse_window"), "{stderr}");
}
