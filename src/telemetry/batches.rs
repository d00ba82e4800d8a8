//! Log lines on their way to stdout: requests append their line to a shared buffer, and one
//! thread writes what has gathered.
//!
//! The thread sleeps until a line lands in an empty buffer, then lets lines gather for
//! `GATHER` (or until `FLUSH_BYTES` are waiting) and writes them with one system call: under
//! load it wakes at most once per `GATHER`, not once per line. tracing-appender's writer,
//! which this replaces, woke its thread for nearly every line: 0.5 context switches and about
//! 9 µs of CPU per request under HMAC load on our benchmark host (docs/benchmarks.md).
//!
//! Bounded: past `MAX_PENDING` bytes waiting, lines are dropped and counted, and the next
//! write says how many. A stdout nobody reads must not stall requests; the audit trail, not
//! the log, is the record that may not lose a line (it refuses requests instead).

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long lines gather before a write: the most a line waits before it leaves.
const GATHER: Duration = Duration::from_millis(10);
/// Write sooner when this much is waiting.
const FLUSH_BYTES: usize = 256 * 1024;
/// Drop lines rather than hold more than this.
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// How long dropping the guard waits for the last lines to be written.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    dropped: u64,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        let before = state.pending.len();
        if before + line.len() > MAX_PENDING {
            state.dropped += 1;
            return;
        }
        state.pending.extend_from_slice(line);
        let wake = before == 0 || (before < FLUSH_BYTES && state.pending.len() >= FLUSH_BYTES);
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Waits for lines, lets more gather, and takes them (with the count of dropped ones).
    /// `None` once closing and nothing is left.
    fn take(&self, batch: &mut Vec<u8>) -> Option<u64> {
        let mut state = self.lock();
        while state.pending.is_empty() && !state.closing {
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.pending.is_empty() && state.dropped == 0 {
            return None;
        }
        if !state.closing {
            state = self
                .ready
                .wait_timeout_while(state, GATHER, |s| {
                    s.pending.len() < FLUSH_BYTES && !s.closing
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(batch, &mut state.pending);
        Some(std::mem::take(&mut state.dropped))
    }
}

/// Hands lines to the writer thread (tracing-subscriber's `MakeWriter`).
#[derive(Clone)]
pub struct Batches {
    shared: Arc<Shared>,
}

/// Keep until exit: dropping it writes the last lines (waiting up to a second for them).
pub struct Guard {
    shared: Arc<Shared>,
    finished: mpsc::Receiver<()>,
}

/// Starts the writer thread on `out`.
pub fn start<W: Write + Send + 'static>(mut out: W, thread_name: &str) -> (Batches, Guard) {
    let shared = Arc::new(Shared::default());
    let (done, finished) = mpsc::channel();
    let theirs = Arc::clone(&shared);
    std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || {
            let mut batch = Vec::new();
            while let Some(dropped) = theirs.take(&mut batch) {
                if dropped > 0 {
                    let _ = out.write_all(dropped_line(dropped).as_bytes());
                }
                // A failed write loses its lines; there is nowhere else to report it.
                let _ = out.write_all(&batch).and_then(|()| out.flush());
                batch.clear();
                if batch.capacity() > 2 * FLUSH_BYTES {
                    batch = Vec::new();
                }
            }
            let _ = done.send(());
        })
        .expect("spawn the log writer thread");
    (
        Batches {
            shared: Arc::clone(&shared),
        },
        Guard { shared, finished },
    )
}

fn dropped_line(count: u64) -> String {
    format!(
        "{{\"timestamp\":\"{}\",\"level\":\"WARN\",\"message\":\"log lines dropped: stdout did not keep up\",\"dropped\":{count}}}\n",
        crate::timestamp::iso8601_micros(time::OffsetDateTime::now_utc())
    )
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.ready.notify_one();
        let _ = self.finished.recv_timeout(SHUTDOWN_WAIT);
    }
}

/// One event's line: tracing-subscriber formats the whole line, then writes it with one
/// `write_all`, so a line is taken (or dropped) whole.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batches {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use super::*;

    /// An output that records each write, and can be made to block (a pipe nobody reads).
    #[derive(Clone, Default)]
    struct Output {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        blocked: Arc<AtomicBool>,
    }

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            while self.blocked.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.writes.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.writes.lock().unwrap().concat()).unwrap()
        }

        fn wait_for(&self, needle: &str) -> String {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let text = self.text();
                if text.contains(needle) || Instant::now() > deadline {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn line(i: usize) -> String {
        format!("{{\"n\":{i}}}\n")
    }

    #[test]
    fn lines_arrive_whole_in_order_and_many_share_one_write() {
        let output = Output::default();
        let (batches, _guard) = start(output.clone(), "test-log");
        for i in 0..1_000 {
            batches.make_writer().write_all(line(i).as_bytes()).unwrap();
        }
        let text = output.wait_for(&line(999));
        let expected: String = (0..1_000).map(line).collect();
        assert_eq!(text, expected);
        let writes = output.writes.lock().unwrap().len();
        assert!(writes < 100, "1,000 lines took {writes} writes");
    }

    #[test]
    fn a_line_leaves_within_the_gathering_time_when_nothing_follows_it() {
        let output = Output::default();
        let (batches, _guard) = start(output.clone(), "test-log");
        batches.make_writer().write_all(b"alone\n").unwrap();
        let start = Instant::now();
        assert_eq!(output.wait_for("alone"), "alone\n");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_blocked_output_drops_lines_past_the_bound_and_says_how_many() {
        let output = Output::default();
        output.blocked.store(true, Ordering::SeqCst);
        let (batches, _guard) = start(output.clone(), "test-log");
        let long = format!("{}\n", "x".repeat(1023));
        // Besides the buffer, one batch is in the thread's hands (blocked in its write): up
        // to MAX_PENDING too when the thread was slow to take it.
        let lines = 3 * MAX_PENDING / long.len();
        let begun = Instant::now();
        for _ in 0..lines {
            batches.make_writer().write_all(long.as_bytes()).unwrap();
        }
        // Pushing never waited for the blocked output.
        assert!(begun.elapsed() < Duration::from_secs(5));
        output.blocked.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !batches.shared.lock().pending.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        batches.make_writer().write_all(b"after\n").unwrap();
        let text = output.wait_for("after");
        let kept = text.matches(&long).count();
        // One warning per batch that follows drops: two when the thread was slow to take the
        // first batch (lines were dropped before it, and again while its warning blocked).
        let warnings: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| l.contains("log lines dropped"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!warnings.is_empty(), "a line that counts the dropped lines");
        assert!(warnings.iter().all(|w| w["level"] == "WARN"));
        let dropped: u64 = warnings
            .iter()
            .map(|w| w["dropped"].as_u64().unwrap())
            .sum();
        // At most what was in the thread's hands and what the buffer holds.
        let bound = 2 * MAX_PENDING / long.len();
        assert!(kept <= bound, "kept {kept} of {lines}");
        assert!(dropped > 0);
        assert_eq!(kept as u64 + dropped, lines as u64);
    }

    #[test]
    fn dropping_the_guard_writes_the_last_lines() {
        let output = Output::default();
        let (batches, guard) = start(output.clone(), "test-log");
        batches.make_writer().write_all(b"last\n").unwrap();
        drop(guard);
        assert_eq!(output.text(), "last\n");
    }
}
