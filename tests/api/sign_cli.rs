//! `storage-signer sign`: URLs from the shell, checked against Google's client and the dev
//! store.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::differential::run_oracle;
use crate::helpers::{TestApp, conformance_key_path, query_pairs, run_to_exit, temp_file};

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

/// One V4 case for Google's client, with the time and lifetime read from our URL.
fn google_v4(url: &str, case: Value) -> String {
    let query: HashMap<String, String> = query_pairs(url).into_iter().collect();
    let mut case = case;
    case["version"] = json!("v4");
    case["timestamp"] = json!(query["X-Goog-Date"]);
    case["expiration"] = json!(query["X-Goog-Expires"].parse::<u64>().unwrap());
    let google = run_oracle(&json!({
        "mode": "sign",
        "key_path": conformance_key_path(),
        "endpoint": "https://storage.googleapis.com",
        "cases": [case],
    }));
    google["urls"][0].as_str().unwrap().to_owned()
}

#[test]
fn a_bare_duration_is_hours_and_methods_take_any_case_as_in_gsutil() {
    let key = conformance_key_path().display().to_string();
    let (status, stdout, stderr) = sign(
        &[
            "--key",
            &key,
            "-m",
            "put",
            "-d",
            "2",
            "gs://test-bucket/hours.txt",
        ],
        &[],
    );
    assert_eq!(status, 0, "{stderr}");
    let url = stdout.trim();
    let query: HashMap<String, String> = query_pairs(url).into_iter().collect();
    assert_eq!(query["X-Goog-Expires"], "7200", "gsutil: -d 2 is two hours");
    let google = google_v4(
        url,
        json!({"bucket": "test-bucket", "object": "hours.txt", "method": "PUT"}),
    );
    assert_eq!(url, google);
}

#[test]
fn headers_and_query_params_are_signed_as_google_signs_them() {
    let key = conformance_key_path().display().to_string();
    let (status, stdout, stderr) = sign(
        &[
            "--key",
            &key,
            "--http-verb",
            "PUT",
            "--headers",
            "Content-Type=text/plain,x-goog-meta-owner=Ann  Lee",
            "--headers",
            "x-goog-if-generation-match=0",
            "--query-params",
            "response-content-disposition=attachment; filename=\"a b.txt\"",
            "gs://test-bucket/q/ü.txt",
        ],
        &[],
    );
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("x-goog-meta-owner: Ann  Lee")
            && stderr.contains("Content-Type: text/plain"),
        "the headers to send: {stderr}"
    );
    let url = stdout.trim();
    let google = google_v4(
        url,
        json!({"bucket": "test-bucket", "object": "q/ü.txt", "method": "PUT",
               "headers": {"Content-Type": "text/plain", "x-goog-meta-owner": "Ann  Lee",
                           "x-goog-if-generation-match": "0"},
               "query_parameters": {"response-content-disposition": "attachment; filename=\"a b.txt\""}}),
    );
    assert_eq!(url, google);
}

#[test]
fn the_key_comes_from_the_environment_or_a_gsutil_style_operand() {
    let key = conformance_key_path().display().to_string();
    let (_, expected, _) = sign(
        &["--key", &key, "-d", "1h", "gs://test-bucket/env.txt"],
        &[],
    );
    let strip_signature = |url: &str| url.split("X-Goog-Date").next().unwrap().to_owned();
    for vars in [
        vec![("GOOGLE_APPLICATION_CREDENTIALS", key.as_str())],
        vec![("SERVICE_ACCOUNT_KEY_PATH", key.as_str())],
        // SERVICE_ACCOUNT_KEY_PATH, the service's own variable, comes first.
        vec![
            ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json"),
        ],
    ] {
        let (status, stdout, stderr) = sign(&["gs://test-bucket/env.txt"], &vars);
        assert_eq!(status, 0, "{vars:?}: {stderr}");
        assert_eq!(
            strip_signature(&stdout),
            strip_signature(&expected),
            "{vars:?}"
        );
    }
    // gsutil signurl [options] KEY_FILE gs://...
    let (status, stdout, stderr) = sign(&["-d", "1h", &key, "gs://test-bucket/env.txt"], &[]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(strip_signature(&stdout), strip_signature(&expected));

    // gcloud's application-default user credentials cannot sign: say what to do instead.
    let adc = temp_file(
        r#"{"type": "authorized_user", "client_id": "x", "refresh_token": "secret-refresh"}"#,
    );
    let adc_path = adc.path().display().to_string();
    let (status, _, stderr) = sign(
        &["gs://test-bucket/env.txt"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", &adc_path)],
    );
    assert_eq!(status, 2);
    assert!(
        stderr.contains("GOOGLE_APPLICATION_CREDENTIALS")
            && stderr.contains("authorized_user")
            && stderr.contains("--impersonate-service-account"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-refresh"));
    let (status, _, stderr) = sign(&["gs://test-bucket/env.txt"], &[]);
    assert_eq!(status, 2);
    assert!(stderr.contains("no credentials"), "{stderr}");
}

#[test]
fn the_usage_names_every_way_to_give_credentials() {
    let (_, stdout, _) = sign(&["--help"], &[]);
    let usage = stdout
        .lines()
        .find(|line| line.starts_with("Usage:"))
        .unwrap_or_default();
    for credential in ["--key", "--dev-key", "--impersonate-service-account"] {
        assert!(usage.contains(credential), "{credential} in {usage:?}");
    }
}

#[test]
fn v2_refuses_what_it_cannot_sign() {
    let key = conformance_key_path().display().to_string();
    for (extra, expected) in [
        (["--query-params", "a=b"], "--query-params"),
        (["--region", "us-east1"], "--region"),
        (["--headers", "Cache-Control=no-cache"], "V2 signs only"),
    ] {
        let mut args = vec!["--key", key.as_str(), "--version", "v2"];
        args.extend(extra);
        args.push("gs://test-bucket/x");
        let (status, _, stderr) = sign(&args, &[]);
        assert_eq!(status, 2, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // What V2 can sign, it signs as Google's client does.
    let (status, stdout, stderr) = sign(
        &[
            "--key",
            &key,
            "--version",
            "V2",
            "-m",
            "put",
            "--headers",
            "x-goog-if-generation-match=0",
            "-c",
            "text/plain",
            "gs://test-bucket/v2h.txt",
        ],
        &[],
    );
    assert_eq!(status, 0, "{stderr}");
    let query: HashMap<String, String> = query_pairs(stdout.trim()).into_iter().collect();
    let google = run_oracle(
        &json!({"mode": "sign", "key_path": key, "endpoint": "https://storage.googleapis.com", "cases": [
            {"version": "v2", "bucket": "test-bucket", "object": "v2h.txt", "method": "PUT",
             "expiration": query["Expires"].parse::<i64>().unwrap(), "content_type": "text/plain",
             "headers": {"x-goog-if-generation-match": "0"}}
        ]}),
    );
    assert_eq!(stdout.trim(), google["urls"][0].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn impersonation_signs_through_iam_with_the_given_token() {
    let (stand_in, address) = crate::iam::stand_in(3600).await;
    stand_in
        .lock()
        .unwrap()
        .valid_tokens
        .push("ya29.from-the-caller".into());
    let email = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com";
    let endpoint = format!("http://{address}");
    let token_file = temp_file("ya29.from-the-caller\n");
    let token_path = token_file.path().display().to_string();
    let run = |args: Vec<String>, vars: Vec<(String, String)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let vars: Vec<(&str, &str)> =
                vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            sign(&args, &vars)
        })
    };
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--impersonate-service-account",
            email,
            "--iam-endpoint",
            &endpoint,
        ];
        args.extend_from_slice(extra);
        args.push("gs://test-bucket/keyless.txt");
        args.into_iter().map(str::to_owned).collect()
    };

    // The token from the environment, as Terraform's provider takes it.
    let (status, stdout, stderr) = run(
        args(&["-m", "GET"]),
        vec![(
            "GOOGLE_OAUTH_ACCESS_TOKEN".into(),
            "ya29.from-the-caller".into(),
        )],
    )
    .await
    .unwrap();
    assert_eq!(status, 0, "{stderr}");
    let url = stdout.trim();
    let google = google_v4(
        url,
        json!({"bucket": "test-bucket", "object": "keyless.txt", "method": "GET"}),
    );
    assert_eq!(
        url, google,
        "the same URL as Google's client with the key IAM holds"
    );

    // The token from a file (gcloud's --access-token-file), and then from the metadata server.
    let (status, _, stderr) = run(args(&["--access-token-file", &token_path]), vec![])
        .await
        .unwrap();
    assert_eq!(status, 0, "{stderr}");
    let (status, _, stderr) = run(args(&["--metadata-endpoint", &endpoint]), vec![])
        .await
        .unwrap();
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stand_in.lock().unwrap().tokens_issued, 1);

    // A token IAM refuses: one clear line, no URL, and not the token.
    let (status, stdout, stderr) = run(
        args(&[]),
        vec![("GOOGLE_OAUTH_ACCESS_TOKEN".into(), "ya29.revoked".into())],
    )
    .await
    .unwrap();
    assert_eq!(status, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("ya29.revoked"));
    assert!(stand_in.lock().unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_is_signed_into_the_scope_and_accepted_by_the_dev_store() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().to_str().unwrap().to_owned();
    let vars = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("DEV_STORE_PORT".to_owned(), "0".to_owned()),
        ("XDG_RUNTIME_DIR".to_owned(), runtime.clone()),
    ];
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    app.wait_for_log("dev key saved").await;
    let env = vec![("XDG_RUNTIME_DIR".to_owned(), runtime.clone())];
    let (status, put_url, stderr) = tokio::task::spawn_blocking({
        let env = env.clone();
        move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            sign(
                &[
                    "--dev-key",
                    "-m",
                    "PUT",
                    "-r",
                    "europe-west3",
                    "gs://dev-bucket/region.txt",
                ],
                &env,
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 0, "{stderr}");
    let query: HashMap<String, String> = query_pairs(put_url.trim()).into_iter().collect();
    assert!(
        query["X-Goog-Credential"].contains("%2Feurope-west3%2Fstorage%2Fgoog4_request"),
        "{}",
        query["X-Goog-Credential"]
    );
    let put = app
        .client
        .put(put_url.trim())
        .body("regional")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dev_store_that_answers_garbage_is_reported_without_the_signed_url() {
    // The check's URL is signed with the dev key: a credential, even for a missing object.
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().to_str().unwrap().to_owned();
    let key_file = runtime_dir.path().join("storage-signer/dev-key.json");
    let vars = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("DEV_STORE_PORT".to_owned(), "0".to_owned()),
        ("XDG_RUNTIME_DIR".to_owned(), runtime.clone()),
    ];
    let mut server = TestApp::spawn_raw(&vars, &["--dev"]);
    server.wait_for_log("dev key saved").await;
    let mut key: Value = serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();

    // A "store" that answers every request with something that is not HTTP.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    key["storage_base_url"] = format!("http://{}", garbage.local_addr().unwrap()).into();
    std::fs::write(&key_file, key.to_string()).unwrap();
    std::thread::spawn(move || {
        for stream in garbage.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0_u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(&mut stream, b"not http at all\r\n\r\n");
        }
    });

    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        sign(
            &["--dev-key", "gs://dev-bucket/garbage.txt"],
            &[("XDG_RUNTIME_DIR", runtime.as_str())],
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no dev store answers"), "{stderr}");
    assert!(
        !stderr.contains("Signature") && !stderr.contains("GoogleAccessId"),
        "the signed URL leaked: {stderr}"
    );
    server.send_sigterm();
    server.wait_exit(std::time::Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_dev_key_is_reported_instead_of_signing() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().to_str().unwrap().to_owned();
    let key_file = runtime_dir.path().join("storage-signer/dev-key.json");
    let vars = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("DEV_STORE_PORT".to_owned(), "0".to_owned()),
        ("XDG_RUNTIME_DIR".to_owned(), runtime.clone()),
    ];
    let sign_dev = |runtime: String| {
        tokio::task::spawn_blocking(move || {
            sign(
                &["--dev-key", "gs://dev-bucket/stale.txt"],
                &[("XDG_RUNTIME_DIR", runtime.as_str())],
            )
        })
    };

    // The first dev server saves its key, then stops.
    let mut first = TestApp::spawn_raw(&vars, &["--dev"]);
    first.wait_for_log("dev key saved").await;
    let first_key: Value = serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();
    first.send_sigterm();
    first.wait_exit(std::time::Duration::from_secs(20));
    let (status, stdout, stderr) = sign_dev(runtime.clone()).await.unwrap();
    assert_eq!(status, 1, "{stderr}");
    assert!(stdout.is_empty(), "no URL the store would refuse");
    assert!(
        stderr.contains("stale")
            && stderr.contains("no dev store answers")
            && stderr.contains("gone"),
        "{stderr}"
    );

    // A second dev server runs with another key; the first one's key is put back beside the
    // second store's URL (as when two dev servers raced for the file).
    let second = TestApp::spawn_raw(&vars, &["--dev"]);
    second.wait_for_log("dev key saved").await;
    let second_key: Value = serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();
    let (status, _, stderr) = sign_dev(runtime.clone()).await.unwrap();
    assert_eq!(status, 0, "the fresh key signs: {stderr}");
    let mut mixed = first_key.clone();
    mixed["storage_base_url"] = second_key["storage_base_url"].clone();
    std::fs::write(&key_file, mixed.to_string()).unwrap();
    let (status, _, stderr) = sign_dev(runtime.clone()).await.unwrap();
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("another key"), "{stderr}");
    drop(second);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dev_servers_printed_curl_pastes_into_a_shell_and_gets_a_201() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let vars = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("DEV_STORE_PORT".to_owned(), "0".to_owned()),
        (
            "XDG_RUNTIME_DIR".to_owned(),
            runtime_dir.path().display().to_string(),
        ),
    ];
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    let logs = app.wait_for_log("\ncurl ").await;
    let command = logs
        .lines()
        .find(|line| line.starts_with("curl "))
        .unwrap_or_else(|| panic!("no plain curl line on stderr: {logs}"))
        .to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &command])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["meta"]["code"], 201, "{body}");
    assert!(body["data"]["secret_url"].as_str().is_some());
}
