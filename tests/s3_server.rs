//! End to end: presigned URLs and POST policies from the signing layer, used against
//! `s3s-fs`, an S3 server that verifies SigV4 signatures, expiry and POST policies
//! (`shared/README.md`; moto and s3rver verify nothing). The binary is
//! `STORAGE_SIGNER_S3S_FS` or `s3s-fs` on `PATH` (`scripts/test` installs it); missing is a
//! failure, not a skip. The URLs are signed at the real time: the server checks expiry.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use storage_signer::signing::hmac::HmacKey;
use storage_signer::signing::post_policy::{Condition, Key};
use storage_signer::signing::s3::{AddressingStyle, ObjectHeaders, PresignRequest, presign_url};
use storage_signer::signing::s3_post::{PostPolicyRequest, sign_post_policy};
use time::OffsetDateTime;
use zeroize::Zeroizing;

const ACCESS_KEY: &str = "AKIDS3SFSTEST";
const SECRET_KEY: &str = "s3s-fs/secret+key=";
const BUCKET: &str = "uploads";

fn s3s_fs() -> PathBuf {
    if let Some(path) = std::env::var_os("STORAGE_SIGNER_S3S_FS") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "s3s-fs is needed for the S3 end-to-end test: run `scripts/test`, or \
             `cargo install --locked s3s-fs@0.14.1 --features binary`, or set STORAGE_SIGNER_S3S_FS"
        )
    })
}

/// A running `s3s-fs` with one bucket; stopped when dropped.
struct Server {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

fn key_pair() -> HmacKey {
    HmacKey::new(ACCESS_KEY, Zeroizing::new(SECRET_KEY.into()))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// A presigned URL for `method` on `object`, with `headers` signed.
fn url(
    server: &Server,
    method: &str,
    object: &str,
    headers: &[(String, String)],
    at: OffsetDateTime,
) -> String {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    presign_url(
        &PresignRequest {
            method,
            endpoint: &server.endpoint,
            style: AddressingStyle::Path,
            region: "us-east-1",
            bucket: BUCKET,
            key: object,
            headers: &headers,
            query: &[],
            timestamp: at,
            expires_in: 600,
        },
        &key_pair(),
    )
    .unwrap()
    .into_inner()
}

fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &'static [u8],
) -> reqwest::RequestBuilder {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

#[tokio::test]
async fn objects_with_awkward_keys_go_through_put_get_head_delete() {
    let server = start_server();
    let keys = [
        "plain.txt",
        "a b+c%d~e/ü/日本.txt",
        "x?y#z&=;:@!$'()*,.bin",
        "e\u{301}/😀 🇺🇦",
    ];
    for object in keys {
        let headers = ObjectHeaders {
            content_type: Some("text/plain; charset=utf-8"),
            metadata: &[("owner", "user 42")],
            ..ObjectHeaders::default()
        }
        .to_headers()
        .unwrap();
        let put = url(&server, "PUT", object, &headers, now());
        let response = send("PUT", &put, &headers, b"hello").send().await.unwrap();
        assert_eq!(response.status(), 200, "PUT {object:?}");

        let get = url(&server, "GET", object, &[], now());
        let response = send("GET", &get, &[], b"").send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {object:?}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"hello");

        let head = url(&server, "HEAD", object, &[], now());
        let response = send("HEAD", &head, &[], b"").send().await.unwrap();
        assert_eq!(response.status(), 200, "HEAD {object:?}");

        let delete = url(&server, "DELETE", object, &[], now());
        let response = send("DELETE", &delete, &[], b"").send().await.unwrap();
        assert_eq!(response.status(), 204, "DELETE {object:?}");
        let response = send("GET", &get, &[], b"").send().await.unwrap();
        assert_eq!(response.status(), 404, "GET {object:?} after DELETE");
    }
}

#[tokio::test]
async fn tampered_expired_and_misused_urls_are_refused() {
    let server = start_server();
    let headers = vec![("Content-Type".to_owned(), "image/png".to_owned())];
    let put = url(&server, "PUT", "k", &headers, now());
    let other_type = vec![("Content-Type".to_owned(), "text/html".to_owned())];
    let tampered = format!("{}0", &put[..put.len() - 1]);
    let tampered = if tampered == put {
        format!("{}1", &put[..put.len() - 1])
    } else {
        tampered
    };
    // Signed two days ago for ten minutes.
    let expired = url(
        &server,
        "PUT",
        "k",
        &headers,
        now() - time::Duration::days(2),
    );
    for (what, method, url, headers) in [
        ("another content type", "PUT", &put, &other_type),
        ("a changed signature", "PUT", &tampered, &headers),
        ("an expired URL", "PUT", &expired, &headers),
        ("another method", "DELETE", &put, &headers),
    ] {
        let response = send(method, url, headers, b"x").send().await.unwrap();
        assert_eq!(response.status(), 403, "{what}");
    }
    let response = send("PUT", &put, &headers, b"x").send().await.unwrap();
    assert_eq!(response.status(), 200, "the URL as signed");
}

#[tokio::test]
async fn a_form_urlencoded_content_type_is_pinned_unlike_botocore() {
    let server = start_server();
    let pinned = vec![(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
    )];
    let put = url(&server, "PUT", "form", &pinned, now());
    let other = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
    let response = send("PUT", &put, &other, b"a=1").send().await.unwrap();
    assert_eq!(response.status(), 403);
    let response = send("PUT", &put, &pinned, b"a=1").send().await.unwrap();
    assert_eq!(response.status(), 200);
}

fn policy(server: &Server, key: Key<'_>) -> Vec<(String, String)> {
    let policy = sign_post_policy(
        &PostPolicyRequest {
            endpoint: &server.endpoint,
            style: AddressingStyle::Path,
            region: "us-east-1",
            bucket: BUCKET,
            key,
            fields: &[
                ("Content-Type", "text/plain"),
                ("success_action_status", "201"),
            ],
            conditions: &[Condition::ContentLengthRange { min: 1, max: 10 }],
            timestamp: now(),
            expires_in: 600,
        },
        &key_pair(),
    )
    .unwrap();
    assert_eq!(policy.url, format!("{}/{BUCKET}", server.endpoint));
    policy.fields
}

async fn upload(server: &Server, fields: &[(String, String)], body: &'static [u8]) -> u16 {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    let file = reqwest::multipart::Part::bytes(body).file_name("note.txt");
    reqwest::Client::new()
        .post(format!("{}/{BUCKET}", server.endpoint))
        .multipart(form.part("file", file))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn post_policy_uploads_within_its_conditions_only() {
    let server = start_server();
    let fields = policy(&server, Key::Exact("forms/ü note.txt"));
    assert_eq!(upload(&server, &fields, b"hello").await, 201);
    let get = url(&server, "GET", "forms/ü note.txt", &[], now());
    let response = send("GET", &get, &[], b"").send().await.unwrap();
    assert_eq!(response.status(), 200, "the uploaded object");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"hello");

    let too_large = upload(&server, &fields, b"more than ten bytes").await;
    assert!((400..500).contains(&too_large), "too large: {too_large}");
    let mut elsewhere = fields.clone();
    for (name, value) in &mut elsewhere {
        if name == "key" {
            *value = "other/key".into();
        }
    }
    let refused = upload(&server, &elsewhere, b"hello").await;
    assert!((400..500).contains(&refused), "another key: {refused}");
}

#[tokio::test]
async fn post_policy_for_a_prefix_accepts_keys_under_it_only() {
    // s3s-fs stores `${filename}` as it is (AWS would put the file's name there), so the
    // form's key is set by hand, as a page's script may do.
    let server = start_server();
    let fields = policy(&server, Key::Prefix("forms/"));
    let with_key = |key: &str| {
        let mut fields = fields.clone();
        for (name, value) in &mut fields {
            if name == "key" {
                *value = key.into();
            }
        }
        fields
    };
    assert_eq!(
        upload(&server, &with_key("forms/a b+c.txt"), b"hi").await,
        201
    );
    let refused = upload(&server, &with_key("elsewhere/a.txt"), b"hi").await;
    assert!(
        (400..500).contains(&refused),
        "outside the prefix: {refused}"
    );
}
