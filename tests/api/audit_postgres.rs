//! The PostgreSQL sink against a real server: many replicas, crashes, outages, grants.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{SECRETS_PATH, TestApp, run_to_exit};
use crate::pg::{Postgres, conformance_public_key, connect};

fn upload(object: &str) -> serde_json::Value {
    json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object}})
}

/// Issues one URL with our own request id; the status.
async fn issue(app: &TestApp, client: &reqwest::Client, id: &str) -> Option<u16> {
    client
        .post(app.url(SECRETS_PATH))
        .header("x-request-id", id)
        .json(&upload(&format!("objects/{id}")))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Request ids of the committed records with `decision`.
async fn committed(url: &str, decision: &str) -> Vec<String> {
    let client = connect(url).await;
    client
        .query(
            "SELECT (line::jsonb)->>'caller_request_id' FROM audit_log WHERE decision = $1",
            &[&decision],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Every (request id, status) a load saw; `None`: no answer.
type Seen = Arc<Mutex<Vec<(String, Option<u16>)>>>;

/// `loops` clients issuing URLs one after another until `stop`; every (id, status) seen.
fn load(
    app: &TestApp,
    loops: usize,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> (Seen, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handles = (0..loops)
        .map(|n| {
            let seen = Arc::clone(&seen);
            let stop = Arc::clone(stop);
            let url = app.url(SECRETS_PATH);
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 5_000 {
                    let id = format!("load-{n}-{i}");
                    let status = client
                        .post(&url)
                        .header("x-request-id", &id)
                        .json(&upload(&format!("objects/{id}")))
                        .send()
                        .await
                        .ok()
                        .map(|r| r.status().as_u16());
                    let refused = status.is_none();
                    seen.lock().unwrap().push((id, status));
                    if refused {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    i += 1;
                }
            })
        })
        .collect();
    (seen, handles)
}

fn created(seen: &[(String, Option<u16>)]) -> Vec<String> {
    seen.iter()
        .filter(|(_, s)| *s == Some(201))
        .map(|(id, _)| id.clone())
        .collect()
}

fn verify_database(url: &str, strict: bool) -> (bool, String) {
    let key = conformance_public_key();
    let mut args = vec![
        "audit",
        "verify",
        "--database",
        url,
        "--public-key",
        key.path().to_str().unwrap(),
    ];
    if strict {
        args.push("--strict");
    }
    let (status, stdout, stderr) = run_to_exit(&[], &args);
    (status.success(), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn two_replicas_write_one_database_and_the_trail_verifies() {
    let pg = Postgres::any();
    let url = pg.database().await;
    let env = [
        ("AUDIT_DATABASE_URL", url.as_str()),
        ("AUDIT_CHECKPOINT_RECORDS", "7"),
    ];
    let mut replicas = [
        TestApp::spawn_with(&env, &[]),
        TestApp::spawn_with(&env, &[]),
    ];
    let client = reqwest::Client::new();
    let ids: Vec<String> = (0..60).map(|i| format!("r-{i}")).collect();
    let statuses = join_all(
        ids.iter()
            .enumerate()
            .map(|(i, id)| issue(&replicas[i % 2], &client, id)),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == Some(201)), "{statuses:?}");
    for replica in &mut replicas {
        replica.send_sigterm();
        assert!(replica.wait_exit(Duration::from_secs(15)).success());
    }

    let (ok, output) = verify_database(&url, true);
    assert!(ok, "{output}");
    assert!(output.starts_with("ok: 60 records in 2 chains"), "{output}");
    let mut issued = committed(&url, "issued").await;
    issued.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(issued, expected);

    let (status, stdout, stderr) = run_to_exit(
        &[],
        &[
            "audit",
            "search",
            "--database",
            &url,
            "--decision",
            "issued",
            "--prefix",
            "objects/r-1",
            "--json",
        ],
    );
    assert!(status.success(), "{stderr}");
    // r-1 and r-10 ... r-19
    assert_eq!(stdout.lines().count(), 11, "{stdout}");
}

#[tokio::test]
async fn after_kill_9_under_load_every_201_has_a_committed_issued_record() {
    let pg = Postgres::any();
    let url = pg.database().await;
    let app = TestApp::spawn_with(&[("AUDIT_DATABASE_URL", url.as_str())], &[]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, handles) = load(&app, 8, &stop);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.send_signal("KILL");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    join_all(handles).await;

    let created = created(&seen.lock().unwrap());
    assert!(created.len() > 20, "the load issued {} URLs", created.len());
    let issued = committed(&url, "issued").await;
    let missing: Vec<&String> = created.iter().filter(|id| !issued.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "201s without a committed record: {missing:?}"
    );
    // Whole and signed up to its start checkpoint; the killed writer's records after it are
    // reported as not yet covered by a signature (at most one interval).
    let (ok, output) = verify_database(&url, false);
    assert!(ok, "{output}");
    assert!(output.contains("unsigned tail"), "{output}");
}

#[tokio::test]
async fn postgres_stopped_and_restarted_under_load_refuses_then_recovers() {
    let pg = Postgres::private();
    let url = pg.database().await;
    let app = TestApp::spawn_with(
        &[("AUDIT_DATABASE_URL", url.as_str()), ("AUDIT_TIMEOUT", "1")],
        &[],
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, handles) = load(&app, 4, &stop);
    tokio::time::sleep(Duration::from_millis(800)).await;

    pg.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&app).await != 503 {
        assert!(
            Instant::now() < deadline,
            "still ready with the database down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "probes answer during the outage");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = seen.lock().unwrap().len();

    pg.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while readyz(&app).await != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    join_all(handles).await;

    let seen = seen.lock().unwrap().clone();
    let refused = seen.iter().filter(|(_, s)| *s == Some(503)).count();
    assert!(refused > 0, "no 503 while the database was down");
    assert!(
        seen[during..].iter().any(|(_, s)| *s == Some(201)),
        "no URL issued after the restart"
    );
    let issued = committed(&url, "issued").await;
    let missing: Vec<String> = created(&seen)
        .into_iter()
        .filter(|id| !issued.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "201s without a committed record: {missing:?}"
    );
    let client = connect(&url).await;
    let resumed: Vec<String> = client
        .query(
            "SELECT line FROM audit_log WHERE decision = 'audit_resumed'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!resumed.is_empty(), "no audit_resumed record");
    assert!(resumed[0].contains("refused meanwhile"), "{resumed:?}");
    let (ok, output) = verify_database(&url, false);
    assert!(ok, "{output}");
}

#[tokio::test]
async fn the_writer_role_may_only_insert_and_select_and_the_trigger_stops_everyone() {
    let pg = Postgres::any();
    let owner_url = pg.database().await;
    let role = format!("writer_{}", uuid::Uuid::new_v4().simple());
    let owner = connect(&owner_url).await;
    owner
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .await
        .unwrap();
    let (status, _, stderr) = run_to_exit(
        &[],
        &[
            "audit",
            "migrate",
            "--database",
            &owner_url,
            "--grant-writer",
            &role,
        ],
    );
    assert!(status.success(), "{stderr}");
    let writer_url = owner_url.replacen("postgres@", &format!("{role}@"), 1);

    let mut app = TestApp::spawn_with(&[("AUDIT_DATABASE_URL", writer_url.as_str())], &[]);
    let client = reqwest::Client::new();
    assert_eq!(issue(&app, &client, "granted").await, Some(201));
    app.send_sigterm();
    assert!(app.wait_exit(Duration::from_secs(15)).success());

    let writer = connect(&writer_url).await;
    for statement in [
        "UPDATE audit_log SET line = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let error = writer.batch_execute(statement).await.unwrap_err();
        let db = error.as_db_error().unwrap();
        assert_eq!(db.code().code(), "42501", "{statement}: {db}");
        assert!(
            db.message().contains("permission denied"),
            "{statement}: {db}"
        );
        // The owner (here a superuser) passes the grants and meets the trigger.
        let error = owner.batch_execute(statement).await.unwrap_err();
        let db = error.as_db_error().unwrap();
        assert!(db.message().contains("append-only"), "{statement}: {db}");
    }
    let (ok, output) = verify_database(&writer_url, true);
    assert!(ok, "{output}");
}

#[tokio::test]
async fn the_database_password_never_appears_in_logs_or_errors() {
    let pg = Postgres::any();
    let url = pg.database().await;
    // Trust authentication ignores the password; the service still has to hide it.
    let with_password = url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let app = TestApp::spawn_with(&[("AUDIT_DATABASE_URL", with_password.as_str())], &[]);
    let client = reqwest::Client::new();
    assert_eq!(issue(&app, &client, "a").await, Some(201));
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let logs = app.wait_for_log("\"message\":\"request\"").await;
    assert!(logs.contains("postgres:***@"), "{logs}");
    assert!(
        !logs.contains("s3cret-pw") && !metrics.contains("s3cret-pw"),
        "{logs}"
    );

    let bad = with_password.replacen("127.0.0.1:", "127.0.0.1:notaport", 1);
    let key = crate::helpers::conformance_key_path().display().to_string();
    let (status, stdout, stderr) = run_to_exit(
        &[
            ("SERVICE_ACCOUNT_KEY_PATH", &key),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("ALLOW_ANONYMOUS", "true"),
            ("AUDIT_DATABASE_URL", &bad),
        ],
        &["serve"],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AUDIT_DATABASE_URL"), "{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains("s3cret-pw"),
        "{stderr}"
    );
}

#[tokio::test]
async fn with_sslmode_require_the_connection_is_tls_and_the_certificate_is_checked() {
    let pg = Postgres::private();
    let certificates = tempfile::tempdir().unwrap();
    let ca = pg.enable_tls(certificates.path());
    let url = format!("{}?sslmode=require", pg.database().await);
    let client = reqwest::Client::new();

    // Signed by a CA the service does not trust: no connection, so nothing is issued.
    let untrusting = TestApp::spawn_with(&[("AUDIT_DATABASE_URL", url.as_str())], &[]);
    assert_eq!(issue(&untrusting, &client, "untrusted").await, Some(503));
    drop(untrusting);

    let app = TestApp::spawn_with(
        &[
            ("AUDIT_DATABASE_URL", url.as_str()),
            ("AUDIT_DATABASE_CA_FILE", ca.to_str().unwrap()),
        ],
        &[],
    );
    assert_eq!(issue(&app, &client, "trusted").await, Some(201));
    let admin = connect(url.split('?').next().unwrap()).await;
    let encrypted: Vec<bool> = admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'storage-signer'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(encrypted, [true], "the service's connection is TLS");
    assert_eq!(
        committed(&url.replace("?sslmode=require", ""), "issued").await,
        ["trusted"]
    );
}

#[tokio::test]
async fn a_chain_cut_back_or_deleted_is_caught_by_another_replicas_witness() {
    let pg = Postgres::any();
    let url = pg.database().await;
    let env = [
        ("AUDIT_DATABASE_URL", url.as_str()),
        ("AUDIT_CHECKPOINT_RECORDS", "2"),
    ];
    let client = reqwest::Client::new();
    for replica in ["a", "b"] {
        let mut app = TestApp::spawn_with(&env, &[]);
        for i in 0..4 {
            assert_eq!(
                issue(&app, &client, &format!("{replica}-{i}")).await,
                Some(201)
            );
        }
        app.send_sigterm();
        assert!(app.wait_exit(Duration::from_secs(15)).success());
    }
    let (ok, output) = verify_database(&url, true);
    assert!(ok, "{output}");

    // Someone past the grants and the triggers cuts the first chain back before its final
    // checkpoint: the chain alone still looks like a crashed writer's...
    let owner = connect(&url).await;
    let first: String = owner
        .query_one(
            "SELECT chain_id FROM audit_log GROUP BY chain_id ORDER BY min(time) LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    owner
        .batch_execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        .await
        .unwrap();
    owner
        .execute(
            "DELETE FROM audit_log WHERE chain_id = $1 AND pos >= \
             (SELECT max(pos) FROM audit_log WHERE chain_id = $1 AND kind = 'checkpoint')",
            &[&first],
        )
        .await
        .unwrap();
    // ...but the second chain's checkpoints witnessed that final checkpoint.
    let (ok, output) = verify_database(&url, false);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!("chain {first}")) && output.contains("witnessed by chain"),
        "{output}"
    );

    // Deleting the whole chain is caught the same way.
    owner
        .execute("DELETE FROM audit_log WHERE chain_id = $1", &[&first])
        .await
        .unwrap();
    let (ok, output) = verify_database(&url, false);
    assert!(!ok && output.contains("witnessed by chain"), "{output}");
}
