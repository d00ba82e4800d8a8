//! Logs: one JSON object per line on stdout, so log collectors need no parsing rules.

use tracing::level_filters::LevelFilter;

pub fn init(level: LevelFilter) {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .with_writer(std::io::stdout)
        .init();
}
