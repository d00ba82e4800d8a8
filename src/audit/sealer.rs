//! The writer's view of its chain: the head, the last checkpoint, and when the next one is
//! due. Pure: the writer asks it for lines and writes them; on a failed write it restores the
//! copy it took before.

use std::time::Duration;

use super::chain::{self, ChainHead, GENESIS};
use super::checkpoint::{self, Kind};
use super::{AuditEvent, Decision};

/// How often checkpoints are written.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// A checkpoint follows at the latest this many records after the previous one.
    pub every_records: u64,
    /// ... or this long after it, even when no record came (so a live trail's last
    /// checkpoint is never older than this).
    pub every: Duration,
}

/// The searchable fields of a sealed record (the PostgreSQL sink keeps them in columns).
#[derive(Debug, Clone)]
pub struct RecordMeta {
    pub seq: u64,
    pub decision: &'static str,
    pub client_id: Option<String>,
    pub action: Option<&'static str>,
    pub bucket: Option<String>,
    pub object: Option<String>,
    pub request_id: String,
}

/// One line ready to be written.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub line: String,
    pub time: String,
    /// `None` for a checkpoint.
    pub record: Option<RecordMeta>,
}

#[derive(Debug, Clone)]
pub struct Sealer {
    pub chain: Option<String>,
    pub head: ChainHead,
    /// Number and line digest of the last checkpoint (0 and 64 zeros before the first).
    pub checkpoint_number: u64,
    pub checkpoint_digest: String,
    pub records_since_checkpoint: u64,
    pub policy: CheckpointPolicy,
}

impl Sealer {
    /// A new chain.
    pub fn new(chain: Option<String>, policy: CheckpointPolicy) -> Self {
        Self {
            chain,
            head: ChainHead::genesis(),
            checkpoint_number: 0,
            checkpoint_digest: GENESIS.to_owned(),
            records_since_checkpoint: 0,
            policy,
        }
    }

    /// Continues the chain whose last lines (from its last checkpoint on, or all of them) are
    /// `tail`. Each line must open; the records must follow each other.
    pub fn continue_after<'a>(
        chain: Option<String>,
        policy: CheckpointPolicy,
        tail: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut sealer = Self::new(chain, policy);
        let mut first = true;
        let mut allowed = None;
        for line in tail {
            if line.contains("\"log\":\"audit_checkpoint\"") {
                let opened = checkpoint::open(line)?;
                if !first && opened.head_hash != sealer.head.hash {
                    return Err("a checkpoint does not sign the records before it".into());
                }
                sealer.head = ChainHead {
                    seq: opened.head_seq,
                    hash: opened.head_hash,
                };
                sealer.checkpoint_number = opened.number;
                sealer.checkpoint_digest = opened.digest;
                sealer.records_since_checkpoint = 0;
                allowed = Some(opened.every_records);
            } else {
                let record = chain::open_record(line)?;
                if !first
                    && (record.prev_hash != sealer.head.hash || record.seq != sealer.head.seq + 1)
                {
                    return Err(format!(
                        "record {} does not follow the one before it",
                        record.seq
                    ));
                }
                sealer.head = ChainHead {
                    seq: record.seq,
                    hash: record.hash,
                };
                sealer.records_since_checkpoint += 1;
            }
            first = false;
        }
        if allowed.is_some_and(|every| sealer.records_since_checkpoint > every) {
            return Err(
                "more records follow the last checkpoint than its interval allows (checkpoints were removed)"
                    .into(),
            );
        }
        Ok(sealer)
    }

    /// Seals `event`: the line to write.
    pub fn record(&mut self, event: &AuditEvent, time: &str) -> Sealed {
        let (line, head) = chain::seal(event, time, &self.head, self.chain.as_deref());
        self.head = head;
        self.records_since_checkpoint += 1;
        Sealed {
            line,
            time: time.to_owned(),
            record: Some(RecordMeta {
                seq: self.head.seq,
                decision: event.decision.as_str(),
                client_id: event.client_id.clone(),
                action: event.action,
                bucket: event.bucket.clone(),
                object: event.object.clone(),
                request_id: event.request_id.clone(),
            }),
        }
    }

    /// Whether the records since the last checkpoint reached the policy's count.
    pub fn checkpoint_due(&self) -> bool {
        self.records_since_checkpoint >= self.policy.every_records
    }

    /// The canonical body of the next checkpoint, to be signed.
    pub fn checkpoint_body(
        &self,
        kind: Kind,
        time: &str,
        (key, signer): (&str, &str),
        witness: &[String],
    ) -> String {
        checkpoint::Body {
            chain: self.chain.as_deref(),
            number: self.checkpoint_number + 1,
            kind,
            head_seq: self.head.seq,
            head_hash: &self.head.hash,
            prev_checkpoint: &self.checkpoint_digest,
            every_records: self.policy.every_records,
            every_seconds: self.policy.every.as_secs(),
            key,
            signer,
            time,
            witness,
        }
        .canonical()
    }

    /// Seals the checkpoint whose `body` was signed with `signature`.
    pub fn checkpoint(&mut self, body: String, signature: &[u8], time: &str) -> Sealed {
        let line = checkpoint::seal(body, signature);
        self.checkpoint_number += 1;
        self.checkpoint_digest = chain::sha256_hex(&line);
        self.records_since_checkpoint = 0;
        Sealed {
            line,
            time: time.to_owned(),
            record: None,
        }
    }
}

/// The record written when a failing sink works again.
pub fn resumed_event(since: &str, refused: u64) -> AuditEvent {
    let mut event = AuditEvent::new("-", None);
    event.decide(
        Decision::AuditResumed,
        format!(
            "audit writes failed from {since} until now; {refused} request(s) were refused meanwhile"
        ),
    );
    event
}
