//! Request fields parsed into types. After `parse` succeeds, the rest of the code can trust
//! the value; when it fails, the [`Violation`] says which rule was broken and why.

mod action;
mod bucket_name;
mod content_type;
mod header_text;
mod headers;
pub mod limits;
mod object_name;
mod upload;

pub use action::Action;
pub use bucket_name::BucketName;
pub use content_type::{ContentType, parse_content_type_prefix};
pub use header_text::{HeaderText, is_metadata_name};
pub use headers::ContentMd5;
pub use limits::{MAX_OBJECT_NAME_BYTES, MAX_OBJECT_SIZE, MAX_URL_LIFETIME_SECS};
pub use object_name::ObjectName;
pub use upload::{ContentLengthRange, SigningVersion};

use serde::Serialize;
use serde_json::Value;

/// One broken validation rule, in the shape ael.api's clients know
/// (`{"rule": "inclusion", "params": [...], "description": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// `required`, `cast`, `inclusion`, `format`, `length`, `number`, `exclusion`, `json`, `size`, ...
    pub rule: &'static str,
    /// The rule's parameters: allowed values, or limits such as `{"max": 1024}`.
    pub params: Value,
    pub description: String,
}

impl Violation {
    pub fn new(rule: &'static str, description: impl Into<String>) -> Self {
        Self {
            rule,
            params: Value::Array(Vec::new()),
            description: description.into(),
        }
    }

    #[must_use]
    pub fn with_params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }

    pub fn required() -> Self {
        Self::new("required", "is required")
    }

    pub fn cast(expected: &'static str) -> Self {
        Self::new("cast", format!("must be a {expected}"))
            .with_params(Value::Array(vec![Value::from(expected)]))
    }
}

/// One invalid part of a request and every rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InvalidEntry {
    pub entry: String,
    pub entry_type: &'static str,
    pub rules: Vec<Violation>,
}

impl InvalidEntry {
    /// A field of the JSON body, named by its `JSONPath` (`$.secret.action`).
    pub fn json_property(entry: impl Into<String>, violation: Violation) -> Self {
        Self {
            entry: entry.into(),
            entry_type: "json_data_property",
            rules: vec![violation],
        }
    }
}

/// Describes the first control character of `value`, if any, as `U+000A at byte 3`.
///
/// Every Unicode control character counts: C0 (NUL, TAB, CR, LF, ...), DEL and C1. GCS forbids
/// CR and LF in object names and advises against the rest, which break XML listings and logs.
pub(crate) fn find_control_character(value: &str) -> Option<String> {
    value
        .char_indices()
        .find(|&(_, c)| c.is_control())
        .map(|(at, c)| format!("U+{:04X} at byte {at}", u32::from(c)))
}
