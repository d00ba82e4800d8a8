//! Serving a listener: the accept loop, a cap on open connections, and each connection under a
//! watchdog that closes it when its request head is slow or it sits idle. `axum::serve` does
//! neither (it hides hyper's builder), and a hostile caller holding thousands of half-open
//! connections could exhaust file descriptors and memory.
//!
//! With TLS, each accepted connection completes its handshake in its own task, under its own
//! deadline, and holds a connection slot meanwhile: a client that never finishes a handshake
//! holds up nobody else, and their number is capped like any other connection's.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use super::tls::{self, TlsFiles};
use super::watchdog::{Activity, Expired, Tracked};
use crate::config::ConnectionSettings;
use crate::metrics::Metrics;

/// The largest request head (request line and headers) hyper buffers; larger ones get 431.
/// An API key or a JWT fits many times over; a 300 KB method does not.
const MAX_HEAD_BYTES: usize = 32 * 1024;
const MAX_HEADERS: usize = 64;
/// HTTP/2 streams one connection may have open.
const MAX_STREAMS: u32 = 64;
/// After a failed `accept` (EMFILE, ENOMEM), wait this long before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Said to a connection past the cap, before it is closed.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 109\r\n\r\n{\"meta\":{\"code\":503},\"error\":{\"type\":\"overloaded\",\"message\":\"Too many open connections; try again shortly.\"}}";

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets each
/// connection finish its requests, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<TlsFiles>>,
    router: Router,
    settings: ConnectionSettings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let (stop, stopping) = watch::channel(false);
    let builder = Arc::new(builder());
    tokio::pin!(shutdown);
    let mut warned_full = false;
    let mut last_accept_error: Option<tokio::time::Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or memory: the open connections go on. Logged
                    // once per ACCEPT_ERROR_LOG_INTERVAL, not once per retry.
                    if last_accept_error.is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL) {
                        tracing::error!(%error, "accept failed; retrying");
                        last_accept_error = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.connections_refused.inc();
            if !warned_full {
                tracing::warn!(
                    max_connections = settings.max_connections,
                    "connection limit reached: new connections get 503 and are closed"
                );
                warned_full = true;
            }
            // Behind TLS the plaintext answer would mean nothing to the client: just close.
            if tls.is_none() {
                refuse(&stream);
            }
            continue;
        };
        warned_full = false;
        let _ = stream.set_nodelay(true);
        let (router, builder, stopping, metrics, tls) = (
            router.clone(),
            Arc::clone(&builder),
            stopping.clone(),
            Arc::clone(&metrics),
            tls.clone(),
        );
        metrics.open_connections.inc();
        tokio::spawn(async move {
            match tls {
                None => {
                    serve_connection(stream, remote, router, &builder, settings, stopping).await;
                }
                Some(files) => {
                    if let Some(stream) = tls::accept(&files, stream, remote).await {
                        serve_connection(stream, remote, router, &builder, settings, stopping)
                            .await;
                    }
                }
            }
            metrics.open_connections.dec();
            drop(slot);
        });
    }
    drop(listener);
    stop.send_replace(true);
    // Every slot back: every connection closed.
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// The connection cap is reached: say so, if the socket takes it at once, and close.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(FULL);
}

/// hyper's connection settings: HTTP/1.1 and HTTP/2 (prior knowledge), small request heads.
fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    builder
}

/// Serves one connection until the client closes it, it times out (slow head, idle), or the
/// service stops. `io` is any byte stream (TCP, or TLS over TCP); `remote` is what handlers see
/// as `ConnectInfo`.
pub async fn serve_connection<IO>(
    io: IO,
    remote: SocketAddr,
    router: Router,
    builder: &auto::Builder<TokioExecutor>,
    settings: ConnectionSettings,
    mut stopping: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            let in_flight = activity.request_started();
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(in_flight);
                response
            }
        }
    });
    let io = TokioIo::new(Tracked::new(io, Arc::clone(&activity)));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let tick = check_interval(settings);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(tick) => {
                if let Some(expired) = activity.expired(settings) {
                    // Nothing in flight, so nothing is lost by closing at once.
                    tracing::debug!(%remote, reason = expired.as_str(), "closing the connection");
                    if expired == Expired::Head {
                        return;
                    }
                    if shutting_down {
                        return;
                    }
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = stopping.wait_for(|stop| *stop), if !shutting_down => {
                // Stopping: a connection with nothing in flight (idle, or a head still on its
                // way) closes now, rather than holding the exit up to HEADER_READ_TIMEOUT.
                if activity.is_idle() {
                    return;
                }
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// How often a connection's watchdog looks at it: a quarter of the shorter timeout, between
/// 50 ms and 1 s, so a timeout is overrun by at most that.
fn check_interval(settings: ConnectionSettings) -> Duration {
    (settings
        .header_read_timeout
        .min(settings.keep_alive_timeout)
        / 4)
    .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canned_503_is_one_complete_response() {
        let text = std::str::from_utf8(FULL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["type"], "overloaded");
    }
}
