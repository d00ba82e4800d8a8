//! Threads of their own for RSA signatures, so that no signature runs on the async I/O
//! threads.
//!
//! An RSA-2048 signature takes about 200 µs of a core. Signed on an I/O thread, it holds up
//! everything else that thread polls: while both workers of a two-core machine sign, nobody
//! accepts, reads or answers, and a health check or an HMAC URL (a few µs each) waits behind
//! a queue of signatures. Measured under a mixed load, signing here cut the health checks'
//! p99 from 21–217 ms to 3.3–3.5 ms (docs/benchmarks.md). Jobs are taken first come, first
//! served from one queue; its depth is bounded by the signing slots
//! (`MAX_CONCURRENT_REQUESTS`), which requests take before they get here.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

type Job = Box<dyn FnOnce() + Send>;

/// The signing threads; they end when this is dropped.
#[derive(Debug)]
pub struct SigningThreads {
    queue: Arc<Queue>,
    threads: NonZeroUsize,
}

/// A job that did not finish: its thread panicked.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the signing thread did not finish the signature")]
pub struct Unfinished;

/// One queue for all the threads. A thread that finishes a job takes the next one without
/// sleeping, and a new job wakes a thread only when one is asleep, and only one. (A
/// `Mutex<mpsc::Receiver>` shared by the threads woke two per job on an idle service: one to
/// take the job, one to take the lock and wait. Sequential V2 requests made 3.6 futex calls
/// each on the signing threads with it, 1.3 with this.)
#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    job_waiting: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Threads waiting on `job_waiting`.
    asleep: usize,
    closed: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// (Never after `close`: `run` borrows the threads, which close only when dropped.)
    fn push(&self, job: Job) {
        let mut state = self.lock();
        state.jobs.push_back(job);
        let wake = state.asleep > 0;
        drop(state);
        if wake {
            self.job_waiting.notify_one();
        }
    }

    /// The next job, or `None` once the queue is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state.asleep += 1;
            state = self
                .job_waiting
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.asleep -= 1;
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.job_waiting.notify_all();
    }
}

impl SigningThreads {
    /// Starts `threads` threads.
    pub fn start(threads: NonZeroUsize) -> std::io::Result<Self> {
        let queue = Arc::new(Queue::default());
        for index in 0..threads.get() {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("storage-signer-sign-{index}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Self { queue, threads })
    }

    pub fn threads(&self) -> NonZeroUsize {
        self.threads
    }

    /// Runs `job` on a signing thread and waits for its result without blocking the caller's
    /// thread.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unfinished> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue.push(Box::new(move || {
            // The caller may have gone (its connection closed): the result is dropped.
            let _ = done.send(job());
        }));
        // A job that panicked drops `done` unsent.
        result.await.map_err(|_| Unfinished)
    }
}

impl Drop for SigningThreads {
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn work(queue: &Queue) {
    while let Some(job) = queue.next() {
        // A panicking job fails its own request (the caller sees `Unfinished`), and the thread
        // lives on for the next one.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;

    fn two() -> SigningThreads {
        SigningThreads::start(NonZeroUsize::new(2).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn jobs_run_on_the_signing_threads() {
        let threads = two();
        let caller = std::thread::current().id();
        let name = threads
            .run(move || {
                assert_ne!(std::thread::current().id(), caller);
                std::thread::current().name().map(str::to_owned)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("storage-signer-sign-"));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_threads_go_on() {
        let threads = two();
        for _ in 0..4 {
            let failed = threads.run(|| -> u32 { panic!("a bug") }).await;
            assert!(failed.is_err());
        }
        assert_eq!(threads.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_job_does_not_block_the_async_thread() {
        // One async thread: if `run` blocked it, the timer below could not fire first.
        let threads = two();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let slow = threads.run(move || released.recv_timeout(Duration::from_secs(10)).is_ok());
        tokio::pin!(slow);
        tokio::select! {
            _ = &mut slow => panic!("the job finished before it was released"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        release.send(()).unwrap();
        assert!(slow.await.unwrap());
    }

    #[tokio::test]
    async fn every_thread_takes_jobs() {
        let threads = two();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        // Two jobs that each wait for the other: they finish only if they run at once.
        let jobs = (0..2).map(|_| {
            let barrier = Arc::clone(&barrier);
            threads.run(move || {
                barrier.wait();
                std::thread::current().id()
            })
        });
        let ids: HashSet<_> = futures_util::future::join_all(jobs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids.len(), 2);
    }
}
