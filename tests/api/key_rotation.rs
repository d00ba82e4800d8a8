//! Key rotation without a restart: the key file is watched (as Kubernetes updates a mounted
//! Secret, through a symlink swap) and re-read on SIGHUP; a bad file leaves the key in use.

use std::os::unix::fs::symlink;
use std::path::Path;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use storage_signer::key::ServiceAccountKey;

use crate::helpers::{TestApp, form_decode, query_pairs, secret};
use crate::metrics::scrape;

/// A Secret volume as the kubelet lays it out: `key.json -> ..data/key.json`,
/// `..data -> ..<version>`; a new version is a new directory and an atomic rename of `..data`.
struct SecretVolume {
    dir: tempfile::TempDir,
    versions: usize,
}

impl SecretVolume {
    fn new(content: &str) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().unwrap(),
            versions: 0,
        };
        volume.publish(content);
        symlink("..data/key.json", volume.dir.path().join("key.json")).unwrap();
        volume
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("key.json")
    }

    fn publish(&mut self, content: &str) {
        self.versions += 1;
        let version = format!("..v{}", self.versions);
        let root = self.dir.path();
        std::fs::create_dir(root.join(&version)).unwrap();
        std::fs::write(root.join(&version).join("key.json"), content).unwrap();
        let staged = root.join("..data_tmp");
        symlink(&version, &staged).unwrap();
        std::fs::rename(&staged, root.join("..data")).unwrap();
    }
}

fn new_key(email: &str, id: &str) -> (ServiceAccountKey, String) {
    let key = ServiceAccountKey::generate(email).unwrap();
    let json = key
        .to_json_with(&[("private_key_id", id)])
        .unwrap()
        .to_string();
    (key, json)
}

/// Issues a V2 GET URL and says whether `key` signed it.
async fn signed_by(app: &TestApp, key: &ServiceAccountKey) -> bool {
    let response = app.post_secret(&secret("GET", "rotating.txt")).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let url = body["data"]["secret_url"].as_str().unwrap();
    let query: std::collections::HashMap<_, _> = query_pairs(url).into_iter().collect();
    let expires = &query["Expires"];
    let signature = base64::engine::general_purpose::STANDARD
        .decode(form_decode(&query["Signature"]))
        .unwrap();
    let string_to_sign = format!("GET\n\n\n{expires}\n/test-bucket/rotating.txt");
    let email_matches = form_decode(&query["GoogleAccessId"]) == key.client_email();
    email_matches
        && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_der())
            .verify(string_to_sign.as_bytes(), &signature)
            .is_ok()
}

fn spawn(key_path: &Path, interval: &str) -> TestApp {
    TestApp::spawn_with(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", key_path.to_str().unwrap()),
            ("KEY_WATCH_INTERVAL", interval),
        ],
        &[],
    )
}

#[tokio::test]
async fn a_new_key_in_the_watched_file_takes_over_and_a_bad_one_does_not() {
    let (key_a, json_a) = new_key("a@rotation.test", "key-a");
    let (key_b, json_b) = new_key("b@rotation.test", "key-b");
    let mut volume = SecretVolume::new(&json_a);
    let app = spawn(&volume.path(), "1");
    assert!(signed_by(&app, &key_a).await);

    volume.publish(&json_b);
    let logs = app.wait_for_log("new service-account key in use").await;
    assert!(logs.contains("\"private_key_id\":\"key-b\""), "{logs}");
    assert!(signed_by(&app, &key_b).await);
    assert!(!signed_by(&app, &key_a).await);
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains(
            r#"storage_signer_key_info{key_id="key-b",client_email="b@rotation.test"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("key-a"),
        "the old key is no longer reported"
    );

    // Not a key: logged, and B stays in use.
    volume.publish(r#"{"type": "service_account", "client_email": "c@rotation.test", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#);
    let logs = app.wait_for_log("key file not reloaded").await;
    assert!(logs.contains("key file not reloaded"), "{logs}");
    assert!(
        !logs.contains("AAAA"),
        "nothing of the file's content is logged"
    );
    assert!(signed_by(&app, &key_b).await);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the key in use still signs");
}

#[tokio::test]
async fn sighup_reloads_the_key_when_watching_is_off() {
    let (key_a, json_a) = new_key("a@rotation.test", "key-a");
    let (key_b, json_b) = new_key("b@rotation.test", "key-b");
    let mut volume = SecretVolume::new(&json_a);
    let app = spawn(&volume.path(), "0");
    volume.publish(&json_b);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(signed_by(&app, &key_a).await, "not watched: A until SIGHUP");

    app.send_signal("HUP");
    app.wait_for_log("new service-account key in use").await;
    assert!(signed_by(&app, &key_b).await);
}
