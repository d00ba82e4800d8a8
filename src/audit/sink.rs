//! Writing the trail: fail closed. `record` returns only after the line is written and flushed
//! (and synced, with `AUDIT_FSYNC`); when a write fails, the caller must refuse the request.
//! After a failure the partial line is cut off, so the file stays a valid chain, and the first
//! write that works again is an `audit_resumed` record saying what was refused meanwhile.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use super::chain::{self, ChainHead};
use super::{AuditEvent, Decision};
use crate::timestamp;

/// The longest record we expect at the end of a file when continuing its chain.
const TAIL_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written")]
pub struct AuditUnavailable;

/// The destination of audit records, shared by all requests.
#[derive(Debug)]
pub struct AuditSink {
    state: Mutex<SinkState>,
    healthy: AtomicBool,
    fsync: bool,
    description: String,
}

#[derive(Debug)]
enum Target {
    Stdout,
    File(File),
}

#[derive(Debug)]
struct SinkState {
    target: Target,
    head: ChainHead,
    /// Length of the file up to the last complete record.
    good_len: u64,
    failure: Option<Failure>,
}

#[derive(Debug)]
struct Failure {
    since: String,
    refused: u64,
}

impl AuditSink {
    /// Records to stdout, one JSON line each, among the request logs. Each process starts a new
    /// chain there.
    pub fn stdout(fsync: bool) -> Self {
        Self::with(
            Target::Stdout,
            ChainHead::genesis(),
            0,
            fsync,
            "stdout".into(),
        )
    }

    /// Records appended to `path` (created with mode 0600), continuing the chain already in it.
    pub fn open_file(path: &Path, fsync: bool) -> Result<Self, String> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let (head, len) = read_head(&mut file).map_err(|problem| {
            format!(
                "{}: {problem}; check it with `storage-signer audit verify {}` and move it aside",
                path.display(),
                path.display()
            )
        })?;
        Ok(Self::with(
            Target::File(file),
            head,
            len,
            fsync,
            path.display().to_string(),
        ))
    }

    fn with(
        target: Target,
        head: ChainHead,
        good_len: u64,
        fsync: bool,
        description: String,
    ) -> Self {
        Self {
            state: Mutex::new(SinkState {
                target,
                head,
                good_len,
                failure: None,
            }),
            healthy: AtomicBool::new(true),
            fsync,
            description,
        }
    }

    /// Whether the last write worked.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Whether records are synced to disk before `record` returns (slow: callers should run
    /// `record` off the async executor).
    pub fn syncs(&self) -> bool {
        self.fsync
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The sequence number and hash of the last record written.
    pub fn head(&self) -> ChainHead {
        self.lock().head.clone()
    }

    /// Appends `event`; `Ok` only once it is written and flushed (and synced if configured).
    pub fn record(&self, event: &AuditEvent) -> Result<(), AuditUnavailable> {
        let mut state = self.lock();
        if state.failure.is_some() && !self.write_resumed(&mut state) {
            if let Some(failure) = &mut state.failure {
                failure.refused += 1;
            }
            return Err(AuditUnavailable);
        }
        match state.append(event, self.fsync) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.fail(&mut state, &error);
                Err(AuditUnavailable)
            }
        }
    }

    /// After failures, tries to write the `audit_resumed` record; true when the sink works.
    pub fn resume(&self) -> bool {
        let mut state = self.lock();
        state.failure.is_none() || self.write_resumed(&mut state)
    }

    fn write_resumed(&self, state: &mut SinkState) -> bool {
        let Some(Failure { since, refused }) = &state.failure else {
            return true;
        };
        let refused = *refused;
        let mut event = AuditEvent::new("-", None);
        event.decide(
            Decision::AuditResumed,
            format!(
                "audit writes failed from {since} until now; {refused} request(s) were refused meanwhile"
            ),
        );
        match state.append(&event, self.fsync) {
            Ok(()) => {
                tracing::warn!(
                    sink = self.description,
                    refused,
                    "audit log writable again; serving requests"
                );
                state.failure = None;
                self.healthy.store(true, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }

    fn fail(&self, state: &mut SinkState, error: &std::io::Error) {
        if state.failure.is_none() {
            tracing::error!(
                sink = self.description,
                %error,
                "audit log write failed: refusing requests until it can be written again"
            );
            state.failure = Some(Failure {
                since: now(),
                refused: 0,
            });
        }
        if let Some(failure) = &mut state.failure {
            failure.refused += 1;
        }
        self.healthy.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SinkState {
    fn append(&mut self, event: &AuditEvent, fsync: bool) -> std::io::Result<()> {
        let (mut line, head) = chain::seal(event, &now(), &self.head);
        line.push('\n');
        let written = match &mut self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            }
            Target::File(file) => {
                let result = file
                    .write_all(line.as_bytes())
                    .and_then(|()| file.flush())
                    .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
                if result.is_err() {
                    // Cut a partial line off, so the chain on disk stays whole.
                    let _ = file.set_len(self.good_len);
                }
                result
            }
        };
        written?;
        self.good_len += line.len() as u64;
        self.head = head;
        Ok(())
    }
}

fn now() -> String {
    timestamp::iso8601_micros(OffsetDateTime::now_utc())
}

/// The head of the chain already in `file` and the file's length.
fn read_head(file: &mut File) -> Result<(ChainHead, u64), String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len == 0 {
        return Ok((ChainHead::genesis(), 0));
    }
    let start = len.saturating_sub(TAIL_BYTES);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| format!("cannot read: {e}"))?;
    let tail = String::from_utf8_lossy(&tail);
    let Some(body) = tail.strip_suffix('\n') else {
        return Err("the last record is incomplete (no final newline)".into());
    };
    let last = match body.rfind('\n') {
        Some(i) => &body[i + 1..],
        None if start == 0 => body,
        None => return Err("the last record is longer than 64 KiB".into()),
    };
    let (seq, _, hash) =
        chain::open_record(last).map_err(|problem| format!("the last record: {problem}"))?;
    Ok((ChainHead { seq, hash }, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> AuditEvent {
        let mut event = AuditEvent::new(format!("req-{n}"), None);
        event.decide(Decision::Denied, "path not allowed");
        event
    }

    #[test]
    fn a_reopened_file_continues_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = AuditSink::open_file(&path, false).unwrap();
        sink.record(&event(1)).unwrap();
        sink.record(&event(2)).unwrap();
        let head = sink.head();
        drop(sink);

        let sink = AuditSink::open_file(&path, true).unwrap();
        assert_eq!(sink.head(), head);
        sink.record(&event(3)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let verified = chain::verify(text.lines(), &chain::VerifyOptions::default()).unwrap();
        assert_eq!(verified.seq, 3);
    }

    #[test]
    fn a_file_ending_in_a_partial_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = AuditSink::open_file(&path, false).unwrap();
        sink.record(&event(1)).unwrap();
        drop(sink);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"log\":\"audit\",\"seq\":2").unwrap();
        let error = AuditSink::open_file(&path, false).unwrap_err();
        assert!(error.contains("incomplete"), "{error}");
    }

    #[test]
    fn writing_to_a_full_device_fails_closed() {
        let sink = AuditSink::open_file(Path::new("/dev/full"), false).unwrap();
        assert!(sink.record(&event(1)).is_err());
        assert!(!sink.is_healthy());
        assert!(!sink.resume());
    }
}
