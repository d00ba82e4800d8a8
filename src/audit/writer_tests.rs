//! The writer: group commit, the final checkpoint, the deadline.
use super::*;
use crate::audit::settings::AuditSettings;
use crate::audit::{Decision, checkpoint::CheckpointKey};
use crate::key::ServiceAccountKey;

fn settings(path: &std::path::Path) -> AuditSettings {
    AuditSettings {
        log_path: Some(path.to_owned()),
        database_url: None,
        fsync: true,
        timeout: Duration::from_secs(10),
        queue: 1024,
        checkpoint_records: 1000,
        checkpoint_every: Duration::from_secs(3600),
        signing_key_path: None,
    }
}

fn key() -> CheckpointKey {
    CheckpointKey::Local(Arc::new(
        ServiceAccountKey::generate("audit@test.invalid").unwrap(),
    ))
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_records_share_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let auditor = settings(&path).open(key()).unwrap().start();
    let writes = writes_for_64_records(auditor).await;
    assert!(writes <= 4, "{writes} writes for 64 concurrent records");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 64);
}

#[tokio::test(flavor = "current_thread")]
async fn close_writes_the_final_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let auditor = settings(&path).open(key()).unwrap().start();
    auditor.record(AuditEvent::new("req", None)).await.unwrap();
    auditor.close().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("\"kind\":\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(kinds, ["start", "final"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_record_past_the_deadline_is_refused() {
    // The sink is a pipe nobody reads: the write of a record larger than the pipe blocks.
    let (reader, writer) = std::io::pipe().unwrap();
    let fifo = dir_fifo(writer);
    let settings = AuditSettings {
        timeout: Duration::from_secs(1),
        fsync: false,
        ..settings(&fifo.1)
    };
    let auditor = settings.open(key()).unwrap().start();
    let big = "x".repeat(70_000);
    let mut event = AuditEvent::new("req", None);
    event.reason = big;
    assert!(auditor.record(event).await.is_err());
    drop(reader);
}

/// A path that writes into `writer` (`/proc/self/fd/N` of a pipe).
fn dir_fifo(writer: std::io::PipeWriter) -> (std::io::PipeWriter, std::path::PathBuf) {
    use std::os::fd::AsRawFd as _;
    let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", writer.as_raw_fd()));
    (writer, path)
}

#[test]
fn the_writer_gathers_every_write_unless_a_cpu_is_left_for_its_thread() {
    assert_eq!(Gather::for_cpus(1, 1), Gather::Always);
    assert_eq!(Gather::for_cpus(2, 2), Gather::Always);
    assert_eq!(Gather::for_cpus(8, 2), Gather::Always);
    assert_eq!(Gather::for_cpus(1, 2), Gather::CostlyOnly);
}

/// Records 64 events at once, one task each; the writes they took.
async fn writes_for_64_records(auditor: Auditor) -> u64 {
    let callers: Vec<_> = (0..64)
        .map(|i| {
            let auditor = auditor.clone();
            tokio::spawn(async move {
                let mut event = AuditEvent::new(format!("req-{i}"), None);
                event.decide(Decision::Denied, "test");
                auditor.record(event).await
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    let (writes, lines) = auditor.stats();
    assert_eq!(lines, 64);
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn unsynced_records_share_a_write_when_the_writer_gathers() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AuditSettings {
        fsync: false,
        ..settings(&dir.path().join("audit.log"))
    };
    let auditor = settings
        .open(key())
        .unwrap()
        .start_gathering(Gather::Always);
    // On the worker (not the test's own thread), so that all 64 are queued before the first
    // runs, as when a read wakes many connections at once; the writer, woken by the first
    // record, runs next. Without gathering (`Gather::CostlyOnly`) the same records took 2 to
    // 64 writes.
    let writes = tokio::spawn(writes_for_64_records(auditor)).await.unwrap();
    assert_eq!(writes, 1, "{writes} writes for 64 records");
}
