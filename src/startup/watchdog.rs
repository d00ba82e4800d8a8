//! What a connection is doing, for its watchdog: requests in flight, when it last went idle,
//! and whether the bytes of a new request head are trickling in.
//!
//! The rules, checked only while no request is in flight (a handler in progress is held to
//! `REQUEST_TIMEOUT` instead):
//! - a request head must arrive within `HEADER_READ_TIMEOUT` of its first byte, and a new
//!   connection must send its first request within `HEADER_READ_TIMEOUT` of being accepted;
//! - an idle keep-alive connection (no byte since its last response) is closed after
//!   `KEEP_ALIVE_TIMEOUT`.
//!
//! One mechanism for HTTP/1.1, HTTP/2 and the protocol detection before either, rather than
//! hyper's HTTP/1-only `header_read_timeout` (which also starts on idle connections).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::ConnectionSettings;

/// No request head in progress.
const NONE: u64 = u64::MAX;

/// Why a connection is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Its request head (or its first request) did not arrive in time.
    Head,
    /// It sat idle past the keep-alive timeout.
    Idle,
}

impl Expired {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "header read timeout",
            Self::Idle => "keep-alive timeout",
        }
    }
}

/// Shared by a connection's byte stream, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Whether any request has started on this connection.
    served: AtomicBool,
    /// Milliseconds after `opened` when the last request finished.
    idle_since: AtomicU64,
    /// Milliseconds after `opened` of the first byte read while idle, or `NONE`.
    head_since: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// A request's head was read; it is in flight until the guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        self.head_since.store(NONE, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// Bytes arrived; while idle, they start a request head.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now(), Ordering::Release);
        }
    }

    /// Whether no request is in flight (a head may be on its way).
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Whether the connection should be closed now, by the rules above.
    pub fn expired(&self, settings: ConnectionSettings) -> Option<Expired> {
        let state = State {
            in_flight: self.in_flight.load(Ordering::Acquire),
            served: self.served.load(Ordering::Acquire),
            idle_since: self.idle_since.load(Ordering::Acquire),
            head_since: self.head_since.load(Ordering::Acquire),
        };
        state.expired(self.now(), settings)
    }
}

/// A snapshot of [`Activity`], times in milliseconds after the connection opened.
#[derive(Debug, Clone, Copy)]
struct State {
    in_flight: usize,
    served: bool,
    idle_since: u64,
    head_since: u64,
}

impl State {
    fn expired(self, now: u64, settings: ConnectionSettings) -> Option<Expired> {
        if self.in_flight > 0 {
            return None;
        }
        let past =
            |since: u64, limit: Duration| u128::from(now.saturating_sub(since)) > limit.as_millis();
        if self.head_since != NONE {
            return past(self.head_since, settings.header_read_timeout).then_some(Expired::Head);
        }
        if !self.served {
            return past(0, settings.header_read_timeout).then_some(Expired::Head);
        }
        past(self.idle_since, settings.keep_alive_timeout).then_some(Expired::Idle)
    }
}

/// A request in flight; dropping it marks the end of the request.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A byte stream that tells its [`Activity`] when bytes arrive.
pub struct Tracked<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO> Tracked<IO> {
    pub fn new(inner: IO, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        ConnectionSettings {
            max_connections: 10,
            header_read_timeout: Duration::from_secs(2),
            keep_alive_timeout: Duration::from_secs(5),
        }
    }

    const FRESH: State = State {
        in_flight: 0,
        served: false,
        idle_since: 0,
        head_since: NONE,
    };

    #[test]
    fn a_connection_that_sends_nothing_expires_at_the_header_timeout() {
        assert_eq!(FRESH.expired(1900, settings()), None);
        assert_eq!(FRESH.expired(2100, settings()), Some(Expired::Head));
    }

    #[test]
    fn a_trickled_head_expires_at_the_header_timeout_from_its_first_byte() {
        let trickling = State {
            served: true,
            idle_since: 1000,
            head_since: 1500,
            ..FRESH
        };
        assert_eq!(trickling.expired(3400, settings()), None);
        assert_eq!(trickling.expired(3600, settings()), Some(Expired::Head));
    }

    #[test]
    fn requests_in_flight_keep_the_connection_and_idleness_closes_it() {
        let busy = State {
            in_flight: 1,
            served: true,
            ..FRESH
        };
        assert_eq!(busy.expired(600_000, settings()), None);
        let idle = State {
            idle_since: 10_000,
            ..busy
        };
        let idle = State {
            in_flight: 0,
            ..idle
        };
        assert_eq!(idle.expired(14_900, settings()), None);
        assert_eq!(idle.expired(15_100, settings()), Some(Expired::Idle));
    }
}
