//! The OpenAPI document against the code: it validates as OpenAPI 3.1, it is the committed
//! `docs/openapi.json`, and every response the real service gives, for every endpoint and status
//! exercised here, is documented and matches its schema.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::differential::oracle_python;
use crate::helpers::{TestApp, run_to_exit, sha256_hex, temp_file};
use crate::policy::spawn_without_open_mode;

const KEY: &str = "ssk_openapi-contract-test-key";

/// The served document, with a way to check responses against it.
pub(crate) struct Contract {
    pub(crate) doc: Value,
}

impl Contract {
    pub(crate) async fn of(app: &TestApp) -> Self {
        let response = app
            .client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Self {
            doc: response.json().await.unwrap(),
        }
    }

    /// Asserts that `status` is documented for the operation and that `body` matches its
    /// schema (and that `x-request-id` is there when documented).
    pub(crate) fn check(&self, method: &str, path: &str, response: &Captured) {
        let operation = &self.doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let documented = &operation["responses"][response.status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {}, which is not documented: {}",
            response.status,
            response.body
        );
        if documented["headers"].get("x-request-id").is_some() {
            assert!(
                response.request_id,
                "{method} {path} {}: x-request-id",
                response.status
            );
        }
        let schema = &documented["content"]["application/json"]["schema"];
        if schema.is_object() {
            self.validate(
                schema,
                &response.body,
                &format!("{method} {path} {}", response.status),
            );
        }
    }

    pub(crate) fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let mut root = schema.clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the response does not match the document:\n{}\n{instance}",
            errors.join("\n")
        );
    }

    pub(crate) fn schema_of(name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

/// (method, path, body, API key, expected status)
type Case<'a> = (
    reqwest::Method,
    &'a str,
    Option<String>,
    Option<&'a str>,
    u16,
);

pub(crate) struct Captured {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) request_id: bool,
}

pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> Captured {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let request_id = response.headers().contains_key("x-request-id");
    let text = response.text().await.unwrap();
    Captured {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        request_id,
    }
}

fn clients() -> tempfile::NamedTempFile {
    temp_file(&format!(
        "[[clients]]\nid = \"contract\"\napi_key_sha256 = \"{}\"\n[[clients.allow]]\nmethods = [\"GET\", \"PUT\", \"POST\"]\nresources = [\"/test-bucket/allowed/**\"]\n",
        sha256_hex(KEY)
    ))
}

#[tokio::test]
async fn every_response_exercised_here_matches_the_document() {
    use reqwest::Method;
    let clients = clients();
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    let contract = Contract::of(&app).await;
    let secrets = "/media_content_storage_secrets";
    let ok = r#"{"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": "allowed/a.pdf", "content_type": "application/pdf", "max_size": 100}}"#;
    let ok_v4 = r#"{"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "allowed/a.pdf", "version": "v4"}}"#;
    let cases: Vec<Case> = vec![
        (Method::POST, secrets, Some(ok.into()), Some(KEY), 201),
        (Method::POST, secrets, Some(ok_v4.into()), Some(KEY), 201),
        (Method::POST, secrets, Some("{oops".into()), Some(KEY), 400),
        (Method::POST, secrets, Some(ok.into()), Some("ssk_wrong"), 401),
        (Method::POST, secrets, Some(ok.into()), None, 401),
        (Method::POST, secrets, Some(ok.replace("allowed/", "private/")), Some(KEY), 403),
        (Method::POST, secrets, Some(format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000))), Some(KEY), 413),
        (Method::POST, secrets, Some(r#"{"secret": {"action": "NOPE"}}"#.into()), Some(KEY), 422),
        (Method::POST, "/media_content_storage_secrets/batch", Some(format!("{{\"secrets\": [{}, {{\"action\": 1}}]}}", &ok[10..ok.len() - 1])), Some(KEY), 200),
        (Method::POST, "/media_content_storage_secrets/batch", Some("{\"secrets\": []}".into()), Some(KEY), 422),
        (Method::POST, "/media_content_storage_secrets/batch", Some("{\"secrets\": []}".into()), Some("ssk_wrong"), 401),
        (Method::POST, "/upload_policies", Some(r#"{"policy": {"bucket": "test-bucket", "key_prefix": "allowed/p/", "max_size": 9}}"#.into()), Some(KEY), 201),
        (Method::POST, "/upload_policies", Some(r#"{"policy": {"bucket": "test-bucket", "key": "private/x"}}"#.into()), Some(KEY), 403),
        (Method::POST, "/upload_policies", Some(r#"{"policy": {"bucket": "test-bucket"}}"#.into()), Some(KEY), 422),
        (Method::GET, "/healthz", None, None, 200),
        (Method::GET, "/readyz", None, None, 200),
        (Method::GET, "/openapi.json", None, None, 200),
    ];
    for (method, path, body, key, expected) in cases {
        let response = call(&app, method.clone(), path, body.as_deref(), key).await;
        assert_eq!(
            response.status, expected,
            "{method} {path}: {}",
            response.body
        );
        contract.check(&method.as_str().to_ascii_lowercase(), path, &response);
    }
    // 415 goes through a request without a JSON content type.
    let response = app
        .client
        .post(app.url(secrets))
        .bearer_auth(KEY)
        .body(ok)
        .send()
        .await
        .unwrap();
    let captured = Captured {
        status: response.status().as_u16(),
        request_id: true,
        body: response.json().await.unwrap(),
    };
    assert_eq!(captured.status, 415);
    contract.check("post", secrets, &captured);
}

#[tokio::test]
async fn rate_limited_refusals_are_documented_429s() {
    let clients = clients();
    let app = spawn_without_open_mode(&[
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("REFUSALS_PER_MINUTE", "1"),
        ("REFUSAL_BURST", "1"),
    ]);
    let contract = Contract::of(&app).await;
    let body =
        r#"{"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "allowed/a"}}"#;
    for (path, expected) in [
        ("/media_content_storage_secrets", 401),
        ("/media_content_storage_secrets", 429),
        ("/media_content_storage_secrets/batch", 429),
        ("/upload_policies", 429),
    ] {
        let response = call(
            &app,
            reqwest::Method::POST,
            path,
            Some(body),
            Some("ssk_wrong"),
        )
        .await;
        assert_eq!(response.status, expected, "{path}: {}", response.body);
        contract.check("post", path, &response);
    }
}

#[tokio::test]
async fn failing_audit_writes_are_documented_503s() {
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", "/dev/full")], &[]);
    let contract = Contract::of(&app).await;
    let body = r#"{"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "x"}}"#;
    let response = call(
        &app,
        reqwest::Method::POST,
        "/media_content_storage_secrets",
        Some(body),
        None,
    )
    .await;
    assert_eq!(response.status, 503);
    contract.check("post", "/media_content_storage_secrets", &response);
    let ready = call(&app, reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 503);
    contract.check("get", "/readyz", &ready);
}

#[tokio::test]
async fn documented_examples_are_real() {
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"GET\", \"PUT\", \"POST\"]\nresources = [\"/**\"]\n",
    );
    let app = spawn_without_open_mode(&[
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("KNOWN_BUCKETS", "dev-bucket"),
    ]);
    let contract = Contract::of(&app).await;
    // Request examples are accepted by the service as they are.
    for (path, schema) in [
        ("/media_content_storage_secrets", "SecretBody"),
        ("/media_content_storage_secrets/batch", "BatchBody"),
        ("/upload_policies", "PolicyBody"),
    ] {
        let example = &contract.doc["components"]["schemas"][schema]["example"];
        assert!(example.is_object(), "{schema} has an example");
        contract.validate(
            &Contract::schema_of(schema),
            example,
            &format!("example of {schema}"),
        );
        let response = call(
            &app,
            reqwest::Method::POST,
            path,
            Some(&example.to_string()),
            None,
        )
        .await;
        assert!(
            matches!(response.status, 200 | 201),
            "{path} with its example: {}",
            response.body
        );
        contract.check("post", path, &response);
    }
    // Response examples match their own schemas.
    for (status, example) in
        contract.doc["paths"]["/media_content_storage_secrets"]["post"]["responses"]
            .as_object()
            .unwrap()
    {
        let content = &example["content"]["application/json"];
        if let Some(example) = content.get("example") {
            contract.validate(&content["schema"], example, &format!("example of {status}"));
        }
    }
}

#[test]
fn the_document_is_valid_openapi_3_1_and_committed() {
    let (status, printed, _) = run_to_exit(&[], &["openapi"]);
    assert!(status.success());
    let document: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let committed_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(&committed_path).unwrap()).unwrap();
    assert_eq!(
        committed, document,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
    let check = Command::new(oracle_python())
        .args(["-c", "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('ok')"])
        .arg(&committed_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}
