//! The body of `POST /validate_signed_entity`, ael.api's shape, not wrapped:
//! `{"url": "...", "rules": [{"field": ["a", "b"], "type": "eq", "value": "..."}]}`.
//!
//! ael.api's schema (`Ael.Secrets.Validator`): `url` required; `rules` required and not empty;
//! each rule needs `field` (a list of strings), `type` (only `eq`) and `value` (a string: a
//! JSON number did not cast). ael.api answered `is_valid: false` to a body that broke it;
//! here every broken field is listed in a 422.

use serde_json::Value;

use super::fields::Fields;
use crate::domain::{InvalidEntry, Violation};

/// Longest `url`: an issued URL with a long name and a V4 query fits several times over.
const MAX_URL_BYTES: usize = 8 * 1024;
/// Most rules, and most keys in one rule's `field`.
const MAX_RULES: usize = 100;
const MAX_FIELD_DEPTH: usize = 32;

/// A rule: the value at `field` (a path of keys into the signed JSON) must equal `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    pub field: Vec<String>,
    pub value: String,
}

/// A request to check the signed document at `url` against `rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateRequest {
    /// As sent; which bucket and object it names is for the decision to find out.
    pub url: String,
    pub rules: Vec<FieldRule>,
}

impl ValidateRequest {
    pub fn from_json(body: &Value) -> Result<Self, Vec<InvalidEntry>> {
        let mut fields = Fields::at(Some(body), "$".to_owned()).map_err(|entry| vec![entry])?;
        let url = fields.check(
            "url",
            fields.required_str("url").and_then(|url| {
                if url.len() > MAX_URL_BYTES {
                    Err(
                        Violation::new("length", format!("must be at most {MAX_URL_BYTES} bytes"))
                            .with_params(serde_json::json!({"max": MAX_URL_BYTES})),
                    )
                } else {
                    Ok(url.to_owned())
                }
            }),
        );
        let rules = rules(&mut fields, body.get("rules"));
        let request = (|| {
            Some(Self {
                url: url?,
                rules: rules?,
            })
        })();
        fields.finish(request)
    }
}

/// `rules`: 1 to [`MAX_RULES`] rules, each checked on its own.
fn rules(fields: &mut Fields<'_>, value: Option<&Value>) -> Option<Vec<FieldRule>> {
    let items = match value {
        None | Some(Value::Null) => {
            fields.reject("rules", Violation::required());
            return None;
        }
        Some(Value::Array(items)) if (1..=MAX_RULES).contains(&items.len()) => items,
        Some(Value::Array(_)) => {
            fields.reject(
                "rules",
                Violation::new("length", format!("must hold 1 to {MAX_RULES} rules"))
                    .with_params(serde_json::json!({"min": 1, "max": MAX_RULES})),
            );
            return None;
        }
        Some(_) => {
            fields.reject("rules", Violation::cast("array"));
            return None;
        }
    };
    let mut rules = Vec::with_capacity(items.len());
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        match rule(item) {
            Ok(rule) => rules.push(rule),
            Err((part, violation)) => {
                fields.reject(&format!("rules[{index}]{part}"), violation);
                valid = false;
            }
        }
    }
    valid.then_some(rules)
}

/// One rule, or the part of it that is wrong (`""`, `.field`, `.type`, `.value`).
fn rule(item: &Value) -> Result<FieldRule, (&'static str, Violation)> {
    let Some(rule) = item.as_object() else {
        return Err(("", Violation::cast("object")));
    };
    let field = match rule.get("field") {
        None | Some(Value::Null) => return Err((".field", Violation::required())),
        Some(Value::Array(keys)) if (1..=MAX_FIELD_DEPTH).contains(&keys.len()) => keys
            .iter()
            .map(|key| key.as_str().filter(|k| !k.is_empty()).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or((".field", Violation::cast("array of non-empty strings")))?,
        Some(_) => {
            return Err((
                ".field",
                Violation::new(
                    "length",
                    format!(
                        "must be 1 to {MAX_FIELD_DEPTH} keys, such as [\"legal_entity\", \"edrpou\"]"
                    ),
                ),
            ));
        }
    };
    match rule.get("type") {
        Some(Value::String(kind)) if kind == "eq" => {}
        None | Some(Value::Null) => return Err((".type", Violation::required())),
        Some(_) => {
            return Err((
                ".type",
                Violation::new("inclusion", "must be eq").with_params(serde_json::json!(["eq"])),
            ));
        }
    }
    let value = match rule.get("value") {
        Some(Value::String(value)) => value.clone(),
        None | Some(Value::Null) => return Err((".value", Violation::required())),
        // ael.api's `value` was an Ecto string: a number or boolean did not cast.
        Some(_) => return Err((".value", Violation::cast("string"))),
    };
    Ok(FieldRule { field, value })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entries(body: &Value) -> Vec<String> {
        ValidateRequest::from_json(body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.entry)
            .collect()
    }

    #[test]
    fn reads_ael_api_s_shape() {
        let request = ValidateRequest::from_json(&json!({
            "url": "https://storage.googleapis.com/b/o",
            "rules": [{"field": ["legal_entity", "edrpou"], "type": "eq", "value": "12345678"}]
        }))
        .unwrap();
        assert_eq!(request.url, "https://storage.googleapis.com/b/o");
        assert_eq!(
            request.rules,
            [FieldRule {
                field: vec!["legal_entity".into(), "edrpou".into()],
                value: "12345678".into()
            }]
        );
    }

    #[test]
    fn lists_every_broken_part() {
        assert_eq!(entries(&json!({})), ["$.url", "$.rules"]);
        assert_eq!(entries(&json!({"url": "u", "rules": []})), ["$.rules"]);
        assert_eq!(entries(&json!([1])), ["$"]);
        assert_eq!(
            entries(&json!({"url": 5, "rules": [
                {"field": ["a"], "type": "eq", "value": "1"},
                {"field": [], "type": "eq", "value": "1"},
                {"field": ["a"], "type": "ne", "value": "1"},
                {"field": ["a"], "type": "eq", "value": 1},
                {"field": ["a", 2], "type": "eq", "value": "1"},
                "x"
            ]})),
            [
                "$.url",
                "$.rules[1].field",
                "$.rules[2].type",
                "$.rules[3].value",
                "$.rules[4].field",
                "$.rules[5]"
            ]
        );
    }
}
