//! The embedded sinks: an append-only file, or stdout. All I/O runs on one thread per sink,
//! so a blocked pipe or a hung disk blocks that thread only.
//!
//! The file:
//! - is locked exclusively (`flock` through `File::try_lock`) for the life of the process: a
//!   second instance on the same file refuses to start, so two writers never fork the chain;
//! - continues the chain in it: the lines from its last checkpoint on must open and follow
//!   each other, no more records than the checkpoint's interval allows may follow it, and a
//!   checkpoint made with this service's key must verify (a re-chained trail stops start-up);
//! - after a failed write, cuts only its own partial line (back to the length after its last
//!   complete write, which no one else can have extended while it holds the lock);
//! - checks before each write, and every interval, that the path still names the file it
//!   holds: a deleted or replaced file fails closed (503, unready) until the service is
//!   restarted, rather than writing to an inode nobody will read.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::checkpoint::{CheckpointKey, PublicKey};
use super::sealer::{CheckpointPolicy, Sealed, Sealer};

/// The longest tail read back when looking for the last checkpoint.
const MAX_TAIL_BYTES: u64 = 256 * 1024 * 1024;

enum Request {
    Append(Vec<u8>, oneshot::Sender<Result<(), String>>),
    Check(oneshot::Sender<Result<(), String>>),
}

/// The writer's end of a file or stdout sink.
pub struct LineFile {
    requests: mpsc::Sender<Request>,
    /// Whether each write is synced (costly: worth waiting a moment to group more records).
    pub syncs: bool,
}

/// An opened (and locked) file or stdout, before its thread starts.
#[derive(Debug)]
pub struct FileTarget {
    file: Option<LockedFile>,
    fsync: bool,
}

#[derive(Debug)]
struct LockedFile {
    file: File,
    path: PathBuf,
    /// Length up to the end of the last complete write.
    good_len: u64,
    device: u64,
    inode: u64,
    gone: Option<String>,
}

impl FileTarget {
    /// Stdout: each process starts a new chain there.
    pub fn stdout(fsync: bool) -> Self {
        Self { file: None, fsync }
    }

    /// Opens and locks `path` (created with mode 0600) and reads the chain already in it.
    pub fn open(
        path: &Path,
        fsync: bool,
        policy: CheckpointPolicy,
        key: &CheckpointKey,
    ) -> Result<(Self, Sealer), String> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        // Devices (`/dev/full` in tests, a terminal) are shared by design: only files lock.
        match if regular { file.try_lock() } else { Ok(()) } {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "{} is locked by another process (another storage-signer writing the same trail?); two writers would fork the chain, so this one does not start",
                    path.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
        let (sealer, len) = read_chain(&mut file, policy, key).map_err(|problem| {
            format!(
                "{}: {problem}; check it with `storage-signer audit verify {}` and move it aside",
                path.display(),
                path.display()
            )
        })?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok((
            Self {
                file: Some(LockedFile {
                    file,
                    path: path.to_owned(),
                    good_len: len,
                    device: meta.dev(),
                    inode: meta.ino(),
                    gone: None,
                }),
                fsync,
            },
            sealer,
        ))
    }

    /// Starts the I/O thread.
    pub fn spawn(self) -> LineFile {
        let (requests, incoming) = mpsc::channel();
        let name = if self.file.is_some() {
            "audit-file"
        } else {
            "audit-stdout"
        };
        let syncs = self.fsync && self.file.is_some();
        let mut target = self;
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for request in incoming {
                    match request {
                        Request::Append(bytes, reply) => {
                            let _ = reply.send(target.append(&bytes));
                        }
                        Request::Check(reply) => {
                            let _ = reply.send(target.check());
                        }
                    }
                }
            })
            .expect("spawn the audit I/O thread");
        LineFile { requests, syncs }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(locked) = &mut self.file else {
            let mut out = std::io::stdout().lock();
            return out
                .write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write to stdout: {e}"));
        };
        locked.check()?;
        let fsync = self.fsync;
        let file = &mut locked.file;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.flush())
            .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                locked.good_len += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Our own partial write only: we hold the exclusive lock, so nobody else can
                // have appended since our last complete write.
                let _ = locked.file.set_len(locked.good_len);
                Err(format!("cannot write {}: {error}", locked.path.display()))
            }
        }
    }

    fn check(&mut self) -> Result<(), String> {
        self.file.as_mut().map_or(Ok(()), LockedFile::check)
    }
}

impl LockedFile {
    /// Fails (for good) when the path no longer names the file we hold.
    fn check(&mut self) -> Result<(), String> {
        if let Some(problem) = &self.gone {
            return Err(problem.clone());
        }
        let (ours, len) = self
            .file
            .metadata()
            .map_or((0, 0), |m| (m.nlink(), m.len()));
        if len < self.good_len && self.file.metadata().is_ok_and(|m| m.is_file()) {
            let problem = format!(
                "{} was cut short by someone else while in use; refusing requests until the service is restarted (check it with `storage-signer audit verify`)",
                self.path.display()
            );
            self.gone = Some(problem.clone());
            return Err(problem);
        }
        let at_path = std::fs::metadata(&self.path);
        let replaced = match &at_path {
            Ok(meta) => meta.dev() != self.device || meta.ino() != self.inode,
            Err(_) => true,
        };
        if ours == 0 || replaced {
            let problem = format!(
                "{} was deleted or replaced while in use; refusing requests until the service is restarted (check both files with `storage-signer audit verify`)",
                self.path.display()
            );
            self.gone = Some(problem.clone());
            return Err(problem);
        }
        Ok(())
    }
}

impl LineFile {
    pub async fn append(&mut self, lines: &[Sealed]) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.line.len() + 1).sum());
        for sealed in lines {
            bytes.extend_from_slice(sealed.line.as_bytes());
            bytes.push(b'\n');
        }
        self.ask(|reply| Request::Append(bytes, reply)).await
    }

    pub async fn check(&mut self) -> Result<(), String> {
        self.ask(Request::Check).await
    }

    async fn ask(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Request,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .map_err(|_| "the audit I/O thread stopped".to_owned())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the audit I/O thread stopped".into()))
    }
}

/// The chain already in `file` (from its last checkpoint on) and the file's length.
fn read_chain(
    file: &mut File,
    policy: CheckpointPolicy,
    key: &CheckpointKey,
) -> Result<(Sealer, u64), String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len == 0 {
        return Ok((Sealer::new(None, policy), 0));
    }
    let mut window = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_to_end(&mut tail))
            .map_err(|e| format!("cannot read: {e}"))?;
        let tail = String::from_utf8_lossy(&tail);
        let Some(body) = tail.strip_suffix('\n') else {
            return Err("the last record is incomplete (no final newline)".into());
        };
        let mut lines: Vec<&str> = body.split('\n').collect();
        if start > 0 {
            lines.remove(0); // probably cut in the middle
        }
        let checkpoint = lines
            .iter()
            .rposition(|line| line.contains("\"log\":\"audit_checkpoint\""));
        let whole = start == 0;
        if checkpoint.is_some() || whole || window >= MAX_TAIL_BYTES {
            let from = checkpoint.unwrap_or_else(|| lines.len().saturating_sub(1));
            if lines.is_empty() {
                return Err("the last record is longer than the tail read".into());
            }
            let tail = &lines[from..];
            check_own_checkpoint(tail.first().copied(), key)?;
            if checkpoint.is_some() && from > 0 {
                check_signed_head(lines[from - 1], lines[from])?;
            }
            let sealer = Sealer::continue_after(None, policy, tail.iter().copied())?;
            return Ok((sealer, len));
        }
        window *= 4;
    }
}

/// A checkpoint made with this service's key must verify: a re-chained trail whose last
/// checkpoint was forged stops start-up instead of being continued.
fn check_own_checkpoint(line: Option<&str>, key: &CheckpointKey) -> Result<(), String> {
    let Some(line) = line.filter(|l| l.contains("\"log\":\"audit_checkpoint\"")) else {
        return Ok(());
    };
    let checkpoint = super::checkpoint::open(line)?;
    let Some(pem) = key.public_key_pem() else {
        return Ok(());
    };
    if checkpoint.key != key.key_id() {
        return Ok(()); // signed with an earlier key; `audit verify` checks it with that one
    }
    let public = PublicKey::parse_all(&pem)?;
    if checkpoint.signed_by(&public).is_none() {
        return Err(format!(
            "the last checkpoint ({}) claims this service's key but its signature does not verify (the trail was forged)",
            checkpoint.number
        ));
    }
    Ok(())
}

/// The record just before a checkpoint must be the head it signs: records re-chained (or
/// edited) before the last checkpoint stop start-up.
fn check_signed_head(before: &str, checkpoint: &str) -> Result<(), String> {
    if !before.contains("\"log\":\"audit\"") {
        return Ok(());
    }
    let checkpoint = super::checkpoint::open(checkpoint)?;
    let record = super::chain::open_record(before)?;
    if record.hash != checkpoint.head_hash || record.seq != checkpoint.head_seq {
        return Err(format!(
            "the record before checkpoint {} is not the head it signs (the trail was re-chained or edited)",
            checkpoint.number
        ));
    }
    Ok(())
}
