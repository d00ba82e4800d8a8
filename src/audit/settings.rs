//! The audit settings (plain data), opening the sink at start-up, and starting its writer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::CheckpointKey;
use super::file::FileTarget;
use super::postgres::{DatabaseUrl, PgStorage};
use super::sealer::{CheckpointPolicy, Sealer};
use super::writer::{Auditor, Gather, Storage};
use crate::key::ServiceAccountKey;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_QUEUE: usize = 4096;
pub const DEFAULT_CHECKPOINT_RECORDS: u64 = 1000;
pub const DEFAULT_CHECKPOINT_SECONDS: u64 = 60;

/// Where the trail goes and how it is written.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `AUDIT_LOG_PATH`; `None`: stdout.
    pub log_path: Option<PathBuf>,
    /// `AUDIT_DATABASE_URL`: PostgreSQL instead of a file.
    pub database_url: Option<DatabaseUrl>,
    /// `AUDIT_FSYNC`.
    pub fsync: bool,
    /// `AUDIT_TIMEOUT`: the longest a request waits for its record.
    pub timeout: Duration,
    /// `AUDIT_QUEUE`: requests waiting for the writer at most.
    pub queue: usize,
    /// `AUDIT_CHECKPOINT_RECORDS`, `AUDIT_CHECKPOINT_SECONDS`.
    pub checkpoint_records: u64,
    pub checkpoint_every: Duration,
    /// `AUDIT_SIGNING_KEY_PATH`: a service-account JSON key that signs checkpoints instead of
    /// the service's own signer.
    pub signing_key_path: Option<PathBuf>,
}

impl AuditSettings {
    fn policy(&self) -> CheckpointPolicy {
        CheckpointPolicy {
            every_records: self.checkpoint_records,
            every: self.checkpoint_every,
        }
    }

    /// The key that signs checkpoints: `AUDIT_SIGNING_KEY_PATH` if set, else `service`.
    pub fn checkpoint_key(&self, service: CheckpointKey) -> Result<CheckpointKey, String> {
        let Some(path) = &self.signing_key_path else {
            return Ok(service);
        };
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let key =
            ServiceAccountKey::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(CheckpointKey::Local(Arc::new(key)))
    }

    /// Opens the sink (a file is locked and its chain read here, so a problem stops start-up
    /// before the service listens). The writer starts with [`PreparedAudit::start`].
    pub fn open(self, key: CheckpointKey) -> Result<PreparedAudit, String> {
        let policy = self.policy();
        let (target, description) = match (&self.database_url, &self.log_path) {
            (Some(url), _) => (Target::Postgres(url.clone()), url.to_string()),
            (None, Some(path)) => {
                let (file, sealer) = FileTarget::open(path, self.fsync, policy, &key)?;
                (Target::File(file, sealer), path.display().to_string())
            }
            (None, None) => (
                Target::File(FileTarget::stdout(self.fsync), Sealer::new(None, policy)),
                "stdout".to_owned(),
            ),
        };
        Ok(PreparedAudit {
            target,
            key,
            settings: self,
            description,
        })
    }
}

#[derive(Debug)]
enum Target {
    File(FileTarget, Sealer),
    Postgres(DatabaseUrl),
}

/// An opened sink whose writer has not started yet.
#[derive(Debug)]
pub struct PreparedAudit {
    target: Target,
    key: CheckpointKey,
    settings: AuditSettings,
    description: String,
}

impl PreparedAudit {
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Starts the writer task (inside the Tokio runtime).
    pub fn start(self) -> Auditor {
        self.start_gathering(Gather::for_this_process())
    }

    /// [`PreparedAudit::start`] with the writes to gather for given (tests choose).
    pub(super) fn start_gathering(self, gather: Gather) -> Auditor {
        let policy = self.settings.policy();
        let (storage, sealer) = match self.target {
            Target::File(file, sealer) => (Storage::File(file.spawn()), sealer),
            Target::Postgres(url) => {
                let chain = uuid::Uuid::new_v4().to_string();
                let sealer = Sealer::new(Some(chain.clone()), policy);
                (
                    Storage::Postgres(Box::new(PgStorage::new(url, self.settings.timeout, chain))),
                    sealer,
                )
            }
        };
        Auditor::start(
            storage,
            sealer,
            self.key,
            self.settings.timeout,
            self.settings.queue,
            gather,
            self.description,
        )
    }
}
