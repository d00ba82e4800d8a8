//! Configuring backends: ael.api's variables, the backends file, and what stops start-up (one
//! line naming the variable). S3 secret keys, session tokens and Swift keys never appear in
//! the logs, errors, metrics or `--help`, whatever the requests.

use serde_json::{Value, json};

use crate::helpers::{TestApp, conformance_key_path, run_to_exit, temp_file};
use crate::servers::{created, permissive_clients, spawn_service};

const S3_SECRET: &str = "wJalrXUtnFEMI-K7MDENG-S3SECRETVALUE";
const S3_TOKEN: &str = "FwoGZXIvYXdzSESSIONTOKENVALUE";
const SWIFT_KEY: &str = "SWIFTTEMPURLKEYVALUE-42";
const FILE_S3_SECRET: &str = "FILEBACKENDSECRETVALUE-7";

/// The start-up error of a service with `vars` (it must refuse to start).
fn refused(vars: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("ALLOW_ANONYMOUS", "true"),
    ];
    all.extend_from_slice(vars);
    let (status, stdout, stderr) = run_to_exit(&all, &["serve"]);
    assert_eq!(status.code(), Some(2), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn a_gcs_bucket_needs_a_key_and_an_s3_or_swift_only_service_does_not() {
    let error = refused(&[("KNOWN_BUCKETS", "media")]);
    assert!(
        error.contains("SERVICE_ACCOUNT_KEY_PATH (--key): not set; point it at a service-account JSON key file (GCS buckets need one"),
        "{error}"
    );
    // The S3 and Swift tests start services without a key; here, a mixed one needs it.
    let file = temp_file(
        "[[backends]]\nname = \"swift\"\ntype = \"swift\"\nendpoint = \"https://swift.example\"\naccount = \"AUTH_a\"\ntemp_url_key_env = \"K\"\nbuckets = [\"archive\"]\n",
    );
    let error = refused(&[
        ("KNOWN_BUCKETS", "archive,media"),
        ("BACKENDS_CONFIG_PATH", file.path().to_str().unwrap()),
        ("K", "key"),
    ]);
    assert!(
        error.contains("bucket \"media\" is served by GCS"),
        "{error}"
    );
}

#[test]
fn bad_backend_settings_stop_start_up_naming_the_variable_and_no_secret() {
    let s3 = [
        ("OBJECT_STORAGE_BACKEND", "s3"),
        ("KNOWN_BUCKETS", "media"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
    ];
    let inline = temp_file(&format!(
        "[[backends]]\nname = \"m\"\ntype = \"s3\"\naccess_key_id = \"A\"\nsecret_access_key = \"{FILE_S3_SECRET}\"\nbuckets = [\"media\"]\n"
    ));
    let unknown_bucket = temp_file(
        "[[backends]]\nname = \"m\"\ntype = \"s3\"\naccess_key_id = \"A\"\nsecret_access_key_env = \"FILE_SECRET\"\nbuckets = [\"elsewhere\"]\n",
    );
    let unset_variable = temp_file(
        "[[backends]]\nname = \"m\"\ntype = \"s3\"\naccess_key_id = \"A\"\nsecret_access_key_env = \"NOT_SET_ANYWHERE\"\nbuckets = [\"media\"]\n",
    );
    for (extra, starts) in [
        (
            vec![("OBJECT_STORAGE_BACKEND", "azure")],
            "OBJECT_STORAGE_BACKEND (--object-storage-backend)",
        ),
        (
            vec![("MINIO_ENDPOINT", "minio:9000")],
            "MINIO_ENDPOINT (--s3-endpoint)",
        ),
        (vec![("AWS_REGION", "Europe")], "AWS_REGION (--aws-region)"),
        (
            vec![("AWS_ACCESS_KEY_ID", "")],
            "AWS_ACCESS_KEY_ID (--aws-access-key-id)",
        ),
        (
            vec![("BUCKET_URL_STYLES", "media=https://cdn.example")],
            "BUCKET_URL_STYLES (--bucket-url-styles)",
        ),
        (
            vec![("BACKENDS_CONFIG_PATH", inline.path().to_str().unwrap())],
            "BACKENDS_CONFIG_PATH (--backends)",
        ),
        (
            vec![(
                "BACKENDS_CONFIG_PATH",
                unknown_bucket.path().to_str().unwrap(),
            )],
            "BACKENDS_CONFIG_PATH (--backends)",
        ),
        (
            vec![(
                "BACKENDS_CONFIG_PATH",
                unset_variable.path().to_str().unwrap(),
            )],
            "BACKENDS_CONFIG_PATH (--backends)",
        ),
        (
            vec![
                ("DIGITAL_SIGNATURE_ENDPOINT", "http://ds"),
                ("DIGITAL_SIGNATURE_TIMEOUT", "20"),
            ],
            "DIGITAL_SIGNATURE_TIMEOUT",
        ),
    ] {
        let mut vars = s3.to_vec();
        vars.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        vars.extend(extra.iter().copied());
        let error = refused(&vars);
        assert!(
            error.starts_with(&format!("storage-signer: configuration error: {starts}")),
            "{error}"
        );
        assert!(
            !error.contains(S3_SECRET) && !error.contains(FILE_S3_SECRET),
            "{error}"
        );
    }
    let swift = [
        ("OBJECT_STORAGE_BACKEND", "swift"),
        ("KNOWN_BUCKETS", "media"),
        ("SWIFT_ENDPOINT", "https://swift.example"),
        ("SWIFT_TENANT_ID", "AUTH_a"),
        ("SWIFT_TEMP_URL_KEY", SWIFT_KEY),
    ];
    for (name, value) in [
        ("SWIFT_TEMP_URL_DIGEST", "md5"),
        ("SWIFT_TEMP_URL_EXPIRES_FORMAT", "rfc2822"),
        ("SWIFT_TENANT_ID", "AUTH/a"),
        ("SWIFT_ENDPOINT", "swift.example"),
    ] {
        let mut vars = swift.to_vec();
        vars.retain(|(n, _)| *n != name);
        vars.push((name, value));
        let error = refused(&vars);
        assert!(error.contains(&format!("{name} (")), "{error}");
        assert!(!error.contains(SWIFT_KEY), "{error}");
    }
}

#[test]
fn help_does_not_show_the_secrets_in_the_environment() {
    let (_, stdout, _) = run_to_exit(
        &[
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
            ("AWS_SESSION_TOKEN", S3_TOKEN),
            ("SWIFT_TEMP_URL_KEY", SWIFT_KEY),
        ],
        &["serve", "--help"],
    );
    assert!(stdout.contains("AWS_SECRET_ACCESS_KEY"), "{stdout}");
    for secret in [S3_SECRET, S3_TOKEN, SWIFT_KEY] {
        assert!(!stdout.contains(secret), "--help shows a secret");
    }
}

#[tokio::test]
async fn no_store_secret_appears_in_logs_errors_or_metrics() {
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), format!("{SWIFT_KEY}\n")).unwrap();
    let backends = temp_file(&format!(
        "[[backends]]\nname = \"archive\"\ntype = \"swift\"\nendpoint = \"https://swift.example\"\naccount = \"AUTH_a\"\ntemp_url_key_file = \"{}\"\ndigest = \"sha512\"\nbuckets = [\"archive\"]\n\n[[backends]]\nname = \"minio\"\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\naccess_key_id_env = \"MINIO_ID\"\nsecret_access_key_env = \"MINIO_SECRET\"\nbuckets = [\"minio\"]\n",
        key_file.path().display()
    ));
    let clients = permissive_clients();
    let key = conformance_key_path().display().to_string();
    let app = spawn_service(&[
        ("SERVICE_ACCOUNT_KEY_PATH", &key),
        ("OBJECT_STORAGE_BACKEND", "gcs"),
        ("KNOWN_BUCKETS", "media,minio,archive,aws"),
        ("BACKENDS_CONFIG_PATH", backends.path().to_str().unwrap()),
        ("MINIO_ID", "MINIOACCESSID"),
        ("MINIO_SECRET", FILE_S3_SECRET),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ("AWS_SESSION_TOKEN", S3_TOKEN),
        ("SWIFT_TEMP_URL_KEY", SWIFT_KEY),
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("DIGITAL_SIGNATURE_ENDPOINT", "http://127.0.0.1:9"),
        ("LOG_LEVEL", "trace"),
    ]);
    let mut answers = Vec::new();
    for bucket in ["media", "minio", "archive"] {
        for action in ["GET", "PUT", "DELETE"] {
            let data = created(app.post_secret(&json!({"secret": {"action": action, "bucket": bucket, "resource_id": "a/b.txt"}})).await).await;
            answers.push(data["secret_url"].as_str().unwrap().to_owned());
        }
        // Refused requests, and a validation whose store does not answer (502).
        app.post_secret(
            &json!({"secret": {"action": "RESUMABLE", "bucket": bucket, "resource_id": "a"}}),
        )
        .await;
        app.client
            .post(app.url("/validate_signed_entity"))
            .json(&json!({"url": format!("http://127.0.0.1:9/{bucket}/a"), "rules": [{"field": ["a"], "type": "eq", "value": "1"}]}))
            .send()
            .await
            .unwrap();
    }
    let validation: Value = app
        .client
        .post(app.url("/validate_signed_entity"))
        .json(&json!({"url": "http://127.0.0.1:9/minio/a", "rules": [{"field": ["a"], "type": "eq", "value": "1"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(validation["error"]["type"], "bad_gateway", "{validation}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kind=\"swift-sha512\"") && metrics.contains("kind=\"s3-v4\""),
        "{metrics}"
    );
    app.client
        .get(app.url("/healthz"))
        .header("x-request-id", "last")
        .send()
        .await
        .unwrap();
    let logs = app.wait_for_log("\"last\"").await;
    assert!(
        logs.contains("media=gcs,minio=s3,archive=swift,aws=gcs"),
        "the backends at start-up:\n{logs}"
    );
    for (what, text) in [
        ("logs", &logs),
        ("metrics", &metrics),
        ("validation error", &validation.to_string()),
    ] {
        for secret in [S3_SECRET, S3_TOKEN, SWIFT_KEY, FILE_S3_SECRET] {
            assert!(!text.contains(secret), "a secret in the {what}");
        }
        for url in &answers {
            let query = url.split_once('?').unwrap().1;
            assert!(!text.contains(query), "a signed query in the {what}");
        }
        assert!(
            !text.contains("X-Amz-Signature") && !text.contains("temp_url_sig"),
            "a signature in the {what}"
        );
    }
}

#[tokio::test]
async fn ael_api_s_gcs_deployment_is_unchanged_by_the_other_backends() {
    // The GCS default, with ael.api's variables of other backends lying around unused.
    let app = TestApp::spawn_with(
        &[
            ("MINIO_ENDPOINT", "http://minio:9000"),
            ("SWIFT_ENDPOINT", "https://swift"),
            ("SWIFT_TEMP_URL_KEY", SWIFT_KEY),
        ],
        &[],
    );
    let data = created(app.post_secret(&crate::helpers::secret("GET", "a")).await).await;
    assert_eq!(
        (data["backend"].as_str(), data["version"].as_str()),
        (Some("gcs"), Some("v2"))
    );
    assert!(
        data["secret_url"]
            .as_str()
            .unwrap()
            .starts_with("https://storage.googleapis.com/test-bucket/a?")
    );
}
