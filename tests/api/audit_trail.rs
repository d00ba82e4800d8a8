//! The file and stdout sinks against the attack pass: a blocked stdout, two instances on one
//! file, a deleted file, and forged trails; and `audit search`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::helpers::{
    SECRETS_PATH, TestApp, conformance_key_path, run_to_exit, spawn_with_unread_stdout,
};
use crate::pg::conformance_public_key;

fn upload(object: &str) -> Value {
    json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object}})
}

fn serve_env(audit: &Path) -> Vec<(String, String)> {
    vec![
        (
            "SERVICE_ACCOUNT_KEY_PATH".into(),
            conformance_key_path().display().to_string(),
        ),
        ("KNOWN_BUCKETS".into(), "test-bucket".into()),
        ("ALLOW_ANONYMOUS".into(), "true".into()),
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
        ("AUDIT_LOG_PATH".into(), audit.display().to_string()),
    ]
}

fn env_refs(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// `audit verify FILE --public-key <the service's key> [extra]`: (exit code, output).
fn verify(path: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let key = conformance_public_key();
    let mut args = vec![
        "audit",
        "verify",
        path.to_str().unwrap(),
        "--public-key",
        key.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = run_to_exit(&[], &args);
    (status.code(), format!("{stdout}{stderr}"))
}

/// A trail of `n` issued records written by the real service (a checkpoint every 3 records)
/// and closed by SIGTERM (the final checkpoint).
async fn signed_trail(path: &Path, n: usize, key: Option<&Path>) {
    let mut env = vec![
        ("AUDIT_LOG_PATH", path.to_str().unwrap()),
        ("AUDIT_CHECKPOINT_RECORDS", "3"),
    ];
    if let Some(key) = key {
        env.push(("SERVICE_ACCOUNT_KEY_PATH", key.to_str().unwrap()));
    }
    let mut app = TestApp::spawn_with(&env, &[]);
    for i in 0..n {
        let status = app
            .post_secret(&upload(&format!("object-{i}")))
            .await
            .status();
        assert_eq!(status, 201);
    }
    app.send_sigterm();
    assert!(app.wait_exit(Duration::from_secs(15)).success());
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().fold(String::new(), |text, l| text + l + "\n"),
    )
    .unwrap();
}

fn is_record(line: &str) -> bool {
    line.contains("\"log\":\"audit\"")
}

/// Recomputes every record's `prev_hash`, `seq` and `hash`, as someone who can edit the file
/// but holds no key would after deleting a record.
fn rechain(lines: &[String]) -> Vec<String> {
    let mut prev = "0".repeat(64);
    let mut seq = 0u64;
    lines
        .iter()
        .map(|line| {
            if !is_record(line) {
                return line.clone();
            }
            let mut record: Map<String, Value> = serde_json::from_str(line).unwrap();
            record.remove("hash");
            seq += 1;
            record.insert("prev_hash".into(), prev.clone().into());
            record.insert("seq".into(), seq.into());
            let mut keys: Vec<_> = record.keys().cloned().collect();
            keys.sort();
            let body = format!(
                "{{{}}}",
                keys.iter()
                    .map(|k| format!("{}:{}", Value::from(k.as_str()), record[k]))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            prev = crate::helpers::sha256_hex(&body);
            format!("{},\"hash\":\"{prev}\"}}", &body[..body.len() - 1])
        })
        .collect()
}

#[tokio::test]
async fn an_honest_trail_verifies_strictly_with_the_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 7, None).await;
    let (code, output) = verify(&path, &["--strict"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.starts_with("ok: 7 records"), "{output}");
    // start (after record 3), after record 6, final
    assert!(
        output.contains("checkpoints: 3, signatures verified"),
        "{output}"
    );
}

#[tokio::test]
async fn a_deleted_record_with_every_hash_recomputed_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 7, None).await;
    let mut lines = read_lines(&path);
    let second = lines.iter().position(|l| l.contains("object-1")).unwrap();
    lines.remove(second);
    write_lines(&path, &rechain(&lines));
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("signs head"), "{output}");
    // And the service refuses to continue it.
    let vars = serve_env(&path);
    let (status, _, stderr) = run_to_exit(&env_refs(&vars), &["serve"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("re-chained"), "{stderr}");
}

#[tokio::test]
async fn a_trail_regenerated_with_another_key_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let other = storage_signer::key::ServiceAccountKey::generate("forger@example.invalid")
        .unwrap()
        .to_json()
        .unwrap();
    let other_key = dir.path().join("other.json");
    std::fs::write(&other_key, other.as_bytes()).unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 4, Some(&other_key)).await;
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("not signed by any of the given keys"),
        "{output}"
    );
    // Its records alone, re-chained and without checkpoints: no signed checkpoint at all.
    let records: Vec<String> = read_lines(&path)
        .into_iter()
        .filter(|l| is_record(l))
        .collect();
    write_lines(&path, &rechain(&records));
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("no signed checkpoint"), "{output}");
}

#[tokio::test]
async fn a_trail_cut_past_a_checkpoint_then_restarted_is_reported_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 8, None).await;
    let lines = read_lines(&path);
    // Drop the final checkpoint and everything after the checkpoint that follows record 3.
    let keep = lines
        .iter()
        .position(|l| l.contains("\"head_seq\":3"))
        .unwrap();
    write_lines(&path, &lines[..=keep]);
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(0), "the records left are genuine: {output}");
    // Restarted on the cut trail, the service writes on; --strict says what is unproven.
    signed_trail(&path, 2, None).await;
    let (code, output) = verify(&path, &["--strict"]);
    assert_eq!(code, Some(3), "{output}");
    assert!(output.contains("without its final checkpoint"), "{output}");
}

#[tokio::test]
async fn records_in_other_than_canonical_form_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 2, None).await;
    let original = read_lines(&path);
    let first = original.iter().position(|l| is_record(l)).unwrap();

    // A decoy "decision" in front of the real one.
    let mut lines = original.clone();
    lines[first] = lines[first].replacen('{', "{\"decision\":\"denied\",", 1);
    write_lines(&path, &lines);
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains(&format!("line {}:", first + 1)), "{output}");
    assert!(output.contains("canonical"), "{output}");

    // The same members in another order.
    let mut lines = original.clone();
    let record: Map<String, Value> = serde_json::from_str(&lines[first]).unwrap();
    let mut members: Vec<String> = record
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    members.reverse();
    lines[first] = format!("{{{}}}", members.join(","));
    write_lines(&path, &lines);
    let (code, output) = verify(&path, &[]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("canonical"), "{output}");
}

#[tokio::test]
async fn a_saved_head_checks_as_a_prefix_of_the_trail_that_grew_since() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    signed_trail(&path, 2, None).await;
    let (_, output) = verify(&path, &[]);
    let head = output
        .split("head ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    signed_trail(&path, 3, None).await;
    let (code, output) = verify(&path, &["--head", &head, "--strict"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.starts_with("ok: 5 records"), "{output}");
}

#[tokio::test]
async fn a_second_instance_on_the_same_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", path.to_str().unwrap())], &[]);
    assert_eq!(app.post_secret(&upload("first")).await.status(), 201);

    let vars = serve_env(&path);
    let (status, _, stderr) = run_to_exit(&env_refs(&vars), &["serve"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("AUDIT_LOG_PATH") && stderr.contains("locked by another process"),
        "{stderr}"
    );
    // The first instance is undisturbed and its trail whole.
    assert_eq!(app.post_secret(&upload("second")).await.status(), 201);
    app.send_sigterm();
    assert!(app.wait_exit(Duration::from_secs(15)).success());
    let (code, output) = verify(&path, &["--strict"]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.starts_with("ok: 2 records"), "{output}");
}

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn a_deleted_replaced_or_cut_audit_file_fails_closed_and_turns_unready() {
    for case in ["deleted", "replaced", "cut"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", path.to_str().unwrap())], &[]);
        assert_eq!(app.post_secret(&upload("before")).await.status(), 201);
        match case {
            "deleted" => std::fs::remove_file(&path).unwrap(),
            "replaced" => {
                std::fs::remove_file(&path).unwrap();
                std::fs::write(&path, "").unwrap();
            }
            _ => std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap(),
        }
        let response = app.post_secret(&upload("after")).await;
        assert_eq!(response.status(), 503, "{case}");
        assert!(!response.text().await.unwrap().contains("secret_url"));
        assert_eq!(readyz(&app).await, 503, "{case}");
        assert_eq!(app.post_secret(&upload("later")).await.status(), 503);
        let expected = if case == "cut" {
            "cut short"
        } else {
            "deleted or replaced"
        };
        let logs = app.wait_for_log(expected).await;
        assert!(logs.contains(expected), "{case}: {logs}");
    }
}

#[tokio::test]
async fn a_blocked_stdout_answers_503_keeps_the_probes_and_stops_on_sigterm() {
    let key = conformance_key_path().display().to_string();
    // Stdout read up to the "listening" line, then never again: the pipe fills up.
    let (mut child, stdout, address) = spawn_with_unread_stdout(&[
        ("SERVICE_ACCOUNT_KEY_PATH", key.as_str()),
        ("KNOWN_BUCKETS", "test-bucket"),
        ("ALLOW_ANONYMOUS", "true"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("AUDIT_TIMEOUT", "1"),
    ]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = |path: &str| format!("http://{address}{path}");
    let mut issued = 0;
    let refused = loop {
        let response = client
            .post(url(SECRETS_PATH))
            .json(&upload("blocked"))
            .send()
            .await
            .expect("answered within AUDIT_TIMEOUT, not hung");
        match response.status().as_u16() {
            201 => issued += 1,
            503 => break response.text().await.unwrap(),
            other => panic!("status {other}"),
        }
        assert!(issued < 5_000, "stdout never blocked");
    };
    assert!(refused.contains("service_unavailable") && !refused.contains("secret_url"));
    assert!(issued > 0);
    let health = client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success() || status.code().is_some(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop the service with stdout blocked");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdout);
}

#[tokio::test]
async fn search_finds_the_urls_issued_under_a_prefix_in_a_time_range_and_to_whom() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let app = TestApp::spawn_with(&[("AUDIT_LOG_PATH", path.to_str().unwrap())], &[]);
    for object in [
        "records/42/a.pdf",
        "records/42/b/c.pdf",
        "records/420/x.pdf",
        "other/1",
    ] {
        assert_eq!(app.post_secret(&upload(object)).await.status(), 201);
    }
    assert_eq!(app.post_secret(&json!({"secret": {}})).await.status(), 422);
    let today = time::OffsetDateTime::now_utc().date();
    let since = today.to_string();
    let until = today.next_day().unwrap().to_string();
    let file = path.to_str().unwrap();
    let search = |extra: &[&str]| {
        let mut args = vec!["audit", "search", file];
        args.extend_from_slice(extra);
        let (status, stdout, stderr) = run_to_exit(&[], &args);
        assert!(status.success(), "{stderr}");
        stdout
    };
    let found = search(&[
        "--path",
        "/test-bucket/records/42/**",
        "--decision",
        "issued",
        "--since",
        &since,
        "--until",
        &until,
        "--json",
    ]);
    let objects: Vec<String> = found
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["object"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(objects, ["records/42/a.pdf", "records/42/b/c.pdf"]);
    assert!(
        found
            .lines()
            .all(|l| l.contains("\"client_id\":\"anonymous\""))
    );
    // Outside the time range: nothing.
    assert_eq!(
        search(&["--path", "/test-bucket/records/42/**", "--until", &since]),
        ""
    );
    // A table for people.
    let table = search(&["--decision", "invalid", "--table"]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("time") && rows[0].contains("client"),
        "{table}"
    );
    assert!(
        rows[1].contains("invalid") && rows[1].contains("anonymous"),
        "{table}"
    );
    let _: PathBuf = path;
}
