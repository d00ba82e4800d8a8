//! A secret: the request for one signed URL (`{"secret": {...}}`, or one item of a batch),
//! validated field by field.

use serde_json::Value;

use super::fields::{Fields, MetadataValues, Rejected, metadata, size_limit};
use super::store_options::{StoreOptions, store_options};
use crate::domain::InvalidEntry;
use crate::domain::{
    Action, BucketName, ContentLengthRange, ContentMd5, ContentType, HeaderText,
    MAX_URL_LIFETIME_SECS, ObjectName, SigningVersion, Violation, limits::MAX_BATCH,
};

/// A request for a signed URL that passed validation.
#[derive(Debug, Clone)]
pub struct SecretRequest {
    /// Where the secret is in the body (`$.secret`, `$.secrets[3]`), for errors found later.
    pub path: String,
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
    /// `None`: the service's default (`SIGNING_VERSION`).
    pub version: Option<SigningVersion>,
    /// Signed as `x-goog-if-generation-match`; `0` means "only if the object does not exist".
    pub if_generation_match: Option<u64>,
    /// Signed as `x-goog-content-length-range`.
    pub content_length_range: Option<ContentLengthRange>,
    /// Downloads: the `Content-Type` the response must have (`response-content-type`).
    pub response_content_type: Option<ContentType>,
    /// Downloads: the `Content-Disposition` of the response (`response-content-disposition`),
    /// e.g. to save under a chosen name.
    pub response_content_disposition: Option<HeaderText>,
    /// Uploads: `x-goog-meta-<name>` headers to sign, names with the prefix.
    pub metadata: Vec<(String, String)>,
    /// Uploads: the `Cache-Control` to sign.
    pub cache_control: Option<HeaderText>,
    /// Uploads: the `Content-Disposition` to sign.
    pub content_disposition: Option<HeaderText>,
    /// Swift's TempURL options: a prefix URL, a download's file name.
    pub store: StoreOptions,
}

impl SecretRequest {
    /// Reads `{"secret": {...}}`.
    pub fn from_json(body: &Value, known_buckets: &[BucketName]) -> Result<Self, InvalidSecret> {
        let fields = Fields::member(body, "secret").map_err(InvalidSecret::shape)?;
        Self::from_fields(fields, known_buckets)
    }

    /// Reads `{"secrets": [...]}`, 1 to [`MAX_BATCH`] secrets, each on its own: one invalid
    /// secret does not make the others invalid.
    pub fn batch_from_json(
        body: &Value,
        known_buckets: &[BucketName],
    ) -> Result<Vec<Result<Self, InvalidSecret>>, InvalidEntry> {
        Ok(batch_items(body)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let fields = Fields::at(Some(value), format!("$.secrets[{index}]"))
                    .map_err(InvalidSecret::shape)?;
                Self::from_fields(fields, known_buckets)
            })
            .collect())
    }

    /// Reads one secret object found at `fields`' path.
    pub fn from_fields(
        mut fields: Fields<'_>,
        known_buckets: &[BucketName],
    ) -> Result<Self, InvalidSecret> {
        let action = fields.check(
            "action",
            fields.required_str("action").and_then(Action::parse),
        );
        let bucket = fields.check("bucket", fields.known_bucket(known_buckets));
        let name_parts = name_parts(&mut fields);
        let content_type = fields.check(
            "content_type",
            fields
                .optional_str("content_type")
                .and_then(|value| value.map(ContentType::parse).transpose()),
        );
        let content_md5 = fields.check(
            "content_md5",
            fields
                .optional_str("content_md5")
                .and_then(|value| value.map(ContentMd5::parse).transpose()),
        );
        let expires_in = fields.check(
            "expires_in",
            fields
                .optional_u64("expires_in", 1, MAX_URL_LIFETIME_SECS.into())
                .map(|seconds| seconds.map(|s| u32::try_from(s).expect("at most 7 days"))),
        );
        let version = fields.check(
            "version",
            fields
                .optional_str("version")
                .and_then(|value| value.map(SigningVersion::parse).transpose()),
        );
        let if_generation_match = fields.check(
            "if_generation_match",
            fields.optional_u64("if_generation_match", 0, i64::MAX.unsigned_abs()),
        );
        let content_length_range = content_length_range(&mut fields, action);
        let options = url_options(&mut fields, action);
        let store = store_options(&mut fields, action);
        let name = name_parts.and_then(|parts| joined_name(&mut fields, parts));
        let request = (|| {
            let (resource_id, resource_name, object) = name?;
            Some(Self {
                path: fields.path().to_owned(),
                action: action?,
                bucket: bucket?,
                resource_id,
                resource_name,
                object,
                content_type: content_type?,
                content_md5: content_md5?,
                expires_in: expires_in?,
                version: version?,
                if_generation_match: if_generation_match?,
                content_length_range: content_length_range.ok()?,
                response_content_type: options.response_content_type.ok()?,
                response_content_disposition: options.response_content_disposition.ok()?,
                metadata: options.metadata?,
                cache_control: options.cache_control.ok()?,
                content_disposition: options.content_disposition.ok()?,
                store: store?,
            })
        })();
        fields
            .finish(request)
            .map_err(|entries| InvalidSecret { entries, action })
    }
}

/// A secret that failed validation: every invalid field, and the action it asks for when that
/// field itself is valid (so that refusals are audited and counted by action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSecret {
    pub entries: Vec<InvalidEntry>,
    pub action: Option<Action>,
}

impl InvalidSecret {
    /// Not an object at all.
    fn shape(entry: InvalidEntry) -> Self {
        Self {
            entries: vec![entry],
            action: None,
        }
    }
}

impl SecretRequest {
    /// The headers besides `Content-Type` and `Content-MD5` this secret asks to sign, by
    /// their request field, for the checks that depend on the signing version.
    pub fn header_fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("cache_control", self.cache_control.is_some()),
            ("content_disposition", self.content_disposition.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
    }
}

/// The URL options of a secret, each `Err` (or `None`) when invalid, and recorded.
struct UrlOptionFields {
    response_content_type: Result<Option<ContentType>, Rejected>,
    response_content_disposition: Result<Option<HeaderText>, Rejected>,
    metadata: Option<Vec<(String, String)>>,
    cache_control: Result<Option<HeaderText>, Rejected>,
    content_disposition: Result<Option<HeaderText>, Rejected>,
}

/// `response_content_type` and `response_content_disposition` for downloads (`GET`,
/// `HEAD`); `metadata`, `cache_control` and `content_disposition` for URL uploads (`PUT`,
/// `RESUMABLE`).
fn url_options(fields: &mut Fields<'_>, action: Option<Action>) -> UrlOptionFields {
    let options = UrlOptionFields {
        response_content_type: optional(fields, "response_content_type", ContentType::parse),
        response_content_disposition: optional(
            fields,
            "response_content_disposition",
            HeaderText::parse_disposition,
        ),
        metadata: fields.check(
            "metadata",
            metadata(fields.get("metadata"), MetadataValues::Header),
        ),
        cache_control: optional(fields, "cache_control", HeaderText::parse),
        content_disposition: optional(fields, "content_disposition", HeaderText::parse_disposition),
    };
    let Some(action) = action else {
        return options;
    };
    let download = matches!(action, Action::Get | Action::Head);
    let url_upload = matches!(action, Action::Put | Action::Resumable);
    let misplaced: Vec<(&str, &str)> = [
        (
            "response_content_type",
            !download,
            "applies to downloads only (GET, HEAD)",
        ),
        (
            "response_content_disposition",
            !download,
            "applies to downloads only (GET, HEAD)",
        ),
        (
            "metadata",
            !url_upload,
            "applies to uploads only (PUT, RESUMABLE)",
        ),
        (
            "cache_control",
            !url_upload,
            "applies to uploads only (PUT, RESUMABLE)",
        ),
        (
            "content_disposition",
            !url_upload,
            "applies to uploads only (PUT, RESUMABLE)",
        ),
    ]
    .into_iter()
    .filter(|(name, wrong, _)| *wrong && fields.get(name).is_some())
    .map(|(name, _, why)| (name, why))
    .collect();
    for (name, why) in misplaced {
        fields.reject(name, Violation::new("exclusion", why));
    }
    options
}

/// An optional string field parsed by `parse` (`Err` when invalid, and recorded).
fn optional<T>(
    fields: &mut Fields<'_>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, Violation>,
) -> Result<Option<T>, Rejected> {
    let value = fields
        .optional_str(name)
        .and_then(|value| value.map(&parse).transpose());
    fields.check(name, value).ok_or(Rejected)
}

/// The items of `{"secrets": [...]}`.
fn batch_items(body: &Value) -> Result<&[Value], InvalidEntry> {
    let Some(body) = body.as_object() else {
        return Err(InvalidEntry::json_property("$", Violation::cast("object")));
    };
    match body.get("secrets") {
        None | Some(Value::Null) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::required(),
        )),
        Some(Value::Array(items)) if (1..=MAX_BATCH).contains(&items.len()) => Ok(items),
        Some(Value::Array(_)) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::new("length", format!("must hold 1 to {MAX_BATCH} secrets"))
                .with_params(serde_json::json!({"min": 1, "max": MAX_BATCH})),
        )),
        Some(_) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::cast("array"),
        )),
    }
}

/// `resource_id` and the optional `resource_name`, each a valid name on its own.
fn name_parts<'a>(fields: &mut Fields<'a>) -> Option<(&'a str, Option<&'a str>)> {
    let resource_id = fields.check(
        "resource_id",
        fields
            .required_str("resource_id")
            .and_then(|id| ObjectName::parse(id).map(|_| id)),
    );
    let resource_name = fields.check(
        "resource_name",
        fields
            .optional_str("resource_name")
            .and_then(|name| name.map(|n| ObjectName::parse(n).map(|_| n)).transpose()),
    );
    Some((resource_id?, resource_name?))
}

/// The object name: `resource_id`, plus `/` and `resource_name` when there is one. Each part is
/// a valid name on its own; joined, they may still be too long.
fn joined_name(
    fields: &mut Fields<'_>,
    (id, name): (&str, Option<&str>),
) -> Option<(String, Option<String>, ObjectName)> {
    let (joined, entry) = match name {
        Some(name) => (format!("{id}/{name}"), "resource_name"),
        None => (id.to_owned(), "resource_id"),
    };
    let object = fields.check(entry, ObjectName::parse(&joined))?;
    Some((id.to_owned(), name.map(str::to_owned), object))
}

/// `content_length_range: [min, max]`, or `max_size` for `[0, max_size]`; uploads only.
fn content_length_range(
    fields: &mut Fields<'_>,
    action: Option<Action>,
) -> Result<Option<ContentLengthRange>, Rejected> {
    let limit = size_limit(fields)?;
    if let Some(field) = limit.and(fields.size_limit_field()) {
        if action.is_some_and(|a| !a.is_upload()) {
            fields.reject(
                field,
                Violation::new("exclusion", "applies to uploads only (PUT)"),
            );
            return Err(Rejected);
        }
        // GCS checks x-goog-content-length-range on the request that carries the data; the
        // data of a resumable upload goes to a session URI that carries no signed header.
        if action == Some(Action::Resumable) {
            fields.reject(
                field,
                Violation::new(
                    "exclusion",
                    "cannot be enforced on RESUMABLE uploads (GCS does not hold the session's data to a signed size range); use PUT",
                ),
            );
            return Err(Rejected);
        }
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{ContentLengthRange, SigningVersion};

    fn buckets() -> Vec<BucketName> {
        vec![BucketName::parse("media").unwrap()]
    }

    fn entries(body: &Value) -> Vec<String> {
        SecretRequest::from_json(body, &buckets())
            .unwrap_err()
            .entries
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
        let body = json!({"secret": {"action": "PATCH", "bucket": "other", "resource_id": "", "content_type": 5, "content_md5": "x"}});
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
    fn safe_upload_fields_are_read() {
        let body = json!({"secret": {"action": "PUT", "bucket": "media", "resource_id": "a", "version": "v4", "if_generation_match": 0, "content_length_range": [1, 100]}});
        let request = SecretRequest::from_json(&body, &buckets()).unwrap();
        assert_eq!(request.version, Some(SigningVersion::V4));
        assert_eq!(request.if_generation_match, Some(0));
        assert_eq!(
            request.content_length_range,
            Some(ContentLengthRange { min: 1, max: 100 })
        );
        let body = json!({"secret": {"action": "RESUMABLE", "bucket": "media", "resource_id": "a", "max_size": 5}});
        assert_eq!(
            entries(&body),
            ["$.secret.max_size"],
            "a size limit GCS would not enforce is refused"
        );
    }

    #[test]
    fn size_limits_are_for_uploads_and_one_form_only() {
        let with = |secret: Value| entries(&json!({ "secret": secret }));
        assert_eq!(
            with(json!({"action": "GET", "bucket": "media", "resource_id": "a", "max_size": 5})),
            ["$.secret.max_size"]
        );
        assert_eq!(
            with(
                json!({"action": "PUT", "bucket": "media", "resource_id": "a", "max_size": 5, "content_length_range": [0, 5]})
            ),
            ["$.secret.max_size"]
        );
        for bad in [json!([5, 1]), json!([1]), json!("0,5"), json!([0, -1])] {
            assert_eq!(
                with(
                    json!({"action": "PUT", "bucket": "media", "resource_id": "a", "content_length_range": bad})
                ),
                ["$.secret.content_length_range"]
            );
        }
        assert_eq!(
            with(json!({"action": "PUT", "bucket": "media", "resource_id": "a", "version": "v3"})),
            ["$.secret.version"]
        );
    }

    #[test]
    fn store_options_are_read_and_downloads_only_take_a_filename() {
        let body = json!({"secret": {"action": "GET", "bucket": "media", "resource_id": "a", "prefix": true, "filename": "a b.pdf", "inline": true}});
        let request = SecretRequest::from_json(&body, &buckets()).unwrap();
        assert!(request.store.prefix && request.store.inline);
        assert_eq!(request.store.filename.as_deref(), Some("a b.pdf"));
        let with = |secret: Value| entries(&json!({ "secret": secret }));
        assert_eq!(
            with(json!({"action": "PUT", "bucket": "media", "resource_id": "a", "filename": "x"})),
            ["$.secret.filename"]
        );
        assert_eq!(
            with(
                json!({"action": "GET", "bucket": "media", "resource_id": "a", "prefix": "yes", "filename": "a/b"})
            ),
            ["$.secret.prefix", "$.secret.filename"]
        );
    }

    #[test]
    fn missing_secret_is_required() {
        assert_eq!(entries(&json!({})), ["$.secret"]);
        assert_eq!(entries(&json!({"secret": "x"})), ["$.secret"]);
        assert_eq!(entries(&json!([1])), ["$"]);
    }
}
