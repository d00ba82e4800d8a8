//! Settings that hold hostile callers to account: connections, their timeouts, the rate of
//! refusals per source address, and the separate metrics listener.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::parse::parse_seconds;
use super::{ConfigError, ServeArgs};

/// Connections open at once; past this, new ones are refused (existing ones keep being served).
/// An open connection costs about 30 KB (measured with `scripts/attack slow`): 2048 of them fit,
/// with room to spare, in the 128 MiB memory limit of `deploy/kubernetes`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;
/// A request head (or the first bytes of a connection) must arrive within this.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle keep-alive connection is closed after this.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Refused requests per minute and source address (or client) that get their own audit
/// record; past this, a 429 and a line in the periodic summary.
pub const DEFAULT_REFUSALS_PER_MINUTE: u32 = 60;
pub const DEFAULT_REFUSAL_BURST: u32 = 30;
/// How often the audit trail gets a summary of what the limits turned away.
pub const DEFAULT_AUDIT_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// How connections are accepted and when idle or slow ones are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
}

/// A rate: `per_minute` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    pub per_minute: u32,
    pub burst: u32,
}

/// What bounds refused requests before they reach the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalSettings {
    /// Per source address, and per client, alike.
    pub rate: RateSettings,
    pub summary_interval: Duration,
}

pub(super) fn connections(args: &ServeArgs) -> Result<ConnectionSettings, ConfigError> {
    Ok(ConnectionSettings {
        max_connections: parse_count(
            ("MAX_CONNECTIONS", "--max-connections"),
            args.max_connections.as_deref(),
            DEFAULT_MAX_CONNECTIONS,
            1..=1_000_000,
        )?,
        header_read_timeout: parse_seconds(
            ("HEADER_READ_TIMEOUT", "--header-read-timeout"),
            args.header_read_timeout.as_deref(),
            DEFAULT_HEADER_READ_TIMEOUT,
            1..=300,
        )?,
        keep_alive_timeout: parse_seconds(
            ("KEEP_ALIVE_TIMEOUT", "--keep-alive-timeout"),
            args.keep_alive_timeout.as_deref(),
            DEFAULT_KEEP_ALIVE_TIMEOUT,
            1..=3600,
        )?,
    })
}

/// `SIGNING_THREADS`, or one per CPU this process may use (cgroup quotas included). 0: the
/// I/O threads sign themselves.
pub(super) fn signing_threads(args: &ServeArgs) -> Result<usize, ConfigError> {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    parse_count(
        ("SIGNING_THREADS", "--signing-threads"),
        args.signing_threads.as_deref(),
        cpus,
        0..=256,
    )
}

pub(super) fn refusals(args: &ServeArgs) -> Result<RefusalSettings, ConfigError> {
    let count = |names, value: Option<&String>, default: u32| {
        parse_count(
            names,
            value.map(String::as_str),
            default as usize,
            1..=1_000_000,
        )
        .map(|n| u32::try_from(n).expect("at most a million"))
    };
    Ok(RefusalSettings {
        rate: RateSettings {
            per_minute: count(
                ("REFUSALS_PER_MINUTE", "--refusals-per-minute"),
                args.refusals_per_minute.as_ref(),
                DEFAULT_REFUSALS_PER_MINUTE,
            )?,
            burst: count(
                ("REFUSAL_BURST", "--refusal-burst"),
                args.refusal_burst.as_ref(),
                DEFAULT_REFUSAL_BURST,
            )?,
        },
        summary_interval: parse_seconds(
            ("AUDIT_SUMMARY_INTERVAL", "--audit-summary-interval"),
            args.audit_summary_interval.as_deref(),
            DEFAULT_AUDIT_SUMMARY_INTERVAL,
            1..=3600,
        )?,
    })
}

/// `METRICS_PORT`: `/metrics` (and the probes) on a listener of their own; unset, `/metrics`
/// is served with the API. It must differ from `PORT` (unless both are 0).
pub(super) fn metrics_port(args: &ServeArgs, port: u16) -> Result<Option<u16>, ConfigError> {
    let Some(value) = args.metrics_port.as_deref() else {
        return Ok(None);
    };
    let error = |problem: String| ConfigError::new("METRICS_PORT", "--metrics-port", problem);
    let metrics_port = value.trim().parse::<u16>().map_err(|_| {
        error(format!(
            "must be a port number from 0 to 65535; got {value:?}"
        ))
    })?;
    if metrics_port != 0 && metrics_port == port {
        return Err(error(format!(
            "must differ from PORT ({port}): the point is to keep /metrics off the API's listener"
        )));
    }
    Ok(Some(metrics_port))
}

/// A whole number within `range`, or `default` when unset.
fn parse_count(
    (variable, flag): (&'static str, &'static str),
    value: Option<&str>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            flag,
            format!(
                "must be a whole number from {} to {}; got {value:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}
