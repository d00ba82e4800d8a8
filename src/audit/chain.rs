//! Sealing records into a hash chain, and opening one record. Pure: no I/O.
//!
//! A record is one JSON line. `hash` is the lower-case hex SHA-256 of the record's canonical
//! JSON without the `hash` field (see [`canonical`](super::canonical)). That JSON contains
//! `prev_hash` (the previous record's `hash`, or 64 zeros for the first record) and `seq`
//! (1, 2, 3, ...), so each record commits to everything before it. The hash alone is unkeyed:
//! whoever can write the trail can recompute it, which is what the signed checkpoints
//! (`checkpoint.rs`) are for.

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Map, Value};

use super::AuditEvent;
use super::canonical;
use crate::signing::encoding::lower_hex;

/// `prev_hash` of the first record of a chain (and `prev_checkpoint` of the first checkpoint).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `log` of a decision record.
pub const RECORD_LOG: &str = "audit";

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

/// Builds the record line (without the trailing newline) for `event` at `time`, and the new
/// head of the chain. `chain` names the chain in a store that holds many (PostgreSQL), so a
/// record cannot be moved from one to another.
pub fn seal(
    event: &AuditEvent,
    time: &str,
    head: &ChainHead,
    chain: Option<&str>,
) -> (String, ChainHead) {
    let seq = head.seq + 1;
    let body = canonical_body(event, time, &head.hash, seq, chain);
    let hash = sha256_hex(&body);
    let line = canonical::with_seal(body, "hash", &hash);
    (line, ChainHead { seq, hash })
}

/// The canonical JSON of the record without its hash, written member by member in the byte
/// order of the names, each value by `serde_json`: the form `canonical` writes for the same
/// record (tested below), without building a `serde_json::Value` first, which cost about
/// 15,000 instructions a record. Every field is named here, so a field added to
/// `AuditEvent` does not compile until it has its place.
fn canonical_body(
    event: &AuditEvent,
    time: &str,
    prev_hash: &str,
    seq: u64,
    chain: Option<&str>,
) -> String {
    let AuditEvent {
        request_id,
        caller_request_id,
        client_id,
        end_user,
        end_user_issuer,
        remote_addr,
        action,
        bucket,
        object,
        expires_at,
        decision,
        reason,
        suppressed,
    } = event;
    let mut out = canonical::Members::default();
    out.text_or_null("action", *action);
    out.text_or_null("bucket", bucket.as_deref());
    out.optional_text("caller_request_id", caller_request_id.as_deref());
    out.optional_text("chain", chain);
    out.text_or_null("client_id", client_id.as_deref());
    out.member("decision", decision);
    out.optional_text("end_user", end_user.as_deref());
    out.optional_text("end_user_issuer", end_user_issuer.as_deref());
    out.text_or_null("expires_at", expires_at.as_deref());
    // `hash` is the seal, appended last.
    out.text("log", RECORD_LOG);
    out.text_or_null("object", object.as_deref());
    out.text("prev_hash", prev_hash);
    out.text("reason", reason);
    out.text_or_null("remote_addr", remote_addr.as_deref());
    out.text("request_id", request_id);
    out.member("seq", &seq);
    if let Some(suppressed) = suppressed {
        // Nested objects need their keys sorted too: the general writer does that.
        out.raw("suppressed", &canonical::to_string(suppressed));
    }
    out.text("time", time);
    out.finish()
}

pub fn sha256_hex(text: &str) -> String {
    lower_hex(digest(&SHA256, text.as_bytes()).as_ref())
}

/// A record read back: its place in the chain and its fields.
#[derive(Debug, Clone)]
pub struct OpenedRecord {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub fields: Map<String, Value>,
}

/// Reads a record line: checks that it is canonical and matches its own hash.
pub fn open_record(line: &str) -> Result<OpenedRecord, String> {
    let (fields, body, hash) = canonical::open(line, "hash").map_err(|e| e.to_string())?;
    if fields.get("log").and_then(Value::as_str) != Some(RECORD_LOG) {
        return Err("not an audit record".into());
    }
    let prev_hash = fields
        .get("prev_hash")
        .and_then(Value::as_str)
        .ok_or("the record has no prev_hash")?
        .to_owned();
    let seq = fields
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("the record has no seq")?;
    if sha256_hex(&body) != hash {
        return Err("the record does not match its hash (it was edited)".into());
    }
    Ok(OpenedRecord {
        seq,
        prev_hash,
        hash,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Decision;

    fn event() -> AuditEvent {
        let mut event = AuditEvent::new("req-1", Some("127.0.0.1:1".into()));
        event.decide(Decision::Issued, "allowed");
        event.object = Some("object ✓".into());
        event
    }

    #[test]
    fn records_are_json_lines_marked_audit() {
        let (line, head) = seal(
            &event(),
            "2026-11-28T10:00:00Z",
            &ChainHead::genesis(),
            None,
        );
        let record: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["log"], "audit");
        assert_eq!(record["seq"], 1);
        assert_eq!(record["prev_hash"], GENESIS);
        assert_eq!(record["decision"], "issued");
        assert_eq!(record["client_id"], Value::Null);
        assert!(record.get("chain").is_none());
        assert_eq!(record["hash"], head.hash.as_str());
        assert!(!line.contains('\n'));
    }

    #[test]
    fn the_hash_covers_the_canonical_json_of_the_record() {
        // Recomputed here the slow way: parse, drop `hash`, write with sorted keys, SHA-256.
        let (line, _) = seal(
            &event(),
            "2026-11-28T10:00:00Z",
            &ChainHead::genesis(),
            None,
        );
        let mut record: Map<String, Value> = serde_json::from_str(&line).unwrap();
        let hash = record.remove("hash").unwrap();
        let mut keys: Vec<_> = record.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, record.keys().cloned().collect::<Vec<_>>());
        let expected = hex::encode(digest(
            &SHA256,
            Value::Object(record).to_string().as_bytes(),
        ));
        assert_eq!(hash, expected.as_str());
    }

    /// The general canonical writer (the one `audit verify` uses) is the reference, on
    /// records with every optional field absent and present, and text that needs escaping.
    #[test]
    fn records_are_written_as_the_canonical_writer_writes_them() {
        let mut full = event();
        full.caller_request_id = Some("caller\"id".into());
        full.client_id = Some("frontend".into());
        full.end_user = Some("user|\u{1}\n".into());
        full.end_user_issuer = Some("https://issuer.example/".into());
        full.action = Some("PUT");
        full.bucket = Some("media".into());
        full.expires_at = Some("2026-11-28T10:10:00Z".into());
        full.reason = "allowed by rule 0 of client \"frontend\" \\ é 😀 \u{7f}".into();
        let mut summary = AuditEvent::new("-", None);
        summary.decide(Decision::Suppressed, "rate limited");
        summary.suppressed = Some(serde_json::json!([
            {"source": "10.0.0.1", "reason": "denied", "count": 3, "client": null},
        ]));
        for (event, chain) in [
            (event(), None),
            (full, Some("chain-1")),
            (summary, None),
            (AuditEvent::new("", None), Some("")),
        ] {
            let head = ChainHead {
                seq: 41,
                hash: "ab".repeat(32),
            };
            let body = canonical_body(&event, "2026-11-28T10:00:00.000001Z", &head.hash, 42, chain);
            let Ok(Value::Object(mut reference)) = serde_json::to_value(&event) else {
                panic!("not an object");
            };
            if let Some(chain) = chain {
                reference.insert("chain".into(), chain.into());
            }
            reference.insert("log".into(), RECORD_LOG.into());
            reference.insert("prev_hash".into(), head.hash.as_str().into());
            reference.insert("seq".into(), 42.into());
            reference.insert("time".into(), "2026-11-28T10:00:00.000001Z".into());
            assert_eq!(body, canonical::object_to_string(&reference));
            let (line, _) = seal(&event, "t", &head, chain);
            open_record(&line).unwrap();
        }
    }

    #[test]
    fn a_record_of_a_named_chain_carries_the_chain() {
        let (line, _) = seal(&event(), "t", &ChainHead::genesis(), Some("c-1"));
        assert_eq!(open_record(&line).unwrap().fields["chain"], "c-1");
    }

    #[test]
    fn an_edited_record_does_not_open() {
        let (line, _) = seal(&event(), "t", &ChainHead::genesis(), None);
        let edited = line.replace("object ✓", "object X");
        assert!(open_record(&edited).unwrap_err().contains("edited"));
    }
}
