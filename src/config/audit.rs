//! Where the audit trail goes and how it is written: a file or stdout, or PostgreSQL; the
//! writer's deadline and queue; how often a checkpoint is signed, and by which key.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{parse_bool, parse_seconds};
use super::{ConfigError, Secret, ServeArgs};
use crate::audit::settings::{
    DEFAULT_CHECKPOINT_RECORDS, DEFAULT_CHECKPOINT_SECONDS, DEFAULT_QUEUE, DEFAULT_TIMEOUT,
};

/// The audit settings as given; the database URL is read and the sink opened at start-up.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `AUDIT_LOG_PATH`; `None`: stdout (unless the database is used).
    pub path: Option<PathBuf>,
    pub fsync: bool,
    /// `AUDIT_DATABASE_URL` (it holds a password: `Debug` does not print it).
    pub database_url: Option<Secret>,
    pub database_ca_file: Option<PathBuf>,
    /// The longest a request waits for its record before it gets 503.
    pub timeout: Duration,
    /// Requests waiting for the writer at most.
    pub queue: usize,
    pub checkpoint_records: u64,
    pub checkpoint_every: Duration,
    /// A service-account key that signs checkpoints instead of the service's own signer.
    pub signing_key_path: Option<PathBuf>,
}

impl AuditSettings {
    /// The variable and flag of the sink in use, for errors found when it is opened.
    pub fn sink_variable(&self) -> (&'static str, &'static str) {
        if self.database_url.is_some() {
            ("AUDIT_DATABASE_URL", "--audit-database-url")
        } else {
            ("AUDIT_LOG_PATH", "--audit-log")
        }
    }
}

pub(super) fn audit(args: &ServeArgs) -> Result<AuditSettings, ConfigError> {
    let path = args
        .audit_log_path
        .as_deref()
        .filter(|path| *path != "-")
        .map(PathBuf::from);
    if args.audit_database_url.is_some() && path.is_some() {
        return Err(ConfigError::new(
            "AUDIT_DATABASE_URL",
            "--audit-database-url",
            "is set, and so is AUDIT_LOG_PATH: choose one sink",
        ));
    }
    let count = |(variable, flag): (&'static str, &'static str), value: Option<&str>, default| {
        parse_seconds(
            (variable, flag),
            value,
            Duration::from_secs(default),
            1..=1_000_000,
        )
        .map(|number| number.as_secs())
        .map_err(|_| {
            ConfigError::new(
                variable,
                flag,
                format!(
                    "must be a whole number from 1 to 1000000; got {:?}",
                    value.unwrap_or_default()
                ),
            )
        })
    };
    Ok(AuditSettings {
        path,
        fsync: parse_bool("AUDIT_FSYNC", "--audit-fsync", args.audit_fsync.as_deref())?
            .unwrap_or(false),
        database_url: args.audit_database_url.clone(),
        database_ca_file: args.audit_database_ca_file.as_deref().map(PathBuf::from),
        timeout: parse_seconds(
            ("AUDIT_TIMEOUT", "--audit-timeout"),
            args.audit_timeout.as_deref(),
            DEFAULT_TIMEOUT,
            1..=60,
        )?,
        queue: usize::try_from(count(
            ("AUDIT_QUEUE", "--audit-queue"),
            args.audit_queue.as_deref(),
            DEFAULT_QUEUE as u64,
        )?)
        .unwrap_or(DEFAULT_QUEUE),
        checkpoint_records: count(
            ("AUDIT_CHECKPOINT_RECORDS", "--audit-checkpoint-records"),
            args.audit_checkpoint_records.as_deref(),
            DEFAULT_CHECKPOINT_RECORDS,
        )?,
        checkpoint_every: parse_seconds(
            ("AUDIT_CHECKPOINT_SECONDS", "--audit-checkpoint-seconds"),
            args.audit_checkpoint_seconds.as_deref(),
            Duration::from_secs(DEFAULT_CHECKPOINT_SECONDS),
            1..=86_400,
        )?,
        signing_key_path: args.audit_signing_key_path.as_deref().map(PathBuf::from),
    })
}
