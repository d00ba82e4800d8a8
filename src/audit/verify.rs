//! Checking a trail: every record canonical, matching its hash and following the one before;
//! every checkpoint canonical, following the previous checkpoint, signing the head at its
//! place, and (with public keys) signed by one of them; never more records after a checkpoint
//! than its policy allows. Pure: lines in, a report out.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::chain::{self, ChainHead, GENESIS, RECORD_LOG};
use super::checkpoint::{self, CHECKPOINT_LOG, Kind, PublicKey};

/// Where a chain breaks: the 1-based line number and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainBreak {
    pub line: usize,
    pub problem: String,
}

/// Options of a check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The chain continues one that ended with this hash (a rotated file), instead of
    /// starting at genesis.
    pub after: Option<String>,
    /// A head saved earlier (a record's `hash`): the trail must contain it, so records cut off
    /// the end past it are caught, while a trail that grew honestly since still passes.
    pub head: Option<String>,
    /// Skip JSON lines that are neither records nor checkpoints (a captured stdout).
    pub mixed: bool,
    /// Public keys that may sign checkpoints. Empty: signatures are not checked (reported).
    pub keys: Vec<PublicKey>,
    /// The chain (a database's `chain_id`) every line must name; `None`: lines name none.
    pub chain: Option<String>,
}

/// What a check found, when the chain is whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub head: ChainHead,
    pub records: u64,
    pub checkpoints: u64,
    /// Whether checkpoint signatures were checked (keys were given).
    pub signatures_checked: bool,
    /// Records after the last checkpoint (not signed yet).
    pub unsigned_tail: u64,
    /// The last checkpoint: kind, time, interval in seconds.
    pub last_checkpoint: Option<(Kind, String, u64)>,
    /// The digest of each checkpoint, in order (checkpoint `n` at `n - 1`).
    pub checkpoint_digests: Vec<String>,
    /// Other chains' checkpoints that this chain's checkpoints witnessed
    /// (`chain:number:digest`).
    pub witnessed: Vec<String>,
    /// Runs that stopped without their final checkpoint (a crash, or records cut off): the
    /// head `seq` at the next run's start checkpoint (the end lies before it).
    pub unclean_ends: Vec<u64>,
}

impl Report {
    /// Why completeness cannot be proven at `now` (for `--strict`): unclean ends, or a trail
    /// that neither ends with a final checkpoint nor has a fresh one (a running service
    /// writes one at least every `every_seconds`).
    pub fn incompleteness(&self, now: OffsetDateTime) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.signatures_checked {
            problems.push("no public key given: checkpoint signatures were not checked".into());
        }
        for seq in &self.unclean_ends {
            problems.push(format!(
                "a run ended before record {seq} without its final checkpoint (a crash, or records cut off): records after its last checkpoint may be missing"
            ));
        }
        match &self.last_checkpoint {
            None if self.records > 0 => problems.push("the trail has no checkpoint".into()),
            None | Some((Kind::Final, _, _)) => {}
            Some((_, time, every)) => {
                let age = OffsetDateTime::parse(time, &Rfc3339)
                    .map_or(i64::MAX, |at| (now - at).whole_seconds());
                let allowed = i64::try_from(every.saturating_mul(2) + 5).unwrap_or(i64::MAX);
                if age > allowed {
                    problems.push(format!(
                        "the trail ends without a final checkpoint and its last checkpoint is {age} s old (a running service writes one every {every} s): the service stopped without one, or records were cut off the end"
                    ));
                }
            }
        }
        problems
    }
}

/// Checks every line of a trail.
pub fn verify<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    options: &VerifyOptions,
) -> Result<Report, ChainBreak> {
    let mut walk = Walk::new(options);
    let mut last_line = 0;
    for (index, line) in lines.into_iter().enumerate() {
        last_line = index + 1;
        walk.line(line).map_err(|problem| ChainBreak {
            line: index + 1,
            problem,
        })?;
    }
    walk.finish(last_line + 1)
}

struct Walk<'o> {
    options: &'o VerifyOptions,
    head: ChainHead,
    report: Report,
    prev_checkpoint: String,
    checkpoint_number: u64,
    every_records: Option<u64>,
    last_kind: Option<Kind>,
    saw_head: bool,
}

impl<'o> Walk<'o> {
    fn new(options: &'o VerifyOptions) -> Self {
        let head = ChainHead {
            seq: 0,
            hash: options.after.clone().unwrap_or_else(|| GENESIS.to_owned()),
        };
        Self {
            options,
            report: Report {
                head: head.clone(),
                records: 0,
                checkpoints: 0,
                signatures_checked: !options.keys.is_empty(),
                unsigned_tail: 0,
                last_checkpoint: None,
                checkpoint_digests: Vec::new(),
                witnessed: Vec::new(),
                unclean_ends: Vec::new(),
            },
            head,
            prev_checkpoint: GENESIS.to_owned(),
            checkpoint_number: 0,
            every_records: None,
            last_kind: None,
            saw_head: false,
        }
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let log = log_of(line);
        match log.as_deref() {
            Some(RECORD_LOG) => self.record(line),
            Some(CHECKPOINT_LOG) => self.checkpoint(line),
            _ if self.options.mixed => Ok(()),
            Some(_) => Err("not an audit record".into()),
            None => Err("not a complete JSON record (edited or truncated)".into()),
        }
    }

    fn record(&mut self, line: &str) -> Result<(), String> {
        let record = chain::open_record(line)?;
        let named = record
            .fields
            .get("chain")
            .and_then(serde_json::Value::as_str);
        if named != self.options.chain.as_deref() {
            return Err("the record belongs to another chain (moved)".into());
        }
        if record.prev_hash != self.head.hash {
            let previous = if self.report.records == 0 {
                "the start of the chain"
            } else {
                "the previous record"
            };
            return Err(format!(
                "prev_hash does not follow {previous} (a record was deleted, inserted or reordered)"
            ));
        }
        let continuing = self.report.records == 0 && self.options.after.is_some();
        if !continuing && record.seq != self.head.seq + 1 {
            return Err(format!(
                "seq {} should be {} (a record was deleted, inserted or reordered)",
                record.seq,
                self.head.seq + 1
            ));
        }
        self.report.unsigned_tail += 1;
        if let Some(every) = self.every_records
            && self.report.unsigned_tail > every
        {
            return Err(format!(
                "more than {every} records after checkpoint {}: a checkpoint was removed",
                self.checkpoint_number
            ));
        }
        if self.options.head.as_deref() == Some(record.hash.as_str()) {
            self.saw_head = true;
        }
        self.head = ChainHead {
            seq: record.seq,
            hash: record.hash,
        };
        self.report.records += 1;
        Ok(())
    }

    fn checkpoint(&mut self, line: &str) -> Result<(), String> {
        let checkpoint = checkpoint::open(line)?;
        if checkpoint.chain != self.options.chain {
            return Err("the checkpoint belongs to another chain (moved)".into());
        }
        let continuing = self.report.checkpoints == 0 && self.options.after.is_some();
        if !continuing {
            if checkpoint.prev_checkpoint != self.prev_checkpoint {
                return Err(
                    "prev_checkpoint does not follow the previous checkpoint (a checkpoint was deleted, inserted or reordered)".into(),
                );
            }
            if checkpoint.number != self.checkpoint_number + 1 {
                return Err(format!(
                    "checkpoint {} should be {}",
                    checkpoint.number,
                    self.checkpoint_number + 1
                ));
            }
        }
        if checkpoint.head_hash != self.head.hash
            || (self.report.records > 0 && checkpoint.head_seq != self.head.seq)
        {
            return Err(format!(
                "checkpoint {} signs head seq {} but the records before it end at seq {} (records were edited, deleted or re-chained)",
                checkpoint.number, checkpoint.head_seq, self.head.seq
            ));
        }
        if !self.options.keys.is_empty() && checkpoint.signed_by(&self.options.keys).is_none() {
            return Err(format!(
                "checkpoint {} is not signed by any of the given keys (forged, or signed with another key)",
                checkpoint.number
            ));
        }
        if checkpoint.kind == Kind::Start && self.last_kind.is_some_and(|kind| kind != Kind::Final)
        {
            self.report.unclean_ends.push(self.head.seq);
        }
        if checkpoint.kind != Kind::Start && self.last_kind == Some(Kind::Final) {
            return Err("a checkpoint after a final one, without a new start".into());
        }
        self.head.seq = checkpoint.head_seq;
        self.report
            .checkpoint_digests
            .push(checkpoint.digest.clone());
        self.report
            .witnessed
            .extend(checkpoint.witness.iter().cloned());
        self.prev_checkpoint = checkpoint.digest;
        self.checkpoint_number = checkpoint.number;
        self.every_records = Some(checkpoint.every_records);
        self.last_kind = Some(checkpoint.kind);
        self.report.checkpoints += 1;
        self.report.unsigned_tail = 0;
        self.report.last_checkpoint = Some((
            checkpoint.kind,
            checkpoint.time.clone(),
            checkpoint.every_seconds,
        ));
        Ok(())
    }

    fn finish(mut self, end_line: usize) -> Result<Report, ChainBreak> {
        let at_end = |problem: &str| ChainBreak {
            line: end_line,
            problem: problem.to_owned(),
        };
        if let Some(expected) = &self.options.head
            && !self.saw_head
            && *expected != self.head.hash
        {
            return Err(at_end(
                "the chain does not contain the expected head hash (records were cut off the end)",
            ));
        }
        if !self.options.keys.is_empty() && self.report.records > 0 && self.report.checkpoints == 0
        {
            return Err(at_end(
                "the trail has records but no signed checkpoint (written by someone else, or by a service stopped before its first checkpoint)",
            ));
        }
        self.report.head = self.head;
        Ok(self.report)
    }
}

/// The `log` member of a JSON line, if it is a JSON object with one.
fn log_of(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(value.get("log")?.as_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

/// Checks that every checkpoint some chain witnessed is in the trail of its own chain:
/// `chains` maps each chain to its report. A missing one means that chain was cut back past
/// it, or deleted.
pub fn check_witnesses<'a>(
    chains: impl IntoIterator<Item = (&'a str, &'a Report)> + Clone,
) -> Result<(), String> {
    let digests: std::collections::HashMap<&str, &[String]> = chains
        .clone()
        .into_iter()
        .map(|(chain, report)| (chain, report.checkpoint_digests.as_slice()))
        .collect();
    for (witness, report) in chains {
        for entry in &report.witnessed {
            let mut parts = entry.rsplitn(3, ':');
            let (Some(digest), Some(number), Some(chain)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("chain {witness}: a malformed witness {entry:?}"));
            };
            let number: usize = number.parse().unwrap_or(0);
            let found = digests
                .get(chain)
                .and_then(|d| d.get(number.wrapping_sub(1)))
                .is_some_and(|d| d == digest);
            if !found {
                return Err(format!(
                    "chain {chain}: its checkpoint {number}, witnessed by chain {witness}, is missing or different (the chain was cut back, deleted or rewritten)"
                ));
            }
        }
    }
    Ok(())
}
