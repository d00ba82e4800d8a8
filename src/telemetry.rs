//! Logs: one JSON object per line on stdout, so log collectors need no parsing rules.
//!
//! Lines are handed to a background thread that writes them in batches: under load, the
//! request path then spends no system call on its log line. Nothing is dropped: when the
//! queue is full, logging waits.

use std::io::BufWriter;

use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

/// Installs the subscriber. Keep the guard until exit: dropping it flushes the last lines.
pub fn init(level: LevelFilter) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("storage-signer-log")
        .finish(BufWriter::new(std::io::stdout()));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .with_writer(writer)
        .init();
    guard
}
