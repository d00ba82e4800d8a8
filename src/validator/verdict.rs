//! The verdict on a checked document: exactly one signature, valid, and every rule holding.
//! Pure.
//!
//! Decisions where ael.api differs (see the README's "Differences from ael.api"):
//! - **Rules are evaluated.** ael.api matched string keys against the structs Ecto gave it,
//!   so every rule passed; its intent (`to_string(get_in(content, field)) ==
//!   to_string(value)`) is what is done here.
//! - **A missing or null field never matches**, even `"value": ""` (ael.api's `to_string(nil)`
//!   is `""`, so an absent field would have matched an empty value).
//! - **Exactly one signature, valid**, as ael.api's newest version required: nested
//!   envelopes (several layers) and envelopes with several signers are not valid.

use serde_json::Value;

use super::digital_signature::{Examined, SignatureCheck};
use crate::request::FieldRule;

/// Whether the document is valid, and why (for the answer and the audit record; never the
/// document's content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub is_valid: bool,
    pub reason: String,
}

impl Verdict {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self {
            is_valid: false,
            reason: reason.into(),
        }
    }
}

/// The verdict on what the digital-signature service found, against `rules`.
pub fn verdict(examined: &Examined, rules: &[FieldRule]) -> Verdict {
    let (signatures, content) = match examined {
        Examined::Refused(reason) => return Verdict::invalid(reason.clone()),
        Examined::Checked {
            signatures,
            content,
        } => (signatures, content),
    };
    match signatures.as_slice() {
        [] => return Verdict::invalid("the document is not signed"),
        [SignatureCheck { is_valid: true, .. }] => {}
        [SignatureCheck { message, .. }] if message.is_empty() => {
            return Verdict::invalid("its signature is not valid");
        }
        [SignatureCheck { message, .. }] => {
            return Verdict::invalid(format!("its signature is not valid: {message}"));
        }
        more => {
            return Verdict::invalid(format!(
                "the document has {} signatures; exactly one valid signature is required",
                more.len()
            ));
        }
    }
    if let Some((index, rule)) = rules
        .iter()
        .enumerate()
        .find(|(_, rule)| !holds(content, rule))
    {
        return Verdict::invalid(format!(
            "rule {index} ({} eq) does not hold",
            rule.field.join(".")
        ));
    }
    Verdict {
        is_valid: true,
        reason: format!("one valid signature; {} rule(s) hold", rules.len()),
    }
}

/// `get_in(content, field)`, compared as text: a string as it is, a number or boolean by its
/// JSON text (ael.api's `to_string`). Objects, arrays, null and absent fields never match.
fn holds(content: &Value, rule: &FieldRule) -> bool {
    let mut value = content;
    for key in &rule.field {
        match value.get(key.as_str()) {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    match value {
        Value::String(text) => *text == rule.value,
        Value::Number(number) => number.to_string() == rule.value,
        Value::Bool(flag) => flag.to_string() == rule.value,
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(is_valid: bool, content: Value) -> Examined {
        Examined::Checked {
            signatures: vec![SignatureCheck {
                is_valid,
                message: if is_valid {
                    String::new()
                } else {
                    "certificate expired".into()
                },
            }],
            content,
        }
    }

    fn rule(field: &[&str], value: &str) -> FieldRule {
        FieldRule {
            field: field.iter().map(|k| (*k).to_owned()).collect(),
            value: value.into(),
        }
    }

    #[test]
    fn one_valid_signature_and_matching_rules_is_valid() {
        let content = json!({"legal_entity": {"edrpou": "12345678", "id": 42, "active": true}});
        let rules = [
            rule(&["legal_entity", "edrpou"], "12345678"),
            rule(&["legal_entity", "id"], "42"),
            rule(&["legal_entity", "active"], "true"),
        ];
        let verdict = verdict(&one(true, content), &rules);
        assert!(verdict.is_valid, "{verdict:?}");
    }

    #[test]
    fn rules_are_really_evaluated_unlike_ael_api() {
        let content = json!({"legal_entity": {"edrpou": "12345678", "tags": ["a"]}, "none": null});
        for rule in [
            rule(&["legal_entity", "edrpou"], "87654321"),
            rule(&["legal_entity", "missing"], ""),
            rule(&["none"], ""),
            rule(&["legal_entity"], "12345678"),
            rule(&["legal_entity", "tags", "0"], "a"),
        ] {
            let verdict = verdict(&one(true, content.clone()), std::slice::from_ref(&rule));
            assert!(!verdict.is_valid, "{rule:?}");
            assert!(verdict.reason.starts_with("rule 0 ("), "{}", verdict.reason);
        }
    }

    #[test]
    fn anything_but_exactly_one_valid_signature_is_not_valid() {
        let valid = SignatureCheck {
            is_valid: true,
            message: String::new(),
        };
        let nested = Examined::Checked {
            signatures: vec![valid.clone(), valid],
            content: json!({}),
        };
        for (examined, reason) in [
            (
                one(false, json!({})),
                "its signature is not valid: certificate expired",
            ),
            (
                nested,
                "the document has 2 signatures; exactly one valid signature is required",
            ),
            (
                Examined::Checked {
                    signatures: Vec::new(),
                    content: json!(""),
                },
                "the document is not signed",
            ),
            (Examined::Refused("refused".into()), "refused"),
        ] {
            assert_eq!(verdict(&examined, &[]), Verdict::invalid(reason));
        }
    }
}
