//! The forgeries of the attack pass, each caught; and what an honest trail looks like.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::*;
use crate::audit::checkpoint::CheckpointKey;
use crate::audit::sealer::{CheckpointPolicy, Sealer};
use crate::audit::{AuditEvent, Decision};
use crate::key::ServiceAccountKey;
use crate::signing::Signer as _;

const TIME: &str = "2026-11-28T10:00:00Z";

struct Writer {
    sealer: Sealer,
    key: Arc<ServiceAccountKey>,
    lines: Vec<String>,
}

impl Writer {
    fn new(key: &Arc<ServiceAccountKey>, every: u64) -> Self {
        let policy = CheckpointPolicy {
            every_records: every,
            every: Duration::from_secs(60),
        };
        Self {
            sealer: Sealer::new(None, policy),
            key: Arc::clone(key),
            lines: Vec::new(),
        }
    }

    fn checkpoint(&mut self, kind: Kind) {
        let signing = CheckpointKey::Local(Arc::clone(&self.key));
        let body =
            self.sealer
                .checkpoint_body(kind, TIME, (&signing.key_id(), signing.signer()), &[]);
        let signature = self.key.sign_rsa_sha256(body.as_bytes()).unwrap();
        let sealed = self.sealer.checkpoint(body, &signature, TIME);
        self.lines.push(sealed.line);
    }

    fn records(&mut self, n: usize) {
        for i in 0..n {
            let mut event = AuditEvent::new(format!("req-{i}"), Some("127.0.0.1:1".into()));
            event.decide(Decision::Issued, "allowed");
            event.object = Some(format!("object {} ✓", self.sealer.head.seq + 1));
            self.lines.push(self.sealer.record(&event, TIME).line);
            if self.sealer.checkpoint_due() {
                self.checkpoint(Kind::Interval);
            }
        }
    }
}

fn key() -> Arc<ServiceAccountKey> {
    Arc::new(ServiceAccountKey::generate("audit@test.invalid").unwrap())
}

fn public(key: &Arc<ServiceAccountKey>) -> Vec<PublicKey> {
    let pem = CheckpointKey::Local(Arc::clone(key))
        .public_key_pem()
        .unwrap();
    PublicKey::parse_all(&pem).unwrap()
}

/// start, `n` records with a checkpoint every `every`, final.
fn trail(key: &Arc<ServiceAccountKey>, n: usize, every: u64) -> Vec<String> {
    let mut writer = Writer::new(key, every);
    writer.checkpoint(Kind::Start);
    writer.records(n);
    writer.checkpoint(Kind::Final);
    writer.lines
}

fn with_keys(keys: Vec<PublicKey>) -> VerifyOptions {
    VerifyOptions {
        keys,
        ..VerifyOptions::default()
    }
}

fn check(lines: &[String], options: &VerifyOptions) -> Result<Report, ChainBreak> {
    verify(lines.iter().map(String::as_str), options)
}

/// Re-chains `lines` after an edit, as a forger without the key would: recomputes every
/// record's hash and link, and keeps the checkpoints as they are.
fn rechain(lines: &[String]) -> Vec<String> {
    let mut head = ChainHead::genesis();
    lines
        .iter()
        .map(|line| {
            if !line.contains("\"log\":\"audit\"") {
                return line.clone();
            }
            let mut record: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).unwrap();
            record.remove("hash");
            record.insert("prev_hash".into(), head.hash.clone().into());
            record.insert("seq".into(), (head.seq + 1).into());
            let body = crate::audit::canonical::object_to_string(&record);
            let hash = chain::sha256_hex(&body);
            head = ChainHead {
                seq: head.seq + 1,
                hash: hash.clone(),
            };
            crate::audit::canonical::with_seal(body, "hash", &hash)
        })
        .collect()
}

#[test]
fn an_honest_trail_verifies_with_the_public_key() {
    let key = key();
    let lines = trail(&key, 7, 3);
    let report = check(&lines, &with_keys(public(&key))).unwrap();
    assert_eq!(report.records, 7);
    assert_eq!(report.checkpoints, 4); // start, after 3, after 6, final
    assert_eq!(report.unsigned_tail, 0);
    assert!(report.unclean_ends.is_empty());
    assert!(report.incompleteness(OffsetDateTime::now_utc()).is_empty());
}

#[test]
fn an_edited_record_is_caught_at_its_line() {
    let key = key();
    let mut lines = trail(&key, 5, 10);
    lines[3] = lines[3].replace("object 3", "object 9");
    let error = check(&lines, &with_keys(public(&key))).unwrap_err();
    assert_eq!(error.line, 4);
    assert!(error.problem.contains("edited"), "{error}");
}

#[test]
fn a_deleted_record_with_every_hash_recomputed_fails_at_the_next_checkpoint() {
    // The attack: delete a record, recompute every later hash; the unkeyed chain is whole.
    let key = key();
    let mut lines = trail(&key, 6, 4);
    lines.remove(2);
    let forged = rechain(&lines);
    let error = check(&forged, &with_keys(public(&key))).unwrap_err();
    assert!(error.problem.contains("signs head"), "{error}");
}

#[test]
fn a_re_chained_trail_without_its_checkpoints_is_refused() {
    let key = key();
    let lines: Vec<String> = trail(&key, 5, 10)
        .into_iter()
        .filter(|line| line.contains("\"log\":\"audit\""))
        .collect();
    let error = check(&lines, &with_keys(public(&key))).unwrap_err();
    assert!(error.problem.contains("no signed checkpoint"), "{error}");
}

#[test]
fn a_trail_regenerated_with_another_key_is_refused() {
    let key = key();
    let forged = trail(&self::key(), 5, 10);
    let error = check(&forged, &with_keys(public(&key))).unwrap_err();
    assert_eq!(error.line, 1);
    assert!(error.problem.contains("not signed by"), "{error}");
}

#[test]
fn reordered_records_are_caught() {
    let key = key();
    let mut lines = trail(&key, 5, 10);
    lines.swap(2, 3);
    assert_eq!(check(&lines, &with_keys(public(&key))).unwrap_err().line, 3);
}

#[test]
fn a_removed_checkpoint_is_caught() {
    let key = key();
    let mut lines = trail(&key, 8, 3);
    let middle = lines
        .iter()
        .position(|l| l.contains("\"kind\":\"interval\""))
        .unwrap();
    lines.remove(middle);
    let error = check(&lines, &with_keys(public(&key))).unwrap_err();
    assert!(
        error.problem.contains("a checkpoint was removed"),
        "{error}"
    );

    // Where the records alone stay within the interval, the checkpoint chain catches it.
    let mut lines = trail(&key, 6, 3);
    let last_interval = lines
        .iter()
        .rposition(|l| l.contains("\"kind\":\"interval\""))
        .unwrap();
    lines.remove(last_interval);
    let error = check(&lines, &with_keys(public(&key))).unwrap_err();
    assert!(error.problem.contains("prev_checkpoint"), "{error}");
}

#[test]
fn more_records_after_the_last_checkpoint_than_its_interval_are_caught() {
    // Cut the tail's checkpoints away and keep writing records (a forger's appended tail).
    let key = key();
    let mut writer = Writer::new(&key, 3);
    writer.checkpoint(Kind::Start);
    writer.records(2);
    let mut lines = writer.lines.clone();
    writer.records(4);
    lines.extend(
        writer.lines[lines.len()..]
            .iter()
            .filter(|l| !l.contains("audit_checkpoint"))
            .cloned(),
    );
    let error = check(&lines, &with_keys(public(&key))).unwrap_err();
    assert!(error.problem.contains("more than 3 records"), "{error}");
}

#[test]
fn a_trail_cut_past_a_checkpoint_is_incomplete_under_strict() {
    let key = key();
    let lines = trail(&key, 9, 3);
    let cut = &lines[..lines.len() - 4]; // the final and the last interval checkpoint gone
    let report = check(cut, &with_keys(public(&key))).unwrap();
    let later = OffsetDateTime::parse(TIME, &Rfc3339).unwrap() + time::Duration::hours(1);
    let problems = report.incompleteness(later);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("cut off"), "{problems:?}");
}

#[test]
fn a_cut_tail_and_a_restart_show_as_an_unclean_end() {
    let key = key();
    let mut writer = Writer::new(&key, 3);
    writer.checkpoint(Kind::Start);
    writer.records(7);
    writer.lines.truncate(writer.lines.len() - 1); // cut back to the checkpoint after 6
    let lines = writer.lines.clone();
    let mut restarted = Writer {
        sealer: Sealer::continue_after(
            None,
            writer.sealer.policy,
            lines[lines.len() - 1..].iter().map(String::as_str),
        )
        .unwrap(),
        key: Arc::clone(&key),
        lines,
    };
    restarted.checkpoint(Kind::Start);
    restarted.records(1);
    restarted.checkpoint(Kind::Final);
    let report = check(&restarted.lines, &with_keys(public(&key))).unwrap();
    assert_eq!(report.unclean_ends, [6]);
    assert!(!report.incompleteness(OffsetDateTime::now_utc()).is_empty());
}

#[test]
fn a_record_with_a_decoy_decision_key_in_front_is_refused() {
    let key = key();
    let mut lines = trail(&key, 3, 10);
    lines[2] = lines[2].replacen('{', "{\"decision\":\"denied\",", 1);
    let error = check(&lines, &VerifyOptions::default()).unwrap_err();
    assert_eq!(error.line, 3);
    assert!(error.problem.contains("canonical"), "{error}");
}

#[test]
fn a_record_with_reordered_keys_is_refused() {
    let key = key();
    let mut lines = trail(&key, 3, 10);
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&lines[2]).unwrap();
    let hash = record.remove("hash").unwrap();
    let mut reordered = format!("{{\"hash\":{hash}");
    for (name, value) in &record {
        let name = serde_json::Value::from(name.as_str());
        reordered = format!("{reordered},{name}:{value}");
    }
    reordered.push('}');
    lines[2] = reordered;
    assert!(
        check(&lines, &VerifyOptions::default())
            .unwrap_err()
            .problem
            .contains("canonical")
    );
}

#[test]
fn a_saved_head_checks_as_a_prefix_of_a_longer_honest_trail() {
    let key = key();
    let mut writer = Writer::new(&key, 10);
    writer.checkpoint(Kind::Start);
    writer.records(3);
    let saved = writer.sealer.head.hash.clone();
    writer.records(4);
    let options = VerifyOptions {
        head: Some(saved),
        ..with_keys(public(&key))
    };
    assert_eq!(check(&writer.lines, &options).unwrap().records, 7);
    // Cut before the saved head: caught.
    let error = check(&writer.lines[..3], &options).unwrap_err();
    assert!(error.problem.contains("cut off the end"), "{error}");
}

#[test]
fn records_cut_off_the_start_are_caught() {
    let key = key();
    let lines = trail(&key, 5, 10);
    assert_eq!(
        check(&lines[2..], &VerifyOptions::default())
            .unwrap_err()
            .line,
        1
    );
}

#[test]
fn a_rotated_file_verifies_after_the_previous_head() {
    let key = key();
    let mut writer = Writer::new(&key, 10);
    writer.checkpoint(Kind::Start);
    writer.records(5);
    let first = check(&writer.lines[..3], &VerifyOptions::default()).unwrap();
    let options = VerifyOptions {
        after: Some(first.head.hash),
        ..VerifyOptions::default()
    };
    assert_eq!(check(&writer.lines[3..], &options).unwrap().head.seq, 5);
}

#[test]
fn mixed_output_skips_other_log_lines() {
    let key = key();
    let mut lines = trail(&key, 3, 10);
    lines.insert(2, r#"{"message":"request","status":201}"#.to_owned());
    assert!(check(&lines, &VerifyOptions::default()).is_err());
    let options = VerifyOptions {
        mixed: true,
        ..VerifyOptions::default()
    };
    assert!(check(&lines, &options).is_ok());
}

#[test]
fn a_record_moved_from_another_chain_is_caught() {
    let key = key();
    let lines = trail(&key, 2, 10);
    let options = VerifyOptions {
        chain: Some("chain-a".into()),
        ..VerifyOptions::default()
    };
    assert!(
        check(&lines, &options)
            .unwrap_err()
            .problem
            .contains("another chain")
    );
}
