//! The body of `POST /media_content_storage_secrets`, validated field by field.
//!
//! The body is checked as a whole so that a 422 lists every invalid field, not only the first
//! one serde would stop at.

use serde_json::{Map, Value};

use crate::domain::{Action, BucketName, ContentMd5, ContentType, ObjectName, Violation};
use crate::error::InvalidEntry;

/// A request for a signed URL that passed validation.
#[derive(Debug, Clone)]
pub struct SecretRequest {
    pub action: Action,
    pub bucket: BucketName,
    pub resource_id: String,
    /// `None` when absent, null or empty, as ael.api treated it.
    pub resource_name: Option<String>,
    /// `resource_id`, plus `/` and `resource_name` when there is one.
    pub object: ObjectName,
    pub content_type: Option<ContentType>,
    pub content_md5: Option<ContentMd5>,
    /// Requested lifetime in seconds; the caller's `max_ttl` still applies.
    pub expires_in: Option<u32>,
}

impl SecretRequest {
    pub fn from_json(
        body: &Value,
        known_buckets: &[BucketName],
    ) -> Result<Self, Vec<InvalidEntry>> {
        let secret = secret_object(body).map_err(|entry| vec![entry])?;
        let mut errors = Errors::default();

        let action = errors.check(
            "action",
            required_string(secret, "action").and_then(Action::parse),
        );
        let bucket = errors.check(
            "bucket",
            required_string(secret, "bucket")
                .and_then(BucketName::parse)
                .and_then(|bucket| known(bucket, known_buckets)),
        );
        let resource_id = errors.check(
            "resource_id",
            required_string(secret, "resource_id").and_then(|id| ObjectName::parse(id).map(|_| id)),
        );
        let resource_name = errors.check(
            "resource_name",
            optional_string(secret, "resource_name")
                .and_then(|name| name.map(|n| ObjectName::parse(n).map(|_| n)).transpose()),
        );
        let content_type = errors.check(
            "content_type",
            optional_string(secret, "content_type")
                .and_then(|value| value.map(ContentType::parse).transpose()),
        );
        let content_md5 = errors.check(
            "content_md5",
            optional_string(secret, "content_md5")
                .and_then(|value| value.map(ContentMd5::parse).transpose()),
        );
        let expires_in = errors.check("expires_in", expires_in(secret));

        // Each part is a valid name on its own; joined, they may still be too long.
        let object = match (resource_id, &resource_name) {
            (Some(id), Some(name)) => {
                let joined = match name {
                    Some(name) => format!("{id}/{name}"),
                    None => id.to_owned(),
                };
                let entry = if name.is_some() {
                    "resource_name"
                } else {
                    "resource_id"
                };
                errors.check(entry, ObjectName::parse(&joined))
            }
            _ => None,
        };

        let request = (|| {
            Some(Self {
                action: action?,
                bucket: bucket?,
                resource_id: resource_id?.to_owned(),
                resource_name: resource_name?.map(str::to_owned),
                object: object?,
                content_type: content_type?,
                content_md5: content_md5?,
                expires_in: expires_in?,
            })
        })();
        match request {
            Some(request) if errors.0.is_empty() => Ok(request),
            _ => Err(errors.0),
        }
    }
}

/// Collects one entry per invalid field, in the order the fields are checked.
#[derive(Default)]
struct Errors(Vec<InvalidEntry>);

impl Errors {
    fn check<T>(&mut self, field: &str, result: Result<T, Violation>) -> Option<T> {
        result
            .map_err(|violation| {
                self.0.push(InvalidEntry::json_property(
                    format!("$.secret.{field}"),
                    violation,
                ));
            })
            .ok()
    }
}

fn secret_object(body: &Value) -> Result<&Map<String, Value>, InvalidEntry> {
    let Some(body) = body.as_object() else {
        return Err(InvalidEntry::json_property("$", Violation::cast("object")));
    };
    match body.get("secret") {
        None | Some(Value::Null) => Err(InvalidEntry::json_property(
            "$.secret",
            Violation::required(),
        )),
        Some(Value::Object(secret)) => Ok(secret),
        Some(_) => Err(InvalidEntry::json_property(
            "$.secret",
            Violation::cast("object"),
        )),
    }
}

/// A string that must be present and non-empty.
fn required_string<'a>(secret: &'a Map<String, Value>, field: &str) -> Result<&'a str, Violation> {
    match optional_string(secret, field)? {
        Some(value) => Ok(value),
        None => Err(Violation::required()),
    }
}

/// A string that may be absent; null and `""` count as absent.
fn optional_string<'a>(
    secret: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, Violation> {
    match secret.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.is_empty() => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(Violation::cast("string")),
    }
}

/// Whole seconds from 1 to 7 days; absent or null means the default.
fn expires_in(secret: &Map<String, Value>) -> Result<Option<u32>, Violation> {
    match secret.get("expires_in") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(seconds @ 1..=604_800) => Ok(Some(u32::try_from(seconds).expect("in range"))),
            _ => Err(Violation::new(
                "number",
                "must be a whole number of seconds from 1 to 604800 (7 days)",
            )
            .with_params(serde_json::json!({"greater_than_or_equal_to": 1, "less_than_or_equal_to": 604_800}))),
        },
        Some(_) => Err(Violation::cast("integer")),
    }
}

fn known(bucket: BucketName, known_buckets: &[BucketName]) -> Result<BucketName, Violation> {
    // The list of buckets is configuration, not something to reveal to every caller.
    if known_buckets.contains(&bucket) {
        Ok(bucket)
    } else {
        Err(Violation::new(
            "inclusion",
            "is not a bucket this service issues URLs for",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn buckets() -> Vec<BucketName> {
        vec![BucketName::parse("media").unwrap()]
    }

    fn entries(body: &Value) -> Vec<String> {
        SecretRequest::from_json(body, &buckets())
            .unwrap_err()
            .into_iter()
            .map(|e| e.entry)
            .collect()
    }

    #[test]
    fn joins_resource_id_and_name_with_a_slash() {
        let body = json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "a", "resource_name": "b c"}});
        let request = SecretRequest::from_json(&body, &buckets()).unwrap();
        assert_eq!(request.object.as_str(), "a/b c");
    }

    #[test]
    fn empty_resource_name_means_the_id_alone() {
        let body = json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "a", "resource_name": ""}});
        let request = SecretRequest::from_json(&body, &buckets()).unwrap();
        assert_eq!(request.object.as_str(), "a");
        assert_eq!(request.resource_name, None);
    }

    #[test]
    fn lists_every_invalid_field() {
        let body = json!({"secret": {"action": "DELETE", "bucket": "other", "resource_id": "", "content_type": 5, "content_md5": "x"}});
        assert_eq!(
            entries(&body),
            [
                "$.secret.action",
                "$.secret.bucket",
                "$.secret.resource_id",
                "$.secret.content_type",
                "$.secret.content_md5"
            ]
        );
    }

    #[test]
    fn expires_in_must_be_whole_seconds_up_to_seven_days() {
        let with = |value: Value| json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "a", "expires_in": value}});
        let request = SecretRequest::from_json(&with(json!(60)), &buckets()).unwrap();
        assert_eq!(request.expires_in, Some(60));
        for bad in [json!(0), json!(604_801), json!(1.5), json!(-1), json!("60")] {
            assert_eq!(
                entries(&with(bad.clone())),
                ["$.secret.expires_in"],
                "{bad}"
            );
        }
    }

    #[test]
    fn joined_name_over_the_limit_is_blamed_on_resource_name() {
        let body = json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "a".repeat(600), "resource_name": "b".repeat(600)}});
        assert_eq!(entries(&body), ["$.secret.resource_name"]);
    }

    #[test]
    fn missing_secret_is_required() {
        assert_eq!(entries(&json!({})), ["$.secret"]);
        assert_eq!(entries(&json!({"secret": "x"})), ["$.secret"]);
        assert_eq!(entries(&json!([1])), ["$"]);
    }
}
