//! The body of `POST /upload_policies`: a browser form upload (a POST policy), validated field
//! by field.

use serde_json::Value;

use super::fields::{Fields, MetadataValues, metadata, size_limit};
use crate::domain::InvalidEntry;
use crate::domain::{
    BucketName, ContentLengthRange, ContentType, MAX_URL_LIFETIME_SECS, ObjectName, Violation,
    parse_content_type_prefix,
};

const MAX_REDIRECT_BYTES: usize = 2048;

/// Which names the form may upload to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKey {
    Exact(ObjectName),
    /// Any name starting with this.
    Prefix(String),
}

/// A validated request for a POST policy.
#[derive(Debug, Clone)]
pub struct FormRequest {
    pub bucket: BucketName,
    pub key: FormKey,
    pub content_type: Option<ContentType>,
    /// Checked as a prefix of a media type: tokens and one `/`.
    pub content_type_prefix: Option<String>,
    pub content_length_range: Option<ContentLengthRange>,
    /// `x-goog-meta-<name>` form fields, sorted by name.
    pub metadata: Vec<(String, String)>,
    pub success_action_redirect: Option<String>,
    pub success_action_status: Option<&'static str>,
    pub expires_in: Option<u32>,
}

impl FormRequest {
    /// Reads `{"policy": {...}}`.
    pub fn from_json(
        body: &Value,
        known_buckets: &[BucketName],
    ) -> Result<Self, Vec<InvalidEntry>> {
        let mut fields = Fields::member(body, "policy").map_err(|entry| vec![entry])?;
        let bucket = fields.check("bucket", fields.known_bucket(known_buckets));
        let key = key(&mut fields);
        let content_type = fields.check(
            "content_type",
            fields
                .optional_str("content_type")
                .and_then(|v| v.map(ContentType::parse).transpose()),
        );
        let content_type_prefix = fields.check(
            "content_type_prefix",
            fields.optional_str("content_type_prefix").and_then(|v| {
                v.map(|prefix| parse_content_type_prefix(prefix).map(str::to_owned))
                    .transpose()
            }),
        );
        if matches!(
            (&content_type, &content_type_prefix),
            (Some(Some(_)), Some(Some(_)))
        ) {
            fields.reject(
                "content_type_prefix",
                Violation::new(
                    "exclusion",
                    "give content_type or content_type_prefix, not both",
                ),
            );
        }
        let content_length_range = size_limit(&mut fields);
        let metadata = fields.check(
            "metadata",
            metadata(fields.get("metadata"), MetadataValues::FormField),
        );
        let success_action_redirect = fields.check(
            "success_action_redirect",
            fields
                .optional_str("success_action_redirect")
                .and_then(|v| v.map(redirect).transpose()),
        );
        let success_action_status = fields.check(
            "success_action_status",
            status(fields.get("success_action_status")),
        );
        let expires_in = fields.check(
            "expires_in",
            fields
                .optional_u64("expires_in", 1, MAX_URL_LIFETIME_SECS.into())
                .map(|s| s.map(|s| u32::try_from(s).expect("at most 7 days"))),
        );
        let request = (|| {
            Some(Self {
                bucket: bucket?,
                key: key?,
                content_type: content_type?,
                content_type_prefix: content_type_prefix?,
                content_length_range: content_length_range.ok()?,
                metadata: metadata?,
                success_action_redirect: success_action_redirect?,
                success_action_status: success_action_status?,
                expires_in: expires_in?,
            })
        })();
        fields.finish(request)
    }
}

impl FormRequest {
    /// The exact object name, or the key prefix (`true`).
    pub fn key_path(&self) -> (&str, bool) {
        match &self.key {
            FormKey::Exact(name) => (name.as_str(), false),
            FormKey::Prefix(prefix) => (prefix.as_str(), true),
        }
    }
}

/// Exactly one of `key` and `key_prefix`.
fn key(fields: &mut Fields<'_>) -> Option<FormKey> {
    let exact = fields.check("key", fields.optional_str("key"))?;
    let prefix = fields.check("key_prefix", fields.optional_str("key_prefix"))?;
    match (exact, prefix) {
        (Some(key), None) => fields
            .check("key", ObjectName::parse(key))
            .map(FormKey::Exact),
        (None, Some(prefix)) => {
            // A prefix is a name, possibly ending with the `/` of a folder.
            let name = prefix.strip_suffix('/').unwrap_or(prefix);
            fields
                .check("key_prefix", ObjectName::parse(name))
                .map(|_| FormKey::Prefix(prefix.to_owned()))
        }
        (None, None) => {
            fields.reject("key", Violation::new("required", "give key or key_prefix"));
            None
        }
        (Some(_), Some(_)) => {
            fields.reject(
                "key_prefix",
                Violation::new("exclusion", "give key or key_prefix, not both"),
            );
            None
        }
    }
}

fn redirect(url: &str) -> Result<String, Violation> {
    let valid = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= MAX_REDIRECT_BYTES
        && url.parse::<http::Uri>().is_ok();
    if valid {
        Ok(url.to_owned())
    } else {
        Err(Violation::new("format", "must be an http or https URL"))
    }
}

fn status(value: Option<&Value>) -> Result<Option<&'static str>, Violation> {
    let code = match value {
        None => return Ok(None),
        Some(Value::String(text)) => text.as_str(),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(200) => "200",
            Some(201) => "201",
            Some(204) => "204",
            _ => "",
        },
        Some(_) => "",
    };
    match code {
        "200" => Ok(Some("200")),
        "201" => Ok(Some("201")),
        "204" => Ok(Some("204")),
        _ => Err(Violation::new("inclusion", "must be 200, 201 or 204")
            .with_params(serde_json::json!(["200", "201", "204"]))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn buckets() -> Vec<BucketName> {
        vec![BucketName::parse("media").unwrap()]
    }

    fn entries(policy: &Value) -> Vec<String> {
        FormRequest::from_json(&json!({ "policy": policy }), &buckets())
            .unwrap_err()
            .into_iter()
            .map(|e| e.entry)
            .collect()
    }

    #[test]
    fn reads_a_full_policy() {
        let body = json!({"policy": {"bucket": "media", "key_prefix": "uploads/42/", "content_type_prefix": "image/",
            "max_size": 1000, "metadata": {"owner": "user-42"}, "success_action_status": 201, "expires_in": 300}});
        let policy = FormRequest::from_json(&body, &buckets()).unwrap();
        assert_eq!(policy.key, FormKey::Prefix("uploads/42/".into()));
        assert_eq!(
            policy.content_length_range,
            Some(ContentLengthRange { min: 0, max: 1000 })
        );
        assert_eq!(
            policy.metadata,
            [("x-goog-meta-owner".to_owned(), "user-42".to_owned())]
        );
        assert_eq!(policy.success_action_status, Some("201"));
    }

    #[test]
    fn key_or_prefix_exactly_once() {
        assert_eq!(entries(&json!({"bucket": "media"})), ["$.policy.key"]);
        assert_eq!(
            entries(&json!({"bucket": "media", "key": "a", "key_prefix": "b/"})),
            ["$.policy.key_prefix"]
        );
        assert_eq!(
            entries(&json!({"bucket": "media", "key_prefix": "a//"})),
            ["$.policy.key_prefix"]
        );
        assert_eq!(
            entries(&json!({"bucket": "media", "key": "../x"})),
            ["$.policy.key"]
        );
    }

    #[test]
    fn refuses_bad_metadata_redirects_and_statuses() {
        assert_eq!(
            entries(&json!({"bucket": "media", "key": "a", "metadata": {"Bad Name": "x"}})),
            ["$.policy.metadata"]
        );
        assert_eq!(
            entries(&json!({"bucket": "media", "key": "a", "metadata": {"a": "x\ny"}})),
            ["$.policy.metadata"]
        );
        assert_eq!(
            entries(
                &json!({"bucket": "media", "key": "a", "success_action_redirect": "javascript:alert(1)"})
            ),
            ["$.policy.success_action_redirect"]
        );
        assert_eq!(
            entries(&json!({"bucket": "media", "key": "a", "success_action_status": 302})),
            ["$.policy.success_action_status"]
        );
        assert_eq!(
            entries(
                &json!({"bucket": "media", "key": "a", "content_type": "image/png", "content_type_prefix": "image/"})
            ),
            ["$.policy.content_type_prefix"]
        );
    }
}
