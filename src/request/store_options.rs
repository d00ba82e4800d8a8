//! What a secret may ask of the store besides its method and object: the options of Swift
//! TempURLs (`temp_url_prefix`, `filename`, `inline`). Whether the bucket's store has them is
//! the decision's to say (`issuing::backend`); here they are only read.

use serde_json::Value;

use super::fields::Fields;
use crate::domain::{Action, Violation, find_control_character};

/// Longest `filename` accepted: file systems allow 255 bytes.
const MAX_FILENAME_BYTES: usize = 255;

/// The store options of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// `"prefix": true`: the URL covers every object under `<object>/` (Swift's
    /// `temp_url_prefix`), not the object itself.
    pub prefix: bool,
    /// Downloads: the file name the response's `Content-Disposition` gives (Swift's
    /// `filename`).
    pub filename: Option<String>,
    /// Downloads: `Content-Disposition: inline` rather than `attachment` (Swift's `inline`).
    pub inline: bool,
}

/// Reads `prefix`, `filename` and `inline`; `None` when one of them is invalid (recorded).
pub(super) fn store_options(
    fields: &mut Fields<'_>,
    action: Option<Action>,
) -> Option<StoreOptions> {
    let prefix = fields.check("prefix", optional_bool(fields.get("prefix")));
    let filename = fields.check(
        "filename",
        fields
            .optional_str("filename")
            .and_then(|name| name.map(filename).transpose()),
    );
    let inline = fields.check("inline", optional_bool(fields.get("inline")));
    let download = action.is_none_or(|a| matches!(a, Action::Get | Action::Head));
    let mut misplaced = false;
    for (field, given) in [
        ("filename", filename.as_ref().is_some_and(Option::is_some)),
        ("inline", inline == Some(true)),
    ] {
        if given && !download {
            fields.reject(
                field,
                Violation::new("exclusion", "applies to downloads only (GET, HEAD)"),
            );
            misplaced = true;
        }
    }
    if misplaced {
        return None;
    }
    Some(StoreOptions {
        prefix: prefix?,
        filename: filename?,
        inline: inline?,
    })
}

fn optional_bool(value: Option<&Value>) -> Result<bool, Violation> {
    match value {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(Violation::cast("boolean")),
    }
}

fn filename(name: &str) -> Result<String, Violation> {
    if let Some(found) = find_control_character(name) {
        return Err(Violation::new(
            "format",
            format!("must not contain control characters (found {found})"),
        ));
    }
    if name.len() > MAX_FILENAME_BYTES || name.contains('/') {
        return Err(Violation::new(
            "format",
            format!("must be a file name (no '/') of at most {MAX_FILENAME_BYTES} bytes"),
        )
        .with_params(serde_json::json!({"max": MAX_FILENAME_BYTES})));
    }
    Ok(name.to_owned())
}
