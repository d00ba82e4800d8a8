//! `serve --dev`'s local store: it must accept what is correctly signed (by us and by Google's
//! client) and refuse each way a request can stray from its signature.
//!
//! Over 500 lines: one file per store, as the store is one module; its cases share the helpers
//! at the top.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::differential::run_oracle;
use crate::helpers::{TestApp, conformance_key_path, temp_file};

const HMAC_ID: &str = "GOOG1DEVSTORETESTACCESSID";
const HMAC_SECRET: &str = "dev-store-test-hmac-secret-0123456789abcd";

pub struct DevApp {
    pub app: TestApp,
    pub store: String,
    _clients: tempfile::NamedTempFile,
}

/// `serve --dev` with the conformance key (so Google's client can sign for it), every method
/// allowed, and `hmac-bucket` signed with an HMAC key.
pub fn spawn_dev(extra: &[(&str, &str)]) -> DevApp {
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\nmax_ttl = 604800\n[[clients.allow]]\nmethods = [\"GET\", \"HEAD\", \"PUT\", \"DELETE\", \"RESUMABLE\", \"POST\"]\nresources = [\"/**\"]\n",
    );
    let mut vars: Vec<(String, String)> = [
        (
            "SERVICE_ACCOUNT_KEY_PATH",
            conformance_key_path().display().to_string(),
        ),
        ("KNOWN_BUCKETS", "dev-bucket,hmac-bucket".to_owned()),
        ("CLIENTS_CONFIG_PATH", clients.path().display().to_string()),
        ("HMAC_ACCESS_ID", HMAC_ID.to_owned()),
        ("HMAC_SECRET", HMAC_SECRET.to_owned()),
        ("HMAC_BUCKETS", "hmac-bucket".to_owned()),
        ("PORT", "0".to_owned()),
        ("DEV_STORE_PORT", "0".to_owned()),
        // The conformance key is no real key, but dev mode cannot know that.
        ("DEV_ALLOW_KEY_FILE", "true".to_owned()),
        ("REFUSALS_PER_MINUTE", "1000000".to_owned()),
        ("REFUSAL_BURST", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    let app = TestApp::spawn_raw(&vars, &["--dev"]);
    let store = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(app.dev_store_address())
    });
    DevApp {
        app,
        store: format!("http://{store}"),
        _clients: clients,
    }
}

impl DevApp {
    pub async fn secret(&self, secret: Value) -> Value {
        let mut secret = secret;
        if secret.get("bucket").is_none() {
            secret["bucket"] = json!("dev-bucket");
        }
        let response = self.app.post_secret(&json!({ "secret": secret })).await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["data"].clone()
    }

    /// Sends `method` to the secret's URL with its headers (plus `extra`) and `body`.
    pub async fn send(
        &self,
        data: &Value,
        method: Method,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let url = data["secret_url"].as_str().unwrap();
        self.send_url(url, method, data, extra, body).await
    }

    pub async fn send_url(
        &self,
        url: &str,
        method: Method,
        data: &Value,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut request = self.app.client.request(method, url).body(body);
        for (name, value) in data["headers"].as_object().into_iter().flatten() {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

fn code(xml: &str) -> &str {
    xml.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_reads_ranges_heads_and_deletes_through_signed_urls() {
    let dev = spawn_dev(&[]);
    for version in ["v2", "v4"] {
        let name = format!("{version}/résumé 1+1.txt");
        let put = dev.secret(json!({"action": "PUT", "resource_id": name, "content_type": "text/plain", "version": version})).await;
        assert!(
            put["secret_url"].as_str().unwrap().starts_with(&dev.store),
            "{put}"
        );
        assert_eq!(
            dev.send(&put, Method::PUT, &[], b"hello, store".to_vec())
                .await
                .0,
            200,
            "{version}"
        );

        let get = dev
            .secret(json!({"action": "GET", "resource_id": name, "version": version}))
            .await;
        let (status, body) = dev.send(&get, Method::GET, &[], Vec::new()).await;
        assert_eq!((status, body.as_str()), (200, "hello, store"), "{version}");
        let (status, body) = dev
            .send(&get, Method::GET, &[("range", "bytes=7-11")], Vec::new())
            .await;
        assert_eq!((status, body.as_str()), (206, "store"), "{version}");

        let head = dev
            .secret(json!({"action": "HEAD", "resource_id": name, "version": version}))
            .await;
        let (status, body) = dev.send(&head, Method::HEAD, &[], Vec::new()).await;
        assert_eq!((status, body.as_str()), (200, ""), "{version}");

        let delete = dev
            .secret(json!({"action": "DELETE", "resource_id": name, "version": version}))
            .await;
        assert_eq!(
            dev.send(&delete, Method::DELETE, &[], Vec::new()).await.0,
            204,
            "{version}"
        );
        let (status, body) = dev.send(&get, Method::GET, &[], Vec::new()).await;
        assert_eq!((status, code(&body)), (404, "NoSuchKey"), "{version}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_signing_threads_the_io_threads_sign_and_the_store_accepts_it() {
    // SIGNING_THREADS=0: the RSA signatures are made on the connections' threads.
    let dev = spawn_dev(&[("SIGNING_THREADS", "0")]);
    for version in ["v2", "v4"] {
        let name = format!("{version}/inline signed.txt");
        let put = dev.secret(json!({"action": "PUT", "resource_id": name, "content_type": "text/plain", "version": version})).await;
        let (status, _) = dev
            .send(&put, Method::PUT, &[], b"signed here".to_vec())
            .await;
        assert_eq!(status, 200, "{version}");

        let batch: Value = reqwest::Client::new()
            .post(dev.app.url("/media_content_storage_secrets/batch"))
            .json(&json!({"secrets": [
                {"action": "GET", "bucket": "dev-bucket", "resource_id": name, "version": version},
                {"action": "HEAD", "bucket": "dev-bucket", "resource_id": name, "version": version},
            ]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let get = &batch["data"][0]["data"];
        let (status, body) = dev.send(get, Method::GET, &[], Vec::new()).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "signed here"),
            "{version}: {batch}"
        );
        let head = &batch["data"][1]["data"];
        assert_eq!(dev.send(head, Method::HEAD, &[], Vec::new()).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_of_straying_from_the_signature_is_refused() {
    let dev = spawn_dev(&[]);
    let put = dev
        .secret(
            json!({"action": "PUT", "resource_id": "guarded.txt", "content_type": "text/plain",
                       "version": "v4", "if_generation_match": 0, "max_size": 10}),
        )
        .await;
    let url = put["secret_url"].as_str().unwrap();
    let data = b"0123456789".to_vec();

    // Wrong content type: the signature covers it.
    let (status, body) = dev
        .send(
            &put,
            Method::PUT,
            &[("content-type", "text/html")],
            data.clone(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (403, "SignatureDoesNotMatch"),
        "wrong content type"
    );
    // Another method with the same URL.
    let (status, body) = dev
        .send_url(url, Method::DELETE, &put, &[], Vec::new())
        .await;
    assert_eq!(
        (status, code(&body)),
        (403, "SignatureDoesNotMatch"),
        "other method"
    );
    // Another object with the same signature.
    let other = url.replace("/guarded.txt?", "/guarded.tx?");
    let (status, body) = dev
        .send_url(&other, Method::PUT, &put, &[], data.clone())
        .await;
    assert_eq!(
        (status, code(&body)),
        (403, "SignatureDoesNotMatch"),
        "other object"
    );
    // A tampered signature.
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        tampered
    };
    let (status, body) = dev
        .send_url(&tampered, Method::PUT, &put, &[], data.clone())
        .await;
    assert_eq!(
        (status, code(&body)),
        (403, "SignatureDoesNotMatch"),
        "tampered signature"
    );
    // A signed header left out.
    let mut without_condition = put.clone();
    without_condition["headers"]
        .as_object_mut()
        .unwrap()
        .remove("x-goog-if-generation-match");
    let (status, _) = dev
        .send(&without_condition, Method::PUT, &[], data.clone())
        .await;
    assert_eq!(status, 403, "signed header missing");
    // Too big for the signed range.
    let (status, body) = dev
        .send(&put, Method::PUT, &[], b"0123456789A".to_vec())
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "EntityTooLarge"),
        "oversized body"
    );
    // The right request works once; a second one would overwrite.
    assert_eq!(dev.send(&put, Method::PUT, &[], data.clone()).await.0, 200);
    let (status, body) = dev.send(&put, Method::PUT, &[], data.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (412, "PreconditionFailed"),
        "overwrite"
    );
    // No signature at all.
    let unsigned = format!("{}/dev-bucket/guarded.txt", dev.store);
    let (status, body) = dev
        .send_url(&unsigned, Method::GET, &json!({}), &[], Vec::new())
        .await;
    assert_eq!((status, code(&body)), (403, "AccessDenied"), "unsigned");
    // A wrong Content-MD5.
    let md5 = dev
        .secret(json!({"action": "PUT", "resource_id": "md5.txt", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "version": "v2"}))
        .await;
    let (status, body) = dev
        .send(&md5, Method::PUT, &[], b"not empty".to_vec())
        .await;
    assert_eq!((status, code(&body)), (400, "BadDigest"), "content md5");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_urls_are_refused() {
    let dev = spawn_dev(&[]);
    let v2 = dev
        .secret(json!({"action": "GET", "resource_id": "x", "version": "v2", "expires_in": 1}))
        .await;
    let v4 = dev
        .secret(json!({"action": "GET", "resource_id": "x", "version": "v4", "expires_in": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for data in [v2, v4] {
        let (status, body) = dev.send(&data, Method::GET, &[], Vec::new()).await;
        assert_eq!((status, code(&body)), (400, "ExpiredToken"), "{data}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_built_by_google_python_client_are_accepted() {
    let dev = spawn_dev(&[]);
    let now = time::OffsetDateTime::now_utc();
    let timestamp = storage_signer::signing::v4::request_timestamp(now);
    let cases = json!([
        {"version": "v2", "bucket": "dev-bucket", "object": "google/v2 ü+.txt", "method": "PUT", "expiration": now.unix_timestamp() + 600, "content_type": "text/plain"},
        {"version": "v2", "bucket": "dev-bucket", "object": "google/v2 ü+.txt", "method": "GET", "expiration": now.unix_timestamp() + 600},
        {"version": "v4", "bucket": "dev-bucket", "object": "google/v4 ü+#.txt", "method": "PUT", "expiration": 600, "timestamp": timestamp, "content_type": "text/plain", "headers": {"x-goog-if-generation-match": "0"}},
        {"version": "v4", "bucket": "dev-bucket", "object": "google/v4 ü+#.txt", "method": "GET", "expiration": 600, "timestamp": timestamp},
    ]);
    let result = run_oracle(
        &json!({"mode": "sign", "key_path": conformance_key_path(), "endpoint": dev.store, "cases": cases}),
    );
    let urls: Vec<&str> = result["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let text = json!({"headers": {"Content-Type": "text/plain"}});
    let v4_put =
        json!({"headers": {"Content-Type": "text/plain", "x-goog-if-generation-match": "0"}});
    assert_eq!(
        dev.send_url(urls[0], Method::PUT, &text, &[], b"from v2".to_vec())
            .await
            .0,
        200
    );
    assert_eq!(
        dev.send_url(urls[1], Method::GET, &json!({}), &[], Vec::new())
            .await,
        (200, "from v2".to_owned())
    );
    assert_eq!(
        dev.send_url(urls[2], Method::PUT, &v4_put, &[], b"from v4".to_vec())
            .await
            .0,
        200
    );
    assert_eq!(
        dev.send_url(urls[3], Method::GET, &json!({}), &[], Vec::new())
            .await,
        (200, "from v4".to_owned())
    );
    // And the store is not simply accepting anything: Google's URL for another object fails.
    let moved = urls[3].replace("v4%20", "v5%20");
    assert_eq!(
        dev.send_url(&moved, Method::GET, &json!({}), &[], Vec::new())
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hmac_signed_urls_are_checked_against_the_hmac_key() {
    let dev = spawn_dev(&[]);
    let put = dev
        .secret(json!({"action": "PUT", "bucket": "hmac-bucket", "resource_id": "h.bin", "version": "v4", "if_generation_match": 0}))
        .await;
    assert!(
        put["secret_url"]
            .as_str()
            .unwrap()
            .contains("GOOG4-HMAC-SHA256")
    );
    assert_eq!(
        dev.send(&put, Method::PUT, &[], b"hmac".to_vec()).await.0,
        200
    );
    let get = dev.secret(json!({"action": "GET", "bucket": "hmac-bucket", "resource_id": "h.bin", "version": "v4"})).await;
    assert_eq!(
        dev.send(&get, Method::GET, &[], Vec::new()).await,
        (200, "hmac".to_owned())
    );
    let forged = get["secret_url"]
        .as_str()
        .unwrap()
        .replace("/h.bin?", "/h.bim?");
    assert_eq!(
        dev.send_url(&forged, Method::GET, &get, &[], Vec::new())
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resumable_uploads_start_with_a_signed_post() {
    let dev = spawn_dev(&[]);
    // GCS does not hold a session's data to a signed size range: no promise of one.
    let sized = dev
        .app
        .post_secret(&json!({"secret": {"action": "RESUMABLE", "bucket": "dev-bucket", "resource_id": "big.bin", "max_size": 5}}))
        .await;
    assert_eq!(sized.status(), 422);
    for version in ["v2", "v4"] {
        let start = dev
            .secret(json!({"action": "RESUMABLE", "resource_id": format!("big-{version}.bin"), "content_type": "application/octet-stream", "version": version}))
            .await;
        let url = start["secret_url"].as_str().unwrap();
        let mut request = dev.app.client.post(url);
        for (name, value) in start["headers"].as_object().unwrap() {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 201, "{version}");
        let session = response.headers()["location"].to_str().unwrap().to_owned();
        let done = dev
            .app
            .client
            .put(&session)
            .body("12345")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200, "{version}");
    }
}

async fn form(
    dev: &DevApp,
    policy: Value,
    file_name: &str,
    content_type: &str,
    data: &[u8],
) -> (u16, String) {
    let response = dev
        .app
        .client
        .post(dev.app.url("/upload_policies"))
        .json(&json!({ "policy": policy }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in body["data"]["fields"].as_object().unwrap() {
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    form = form.text("Content-Type", content_type.to_owned());
    let part = reqwest::multipart::Part::bytes(data.to_vec()).file_name(file_name.to_owned());
    form = form.part("file", part);
    let response = dev
        .app
        .client
        .post(body["data"]["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn form_uploads_are_checked_against_their_policy() {
    let dev = spawn_dev(&[]);
    let policy = json!({"bucket": "dev-bucket", "key_prefix": "forms/7/", "content_type_prefix": "image/", "max_size": 8});
    assert_eq!(
        form(&dev, policy.clone(), "a.png", "image/png", b"png-data")
            .await
            .0,
        204
    );
    let get = dev
        .secret(json!({"action": "GET", "resource_id": "forms/7/a.png"}))
        .await;
    assert_eq!(
        dev.send(&get, Method::GET, &[], Vec::new()).await,
        (200, "png-data".to_owned())
    );

    let (status, body) = form(&dev, policy.clone(), "a.html", "text/html", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (403, "AccessDenied"),
        "content type outside the prefix"
    );
    let (status, body) = form(&dev, policy.clone(), "big.png", "image/png", b"123456789").await;
    assert_eq!(
        (status, code(&body)),
        (400, "EntityTooLarge"),
        "over the size range"
    );
    let exact =
        json!({"bucket": "dev-bucket", "key": "forms/exact.txt", "success_action_status": 201});
    let (status, body) = form(&dev, exact, "ignored.txt", "text/plain", b"t").await;
    assert_eq!(
        status, 403,
        "a Content-Type field the policy does not cover: {body}"
    );
}

/// GCS stores a form's `key` as the literal name it gets: `..` is not resolved, and a POST
/// policy's `starts-with` cannot forbid it. So `forms/7/../../admin/config.png` is an object
/// inside the prefix, never `admin/config.png`; the dev store does the same, and refuses the
/// names GCS refuses. The service refuses to sign a URL for such a name.
#[tokio::test(flavor = "multi_thread")]
async fn form_keys_are_literal_names_as_at_gcs() {
    let dev = spawn_dev(&[]);
    let policy =
        json!({"bucket": "dev-bucket", "key_prefix": "forms/7/", "content_type_prefix": "image/"});
    let (status, body) = form(
        &dev,
        policy.clone(),
        "../../admin/config.png",
        "image/png",
        b"x",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let elsewhere = dev
        .secret(json!({"action": "GET", "resource_id": "admin/config.png"}))
        .await;
    assert_eq!(
        dev.send(&elsewhere, Method::GET, &[], Vec::new()).await.0,
        404
    );
    let dotted = dev
        .app
        .post_secret(&json!({"secret": {"action": "GET", "bucket": "dev-bucket", "resource_id": "forms/7/../../admin/config.png"}}))
        .await;
    assert_eq!(
        dotted.status(),
        422,
        "no URL a client could normalise elsewhere"
    );

    let too_long = "n".repeat(1100);
    let (status, body) = form(&dev, policy, &too_long, "image/png", b"x").await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidObjectName"),
        "as GCS: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_preflight_allows_the_page_origin_only() {
    let dev = spawn_dev(&[]);
    let page_origin = format!("http://{}", dev.app.address);
    let preflight = |origin: String| {
        let client = dev.app.client.clone();
        let url = format!("{}/dev-bucket/x", dev.store);
        async move {
            client
                .request(Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "PUT")
                .header(
                    "access-control-request-headers",
                    "content-type,x-goog-if-generation-match",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight(page_origin.clone()).await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        page_origin.as_str()
    );
    assert!(
        allowed.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-goog-if-generation-match")
    );
    let refused = preflight("https://evil.example".into()).await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_store_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    {
        let dev = spawn_dev(&[("DEV_STORE_DIR", path)]);
        let put = dev
            .secret(json!({"action": "PUT", "resource_id": "kept.txt"}))
            .await;
        assert_eq!(
            dev.send(&put, Method::PUT, &[], b"still here".to_vec())
                .await
                .0,
            200
        );
    }
    let dev = spawn_dev(&[("DEV_STORE_DIR", path)]);
    let get = dev
        .secret(json!({"action": "GET", "resource_id": "kept.txt"}))
        .await;
    assert_eq!(
        dev.send(&get, Method::GET, &[], Vec::new()).await,
        (200, "still here".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_page_is_served_in_dev_mode_only() {
    let dev = spawn_dev(&[]);
    let page = dev.app.client.get(dev.app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("const BUCKET = \"dev-bucket\""));
    let production = TestApp::spawn();
    assert_eq!(
        production
            .client
            .get(production.url("/"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
