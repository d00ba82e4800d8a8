//! The audit trail: a record per decision, a verifiable hash chain, and fail-closed writes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, run_to_exit, temp_file};
use crate::policy::{BACKEND_KEY, FRONTEND_KEY, spawn_with_clients};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn verify(path: &Path) -> (bool, String) {
    let (status, stdout, stderr) = run_to_exit(&[], &["audit", "verify", path.to_str().unwrap()]);
    (status.success(), format!("{stdout}{stderr}"))
}

fn pdf_upload(object: &str) -> Value {
    json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object, "content_type": "application/pdf"}})
}

#[tokio::test]
async fn every_decision_gets_one_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (app, _clients) = spawn_with_clients(&[("AUDIT_LOG_PATH", path.to_str().unwrap())]);

    let issued = app
        .post_secret_as(Some(FRONTEND_KEY), &pdf_upload("uploads/a.pdf"))
        .await;
    let issued_id = issued.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let issued: Value = issued.json().await.unwrap();
    app.post_secret_as(Some(BACKEND_KEY), &pdf_upload("x.pdf"))
        .await; // denied
    app.post_secret_as(Some(FRONTEND_KEY), &json!({"secret": {"action": "NOPE"}}))
        .await; // invalid
    app.client
        .post(app.url("/media_content_storage_secrets"))
        .bearer_auth(FRONTEND_KEY)
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap(); // invalid (malformed)
    app.post_secret_as(Some("ssk_wrong"), &pdf_upload("uploads/b.pdf"))
        .await; // unauthenticated

    let records = audit_records(&read(&path));
    let decisions: Vec<&str> = records
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["issued", "denied", "invalid", "invalid", "unauthenticated"]
    );

    let first = &records[0];
    assert_eq!(first["request_id"], issued_id.as_str());
    assert_eq!(first["client_id"], "frontend");
    assert!(
        first["remote_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(first["action"], "PUT");
    assert_eq!(first["bucket"], "test-bucket");
    assert_eq!(first["object"], "uploads/a.pdf");
    assert_eq!(first["expires_at"], issued["data"]["expires_at"]);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["seq"], 1);
    assert_eq!(records[1]["client_id"], "backend");
    assert!(
        records[1]["reason"]
            .as_str()
            .unwrap()
            .contains("method PUT")
    );
    assert!(
        records[2]["reason"]
            .as_str()
            .unwrap()
            .contains("$.secret.action")
    );
    assert_eq!(records[4]["client_id"], Value::Null);
    for record in &records {
        for field in [
            "time",
            "request_id",
            "client_id",
            "remote_addr",
            "action",
            "bucket",
            "object",
            "expires_at",
            "decision",
            "reason",
            "prev_hash",
            "hash",
        ] {
            assert!(record.get(field).is_some(), "{field} in {record}");
        }
    }

    // The request log line carries the decision too, and the audit file no credential.
    let audit = read(&path);
    let url = issued["data"]["secret_url"].as_str().unwrap();
    for secret in [url, "Signature", FRONTEND_KEY, BACKEND_KEY, "ssk_wrong"] {
        assert!(!audit.contains(secret), "{secret} in the audit log");
    }
    let (ok, output) = verify(&path);
    assert!(ok, "{output}");
    assert!(output.starts_with("ok: 5 records, head "), "{output}");
}

#[tokio::test]
async fn audit_records_go_to_stdout_by_default_marked_as_audit() {
    let app = TestApp::spawn();
    let response = app.post_secret(&pdf_upload("x")).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let logs = app.wait_for_log("\"decision\":\"issued\"").await;
    let records = audit_records(&logs);
    assert_eq!(records.len(), 1, "{logs}");
    assert_eq!(records[0]["request_id"], id.as_str());
    assert_eq!(records[0]["client_id"], "anonymous");
}

#[tokio::test]
async fn verifying_a_captured_stdout_suggests_mixed() {
    let app = TestApp::spawn();
    assert_eq!(app.post_secret(&pdf_upload("x")).await.status(), 201);
    let logs = app.wait_for_log("\"decision\":\"issued\"").await;
    let captured = temp_file(&logs);
    let (ok, output) = verify(captured.path());
    assert!(!ok, "{output}");
    assert!(output.contains("--mixed"), "{output}");
    let (status, stdout, _) = run_to_exit(
        &[],
        &[
            "audit",
            "verify",
            "--mixed",
            captured.path().to_str().unwrap(),
        ],
    );
    assert!(status.success(), "{stdout}");
}

/// A file with `n` issued records, written by the real service.
async fn audit_file(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", path.to_str().unwrap())], &[]);
    for i in 0..n {
        assert_eq!(
            app.post_secret(&pdf_upload(&format!("object-{i}")))
                .await
                .status(),
            201
        );
    }
    (dir, path)
}

#[tokio::test]
async fn audit_verify_names_the_line_where_the_chain_breaks() {
    let (_dir, path) = audit_file(5).await;
    let original = read(&path);
    assert!(verify(&path).0);
    let lines: Vec<&str> = original.lines().collect();
    let write = |lines: &[&str], tail: &str| {
        std::fs::write(&path, format!("{}\n{tail}", lines.join("\n"))).unwrap();
    };

    let edited = lines[2].replace("object-2", "object-X");
    let mut copy = lines.clone();
    copy[2] = &edited;
    write(&copy, "");
    let (ok, output) = verify(&path);
    assert!(
        !ok && output.contains("line 3:") && output.contains("edited"),
        "edit: {output}"
    );

    let mut copy = lines.clone();
    copy.remove(1);
    write(&copy, "");
    let (ok, output) = verify(&path);
    assert!(!ok && output.contains("line 2:"), "delete: {output}");

    let mut copy = lines.clone();
    copy.insert(3, lines[1]);
    write(&copy, "");
    let (ok, output) = verify(&path);
    assert!(!ok && output.contains("line 4:"), "insert: {output}");

    let mut copy = lines.clone();
    copy.swap(3, 4);
    write(&copy, "");
    let (ok, output) = verify(&path);
    assert!(!ok && output.contains("line 4:"), "reorder: {output}");

    // A record cut in half (a crash or a truncation mid-write).
    let half = &lines[4][..lines[4].len() / 2];
    std::fs::write(&path, format!("{}\n{half}", lines[..4].join("\n"))).unwrap();
    let (ok, output) = verify(&path);
    assert!(
        !ok && output.contains("line 5:") && output.contains("truncated"),
        "truncate: {output}"
    );

    // Whole records cut off the end: caught against the head hash kept elsewhere.
    std::fs::write(&path, &original).unwrap();
    let head = verify(&path)
        .1
        .split("head ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    write(&lines[..3], "");
    let (status, _, stderr) = run_to_exit(
        &[],
        &["audit", "verify", path.to_str().unwrap(), "--head", &head],
    );
    assert!(
        !status.success() && stderr.contains("cut off the end"),
        "tail: {stderr}"
    );
}

#[tokio::test]
async fn a_restarted_service_continues_the_chain() {
    let (_dir, path) = audit_file(2).await;
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", path.to_str().unwrap())], &[]);
    assert_eq!(
        app.post_secret(&pdf_upload("after-restart")).await.status(),
        201
    );
    let (ok, output) = verify(&path);
    assert!(ok, "{output}");
    assert!(output.starts_with("ok: 3 records"), "{output}");
}

#[tokio::test]
async fn a_damaged_audit_file_stops_start_up() {
    let (_dir, path) = audit_file(1).await;
    let text = read(&path);
    std::fs::write(&path, &text[..text.len() - 10]).unwrap();
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, _, stderr) = run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("ALLOW_ANONYMOUS", "true"),
            ("AUDIT_LOG_PATH", path.to_str().unwrap()),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("AUDIT_LOG_PATH") && stderr.contains("audit verify"),
        "{stderr}"
    );
}

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn no_url_is_issued_when_the_audit_log_cannot_be_written() {
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", "/dev/full")], &[]);
    assert_eq!(readyz(&app).await, 200, "ready until a write fails");
    let response = app.post_secret(&pdf_upload("x")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("secret_url") && !text.contains("Signature"),
        "{text}"
    );
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["type"], "service_unavailable");
    assert_eq!(readyz(&app).await, 503);
    // Refusals are not recorded either, and are refused the same way.
    assert_eq!(app.post_secret(&json!({"secret": {}})).await.status(), 503);
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop. Needs root (CI runs as
/// root); elsewhere the test says so and fails unless `STORAGE_SIGNER_SKIP_ROOT_TESTS=1`.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Self { dir });
        }
        assert!(
            std::env::var_os("STORAGE_SIGNER_SKIP_ROOT_TESTS").is_some(),
            "mounting a tmpfs failed (this test needs root); set STORAGE_SIGNER_SKIP_ROOT_TESTS=1 to skip it"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs without root");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_fails_closed_and_the_service_recovers_by_itself() {
    let Some(disk) = Tmpfs::mount("64k") else {
        return;
    };
    let audit = disk.path().join("audit.log");
    let filler = disk.path().join("filler");
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", audit.to_str().unwrap())], &[]);
    assert_eq!(app.post_secret(&pdf_upload("before")).await.status(), 201);

    // Fill the disk to within a few hundred bytes, then issue until a write fails.
    let free = 64 * 1024 - usize::try_from(std::fs::metadata(&audit).unwrap().len()).unwrap();
    let _ = std::fs::write(&filler, vec![b'x'; free.saturating_sub(700)]);
    let mut statuses = Vec::new();
    for i in 0..20 {
        let status = app
            .post_secret(&pdf_upload(&format!("filling-{i}")))
            .await
            .status()
            .as_u16();
        statuses.push(status);
        if status == 503 {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&503),
        "the disk filled up: {statuses:?}"
    );
    assert_eq!(readyz(&app).await, 503);
    let response = app.post_secret(&pdf_upload("while-full")).await;
    assert_eq!(response.status(), 503);

    // Free the space: readiness comes back without any request, then URLs are issued again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&app).await != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready again after the disk was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.post_secret(&pdf_upload("after")).await.status(), 201);

    // The file is still one unbroken chain, with a record of the outage.
    let (ok, output) = verify(&audit);
    assert!(ok, "{output}");
    let records = audit_records(&read(&audit));
    let resumed: Vec<&Value> = records
        .iter()
        .filter(|r| r["decision"] == "audit_resumed")
        .collect();
    assert_eq!(resumed.len(), 1, "{records:?}");
    assert!(
        resumed[0]["reason"].as_str().unwrap().contains("refused"),
        "{}",
        resumed[0]
    );
    assert_eq!(records.last().unwrap()["object"], "after");
    assert!(records.iter().all(|r| r["object"] != "while-full"));
}

#[tokio::test]
async fn with_audit_fsync_records_are_synced_and_still_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let app = TestApp::spawn_with(
        &[
            ("AUDIT_LOG_PATH", path.to_str().unwrap()),
            ("AUDIT_FSYNC", "true"),
        ],
        &[],
    );
    assert_eq!(app.post_secret(&pdf_upload("synced")).await.status(), 201);
    assert_eq!(audit_records(&read(&path))[0]["object"], "synced");

    let full = TestApp::spawn_with(
        &[("AUDIT_LOG_PATH", "/dev/full"), ("AUDIT_FSYNC", "true")],
        &[],
    );
    assert_eq!(full.post_secret(&pdf_upload("x")).await.status(), 503);
}
