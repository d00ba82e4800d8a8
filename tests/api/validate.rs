//! `POST /validate_signed_entity` end to end: CMS documents made at test time
//! (`tests/servers/make_signed_document.py`), kept in real stores (the dev store behind a GCS
//! URL, s3s-fs behind an S3 URL), checked by the digital-signature stand-in (openssl `cms
//! -verify`). URLs of other hosts, other buckets, redirects and oversized documents are
//! refused; a listener on the forbidden address proves that nothing connected to it.

use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, sha256_hex, temp_file};
use crate::openapi::{Contract, call};
use crate::servers::{self, Documents, Server, Tripwire, created, send, spawn_service};

const ACCESS_KEY: &str = "AKIDVALIDATORTEST";
const SECRET_KEY: &str = "validator/secret+key";
const READER: &str = "ssk_validator-reader-0123456789";
const OUTSIDER: &str = "ssk_validator-outsider-0123456789";
const PATH: &str = "/validate_signed_entity";

struct Setup {
    app: TestApp,
    contract: Contract,
    docs: Documents,
    s3: Server,
    redirector: String,
    tripwire: Tripwire,
    _servers: Vec<Server>,
    _files: Vec<tempfile::NamedTempFile>,
}

fn clients() -> String {
    format!(
        r#"
[[clients]]
id = "reader"
api_key_sha256 = "{reader}"
[[clients.allow]]
methods = ["GET", "PUT"]
resources = ["/dev-bucket/docs/**", "/signed/docs/**", "/redirected/**"]

[[clients]]
id = "outsider"
api_key_sha256 = "{outsider}"
[[clients.allow]]
methods = ["GET"]
resources = ["/signed/other/**"]
"#,
        reader = sha256_hex(READER),
        outsider = sha256_hex(OUTSIDER)
    )
}

/// The dev server (GCS bucket `dev-bucket` in its local store) with S3 bucket `signed` on
/// s3s-fs, S3 bucket `redirected` at a server that redirects to the tripwire, the
/// digital-signature stand-in, and every fixture uploaded to both stores.
async fn setup() -> Setup {
    let docs = Documents::make();
    let signatures = servers::digital_signature(&docs.ca());
    let s3 = servers::s3(ACCESS_KEY, SECRET_KEY, &["signed", "redirected"]);
    let tripwire = Tripwire::on("127.0.0.2");
    let redirector = servers::redirector(format!("http://{}/stolen", tripwire.address));
    let clients = temp_file(&clients());
    let backends = temp_file(&format!(
        r#"
[[backends]]
name = "minio"
type = "s3"
endpoint = "{s3}"
access_key_id = "{ACCESS_KEY}"
secret_access_key_env = "VALIDATOR_S3_SECRET"
buckets = ["signed"]

[[backends]]
name = "redirecting"
type = "s3"
endpoint = "{redirector}"
access_key_id = "{ACCESS_KEY}"
secret_access_key_env = "VALIDATOR_S3_SECRET"
buckets = ["redirected"]
"#,
        s3 = s3.url
    ));
    let vars: Vec<(String, String)> = [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DEV_STORE_PORT", "0"),
        ("KNOWN_BUCKETS", "dev-bucket,signed,redirected"),
        ("BACKENDS_CONFIG_PATH", backends.path().to_str().unwrap()),
        ("VALIDATOR_S3_SECRET", SECRET_KEY),
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("DIGITAL_SIGNATURE_ENDPOINT", &signatures.url),
        ("MAX_DOCUMENT_SIZE", "65536"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    let contract = Contract::of(&app).await;
    let setup = Setup {
        app,
        contract,
        docs,
        s3,
        redirector,
        tripwire,
        _servers: vec![signatures],
        _files: vec![clients, backends],
    };
    let mut fixtures: Vec<String> = setup.docs.manifest["fixtures"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    fixtures.push("unsigned.json".into());
    for bucket in ["dev-bucket", "signed"] {
        for name in &fixtures {
            setup
                .upload(bucket, &format!("docs/{name}"), setup.docs.bytes(name))
                .await;
        }
    }
    setup
}

impl Setup {
    async fn upload(&self, bucket: &str, object: &str, bytes: Vec<u8>) {
        let response = reqwest::Client::new()
            .put(self.url("PUT", bucket, object).await)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "upload {bucket}/{object}: {}",
            response.status()
        );
    }

    /// A read URL of the object as the service issues it.
    async fn get_url(&self, bucket: &str, object: &str) -> String {
        self.url("GET", bucket, object).await
    }

    /// An `action` URL of the object as the service issues it to the reader.
    async fn url(&self, action: &str, bucket: &str, object: &str) -> String {
        let secret = json!({"secret": {"action": action, "bucket": bucket, "resource_id": object}});
        let data = created(self.app.post_secret_as(Some(READER), &secret).await).await;
        data["secret_url"].as_str().unwrap().to_owned()
    }

    /// Asks for a verdict; the answer must be one the OpenAPI document describes.
    async fn validate(&self, credential: Option<&str>, body: &Value) -> (u16, Value) {
        let answer = call(
            &self.app,
            reqwest::Method::POST,
            PATH,
            Some(&body.to_string()),
            credential,
        )
        .await;
        self.contract.check("post", PATH, &answer);
        (answer.status, answer.body)
    }
}

fn edrpou(value: &str) -> Value {
    json!([{"field": ["legal_entity", "edrpou"], "type": "eq", "value": value},
           {"field": ["status"], "type": "eq", "value": "signed"}])
}

#[tokio::test]
async fn valid_documents_are_valid_and_every_faulty_one_is_not_in_gcs_and_s3() {
    let setup = setup().await;
    let example = &setup.contract.doc["components"]["schemas"]["ValidateBody"]["example"];
    setup.contract.validate(
        &Contract::schema_of("ValidateBody"),
        example,
        "ValidateBody's example",
    );
    // Valid, from the GCS dev store (an issued V2 URL) and from s3s-fs (the object's plain
    // URL: only the object it names matters).
    let gcs = setup.get_url("dev-bucket", "docs/valid.p7s").await;
    let s3 = format!("{}/signed/docs/valid.p7s", setup.s3.url);
    for url in [&gcs, &s3] {
        let (status, body) = setup
            .validate(
                Some(READER),
                &json!({"url": url, "rules": edrpou("12345678")}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["is_valid"], true, "{url}: {body}");
        let (_, body) = setup
            .validate(
                Some(READER),
                &json!({"url": url, "rules": edrpou("87654321")}),
            )
            .await;
        assert_eq!(
            body["data"]["is_valid"], false,
            "a rule that does not hold: {body}"
        );
        assert!(
            body["data"]["reason"]
                .as_str()
                .unwrap()
                .starts_with("rule 0"),
            "{body}"
        );
    }
    // Every fixture but valid.p7s is not valid, from either store.
    for (name, why) in [
        ("tampered.p7s", "its signature is not valid"),
        ("two_signers.p7s", "envelope contains 2 signatures"),
        ("double_signed.p7s", "the document has 2 signatures"),
        ("untrusted.p7s", "matching ROOT certificate not found"),
        ("expired.p7s", "its signature is not valid"),
        ("unsigned.json", "the document is not signed"),
        ("not_json.p7s", "refused the document"),
        ("absent.p7s", "no object"),
    ] {
        for bucket in ["dev-bucket", "signed"] {
            let url = match bucket {
                "dev-bucket" => setup.get_url(bucket, &format!("docs/{name}")).await,
                _ => format!("{}/signed/docs/{name}", setup.s3.url),
            };
            let (status, body) = setup
                .validate(
                    Some(READER),
                    &json!({"url": url, "rules": edrpou("12345678")}),
                )
                .await;
            assert_eq!(
                (status, &body["data"]["is_valid"]),
                (200, &json!(false)),
                "{bucket}/{name}: {body}"
            );
            assert!(
                body["data"]["reason"].as_str().unwrap().contains(why),
                "{bucket}/{name}: {body}"
            );
        }
    }

    assert_audited(
        &setup,
        &[
            ("validated", "valid: one valid signature"),
            ("validated", "not valid: rule 0"),
            ("validated", "not valid: the document has 2 signatures"),
        ],
    )
    .await;
}

#[tokio::test]
async fn other_hosts_buckets_redirects_and_big_documents_are_refused_without_a_connection() {
    let setup = setup().await;
    let s3 = format!("{}/signed/docs/valid.p7s", setup.s3.url);
    // Not a URL of a known bucket's store: refused before any connection.
    let trip = &setup.tripwire.address;
    let s3_authority = setup.s3.url.trim_start_matches("http://");
    let port = trip.rsplit(':').next().unwrap();
    for url in [
        format!("http://{trip}/signed/docs/valid.p7s"),
        format!("http://{s3_authority}@{trip}/signed/docs/valid.p7s"),
        format!("http://2130706434:{port}/signed/docs/valid.p7s"),
        format!("http://localhost:{port}/signed/docs/valid.p7s"),
        format!("{}/other-bucket/docs/valid.p7s", setup.s3.url),
        format!("{}/signed/docs/a#frag", setup.s3.url),
        "file:///etc/passwd".to_owned(),
    ] {
        let (status, body) = setup
            .validate(Some(READER), &json!({"url": url, "rules": edrpou("1")}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(
            body["error"]["invalid"][0]["entry"], "$.url",
            "{url}: {body}"
        );
    }
    // A store that redirects (to the tripwire): not followed.
    let redirected = format!("{}/redirected/docs/valid.p7s", setup.redirector);
    let (status, body) = setup
        .validate(
            Some(READER),
            &json!({"url": redirected, "rules": edrpou("1")}),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        setup.tripwire.connections(),
        0,
        "nothing may connect to the forbidden address"
    );

    // Over MAX_DOCUMENT_SIZE.
    setup
        .upload("signed", "docs/big.p7s", vec![b'x'; 70_000])
        .await;
    let big = format!("{}/signed/docs/big.p7s", setup.s3.url);
    let (status, body) = setup
        .validate(Some(READER), &json!({"url": big, "rules": edrpou("1")}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["invalid"][0]["rules"][0]["rule"], "size",
        "{body}"
    );

    // Who may ask, and malformed requests.
    let (status, _) = setup
        .validate(Some(OUTSIDER), &json!({"url": s3, "rules": edrpou("1")}))
        .await;
    assert_eq!(status, 403, "a caller that may not read the object");
    let (status, _) = setup
        .validate(None, &json!({"url": s3, "rules": edrpou("1")}))
        .await;
    assert_eq!(status, 401);
    let (status, body) = setup
        .validate(Some(READER), &json!({"url": s3, "rules": []}))
        .await;
    assert_eq!(
        (status, &body["error"]["invalid"][0]["entry"]),
        (422, &json!("$.rules"))
    );
    let (status, body) = setup
        .validate(
            Some(READER),
            &json!({"url": s3, "rules": [{"field": ["a"], "type": "eq", "value": 1}]}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["invalid"][0]["entry"]),
        (422, &json!("$.rules[0].value"))
    );

    assert_audited(
        &setup,
        &[
            ("invalid", "$.url"),
            ("failed", "storage failed"),
            ("denied", "path not allowed for GET"),
            ("unauthenticated", ""),
        ],
    )
    .await;
}

/// Each `(decision, part of the reason)` has a `VALIDATE` record, and no URL is in the logs.
async fn assert_audited(setup: &Setup, expected: &[(&str, &str)]) {
    setup
        .app
        .client
        .get(setup.app.url("/healthz"))
        .header("x-request-id", "last")
        .send()
        .await
        .unwrap();
    let logs = setup.app.wait_for_log("\"last\"").await;
    let audit = audit_records(&logs);
    let validations: Vec<&Value> = audit.iter().filter(|r| r["action"] == "VALIDATE").collect();
    for (decision, reason) in expected {
        assert!(
            validations
                .iter()
                .any(|r| r["decision"] == *decision
                    && r["reason"].as_str().unwrap().contains(reason)),
            "an audit record {decision} ({reason}) among {validations:#?}"
        );
    }
    assert!(
        !logs.contains("X-Goog-Signature")
            && !logs.contains("Signature=")
            && !logs.contains("X-Amz-Signature")
    );
}

#[tokio::test]
async fn a_silent_signature_service_or_none_at_all_gives_no_verdict() {
    let docs = Documents::make();
    let slow = servers::digital_signature_with(&docs.ca(), &["--delay", "3"]);
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"GET\", \"PUT\"]\nresources = [\"/**\"]\n",
    );
    let s3 = servers::s3(ACCESS_KEY, SECRET_KEY, &["signed"]);
    let vars = [
        ("OBJECT_STORAGE_BACKEND", "s3"),
        ("MINIO_ENDPOINT", s3.url.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("KNOWN_BUCKETS", "signed"),
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
    ];
    let mut with_slow = vars.to_vec();
    with_slow.extend([
        ("DIGITAL_SIGNATURE_ENDPOINT", slow.url.as_str()),
        ("DIGITAL_SIGNATURE_TIMEOUT", "1"),
    ]);
    let app = spawn_service(&with_slow);
    let put = created(
        app.post_secret(
            &json!({"secret": {"action": "PUT", "bucket": "signed", "resource_id": "valid.p7s"}}),
        )
        .await,
    )
    .await;
    send(
        "PUT",
        put["secret_url"].as_str().unwrap(),
        &json!({}),
        &docs.bytes("valid.p7s"),
    )
    .await;
    let body = json!({"url": format!("{}/signed/valid.p7s", s3.url), "rules": edrpou("12345678")});
    let contract = Contract::of(&app).await;
    let answer = call(
        &app,
        reqwest::Method::POST,
        PATH,
        Some(&body.to_string()),
        None,
    )
    .await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body["error"]["type"], "bad_gateway");
    contract.check("post", PATH, &answer);
    let logs = app.wait_for_log("digital-signature service failed").await;
    assert!(
        audit_records(&logs)
            .iter()
            .any(|r| r["decision"] == "failed")
    );

    let without = spawn_service(&vars);
    let answer = call(
        &without,
        reqwest::Method::POST,
        PATH,
        Some(&body.to_string()),
        None,
    )
    .await;
    assert_eq!(
        answer.status, 404,
        "validation is off without DIGITAL_SIGNATURE_ENDPOINT"
    );
    contract.check("post", PATH, &answer);
}
