//! Reading the fields of a JSON request object, collecting one entry per invalid field so that
//! a 422 lists them all rather than the first one serde would stop at.

use serde_json::{Map, Value};

use crate::domain::{
    BucketName, ContentLengthRange, HeaderText, InvalidEntry, MAX_OBJECT_SIZE, Violation,
    find_control_character, is_metadata_name,
};

/// Most bytes of custom metadata (names and values) one request may set.
const MAX_METADATA_BYTES: usize = 8 * 1024;

/// A field was invalid; the reason is among the collected entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

/// The fields of one JSON object, at `path` (`$.secret`, `$.secrets[3]`, ...).
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
    errors: Vec<InvalidEntry>,
}

impl<'a> Fields<'a> {
    /// The object under `name` of `body`, a JSON object itself.
    pub fn member(body: &'a Value, name: &str) -> Result<Self, InvalidEntry> {
        let Some(body) = body.as_object() else {
            return Err(InvalidEntry::json_property("$", Violation::cast("object")));
        };
        Self::at(body.get(name), format!("$.{name}"))
    }

    /// `value`, which must be an object, as found at `path`.
    pub fn at(value: Option<&'a Value>, path: String) -> Result<Self, InvalidEntry> {
        match value {
            None | Some(Value::Null) => {
                Err(InvalidEntry::json_property(path, Violation::required()))
            }
            Some(Value::Object(object)) => Ok(Self {
                object,
                path,
                errors: Vec::new(),
            }),
            Some(_) => Err(InvalidEntry::json_property(path, Violation::cast("object"))),
        }
    }

    /// Where the object is, as `$.secret`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Keeps the value, or records the violation against `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Violation>) -> Option<T> {
        result
            .map_err(|violation| self.reject(field, violation))
            .ok()
    }

    /// Records a violation against `field`.
    pub fn reject(&mut self, field: &str, violation: Violation) {
        self.errors.push(InvalidEntry::json_property(
            format!("{}.{field}", self.path),
            violation,
        ));
    }

    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|value| !value.is_null())
    }

    /// A string that must be present and non-empty.
    pub fn required_str(&self, field: &str) -> Result<&'a str, Violation> {
        self.optional_str(field)?.ok_or_else(Violation::required)
    }

    /// A string that may be absent; null and `""` count as absent.
    pub fn optional_str(&self, field: &str) -> Result<Option<&'a str>, Violation> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(value)) if value.is_empty() => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(Violation::cast("string")),
        }
    }

    /// A whole number from `min` to `max`, if present.
    pub fn optional_u64(&self, field: &str, min: u64, max: u64) -> Result<Option<u64>, Violation> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(number)) => match number.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(Violation::new(
                    "number",
                    format!("must be a whole number from {min} to {max}"),
                )
                .with_params(serde_json::json!({
                    "greater_than_or_equal_to": min,
                    "less_than_or_equal_to": max
                }))),
            },
            Some(_) => Err(Violation::cast("integer")),
        }
    }

    /// `bucket`: a valid bucket name, and one of `known_buckets`.
    pub fn known_bucket(&self, known_buckets: &[BucketName]) -> Result<BucketName, Violation> {
        let bucket = BucketName::parse(self.required_str("bucket")?)?;
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

    /// Which size-limit field the request used, if any.
    pub fn size_limit_field(&self) -> Option<&'static str> {
        if self.get("content_length_range").is_some() {
            Some("content_length_range")
        } else if self.get("max_size").is_some() {
            Some("max_size")
        } else {
            None
        }
    }

    /// `value` if every field was valid, otherwise every rejection.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<InvalidEntry>> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(self.errors),
        }
    }
}

/// `content_length_range: [min, max]`, or `max_size` for `[0, max_size]`, not both.
pub fn size_limit(fields: &mut Fields<'_>) -> Result<Option<ContentLengthRange>, Rejected> {
    let range = fields.check(
        "content_length_range",
        parse_range(fields.get("content_length_range")),
    );
    let max_size = fields.check(
        "max_size",
        fields
            .optional_u64("max_size", 0, MAX_OBJECT_SIZE)
            .and_then(|max| max.map(ContentLengthRange::at_most).transpose()),
    );
    match (range.ok_or(Rejected)?, max_size.ok_or(Rejected)?) {
        (Some(_), Some(_)) => {
            fields.reject(
                "max_size",
                Violation::new(
                    "exclusion",
                    "give content_length_range or max_size, not both",
                ),
            );
            Err(Rejected)
        }
        (range, max) => Ok(range.or(max)),
    }
}

fn parse_range(value: Option<&Value>) -> Result<Option<ContentLengthRange>, Violation> {
    let Some(value) = value else {
        return Ok(None);
    };
    let bounds: Option<Vec<u64>> = value
        .as_array()
        .filter(|items| items.len() == 2)
        .map(|items| items.iter().filter_map(Value::as_u64).collect());
    match bounds.as_deref() {
        Some([min, max]) => ContentLengthRange::new(*min, *max).map(Some),
        _ => Err(Violation::cast("[min, max] array of two whole numbers")),
    }
}

/// Where metadata values go, which decides what they may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataValues {
    /// Form fields of a POST policy: any text without control characters.
    FormField,
    /// Signed `x-goog-meta-*` headers of a URL: header text (visible ASCII).
    Header,
}

/// `{"owner": "user-42"}`: custom metadata, as `x-goog-meta-owner` form fields or headers.
pub fn metadata(
    value: Option<&Value>,
    values: MetadataValues,
) -> Result<Vec<(String, String)>, Violation> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let object = value
        .as_object()
        .ok_or_else(|| Violation::cast("object of strings"))?;
    let mut total = 0;
    let mut entries = Vec::with_capacity(object.len());
    for (name, value) in object {
        if !is_metadata_name(name) {
            return Err(Violation::new(
                "format",
                format!("name {name:?} must be 1 to 64 of a-z 0-9 - _"),
            ));
        }
        let value = value
            .as_str()
            .ok_or_else(|| Violation::cast("object of strings"))?;
        let problem = match values {
            MetadataValues::FormField => find_control_character(value)
                .map(|found| format!("{name:?} contains a control character ({found})")),
            MetadataValues::Header => HeaderText::parse(value)
                .err()
                .map(|violation| format!("{name:?} {}", violation.description)),
        };
        if let Some(problem) = problem {
            return Err(Violation::new("format", problem));
        }
        total += name.len() + value.len();
        entries.push((format!("x-goog-meta-{name}"), value.to_owned()));
    }
    if total > MAX_METADATA_BYTES {
        return Err(Violation::new(
            "length",
            format!("must be at most {MAX_METADATA_BYTES} bytes in all"),
        ));
    }
    Ok(entries)
}
