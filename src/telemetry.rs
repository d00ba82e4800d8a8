//! Logs: one JSON object per line on stdout, so log collectors need no parsing rules.
//!
//! Lines are handed to a background thread that writes them in batches (`batches`): under
//! load, the request path spends no system call and no thread wake-up on its log line. When
//! stdout does not keep up, lines past a bound are dropped and counted rather than stalling
//! requests.
//!
//! Each line is `{"timestamp":…,"level":…,"message":…, then the event's fields in order}`,
//! the shape of tracing-subscriber's flattened JSON, written by hand: its JSON formatter
//! serialises field by field through serde and cost about 23,000 instructions per request
//! line, an eighth of a V2 URL's work beyond the signature (callgrind, docs/benchmarks.md).

mod batches;

use std::fmt::{self, Write as _};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::json_text::Escaped;
use crate::timestamp;

/// Installs the subscriber. Keep the guard until exit: dropping it flushes the last lines.
pub fn init(level: LevelFilter) -> batches::Guard {
    let (writer, guard) = batches::start(std::io::stdout(), "storage-signer-log");
    tracing_subscriber::fmt()
        .event_format(JsonLines)
        .with_max_level(level)
        .with_writer(writer)
        .init();
    guard
}

/// Formats each event as one JSON object on one line (no span fields: the service opens no
/// spans).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        writer.write_str(&timestamp::iso8601_micros(OffsetDateTime::now_utc()))?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(event.metadata().level().as_str())?;
        writer.write_char('"')?;
        let mut fields = Fields {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`; remembers the first write error (`Visit` cannot
/// return one).
struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    result: fmt::Result,
}

/// A field's value, as `Fields::field` writes it.
#[derive(Clone, Copy)]
enum FieldValue<'v> {
    /// A string, escaped inside quotes. Written directly: through `format_args!` it would
    /// take `core::fmt`'s padding path for every string field of every line.
    Str(&'v str),
    /// Formatted, then escaped inside quotes.
    Quoted(fmt::Arguments<'v>),
    /// Formatted as it is: numbers, booleans, `null`.
    Bare(fmt::Arguments<'v>),
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: FieldValue<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.out.write_str(",\"")?;
            Escaped(&mut *self.out).write_str(field.name())?;
            self.out.write_str("\":")?;
            match value {
                FieldValue::Str(text) => {
                    self.out.write_char('"')?;
                    Escaped(&mut *self.out).write_str(text)?;
                    self.out.write_char('"')
                }
                FieldValue::Quoted(value) => {
                    self.out.write_char('"')?;
                    Escaped(&mut *self.out).write_fmt(value)?;
                    self.out.write_char('"')
                }
                FieldValue::Bare(value) => self.out.write_fmt(value),
            }
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, FieldValue::Str(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, FieldValue::Bare(format_args!("{value}")));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, FieldValue::Bare(format_args!("{value}")));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, FieldValue::Bare(format_args!("{value}")));
    }

    // u128 and i128 go through `record_debug`, as strings, as with tracing-subscriber.

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !value.is_finite() {
            // JSON has no NaN or infinity; serde_json writes null too.
            self.field(field, FieldValue::Bare(format_args!("null")));
        } else if value.fract() == 0.0 && value.abs() < 1e15 {
            // `5.0`, not `5`: the value stays a float for collectors that type fields.
            self.field(field, FieldValue::Bare(format_args!("{value:.1}")));
        } else {
            self.field(field, FieldValue::Bare(format_args!("{value}")));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, FieldValue::Quoted(format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, FieldValue::Quoted(format_args!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug)]
    struct Failure;

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("disk \"full\"\n")
        }
    }

    impl std::error::Error for Failure {}

    /// Every kind of field, and text that would break a line that did not escape it.
    fn log_everything() {
        let error = Failure;
        let hostile = "a\"b\\c\nd\re\tf\u{0}g\u{1f}h\u{7f}é😀</script>\u{2028}";
        tracing::info!(
            request_id = %"0b4a-…",
            caller_request_id = Some("caller\"}{"),
            absent = None::<&str>,
            method = "GET",
            path = hostile,
            status = 201_u16,
            negative = -7_i64,
            big = u128::MAX,
            small = i128::MIN,
            ok = true,
            latency_ms = 0.125_f64,
            whole_ms = 5.0_f64,
            tiny = 1e-7_f64,
            nan = f64::NAN,
            error = &error as &(dyn std::error::Error + 'static),
            debugged = ?vec!["x", "y\""],
            "request {}", "line"
        );
        tracing::warn!("no fields at all");
    }

    fn lines_of(format: impl FnOnce(Captured) -> tracing::Dispatch) -> Vec<Value> {
        let captured = Captured::default();
        let dispatch = format(captured.clone());
        tracing::dispatcher::with_default(&dispatch, log_everything);
        let text = captured.text();
        assert!(text.ends_with('\n'));
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    fn without_timestamp(mut line: Value) -> Value {
        let timestamp = line.as_object_mut().unwrap().remove("timestamp").unwrap();
        let timestamp = timestamp.as_str().unwrap();
        // Microseconds, UTC, as tracing-subscriber's default timer writes them.
        assert_eq!(timestamp.len(), 27, "{timestamp}");
        assert!(timestamp.ends_with('Z'), "{timestamp}");
        line
    }

    /// tracing-subscriber's own JSON formatter, with the settings this service used before, is
    /// the reference: the same events give the same objects (key order is checked apart).
    #[test]
    fn lines_hold_what_tracing_subscribers_json_formatter_writes() {
        let ours = lines_of(|writer| {
            tracing_subscriber::fmt()
                .event_format(JsonLines)
                .with_writer(writer)
                .into()
        });
        let reference = lines_of(|writer| {
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .with_writer(writer)
                .into()
        });
        assert_eq!(ours.len(), 2);
        let ours: Vec<Value> = ours.into_iter().map(without_timestamp).collect();
        let reference: Vec<Value> = reference.into_iter().map(without_timestamp).collect();
        assert_eq!(ours, reference);
        assert_eq!(
            ours[0]["path"],
            "a\"b\\c\nd\re\tf\u{0}g\u{1f}h\u{7f}é😀</script>\u{2028}"
        );
        assert_eq!(ours[0]["message"], "request line");
        assert_eq!(ours[0]["level"], "INFO");
        assert_eq!(ours[0]["nan"], Value::Null);
    }

    #[test]
    fn lines_start_with_the_time_and_level_and_keep_the_fields_order() {
        let captured = Captured::default();
        let dispatch: tracing::Dispatch = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(captured.clone())
            .into();
        tracing::dispatcher::with_default(&dispatch, log_everything);
        let text = captured.text();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"timestamp\":\""), "{first}");
        let order: Vec<usize> = [
            "\"level\":\"INFO\"",
            "\"message\":",
            "\"request_id\":",
            "\"caller_request_id\":",
            "\"method\":",
            "\"debugged\":",
        ]
        .iter()
        .map(|key| {
            first
                .find(key)
                .unwrap_or_else(|| panic!("{key} in {first}"))
        })
        .collect();
        assert!(order.is_sorted(), "{first}");
        assert!(first.contains(",\"whole_ms\":5.0,"), "{first}");
        assert!(!first.contains("absent"), "{first}");
        assert_eq!(text.lines().count(), 2);
    }
}
