//! Start-up validation: each bad setting stops the process with one line naming it.

use crate::helpers::{TestApp, conformance_key_path, run_to_exit, temp_file};

/// Runs `serve` with the given environment and asserts it refuses to start, with one line on
/// stderr that names `variable`. Returns that line.
fn refuses_to_start(vars: &[(&str, &str)], variable: &str) -> String {
    let (status, stdout, stderr) = run_to_exit(vars, &["serve"]);
    assert_eq!(status.code(), Some(2), "exit status; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(
        lines[0].starts_with(&format!("storage-signer: configuration error: {variable} ")),
        "{}",
        lines[0]
    );
    assert!(!stdout.contains("listening"));
    lines[0].to_owned()
}

fn key() -> String {
    conformance_key_path().display().to_string()
}

fn with_key(extra: &[(&'static str, &'static str)], key: &str) -> Vec<(String, String)> {
    let mut vars = vec![
        ("SERVICE_ACCOUNT_KEY_PATH".to_owned(), key.to_owned()),
        ("KNOWN_BUCKETS".to_owned(), "test-bucket".to_owned()),
        ("PORT".to_owned(), "0".to_owned()),
        ("ALLOW_ANONYMOUS".to_owned(), "true".to_owned()),
    ];
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    vars
}

fn refuses(extra: &[(&'static str, &'static str)], key: &str, variable: &str) -> String {
    let vars = with_key(extra, key);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    refuses_to_start(&borrowed, variable)
}

#[test]
fn missing_key_path_is_refused_with_a_hint() {
    let line = refuses_to_start(&[("KNOWN_BUCKETS", "b-bucket")], "SERVICE_ACCOUNT_KEY_PATH");
    assert!(line.contains("--dev"), "{line}");
}

#[test]
fn key_file_that_does_not_exist_is_refused() {
    let line = refuses(&[], "/nonexistent/key.json", "SERVICE_ACCOUNT_KEY_PATH");
    assert!(line.contains("/nonexistent/key.json"), "{line}");
}

#[test]
fn unreadable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    refuses(
        &[],
        dir.path().to_str().unwrap(),
        "SERVICE_ACCOUNT_KEY_PATH",
    );
}

#[test]
fn key_file_with_bad_json_is_refused() {
    let file = temp_file("{\"client_email\": ");
    let line = refuses(
        &[],
        file.path().to_str().unwrap(),
        "SERVICE_ACCOUNT_KEY_PATH",
    );
    assert!(line.contains("not valid JSON"), "{line}");
}

#[test]
fn key_that_is_not_rsa_pkcs8_is_refused() {
    // Ed25519 (RFC 8410 example key), PKCS#1 and garbage PEM.
    for private_key in [
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n",
        "not a key",
    ] {
        let json = serde_json::json!({"type": "service_account", "client_email": "a@b", "private_key": private_key});
        let file = temp_file(&json.to_string());
        let line = refuses(
            &[],
            file.path().to_str().unwrap(),
            "SERVICE_ACCOUNT_KEY_PATH",
        );
        assert!(line.contains("private_key"), "{line}");
    }
}

#[test]
fn empty_bucket_list_is_refused() {
    for value in ["", " , ", ","] {
        refuses(&[("KNOWN_BUCKETS", value)], &key(), "KNOWN_BUCKETS");
    }
    refuses_to_start(
        &[("SERVICE_ACCOUNT_KEY_PATH", &key()), ("PORT", "0")],
        "KNOWN_BUCKETS",
    );
}

#[test]
fn invalid_bucket_name_is_refused() {
    let line = refuses(
        &[("KNOWN_BUCKETS", "good-bucket,Bad Bucket")],
        &key(),
        "KNOWN_BUCKETS",
    );
    assert!(line.contains("Bad Bucket"), "{line}");
}

#[test]
fn ttl_of_zero_or_over_seven_days_is_refused() {
    for value in ["0", "604801", "-1", "ten minutes"] {
        refuses(&[("SECRETS_TTL", value)], &key(), "SECRETS_TTL");
    }
}

#[test]
fn other_bad_values_are_refused() {
    refuses(&[("PORT", "70000")], &key(), "PORT");
    refuses(&[("HOST", "not-an-ip")], &key(), "HOST");
    refuses(&[("LOG_LEVEL", "loud")], &key(), "LOG_LEVEL");
    refuses(&[("REQUEST_TIMEOUT", "0")], &key(), "REQUEST_TIMEOUT");
    refuses(
        &[("STORAGE_BASE_URL", "ftp://example.com")],
        &key(),
        "STORAGE_BASE_URL",
    );
}

#[tokio::test]
async fn dev_mode_needs_no_configuration() {
    let vars = vec![("PORT".to_owned(), "0".to_owned())];
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    assert!(app.address.starts_with("127.0.0.1:"), "{}", app.address);
    let logs = app.wait_for_log("curl -s -X POST").await;
    assert!(logs.contains("DEVELOPMENT MODE"), "{logs}");
    assert!(logs.contains("curl -s -X POST http://127.0.0.1:"), "{logs}");
    let body = serde_json::json!({"secret": {"action": "PUT", "bucket": "dev-bucket", "resource_id": "x"}});
    let response = app.post_secret(&body).await;
    assert_eq!(response.status(), 201);
}

#[test]
fn a_busy_port_names_the_settings_that_choose_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let vars = with_key(&[("HOST", "127.0.0.1")], &key());
    let mut vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    vars.retain(|(name, _)| *name != "PORT");
    vars.push(("PORT", &port));
    let (status, _, stderr) = run_to_exit(&vars, &["serve"]);
    assert!(!status.success());
    assert!(
        stderr.contains("PORT") && stderr.contains("--port") && stderr.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn a_boolean_setting_says_which_words_it_takes() {
    let line = refuses(&[("ALLOW_ANONYMOUS", "maybe")], &key(), "ALLOW_ANONYMOUS");
    assert!(
        line.contains("true or false") && line.contains("yes/no"),
        "{line}"
    );
}

/// `serve --dev` runs open mode for whoever can reach it; the attack pass found it bound to a
/// public `HOST`, and with a real key it handed anyone V2 URLs that work at Google.
#[test]
fn dev_mode_refuses_a_public_address_and_a_key_file_unless_told() {
    let dev = |vars: &[(&str, &str)]| {
        let (status, _, stderr) = run_to_exit(vars, &["serve", "--dev"]);
        (status.code(), stderr)
    };
    for host in ["0.0.0.0", "::", "192.0.2.10"] {
        let (code, stderr) = dev(&[("HOST", host), ("PORT", "0")]);
        assert_eq!(code, Some(2), "{host}: {stderr}");
        assert!(
            stderr.contains("configuration error: HOST (--host)"),
            "{stderr}"
        );
    }
    let key = key();
    let (code, stderr) = dev(&[("SERVICE_ACCOUNT_KEY_PATH", &key), ("PORT", "0")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("SERVICE_ACCOUNT_KEY_PATH (--key)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DEV_ALLOW_KEY_FILE"),
        "says how to insist: {stderr}"
    );

    let vars: Vec<(String, String)> = [
        ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
        ("DEV_ALLOW_KEY_FILE", "true"),
        ("PORT", "0"),
        ("DEV_STORE_PORT", "0"),
        ("HOST", "127.0.0.2"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    assert!(
        app.address.starts_with("127.0.0.2:"),
        "any loopback address: {}",
        app.address
    );
}

#[test]
fn connection_and_refusal_settings_are_validated() {
    let key = key();
    for (variable, bad) in [
        ("MAX_CONNECTIONS", "0"),
        ("HEADER_READ_TIMEOUT", "0"),
        ("KEEP_ALIVE_TIMEOUT", "soon"),
        ("REFUSALS_PER_MINUTE", "-1"),
        ("REFUSAL_BURST", "0"),
        ("AUDIT_SUMMARY_INTERVAL", "0"),
        ("METRICS_PORT", "65536"),
        ("SIGNING_THREADS", "257"),
        ("SIGNING_THREADS", "all"),
    ] {
        let vars = with_key(&[], &key);
        let mut vars: Vec<(&str, &str)> =
            vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        vars.push((variable, bad));
        refuses_to_start(&vars, variable);
    }
}
