//! `storage-signer sign`: URLs from the shell, checked against Google's client and the dev
//! store.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::differential::run_oracle;
use crate::helpers::{TestApp, conformance_key_path, query_pairs, run_to_exit};

fn sign(args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut full = vec!["sign"];
    full.extend_from_slice(args);
    let (status, stdout, stderr) = run_to_exit(vars, &full);
    (status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn urls_match_google_python_client() {
    let key = conformance_key_path().display().to_string();
    let (status, stdout, stderr) = sign(
        &[
            "--key",
            &key,
            "-m",
            "PUT",
            "-d",
            "15m",
            "-c",
            "image/png",
            "gs://test-bucket/a b/ü+.png",
            "gs://other-bucket/x",
        ],
        &[],
    );
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("Content-Type: image/png"),
        "the headers to send: {stderr}"
    );
    let urls: Vec<&str> = stdout.lines().collect();
    assert_eq!(urls.len(), 2, "one URL per object");
    let query: HashMap<String, String> = query_pairs(urls[0]).into_iter().collect();
    assert_eq!(query["X-Goog-Expires"], "900");
    let google = run_oracle(
        &json!({"mode": "sign", "key_path": key, "endpoint": "https://storage.googleapis.com", "cases": [
            {"version": "v4", "bucket": "test-bucket", "object": "a b/ü+.png", "method": "PUT", "expiration": 900,
             "timestamp": query["X-Goog-Date"], "content_type": "image/png"}
        ]}),
    );
    assert_eq!(urls[0], google["urls"][0].as_str().unwrap());

    let (status, stdout, _) = sign(
        &["--key", &key, "--version", "v2", "gs://test-bucket/v2.txt"],
        &[],
    );
    assert_eq!(status, 0);
    let query: HashMap<String, String> = query_pairs(stdout.trim()).into_iter().collect();
    let expires: i64 = query["Expires"].parse().unwrap();
    let google = run_oracle(
        &json!({"mode": "sign", "key_path": key, "endpoint": "https://storage.googleapis.com", "cases": [
            {"version": "v2", "bucket": "test-bucket", "object": "v2.txt", "method": "GET", "expiration": expires}
        ]}),
    );
    assert_eq!(stdout.trim(), google["urls"][0].as_str().unwrap());
}

#[test]
fn json_output_lists_url_headers_and_expiry() {
    let key = conformance_key_path().display().to_string();
    let (status, stdout, _) = sign(
        &[
            "--key",
            &key,
            "-m",
            "RESUMABLE",
            "--json",
            "gs://test-bucket/big.bin",
        ],
        &[],
    );
    assert_eq!(status, 0);
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out[0]["object"], "gs://test-bucket/big.bin");
    assert_eq!(out[0]["method"], "POST");
    assert_eq!(out[0]["headers"], json!({"x-goog-resumable": "start"}));
    assert!(out[0]["url"].as_str().unwrap().contains("x-goog-resumable"));
    assert!(out[0]["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn bad_arguments_are_one_clear_line() {
    let key = conformance_key_path().display().to_string();
    for (args, expected) in [
        (
            vec!["--key", key.as_str(), "-m", "PATCH", "gs://b-bucket/x"],
            "--method",
        ),
        (
            vec!["--key", key.as_str(), "-d", "8d", "gs://b-bucket/x"],
            "--duration",
        ),
        (
            vec!["--key", key.as_str(), "b-bucket/x"],
            "gs://bucket/object",
        ),
        (vec!["--key", key.as_str(), "gs://B/x"], "bucket"),
        (
            vec!["--key", key.as_str(), "gs://b-bucket/a//b"],
            "object name",
        ),
        (
            vec!["--key", "/nonexistent.json", "gs://b-bucket/x"],
            "cannot read",
        ),
        (
            vec![
                "--key",
                key.as_str(),
                "-c",
                "text/plain\r\nx: y",
                "gs://b-bucket/x",
            ],
            "--content-type",
        ),
    ] {
        let (status, stdout, stderr) = sign(&args, &[]);
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("storage-signer sign: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_key_urls_are_accepted_by_the_running_dev_store() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().to_str().unwrap().to_owned();
    let (status, _, stderr) = sign(
        &["--dev-key", "gs://dev-bucket/x"],
        &[("XDG_RUNTIME_DIR", &runtime)],
    );
    assert_eq!(status, 2);
    assert!(
        stderr.contains("serve --dev"),
        "a hint when no dev server ran: {stderr}"
    );

    let vars = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("DEV_STORE_PORT".to_owned(), "0".to_owned()),
        ("XDG_RUNTIME_DIR".to_owned(), runtime.clone()),
    ];
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    app.wait_for_log("dev key saved").await;
    let key_file = runtime_dir.path().join("storage-signer/dev-key.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the dev key file is private");

    let env = [("XDG_RUNTIME_DIR", runtime.as_str())];
    let (status, put_url, _) = sign(
        &[
            "--dev-key",
            "-m",
            "PUT",
            "-c",
            "text/plain",
            "gs://dev-bucket/cli/hello.txt",
        ],
        &env,
    );
    assert_eq!(status, 0);
    let put = app
        .client
        .put(put_url.trim())
        .header("content-type", "text/plain")
        .body("from the cli")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let (_, get_url, _) = sign(
        &[
            "--dev-key",
            "--version",
            "v2",
            "gs://dev-bucket/cli/hello.txt",
        ],
        &env,
    );
    let got = app.client.get(get_url.trim()).send().await.unwrap();
    assert_eq!(got.text().await.unwrap(), "from the cli");
}
