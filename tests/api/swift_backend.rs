//! Swift buckets through the service: its TempURLs used against Swift's own `tempurl`
//! middleware (`tests/servers/swift_tempurl.py`), which refuses every kind of misuse; and
//! compared with python-swiftclient's URLs (and the middleware's verdicts) for generated
//! requests, with each digest and expiry format. ael.api's variables alone sign as ael.api
//! did: HMAC-SHA1, Unix expiry, `{SWIFT_ENDPOINT}/v1/{SWIFT_TENANT_ID}/{bucket}/{object}`.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::differential::{corpus, oracle};

use crate::helpers::{SECRETS_PATH, TestApp, temp_file};
use crate::servers::{self, created, permissive_clients, send, spawn_service};

const ACCOUNT: &str = "AUTH_test";
/// Non-ASCII, for the oracles (fed JSON); the test server reads its key from the command
/// line, which a C locale would not decode, so the servers get [`SERVER_KEY`].
const KEY: &str = "swift temp-url key/ü";
const SERVER_KEY: &str = "swift temp-url key/+=";

fn ael_api_vars<'a>(endpoint: &'a str, clients: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("OBJECT_STORAGE_BACKEND", "swift"),
        ("SWIFT_ENDPOINT", endpoint),
        ("SWIFT_TENANT_ID", ACCOUNT),
        (
            "SWIFT_TEMP_URL_KEY",
            if endpoint.starts_with("https://swift.example") {
                KEY
            } else {
                SERVER_KEY
            },
        ),
        ("KNOWN_BUCKETS", "media"),
        ("CLIENTS_CONFIG_PATH", clients),
    ]
}

async fn url(app: &TestApp, secret: Value) -> String {
    let data = created(app.post_secret(&json!({ "secret": secret })).await).await;
    data["secret_url"].as_str().unwrap().to_owned()
}

fn tampered(url: &str) -> String {
    let (before, after) = url.split_once("temp_url_sig=").unwrap();
    let flipped = if after.starts_with('0') { "1" } else { "0" };
    format!("{before}temp_url_sig={flipped}{}", &after[1..])
}

#[tokio::test]
async fn swift_urls_of_ael_api_s_variables_work_and_the_tempurl_middleware_refuses_misuse() {
    let server = servers::swift(ACCOUNT, SERVER_KEY, "sha1 sha256 sha512");
    let clients = permissive_clients();
    let app = spawn_service(&ael_api_vars(&server.url, clients.path().to_str().unwrap()));
    let logs = app.wait_for_log("HMAC-SHA1").await;
    assert!(
        logs.contains("SHA-1 is deprecated"),
        "the start-up warning:\n{logs}"
    );
    let object = "declarations/a b+ü#?.png";

    let put = created(
        app.post_secret(&json!({"secret": {"action": "PUT", "bucket": "media", "resource_id": object, "content_type": "image/png"}}))
            .await,
    )
    .await;
    assert_eq!(
        (put["backend"].as_str(), put["version"].as_str()),
        (Some("swift"), Some("tempurl"))
    );
    let put_url = put["secret_url"].as_str().unwrap();
    let prefix = format!(
        "{}/v1/{ACCOUNT}/media/declarations/a%20b%2B%C3%BC%23%3F.png?temp_url_sig=",
        server.url
    );
    assert!(put_url.starts_with(&prefix), "ael.api's form: {put_url}");
    let signature = put_url[prefix.len()..].split('&').next().unwrap();
    assert_eq!(signature.len(), 40, "HMAC-SHA1 in hex, as ael.api signed");
    let headers = &put["headers"];
    assert_eq!(*headers, json!({"Content-Type": "image/png"}));

    let get = url(
        &app,
        json!({"action": "GET", "bucket": "media", "resource_id": object}),
    )
    .await;
    let expired = url(
        &app,
        json!({"action": "GET", "bucket": "media", "resource_id": object, "expires_in": 1}),
    )
    .await;
    let none = json!({});
    for (what, method, url) in [
        ("a changed signature", "PUT", tampered(put_url)),
        ("another object", "PUT", put_url.replace("a%20b", "a%20c")),
        ("a PUT URL used for GET", "GET", put_url.to_owned()),
        ("a GET URL used for PUT", "PUT", get.clone()),
        ("a GET URL used for DELETE", "DELETE", get.clone()),
    ] {
        let status = send(method, &url, headers, b"png").await.status();
        assert_eq!(status, 401, "the tempurl middleware must refuse {what}");
    }
    assert_eq!(send("PUT", put_url, headers, b"png").await.status(), 201);
    let response = send("GET", &get, &none, b"").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"png");
    let head = url(
        &app,
        json!({"action": "HEAD", "bucket": "media", "resource_id": object}),
    )
    .await;
    assert_eq!(send("HEAD", &head, &none, b"").await.status(), 200);

    let download = url(&app, json!({"action": "GET", "bucket": "media", "resource_id": object, "filename": "scan 1.png"})).await;
    let response = send("GET", &download, &none, b"").await;
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("scan 1.png"),
        "{disposition}"
    );
    let inline = url(
        &app,
        json!({"action": "GET", "bucket": "media", "resource_id": object, "inline": true}),
    )
    .await;
    let response = send("GET", &inline, &none, b"").await;
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );

    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        send("GET", &expired, &none, b"").await.status(),
        401,
        "an expired URL"
    );
    let delete = url(
        &app,
        json!({"action": "DELETE", "bucket": "media", "resource_id": object}),
    )
    .await;
    assert_eq!(send("DELETE", &delete, &none, b"").await.status(), 204);
    assert_eq!(send("GET", &get, &none, b"").await.status(), 404);
}

#[tokio::test]
async fn prefix_urls_cover_their_folder_only() {
    let server = servers::swift(ACCOUNT, SERVER_KEY, "sha256");
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"GET\", \"PUT\"]\nresources = [\"/media/folders/**\"]\n",
    );
    let mut vars = ael_api_vars(&server.url, clients.path().to_str().unwrap());
    vars.push(("SWIFT_TEMP_URL_DIGEST", "sha256"));
    let app = spawn_service(&vars);
    let put = url(
        &app,
        json!({"action": "PUT", "bucket": "media", "resource_id": "folders/42", "prefix": true}),
    )
    .await;
    assert!(put.contains("&temp_url_prefix=folders/42/"), "{put}");
    let none = json!({});
    let inside = put.replacen("/folders/42/?", "/folders/42/a.txt?", 1);
    assert_eq!(send("PUT", &inside, &none, b"a").await.status(), 201);
    let outside = put.replacen("/folders/42/?", "/folders/43/a.txt?", 1);
    assert_eq!(
        send("PUT", &outside, &none, b"a").await.status(),
        401,
        "outside the prefix"
    );
    // The policy sees the whole folder: a rule for one object does not grant a prefix.
    let response = app
        .post_secret(&json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "elsewhere", "prefix": true}}))
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_cluster_without_sha1_refuses_ael_api_s_urls_and_takes_sha256_ones() {
    let server = servers::swift(ACCOUNT, SERVER_KEY, "sha256 sha512");
    let clients = permissive_clients();
    let clients = clients.path().to_str().unwrap();
    let none = json!({});
    let secret = json!({"action": "PUT", "bucket": "media", "resource_id": "x"});
    let sha1 = spawn_service(&ael_api_vars(&server.url, clients));
    let sha1_url = url(&sha1, secret.clone()).await;
    assert_eq!(send("PUT", &sha1_url, &none, b"x").await.status(), 401);
    let mut vars = ael_api_vars(&server.url, clients);
    vars.push(("SWIFT_TEMP_URL_DIGEST", "sha256"));
    let sha256 = spawn_service(&vars);
    let sha256_url = url(&sha256, secret).await;
    assert_eq!(send("PUT", &sha256_url, &none, b"x").await.status(), 201);
}

#[tokio::test]
async fn swift_buckets_refuse_what_tempurls_cannot_sign() {
    let clients = temp_file(
        "[[clients]]\nid = \"anonymous\"\n[[clients.allow]]\nmethods = [\"PUT\"]\nresources = [\"/media/typed/**\"]\ncontent_types = [\"image/png\"]\n[[clients.allow]]\nmethods = [\"PUT\", \"POST\"]\nresources = [\"/media/once/**\"]\nrequire_no_overwrite = true\n",
    );
    let app = spawn_service(&ael_api_vars(
        "https://swift.invalid",
        clients.path().to_str().unwrap(),
    ));
    for (secret, status, entry) in [
        (
            json!({"action": "RESUMABLE", "bucket": "media", "resource_id": "once/a"}),
            422,
            Some("$.secret.action"),
        ),
        (
            json!({"action": "PUT", "bucket": "media", "resource_id": "once/a", "version": "v4"}),
            422,
            Some("$.secret.version"),
        ),
        (
            json!({"action": "PUT", "bucket": "media", "resource_id": "once/a", "max_size": 5}),
            422,
            Some("$.secret.content_length_range"),
        ),
        (
            json!({"action": "PUT", "bucket": "media", "resource_id": "once/a", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
            422,
            Some("$.secret.content_md5"),
        ),
        (
            json!({"action": "GET", "bucket": "media", "resource_id": "once/a", "response_content_disposition": "attachment"}),
            422,
            Some("$.secret.response_content_disposition"),
        ),
        // The rules' conditions cannot be signed into a TempURL: denied, not dropped.
        (
            json!({"action": "PUT", "bucket": "media", "resource_id": "once/a"}),
            403,
            None,
        ),
        (
            json!({"action": "PUT", "bucket": "media", "resource_id": "typed/a", "content_type": "image/png"}),
            403,
            None,
        ),
    ] {
        let response = app.post_secret(&json!({ "secret": secret })).await;
        assert_eq!(response.status(), status, "{secret}");
        let body: Value = response.json().await.unwrap();
        if let Some(entry) = entry {
            assert_eq!(body["error"]["invalid"][0]["entry"], entry, "{body}");
        } else {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("which Swift URLs cannot guarantee"),
                "{body}"
            );
        }
    }
    let response = app
        .client
        .post(app.url("/upload_policies"))
        .json(&json!({"policy": {"bucket": "media", "key": "once/form"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

fn generate(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = corpus::Rng(seed);
    (0..count)
        .map(|i| {
            let action = ["GET", "HEAD", "PUT", "DELETE"][i % 4];
            let mut secret = json!({"action": action, "bucket": "media", "resource_id": corpus::object_name(&mut rng, 3)});
            if rng.chance(40) {
                secret["resource_name"] = json!(corpus::object_name(&mut rng, 2));
            }
            if rng.chance(20) {
                secret["prefix"] = json!(true);
            } else if matches!(action, "GET" | "HEAD") && rng.chance(40) {
                secret["filename"] = json!(corpus::segment(&mut rng).replace('/', "-"));
                secret["inline"] = json!(rng.chance(50));
            }
            if rng.chance(30) {
                secret["expires_in"] = json!(1 + rng.below(604_800));
            }
            json!({ "secret": secret })
        })
        .collect()
}

/// The service's URLs for `requests`, against swiftclient's (and the middleware's verdict on
/// each, its clock at the URL's issue).
async fn compare_with_swiftclient(
    app: &TestApp,
    requests: &[Value],
    digest: &str,
    iso8601: bool,
) -> Vec<String> {
    let mut answers = Vec::new();
    for body in requests {
        answers.push(
            created(
                app.client
                    .post(app.url(SECRETS_PATH))
                    .json(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await,
        );
    }
    let cases: Vec<Value> = answers
        .iter()
        .map(|data| {
            let object = match data["resource_name"].as_str() {
                Some(name) => format!("{}/{name}", data["resource_id"].as_str().unwrap()),
                None => data["resource_id"].as_str().unwrap().to_owned(),
            };
            let url = data["secret_url"].as_str().unwrap();
            let prefix = url.contains("&temp_url_prefix=");
            let path = format!("/v1/{ACCOUNT}/media/{object}{}", if prefix { "/" } else { "" });
            let filename = url.contains("&filename=").then(|| json!(crate::helpers::form_decode(url.split("&filename=").nth(1).unwrap().split('&').next().unwrap())));
            let expires = time::OffsetDateTime::parse(data["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
            json!({"path": path, "method": data["action"], "expires": expires.unix_timestamp(), "key": KEY,
                   "digest": digest, "iso8601": iso8601, "prefix": prefix, "filename": filename,
                   "inline": url.ends_with("&inline")})
        })
        .collect();
    let signed = oracle::run_oracle("swift_signer.py", &json!({"mode": "sign", "cases": cases}));
    let now =
        time::OffsetDateTime::parse(answers[0]["inserted_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let verify: Vec<Value> = answers
        .iter()
        .map(|data| json!({"method": data["action"], "url": data["secret_url"]}))
        .collect();
    let verdicts = oracle::run_oracle(
        "swift_signer.py",
        &json!({"mode": "verify", "key": KEY, "now": now.unix_timestamp(), "cases": verify}),
    );
    let endpoint = "https://swift.example:8080";
    answers
        .iter()
        .zip(signed["quoted_urls"].as_array().unwrap())
        .zip(verdicts["results"].as_array().unwrap())
        .zip(&cases)
        .filter(|(((ours, theirs), verdict), _)| {
            ours["secret_url"] != format!("{endpoint}{}", theirs.as_str().unwrap())
                || **verdict != 200
        })
        .map(|(((ours, theirs), verdict), case)| {
            format!(
                "{case}\n  ours:        {}\n  swiftclient: {theirs}\n  middleware:  {verdict}",
                ours["secret_url"]
            )
        })
        .collect()
}

#[tokio::test]
async fn swift_urls_of_the_service_are_swiftclient_s_and_the_middleware_takes_them() {
    let clients = permissive_clients();
    let clients = clients.path().to_str().unwrap();
    let endpoint = "https://swift.example:8080";
    // ael.api's variables alone: SHA-1, Unix seconds.
    let app = spawn_service(&ael_api_vars(endpoint, clients));
    let mismatches =
        compare_with_swiftclient(&app, &generate(100, 0x5EED_5111), "sha1", false).await;
    oracle::assert_no_mismatches(
        "Swift SHA-1 URLs differ from swiftclient's",
        100,
        &mismatches,
    );
    // A backends file: its default SHA-256, and ISO 8601 expiry.
    let file = temp_file(&format!(
        "[[backends]]\nname = \"swift\"\ntype = \"swift\"\nendpoint = \"{endpoint}\"\naccount = \"{ACCOUNT}\"\ntemp_url_key_env = \"THE_TEMP_URL_KEY\"\nexpires_format = \"iso8601\"\nbuckets = [\"media\"]\n"
    ));
    let app = spawn_service(&[
        ("BACKENDS_CONFIG_PATH", file.path().to_str().unwrap()),
        ("THE_TEMP_URL_KEY", KEY),
        ("KNOWN_BUCKETS", "media"),
        ("CLIENTS_CONFIG_PATH", clients),
    ]);
    let mismatches =
        compare_with_swiftclient(&app, &generate(100, 0x5EED_5256), "sha256", true).await;
    oracle::assert_no_mismatches(
        "Swift SHA-256 URLs differ from swiftclient's",
        100,
        &mismatches,
    );
    let mut vars = ael_api_vars(endpoint, clients);
    vars.push(("SWIFT_TEMP_URL_DIGEST", "sha512"));
    let app = spawn_service(&vars);
    let mismatches =
        compare_with_swiftclient(&app, &generate(100, 0x5EED_5512), "sha512", false).await;
    oracle::assert_no_mismatches(
        "Swift SHA-512 URLs differ from swiftclient's",
        100,
        &mismatches,
    );
}
