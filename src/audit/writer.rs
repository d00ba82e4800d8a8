//! The [`Auditor`]: a cloneable handle on one writer task per sink.
//!
//! - Requests never touch the sink: `record` puts the events on a bounded queue
//!   (`AUDIT_QUEUE`) and waits for the writer's answer, at most `AUDIT_TIMEOUT` in all (queueing
//!   included). Past it the caller gets [`AuditUnavailable`] (a 503, nothing issued).
//! - The writer takes everything waiting (up to [`MAX_BATCH_EVENTS`]), seals it, and makes it
//!   durable with one write (+ one `fdatasync` with `AUDIT_FSYNC`) or one `INSERT` (one
//!   transaction): group commit. Every caller of the batch is answered once it is durable.
//!   Before a write it first lets the requests in flight add their records ([`Gather`]).
//! - File and stdout I/O runs on a thread of its own, so a blocked pipe or a hung disk stops
//!   the writer, not the executor: probes keep answering (unready: a write has been pending
//!   longer than the deadline) and SIGTERM still stops the service.
//! - After a failure the writer retries every second; the first write that works begins with
//!   an `audit_resumed` record saying since when writes failed and how many were refused.
//!
//! (About 550 lines: the handle and the task share the job and health types, which stay
//! private to this file that way.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout_at};

use super::checkpoint::{CheckpointKey, Kind};
use super::sealer::{Sealed, Sealer, resumed_event};
use super::{AuditEvent, file, postgres};
use crate::timestamp;

/// Most events sealed into one write.
pub const MAX_BATCH_EVENTS: usize = 1024;
/// How often a failing sink is retried without traffic.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Before a write it gathers for, how many times the writer lets other tasks run first, so
/// that records of requests already in flight join it. No timer: it adds no delay when idle.
const GATHER_YIELDS: usize = 4;
/// How often an idle database sink asks the server whether it is there.
const DATABASE_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// While failing, at most one attempt per this interval; requests in between fail at once.
const FAILING_ATTEMPT_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written")]
pub struct AuditUnavailable;

/// Which writes wait for the records of requests in flight ([`GATHER_YIELDS`]) before they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gather {
    /// Every write. Each write wakes the sink's I/O thread, and where it has no CPU of its own
    /// that wake-up takes a worker's: on one CPU a reused GET took 26.3 µs of CPU with a write
    /// per request, 20.0 µs gathered (docs/benchmarks.md, "The audit writer on a CPU it
    /// shares").
    Always,
    /// Only writes that cost much more than the records in them (fsync, a commit): the I/O
    /// thread has a CPU to itself and writes while the workers go on.
    CostlyOnly,
}

impl Gather {
    /// `Always` unless this process may use more CPUs than the runtime has workers (cgroup
    /// quotas and affinity included), which leaves one for the I/O thread.
    pub fn for_this_process() -> Self {
        let workers = tokio::runtime::Handle::try_current()
            .map_or(1, |runtime| runtime.metrics().num_workers());
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::for_cpus(workers, cpus)
    }

    fn for_cpus(workers: usize, cpus: usize) -> Self {
        if cpus > workers {
            Self::CostlyOnly
        } else {
            Self::Always
        }
    }
}

/// The audit trail, shared by all requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

/// The name the rest of the service knows it by.
pub type AuditSink = Auditor;

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    timeout: Duration,
    description: String,
}

/// What the writer and the handles both see.
#[derive(Debug)]
struct Shared {
    healthy: AtomicBool,
    /// Milliseconds since `epoch` when the pending write began; 0 when none is pending.
    busy_since: AtomicU64,
    epoch: Instant,
    timeout: Duration,
    /// Callers that gave up waiting (deadline): counted in the next `audit_resumed`.
    gave_up: AtomicU64,
    /// Writes (or commits) that succeeded, and the lines they held: the group-commit ratio.
    writes: AtomicU64,
    lines: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

enum Command {
    Record(Job),
    Close(oneshot::Sender<()>),
}

struct Job {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<(), AuditUnavailable>>,
}

/// Where the writer puts sealed lines.
pub(super) enum Storage {
    File(file::LineFile),
    Postgres(Box<postgres::PgStorage>),
}

impl Storage {
    async fn append(&mut self, lines: &[Sealed]) -> Result<(), String> {
        match self {
            Self::File(file) => file.append(lines).await,
            Self::Postgres(pg) => pg.append(lines).await,
        }
    }

    /// Whether one write costs much more than the records in it (fsync, a commit).
    fn is_costly(&self) -> bool {
        match self {
            Self::File(file) => file.syncs,
            Self::Postgres(_) => true,
        }
    }

    /// What the next checkpoint witnesses of other chains (database only).
    async fn witness(&mut self) -> Vec<String> {
        match self {
            Self::File(_) => Vec::new(),
            Self::Postgres(pg) => pg.witness().await,
        }
    }

    /// Checks the sink between writes (a replaced file, a lost connection).
    async fn check(&mut self) -> Result<(), String> {
        match self {
            Self::File(file) => file.check().await,
            Self::Postgres(pg) => pg.check().await,
        }
    }

    /// After a failure whose outcome is unknown (a commit that timed out), the chain's last
    /// lines as stored, to continue from.
    async fn resync(&mut self, sealer: &Sealer) -> Result<Option<Sealer>, String> {
        match self {
            Self::File(_) => Ok(None),
            Self::Postgres(pg) => pg.resync(sealer).await.map(Some),
        }
    }
}

impl Auditor {
    /// Starts the writer task for `storage`, continuing `sealer`'s chain.
    pub(super) fn start(
        storage: Storage,
        sealer: Sealer,
        key: CheckpointKey,
        timeout: Duration,
        queue: usize,
        gather: Gather,
        description: String,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        let shared = Arc::new(Shared {
            healthy: AtomicBool::new(true),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
            timeout,
            gave_up: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            lines: AtomicU64::new(0),
        });
        let storage_is_costly = storage.is_costly();
        let writer = Writer {
            rx,
            storage,
            last_checkpoint: Instant::now(),
            sealer,
            key,
            shared: Arc::clone(&shared),
            failure: None,
            start_pending: true,
            resync_pending: false,
            last_attempt: None,
            gathers: gather == Gather::Always || storage_is_costly,
        };
        tokio::spawn(writer.run());
        Self {
            inner: Arc::new(Inner {
                tx,
                shared,
                timeout,
                description,
            }),
        }
    }

    /// Records `event`; `Ok` only once it is durable.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        self.record_batch(vec![event]).await
    }

    /// Records `events` together (one write); `Ok` only once all are durable.
    pub async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<(), AuditUnavailable> {
        if events.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.inner.timeout;
        let (done, answer) = oneshot::channel();
        let job = Command::Record(Job { events, done });
        match timeout_at(deadline, self.inner.tx.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(AuditUnavailable),
            Err(_) => {
                // Never queued: the writer cannot count it, so this caller does.
                self.inner.shared.gave_up.fetch_add(1, Ordering::Relaxed);
                return Err(AuditUnavailable);
            }
        }
        // Once queued, a caller that gives up is counted by the writer, which drops its job.
        match timeout_at(deadline, answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => Err(AuditUnavailable),
        }
    }

    /// Whether records are being written: the last write worked and none has been pending
    /// longer than the deadline.
    pub fn is_healthy(&self) -> bool {
        let shared = &self.inner.shared;
        let busy_since = shared.busy_since.load(Ordering::Acquire);
        let stuck = busy_since != 0
            && shared.now_ms().saturating_sub(busy_since)
                > u64::try_from(shared.timeout.as_millis()).unwrap_or(u64::MAX);
        // A writer that is gone (it panicked) takes no more records.
        shared.healthy.load(Ordering::Acquire) && !stuck && !self.inner.tx.is_closed()
    }

    /// Successful writes (commits) so far, and the lines (records and checkpoints) they held.
    pub fn stats(&self) -> (u64, u64) {
        let shared = &self.inner.shared;
        (
            shared.writes.load(Ordering::Relaxed),
            shared.lines.load(Ordering::Relaxed),
        )
    }

    /// Where records go (a path, `stdout`, or the database URL without its password).
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Stops the writer after the queued records, writing the final checkpoint. Waits at most
    /// `AUDIT_TIMEOUT` for each step, so a stuck sink cannot hold up the exit.
    pub async fn close(&self) {
        let deadline = Instant::now() + self.inner.timeout;
        let (done, finished) = oneshot::channel();
        let closed = timeout_at(deadline, async {
            if self.inner.tx.send(Command::Close(done)).await.is_ok() {
                let _ = finished.await;
            }
        })
        .await;
        if closed.is_err() {
            tracing::error!(
                sink = self.inner.description,
                "the audit sink did not take the final checkpoint in time; stopping without it"
            );
        }
    }
}

struct Failure {
    since: String,
    refused: u64,
}

struct Writer {
    rx: mpsc::Receiver<Command>,
    storage: Storage,
    sealer: Sealer,
    key: CheckpointKey,
    shared: Arc<Shared>,
    failure: Option<Failure>,
    /// The run's first checkpoint (due by count, by time or at shutdown) is its `start`.
    start_pending: bool,
    resync_pending: bool,
    last_checkpoint: Instant,
    last_attempt: Option<Instant>,
    /// Whether each write first lets the requests in flight join it ([`Gather`]).
    gathers: bool,
}

impl Writer {
    async fn run(mut self) {
        loop {
            let wake = if self.failure.is_some() {
                Instant::now() + RETRY_INTERVAL
            } else if matches!(self.storage, Storage::Postgres(_)) {
                // A database can go away between writes: readiness should see it.
                (self.last_checkpoint + self.sealer.policy.every)
                    .min(Instant::now() + DATABASE_CHECK_INTERVAL)
            } else {
                self.last_checkpoint + self.sealer.policy.every
            };
            let command = tokio::select! {
                command = self.rx.recv() => command,
                () = sleep_until(wake) => {
                    self.tick().await;
                    continue;
                }
            };
            let mut jobs = match command {
                Some(Command::Record(job)) => vec![job],
                Some(Command::Close(done)) => return self.finish(Some(done)).await,
                None => return self.finish(None).await,
            };
            if self.gathers {
                // Group commit: let the requests that are about to queue join this write (a
                // synced write, a commit or a wake-up costs the same for one record or a
                // hundred).
                for _ in 0..GATHER_YIELDS {
                    tokio::task::yield_now().await;
                }
            }
            let mut events = jobs[0].events.len();
            let mut close = None;
            while events < MAX_BATCH_EVENTS {
                match self.rx.try_recv() {
                    Ok(Command::Record(job)) => {
                        events += job.events.len();
                        jobs.push(job);
                    }
                    Ok(Command::Close(done)) => {
                        close = Some(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write(jobs, false).await;
            if let Some(done) = close {
                return self.finish(Some(done)).await;
            }
        }
    }

    /// Without traffic: notice a replaced file or a lost connection, retry a failing sink,
    /// and write the checkpoint that is due by time.
    async fn tick(&mut self) {
        if let Err(problem) = self.storage.check().await {
            self.fail(&problem, 0);
            return;
        }
        let due = self.last_checkpoint.elapsed() >= self.sealer.policy.every;
        if self.failure.is_some() || due {
            self.write(Vec::new(), due).await;
        }
    }

    async fn finish(mut self, done: Option<oneshot::Sender<()>>) {
        self.write_final().await;
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    async fn write_final(&mut self) {
        let time = now();
        let snapshot = self.sealer.clone();
        let mut lines = Vec::new();
        self.seal_prefix(&time, &mut lines);
        let mut sealed = true;
        if self.start_pending {
            sealed = self
                .seal_checkpoint(Kind::Start, &time, &mut lines)
                .await
                .is_ok();
        }
        sealed = sealed
            && self
                .seal_checkpoint(Kind::Final, &time, &mut lines)
                .await
                .is_ok();
        if sealed && self.append(&lines).await.is_ok() {
            tracing::info!(
                sink = self.storage_name(),
                "audit trail closed with its final checkpoint"
            );
        } else {
            self.sealer = snapshot;
            tracing::error!(
                sink = self.storage_name(),
                "the final audit checkpoint could not be written"
            );
        }
    }

    fn storage_name(&self) -> &'static str {
        match self.storage {
            Storage::File(_) => "file",
            Storage::Postgres(_) => "postgres",
        }
    }

    /// Seals `jobs` (with the start checkpoint, an `audit_resumed` record and checkpoints as
    /// due) and writes them at once; answers every job.
    async fn write(&mut self, jobs: Vec<Job>, checkpoint_due: bool) {
        let (jobs, abandoned): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|job| !job.done.is_closed());
        let abandoned: u64 = abandoned.iter().map(|job| job.events.len() as u64).sum();
        let count: u64 = jobs.iter().map(|job| job.events.len() as u64).sum();
        if abandoned > 0 {
            self.shared.gave_up.fetch_add(abandoned, Ordering::Relaxed);
        }
        if jobs.is_empty() && !checkpoint_due && self.failure.is_none() {
            return;
        }
        if self.failure.is_some()
            && self
                .last_attempt
                .is_some_and(|at| at.elapsed() < FAILING_ATTEMPT_INTERVAL)
        {
            return refuse(jobs, self.failure.as_mut(), count);
        }
        self.last_attempt = Some(Instant::now());
        if self.resync_pending {
            match self.storage.resync(&self.sealer).await {
                Ok(Some(sealer)) => {
                    // A database chain's first checkpoint is its start: if one was committed
                    // (even by a write that seemed to fail), the run has started.
                    self.start_pending = sealer.checkpoint_number == 0;
                    self.sealer = sealer;
                    self.resync_pending = false;
                }
                Ok(None) => self.resync_pending = false,
                Err(problem) => {
                    self.fail(&problem, count);
                    return refuse(jobs, None, 0);
                }
            }
        }
        let time = now();
        let snapshot = (self.sealer.clone(), self.start_pending);
        let mut lines = Vec::with_capacity(jobs.len() + 2);
        let mut checkpointed = false;
        let eager_start = self.start_pending && matches!(self.storage, Storage::Postgres(_));
        let sealed: Result<(), String> = async {
            if eager_start {
                // Every database chain begins signed: rows anyone else inserts never are.
                self.seal_checkpoint(Kind::Start, &time, &mut lines).await?;
                checkpointed = true;
            }
            self.seal_prefix(&time, &mut lines);
            for event in jobs.iter().flat_map(|job| &job.events) {
                lines.push(self.sealer.record(event, &time));
                if self.sealer.checkpoint_due() {
                    self.seal_checkpoint(Kind::Interval, &time, &mut lines)
                        .await?;
                    checkpointed = true;
                }
            }
            if checkpoint_due && !checkpointed {
                self.seal_checkpoint(Kind::Interval, &time, &mut lines)
                    .await?;
                checkpointed = true;
            }
            Ok(())
        }
        .await;
        let written = match sealed {
            Ok(()) => self.append(&lines).await,
            Err(problem) => Err(format!("cannot sign the checkpoint: {problem}")),
        };
        match written {
            Ok(()) => {
                if let Some(failure) = self.failure.take() {
                    tracing::warn!(
                        since = failure.since,
                        refused = failure.refused,
                        "audit sink writable again; serving requests"
                    );
                }
                if checkpointed {
                    self.last_checkpoint = Instant::now();
                }
                self.shared.healthy.store(true, Ordering::Release);
                for job in jobs {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(problem) => {
                (self.sealer, self.start_pending) = snapshot;
                self.fail(&problem, count);
                refuse(jobs, None, 0);
            }
        }
    }

    /// After failures, the `audit_resumed` record that goes before a write's records.
    fn seal_prefix(&mut self, time: &str, lines: &mut Vec<Sealed>) {
        if let Some(failure) = &self.failure {
            let refused = failure.refused + self.shared.gave_up.swap(0, Ordering::Relaxed);
            lines.push(
                self.sealer
                    .record(&resumed_event(&failure.since, refused), time),
            );
        }
    }

    /// Seals a checkpoint of `kind` (the run's first one is its `start` instead).
    async fn seal_checkpoint(
        &mut self,
        kind: Kind,
        time: &str,
        lines: &mut Vec<Sealed>,
    ) -> Result<(), String> {
        let kind = if self.start_pending && kind == Kind::Interval {
            Kind::Start
        } else {
            kind
        };
        let witness = self.storage.witness().await;
        let key_id = self.key.key_id();
        let body = self
            .sealer
            .checkpoint_body(kind, time, (&key_id, self.key.signer()), &witness);
        let signature = self.key.sign(body.as_bytes()).await?;
        lines.push(self.sealer.checkpoint(body, &signature, time));
        if kind == Kind::Start {
            self.start_pending = false;
        }
        Ok(())
    }

    /// Writes `lines`, marking the write pending meanwhile (readiness fails if it lasts past
    /// the deadline). A write slower than the deadline counts as a failure: its callers gave
    /// up, and the next write records that.
    async fn append(&mut self, lines: &[Sealed]) -> Result<(), String> {
        let started = Instant::now();
        self.shared
            .busy_since
            .store(self.shared.now_ms(), Ordering::Release);
        let written = self.storage.append(lines).await;
        self.shared.busy_since.store(0, Ordering::Release);
        if written.is_ok() {
            self.shared.writes.fetch_add(1, Ordering::Relaxed);
            self.shared
                .lines
                .fetch_add(lines.len() as u64, Ordering::Relaxed);
        }
        if written.is_ok() && started.elapsed() > self.shared.timeout && self.failure.is_none() {
            self.failure = Some(Failure {
                since: now(),
                refused: 0,
            });
        }
        written
    }

    fn fail(&mut self, problem: &str, refused: u64) {
        if self.failure.is_none() {
            tracing::error!(
                problem,
                "audit write failed: refusing requests until the sink can be written again"
            );
            self.failure = Some(Failure {
                since: now(),
                refused: 0,
            });
        }
        if let Some(failure) = &mut self.failure {
            failure.refused += refused;
        }
        self.resync_pending = true;
        self.shared.healthy.store(false, Ordering::Release);
    }
}

/// Answers `jobs` with [`AuditUnavailable`], counting them in `failure`.
fn refuse(jobs: Vec<Job>, failure: Option<&mut Failure>, count: u64) {
    if let Some(failure) = failure {
        failure.refused += count;
    }
    for job in jobs {
        let _ = job.done.send(Err(AuditUnavailable));
    }
}

fn now() -> String {
    timestamp::iso8601_micros(OffsetDateTime::now_utc())
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
