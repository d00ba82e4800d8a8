//! Per-client policies: who may get which URL, and how refusals look.

use serde_json::{Value, json};

use crate::helpers::{TestApp, run_to_exit, sha256_hex, temp_file};

pub const FRONTEND_KEY: &str = "ssk_frontend-test-key-0123456789";
pub const BACKEND_KEY: &str = "ssk_backend-test-key-0123456789";

pub fn clients_toml() -> String {
    format!(
        r#"
[[clients]]
id = "frontend"
api_key_sha256 = "{frontend}"
max_ttl = 900
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/uploads/**"]
content_types = ["image/jpeg", "application/pdf"]
[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/test-bucket/uploads/*/preview.jpg"]

[[clients]]
id = "backend"
api_key_sha256 = "{backend}"
max_ttl = 3600
[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/test-bucket/**", "/other-bucket/reports/*"]

[[clients]]
id = "anonymous"
[[clients.allow]]
methods = ["GET"]
resources = ["/other-bucket/public/**"]
"#,
        frontend = sha256_hex(FRONTEND_KEY),
        backend = sha256_hex(BACKEND_KEY),
    )
}

/// The service with `clients_toml()` and no open mode.
pub fn spawn_with_clients(extra: &[(&str, &str)]) -> (TestApp, tempfile::NamedTempFile) {
    let file = temp_file(&clients_toml());
    let path = file.path().to_str().unwrap().to_owned();
    let mut env = vec![("CLIENTS_CONFIG_PATH", path.as_str())];
    env.extend_from_slice(extra);
    let app = spawn_without_open_mode(&env);
    (app, file)
}

/// Like `TestApp::spawn_with`, but without the helpers' default `ALLOW_ANONYMOUS=true`.
pub fn spawn_without_open_mode(env: &[(&str, &str)]) -> TestApp {
    let key = crate::helpers::conformance_key_path().display().to_string();
    let mut vars: Vec<(String, String)> = vec![
        ("SERVICE_ACCOUNT_KEY_PATH".into(), key),
        ("KNOWN_BUCKETS".into(), "test-bucket,other-bucket".into()),
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
        ("REFUSALS_PER_MINUTE".into(), "1000000".into()),
        ("REFUSAL_BURST".into(), "1000000".into()),
    ];
    vars.extend(env.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    TestApp::spawn_raw(&vars, &[])
}

fn body(action: &str, bucket: &str, object: &str, content_type: Option<&str>) -> Value {
    let mut secret = json!({"action": action, "bucket": bucket, "resource_id": object});
    if let Some(content_type) = content_type {
        secret["content_type"] = json!(content_type);
    }
    json!({ "secret": secret })
}

struct Case {
    caller: Option<&'static str>,
    action: &'static str,
    bucket: &'static str,
    object: &'static str,
    content_type: Option<&'static str>,
    status: u16,
    /// For 403: the condition the message must name.
    message: &'static str,
}

const fn case(
    caller: Option<&'static str>,
    action: &'static str,
    bucket: &'static str,
    object: &'static str,
    content_type: Option<&'static str>,
    status: u16,
    message: &'static str,
) -> Case {
    Case {
        caller,
        action,
        bucket,
        object,
        content_type,
        status,
        message,
    }
}

const FRONTEND: Option<&str> = Some(FRONTEND_KEY);
const BACKEND: Option<&str> = Some(BACKEND_KEY);
const NOBODY: Option<&str> = None;
const PDF: Option<&str> = Some("application/pdf");
const T: &str = "test-bucket";
const O: &str = "other-bucket";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // frontend: PUT under uploads/** with a listed content type
    case(FRONTEND, "PUT", T, "uploads/a/b/scan.pdf", PDF, 201, ""),
    case(FRONTEND, "PUT", T, "uploads/x.jpg", Some("image/jpeg"), 201, ""),
    case(FRONTEND, "PUT", T, "uploads/x.jpg", Some("IMAGE/JPEG"), 201, ""),
    // Parameters pass only where the rule lists them.
    case(FRONTEND, "PUT", T, "uploads/x.jpg", Some("IMAGE/JPEG; q=1"), 403, "content type"),
    case(FRONTEND, "PUT", T, "uploads/x.jpg", None, 403, "content_type is required"),
    case(FRONTEND, "PUT", T, "uploads/x.html", Some("text/html"), 403, "content type \"text/html\""),
    case(FRONTEND, "PUT", T, "uploads-evil/x.pdf", PDF, 403, "path /test-bucket/uploads-evil/x.pdf"),
    case(FRONTEND, "PUT", T, "uploadsx", PDF, 403, "path"),
    case(FRONTEND, "PUT", O, "uploads/x.pdf", PDF, 403, "path /other-bucket/uploads/x.pdf"),
    // frontend: GET/HEAD of uploads/*/preview.jpg only (`*` stays within a segment)
    case(FRONTEND, "GET", T, "uploads/42/preview.jpg", None, 201, ""),
    case(FRONTEND, "HEAD", T, "uploads/42/preview.jpg", None, 201, ""),
    case(FRONTEND, "GET", T, "uploads/42/43/preview.jpg", None, 403, "path"),
    case(FRONTEND, "GET", T, "uploads/42/original.jpg", None, 403, "path"),
    // a percent-encoded slash is a literal part of one segment, so `*` matches it
    case(FRONTEND, "GET", T, "uploads/a%2Fb/preview.jpg", None, 201, ""),
    case(FRONTEND, "GET", T, "uploads/a%2F..%2F..%2Fsecret/preview.jpg", None, 201, ""),
    // backend: read anything in test-bucket, reports/* in other-bucket; never write
    case(BACKEND, "GET", T, "any/depth/at/all.bin", None, 201, ""),
    case(BACKEND, "HEAD", T, "x", None, 201, ""),
    case(BACKEND, "PUT", T, "x", PDF, 403, "method PUT is not allowed"),
    case(BACKEND, "GET", O, "reports/r.csv", None, 201, ""),
    case(BACKEND, "GET", O, "reports/2026/r.csv", None, 403, "path"),
    case(BACKEND, "GET", O, "public/x", None, 403, "path"),
    // anonymous: GET of other-bucket/public/** only
    case(NOBODY, "GET", O, "public/a/b.png", None, 201, ""),
    case(NOBODY, "PUT", O, "public/a.png", PDF, 403, "method PUT"),
    case(NOBODY, "GET", T, "uploads/1/preview.jpg", None, 403, "path"),
];

#[tokio::test]
async fn allowed_and_denied_requests_follow_the_clients_file() {
    let (app, _file) = spawn_with_clients(&[]);
    let mut failures = Vec::new();
    for case in CASES {
        let response = app
            .post_secret_as(
                case.caller,
                &body(case.action, case.bucket, case.object, case.content_type),
            )
            .await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let description = format!(
            "{:?} {} /{}/{} {:?}",
            case.caller.map(|k| &k[4..12]),
            case.action,
            case.bucket,
            case.object,
            case.content_type
        );
        if status != case.status {
            failures.push(format!(
                "{description}: expected {}, got {status}: {text}",
                case.status
            ));
            continue;
        }
        if status == 403 {
            let error: Value = serde_json::from_str(&text).unwrap();
            let message = error["error"]["message"].as_str().unwrap();
            assert_eq!(error["error"]["type"], "forbidden");
            if !message.contains(case.message) {
                failures.push(format!(
                    "{description}: message {message:?} lacks {:?}",
                    case.message
                ));
            }
            // Nothing about other rules or clients.
            for secret in [
                "backend",
                "frontend",
                "anonymous",
                "**",
                "preview",
                "reports",
                "image/jpeg",
            ] {
                if message.contains(secret) && !case.object.contains(secret) {
                    failures.push(format!(
                        "{description}: message reveals {secret:?}: {message}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_encoded_slash_in_a_name_stays_encoded_in_the_url() {
    let (app, _file) = spawn_with_clients(&[]);
    let response = app
        .post_secret_as(FRONTEND, &body("GET", T, "uploads/a%2Fb/preview.jpg", None))
        .await;
    let body: Value = response.json().await.unwrap();
    let url = body["data"]["secret_url"].as_str().unwrap();
    assert!(
        url.contains("/test-bucket/uploads/a%252Fb/preview.jpg?"),
        "{url}"
    );
}

#[tokio::test]
async fn lifetime_above_max_ttl_is_422_never_shortened() {
    let (app, _file) = spawn_with_clients(&[]);
    let mut request = body("PUT", T, "uploads/x.pdf", PDF);
    request["secret"]["expires_in"] = json!(900);
    let ok: Value = app
        .post_secret_as(FRONTEND, &request)
        .await
        .json()
        .await
        .unwrap();
    let lifetime = |data: &Value| {
        let at = |field: &str| {
            time::OffsetDateTime::parse(
                data[field].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .unix_timestamp()
        };
        at("expires_at") - at("inserted_at")
    };
    assert_eq!(lifetime(&ok["data"]), 900);

    request["secret"]["expires_in"] = json!(901);
    let response = app.post_secret_as(FRONTEND, &request).await;
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["invalid"][0]["entry"], "$.secret.expires_in");
    assert!(
        error["error"]["invalid"][0]["rules"][0]["description"]
            .as_str()
            .unwrap()
            .contains("900")
    );

    // Without expires_in: SECRETS_TTL (600), within the client's max_ttl.
    request["secret"]
        .as_object_mut()
        .unwrap()
        .remove("expires_in");
    let default: Value = app
        .post_secret_as(FRONTEND, &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lifetime(&default["data"]), 600);
}

#[tokio::test]
async fn bad_credentials_are_401_with_a_bearer_challenge() {
    let (app, _file) = spawn_with_clients(&[]);
    let request = body("GET", T, "x", None);
    for credential in [
        "ssk_not-a-key",
        "frontend",
        &FRONTEND_KEY[..FRONTEND_KEY.len() - 1],
    ] {
        let response = app.post_secret_as(Some(credential), &request).await;
        assert_eq!(response.status(), 401, "{credential}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"storage-signer\", error=\"invalid_token\""
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "access_denied");
        assert_eq!(error["meta"]["code"], 401);
    }
    let basic = app
        .client
        .post(app.url("/media_content_storage_secrets"))
        .header("authorization", "Basic ZnJvbnRlbmQ6eA==")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn without_anonymous_client_missing_credentials_are_401() {
    let file = temp_file(&clients_toml().replace("id = \"anonymous\"", "id = \"someone\"\napi_key_sha256 = \"00000000000000000000000000000000000000000000000000000000000000aa\""));
    let path = file.path().to_str().unwrap().to_owned();
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", &path)]);
    let response = app
        .post_secret_as(None, &body("GET", O, "public/x", None))
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"storage-signer\""
    );
}

#[tokio::test]
async fn allow_anonymous_false_with_an_anonymous_client_stops_start_up() {
    let file = temp_file(&clients_toml());
    let path = file.path().to_str().unwrap().to_owned();
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, _, stderr) = run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("CLIENTS_CONFIG_PATH", &path),
            ("ALLOW_ANONYMOUS", "false"),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("ALLOW_ANONYMOUS"), "{stderr}");
    assert!(stderr.contains("anonymous"), "{stderr}");
}

#[tokio::test]
async fn without_clients_file_the_service_refuses_to_start_unless_open_mode_is_asked_for() {
    let key = crate::helpers::conformance_key_path().display().to_string();
    let vars = [
        ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
        ("KNOWN_BUCKETS", "test-bucket"),
        ("PORT", "0"),
    ];
    let (status, _, stderr) = run_to_exit(&vars, &["serve"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("CLIENTS_CONFIG_PATH"), "{stderr}");
    assert!(stderr.contains("ALLOW_ANONYMOUS=true"), "{stderr}");

    let open = TestApp::spawn_with(&[("ALLOW_ANONYMOUS", "true")], &[]);
    let logs = open.wait_for_log("OPEN MODE").await;
    assert!(logs.contains("\"level\":\"WARN\""), "{logs}");
    assert_eq!(
        open.post_secret_as(None, &body("PUT", T, "x", None))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_clients_file_with_an_unknown_field_stops_start_up() {
    let file =
        temp_file(&clients_toml().replace("max_ttl = 900", "max_ttl = 900\nbuckets = [\"x\"]"));
    let path = file.path().to_str().unwrap().to_owned();
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, _, stderr) = run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("CLIENTS_CONFIG_PATH", &path),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CLIENTS_CONFIG_PATH") && stderr.contains("buckets"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_clients_file_and_keeps_the_old_one_if_broken() {
    let (app, file) = spawn_with_clients(&[]);
    let request = body("GET", O, "reports/2026/r.csv", None);
    assert_eq!(app.post_secret_as(BACKEND, &request).await.status(), 403);

    // Widen the backend's rule and reload.
    std::fs::write(
        file.path(),
        clients_toml().replace(
            "\"/other-bucket/reports/*\"",
            "\"/other-bucket/reports/**\"",
        ),
    )
    .unwrap();
    app.send_signal("HUP");
    app.wait_for_log("clients reloaded").await;
    assert_eq!(app.post_secret_as(BACKEND, &request).await.status(), 201);

    // A broken file is refused; the rules in force stay.
    std::fs::write(
        file.path(),
        "[[clients]]\nid = \"backend\"\nnonsense = true\n",
    )
    .unwrap();
    app.send_signal("HUP");
    let logs = app.wait_for_log("clients not reloaded").await;
    assert!(
        logs.contains("nonsense"),
        "the log says what is wrong: {logs}"
    );
    assert_eq!(app.post_secret_as(BACKEND, &request).await.status(), 201);
    assert_eq!(
        app.post_secret_as(FRONTEND, &body("GET", T, "uploads/1/preview.jpg", None))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn api_keys_never_appear_in_logs() {
    let (app, _file) = spawn_with_clients(&[]);
    app.post_secret_as(FRONTEND, &body("PUT", T, "uploads/x.pdf", PDF))
        .await;
    app.post_secret_as(BACKEND, &body("PUT", T, "x", PDF)).await;
    app.post_secret_as(
        Some("ssk_wrong-key-that-must-not-be-logged"),
        &body("GET", T, "x", None),
    )
    .await;
    app.client
        .get(app.url("/healthz"))
        .header("x-request-id", "end")
        .send()
        .await
        .unwrap();
    let logs = app.wait_for_log("\"end\"").await;
    for secret in [
        FRONTEND_KEY,
        BACKEND_KEY,
        "ssk_wrong-key-that-must-not-be-logged",
        "Signature=",
    ] {
        assert!(!logs.contains(secret), "{secret} in logs");
    }
}

#[tokio::test]
async fn api_key_subcommand_creates_a_key_whose_hash_authenticates() {
    let (status, stdout, _) = run_to_exit(&[], &["api-key", "new"]);
    assert!(status.success());
    let key = stdout.lines().nth(1).unwrap().trim().to_owned();
    let hash_line = stdout
        .lines()
        .find(|l| l.contains("api_key_sha256"))
        .unwrap();
    assert!(key.starts_with("ssk_"));
    assert!(hash_line.contains(&sha256_hex(&key)), "{stdout}");

    let toml = format!(
        "[[clients]]\nid = \"new\"\n{}\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/**\"]\n",
        hash_line.trim()
    );
    let file = temp_file(&toml);
    let path = file.path().to_str().unwrap().to_owned();
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", &path)]);
    assert_eq!(
        app.post_secret_as(Some(&key), &body("GET", T, "x", None))
            .await
            .status(),
        201
    );
}
