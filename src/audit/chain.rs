//! Sealing records into a hash chain, and checking a chain. Pure: no I/O.
//!
//! A record is one JSON line. `hash` is the lower-case hex SHA-256 of the record's canonical
//! JSON without the `hash` field: keys sorted, no white space, as `serde_json` writes a
//! `Value`. That JSON contains `prev_hash` (the previous record's `hash`, or 64 zeros for the
//! first record) and `seq` (1, 2, 3, ...), so each record commits to everything before it.

use aws_lc_rs::digest::{SHA256, digest};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{AuditEvent, Decision};

/// `prev_hash` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain stands: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// A record without its hash. The fields are declared in sorted order, so `serde_json` writes
/// exactly the canonical JSON that a checker gets by parsing the line into a `Value` (whose
/// keys are sorted) and writing it back.
#[derive(Serialize)]
struct Record<'a> {
    action: Option<&'a str>,
    bucket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_request_id: Option<&'a str>,
    client_id: Option<&'a str>,
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_user_issuer: Option<&'a str>,
    expires_at: Option<&'a str>,
    log: &'static str,
    object: Option<&'a str>,
    prev_hash: &'a str,
    reason: &'a str,
    remote_addr: Option<&'a str>,
    request_id: &'a str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<&'a serde_json::Value>,
    time: &'a str,
}

/// Builds the record line (without the trailing newline) for `event` at `time`, and the new
/// head of the chain.
pub fn seal(event: &AuditEvent, time: &str, head: &ChainHead) -> (String, ChainHead) {
    let record = Record {
        action: event.action,
        bucket: event.bucket.as_deref(),
        caller_request_id: event.caller_request_id.as_deref(),
        client_id: event.client_id.as_deref(),
        decision: event.decision,
        end_user: event.end_user.as_deref(),
        end_user_issuer: event.end_user_issuer.as_deref(),
        expires_at: event.expires_at.as_deref(),
        log: "audit",
        object: event.object.as_deref(),
        prev_hash: &head.hash,
        reason: &event.reason,
        remote_addr: event.remote_addr.as_deref(),
        request_id: &event.request_id,
        seq: head.seq + 1,
        suppressed: event.suppressed.as_ref(),
        time,
    };
    let canonical = serde_json::to_string(&record).expect("a record always serialises");
    let hash = sha256_hex(&canonical);
    // `"hash"` goes last; the checker removes it wherever it stands.
    let mut line = canonical;
    line.pop();
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (
        line,
        ChainHead {
            seq: head.seq + 1,
            hash,
        },
    )
}

fn sha256_hex(text: &str) -> String {
    hex::encode(digest(&SHA256, text.as_bytes()))
}

fn record_hash(record_without_hash: &Map<String, Value>) -> String {
    sha256_hex(&serde_json::to_string(record_without_hash).unwrap_or_default())
}

/// Where a chain breaks: the 1-based line number and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainBreak {
    pub line: usize,
    pub problem: String,
}

/// Reads a record line: checks its own hash and returns (seq, `prev_hash`, hash).
pub fn open_record(line: &str) -> Result<(u64, String, String), String> {
    let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(line) else {
        return Err("not a complete JSON record (edited or truncated)".into());
    };
    if record.get("log").and_then(Value::as_str) != Some("audit") {
        return Err("not an audit record".into());
    }
    let Some(Value::String(hash)) = record.remove("hash") else {
        return Err("the record has no hash".into());
    };
    let prev_hash = record
        .get("prev_hash")
        .and_then(Value::as_str)
        .ok_or("the record has no prev_hash")?
        .to_owned();
    let seq = record
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("the record has no seq")?;
    if record_hash(&record) != hash {
        return Err("the record does not match its hash (it was edited)".into());
    }
    Ok((seq, prev_hash, hash))
}

/// Options of a check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The chain continues one that ended with this hash (a rotated file), instead of
    /// starting at genesis.
    pub after: Option<String>,
    /// The hash the chain must end with, as recorded elsewhere: catches records cut off the end.
    pub head: Option<String>,
    /// Skip JSON lines that are not audit records (a captured stdout with request logs).
    pub mixed: bool,
}

/// Checks every line of a chain and returns its head.
pub fn verify<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    options: &VerifyOptions,
) -> Result<ChainHead, ChainBreak> {
    let mut head = ChainHead {
        seq: 0,
        hash: options.after.clone().unwrap_or_else(|| GENESIS.to_owned()),
    };
    let mut records = 0;
    let mut last_line = 0;
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        last_line = number;
        if options.mixed && !is_audit_line(line) {
            continue;
        }
        let at = |problem: String| ChainBreak {
            line: number,
            problem,
        };
        let (seq, prev_hash, hash) = open_record(line).map_err(at)?;
        if prev_hash != head.hash {
            let previous = if records == 0 {
                "the start of the chain".to_owned()
            } else {
                "the previous record".to_owned()
            };
            return Err(at(format!(
                "prev_hash does not follow {previous} (a record was deleted, inserted or reordered)"
            )));
        }
        let continuing = records == 0 && options.after.is_some();
        if !continuing && seq != head.seq + 1 {
            return Err(at(format!(
                "seq {seq} should be {} (a record was deleted, inserted or reordered)",
                head.seq + 1
            )));
        }
        head = ChainHead { seq, hash };
        records += 1;
    }
    if let Some(expected) = &options.head
        && *expected != head.hash
    {
        return Err(ChainBreak {
            line: last_line + 1,
            problem:
                "the chain does not end with the expected head hash (records were cut off the end)"
                    .into(),
        });
    }
    Ok(head)
}

fn is_audit_line(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .is_ok_and(|value| value.get("log").and_then(Value::as_str) == Some("audit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<String> {
        let mut head = ChainHead::genesis();
        (0..n)
            .map(|i| {
                let mut event = AuditEvent::new(format!("req-{i}"), Some("127.0.0.1:1".into()));
                event.decide(Decision::Issued, "allowed");
                event.object = Some(format!("object {i} ✓"));
                let (line, next) = seal(&event, "2026-11-28T10:00:00Z", &head);
                head = next;
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Result<ChainHead, ChainBreak> {
        verify(lines.iter().map(String::as_str), &VerifyOptions::default())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let lines = chain(5);
        let head = check(&lines).unwrap();
        assert_eq!(head.seq, 5);
    }

    #[test]
    fn records_are_json_lines_marked_audit() {
        let line = &chain(1)[0];
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["log"], "audit");
        assert_eq!(record["seq"], 1);
        assert_eq!(record["prev_hash"], GENESIS);
        assert_eq!(record["decision"], "issued");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn the_hash_covers_the_canonical_json_of_the_record() {
        // Recomputed here the slow way: parse, drop `hash`, write with sorted keys, SHA-256.
        for line in chain(3) {
            let mut record: Map<String, Value> = serde_json::from_str(&line).unwrap();
            let hash = record.remove("hash").unwrap();
            let canonical = Value::Object(record).to_string();
            let expected = hex::encode(digest(&SHA256, canonical.as_bytes()));
            assert_eq!(hash, expected.as_str());
        }
    }

    #[test]
    fn an_edited_record_is_caught_at_its_line() {
        let mut lines = chain(5);
        lines[2] = lines[2].replace("object 2", "object 9");
        assert_eq!(check(&lines).unwrap_err().line, 3);
        assert!(check(&lines).unwrap_err().problem.contains("edited"));
    }

    #[test]
    fn a_deleted_record_is_caught_at_the_next_line() {
        let mut lines = chain(5);
        lines.remove(1);
        assert_eq!(check(&lines).unwrap_err().line, 2);
    }

    #[test]
    fn an_inserted_record_is_caught() {
        let mut lines = chain(5);
        let foreign = chain(2)[1].clone();
        lines.insert(3, foreign);
        assert_eq!(check(&lines).unwrap_err().line, 4);
    }

    #[test]
    fn reordered_records_are_caught() {
        let mut lines = chain(5);
        lines.swap(1, 2);
        assert_eq!(check(&lines).unwrap_err().line, 2);
    }

    #[test]
    fn a_truncated_last_line_is_caught() {
        let mut lines = chain(3);
        let cut = lines[2].len() / 2;
        lines[2].truncate(cut);
        let error = check(&lines).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.problem.contains("truncated"));
    }

    #[test]
    fn records_cut_off_the_end_are_caught_with_the_expected_head() {
        let lines = chain(5);
        let head = check(&lines).unwrap();
        let options = VerifyOptions {
            head: Some(head.hash),
            ..VerifyOptions::default()
        };
        assert!(verify(lines.iter().map(String::as_str), &options).is_ok());
        assert!(verify(lines[..4].iter().map(String::as_str), &options).is_err());
    }

    #[test]
    fn records_cut_off_the_start_are_caught() {
        let lines = chain(5);
        assert_eq!(check(&lines[1..]).unwrap_err().line, 1);
    }

    #[test]
    fn a_rotated_file_verifies_after_the_previous_head() {
        let lines = chain(5);
        let first = check(&lines[..2]).unwrap();
        let options = VerifyOptions {
            after: Some(first.hash),
            ..VerifyOptions::default()
        };
        assert_eq!(
            verify(lines[2..].iter().map(String::as_str), &options)
                .unwrap()
                .seq,
            5
        );
    }

    #[test]
    fn mixed_output_skips_other_log_lines() {
        let mut lines = chain(3);
        lines.insert(1, r#"{"message":"request","status":201}"#.to_owned());
        assert!(check(&lines).is_err());
        let options = VerifyOptions {
            mixed: true,
            ..VerifyOptions::default()
        };
        assert!(verify(lines.iter().map(String::as_str), &options).is_ok());
    }
}
