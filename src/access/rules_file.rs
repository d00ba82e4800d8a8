//! The `[[clients.allow]]` entries of the clients file: methods, resources (with templates
//! for end users), content types, upload limits, claim conditions and the URL options a rule
//! permits.

use serde::Deserialize;

use super::{
    ClaimCondition, ClaimPath, Expected, MediaRange, ResourcePattern, Rule, UPLOAD_HEADERS,
};
use crate::domain::{Action, MAX_OBJECT_SIZE, is_metadata_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleEntry {
    methods: Vec<String>,
    resources: Vec<String>,
    content_types: Option<Vec<String>>,
    max_size: Option<u64>,
    #[serde(default)]
    require_no_overwrite: bool,
    claims: Option<toml::Table>,
    response_content_types: Option<Vec<String>>,
    response_dispositions: Option<Vec<String>>,
    metadata: Option<Vec<String>>,
    upload_headers: Option<Vec<String>>,
    reuse_window: Option<u32>,
}

pub(super) fn rule(entry: RuleEntry, for_end_users: bool) -> Result<Rule, String> {
    if entry.methods.is_empty() {
        return Err("methods: list at least one method".into());
    }
    let methods = entry
        .methods
        .iter()
        .map(|m| Action::parse_method(m).map_err(|v| format!("methods: {m:?} {}", v.description)))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RuleOptions::read(&entry, &methods)?;
    if entry.resources.is_empty() {
        return Err("resources: list at least one pattern".into());
    }
    let resources = entry
        .resources
        .iter()
        .map(|p| ResourcePattern::parse(p).map_err(|problem| format!("resources: {problem}")))
        .collect::<Result<Vec<_>, _>>()?;
    if !for_end_users && resources.iter().any(ResourcePattern::has_templates) {
        return Err(
            "resources: templates ({sub}, {claims.<name>}) need a client with end_users".into(),
        );
    }
    let content_types = entry
        .content_types
        .map(|types| media_ranges("content_types", &types, MediaRange::parse))
        .transpose()?;
    if let Some(types) = &content_types
        && types.is_empty()
    {
        return Err("content_types: leave it out to allow any, or list at least one".into());
    }
    let claims = entry
        .claims
        .as_ref()
        .map(claim_conditions)
        .transpose()?
        .unwrap_or_default();
    if !claims.is_empty() && !for_end_users {
        return Err("claims: conditions on claims need a client with end_users".into());
    }
    if let Some(max_size) = entry.max_size
        && max_size > MAX_OBJECT_SIZE
    {
        return Err(format!("max_size: at most {MAX_OBJECT_SIZE} bytes (5 TiB)"));
    }
    let uploads = methods.iter().any(|m| m.is_upload());
    if !uploads && (entry.max_size.is_some() || entry.require_no_overwrite) {
        return Err(
            "max_size and require_no_overwrite apply to uploads: list PUT, RESUMABLE or POST"
                .into(),
        );
    }
    // Delete, then create: no-overwrite would mean nothing.
    if entry.require_no_overwrite && methods.contains(&Action::Delete) {
        return Err(
            "require_no_overwrite with DELETE: deleting first defeats no-overwrite; grant DELETE in a rule of its own, on other paths"
                .into(),
        );
    }
    // GCS checks x-goog-content-length-range on the request that carries the data; a
    // resumable upload's data goes to a session URI that carries no signed header.
    if entry.max_size.is_some() && methods.contains(&Action::Resumable) {
        return Err(
            "max_size with RESUMABLE: GCS does not hold a resumable upload's data to x-goog-content-length-range, so the limit would not hold; give RESUMABLE a rule without max_size, or leave it out"
                .into(),
        );
    }
    let reuse_window = entry
        .reuse_window
        .map(|window| reuse_window(window, &methods))
        .transpose()?;
    Ok(Rule {
        reuse_window,
        methods,
        resources,
        content_types,
        max_size: entry.max_size,
        require_no_overwrite: entry.require_no_overwrite,
        claims,
        response_content_types: options.response_content_types,
        response_dispositions: options.response_dispositions,
        metadata: options.metadata,
        upload_headers: options.upload_headers,
    })
}

/// What a rule lets URLs carry: download overrides and upload headers.
struct RuleOptions {
    response_content_types: Option<Vec<MediaRange>>,
    response_dispositions: Option<Vec<String>>,
    metadata: Option<Vec<String>>,
    upload_headers: Vec<String>,
}

impl RuleOptions {
    fn read(entry: &RuleEntry, methods: &[Action]) -> Result<Self, String> {
        let response_content_types = entry
            .response_content_types
            .as_ref()
            .map(|types| media_ranges("response_content_types", types, MediaRange::parse_response))
            .transpose()?;
        let response_dispositions = entry
            .response_dispositions
            .as_ref()
            .map(|kinds| tokens("response_dispositions", kinds, |_| true))
            .transpose()?;
        let downloads = methods
            .iter()
            .any(|m| matches!(m, Action::Get | Action::Head));
        if !downloads && (response_content_types.is_some() || response_dispositions.is_some()) {
            return Err(
            "response_content_types and response_dispositions apply to downloads: list GET or HEAD"
                .into(),
        );
        }
        let metadata = entry
            .metadata
            .as_ref()
            .map(|names| {
                tokens("metadata", names, |name| {
                    name == "*" || is_metadata_name(name)
                })
            })
            .transpose()?;
        let upload_headers = entry
            .upload_headers
            .as_ref()
            .map(|names| {
                tokens("upload_headers", names, |name| {
                    UPLOAD_HEADERS.contains(&name)
                })
            })
            .transpose()?
            .unwrap_or_default();
        let url_uploads = methods
            .iter()
            .any(|m| matches!(m, Action::Put | Action::Resumable));
        if !url_uploads && (metadata.is_some() || !upload_headers.is_empty()) {
            return Err(
                "metadata and upload_headers apply to uploads: list PUT or RESUMABLE".into(),
            );
        }
        Ok(Self {
            response_content_types,
            response_dispositions,
            metadata,
            upload_headers,
        })
    }
}

/// Reuse of read URLs: a whole number of seconds from 1 to an hour, for a rule that reads.
fn reuse_window(window: u32, methods: &[Action]) -> Result<u32, String> {
    if !methods
        .iter()
        .any(|m| matches!(m, Action::Get | Action::Head))
    {
        return Err("reuse_window: applies to reads: list GET or HEAD".into());
    }
    if !(1..=MAX_REUSE_WINDOW_SECS).contains(&window) {
        return Err(format!(
            "reuse_window: must be 1 to {MAX_REUSE_WINDOW_SECS} seconds"
        ));
    }
    Ok(window)
}

/// Longest reuse window: a reused URL lives at least its lifetime minus one window.
const MAX_REUSE_WINDOW_SECS: u32 = 3600;

/// Media ranges (`type/subtype`, with parameters if listed, or `type/*`).
fn media_ranges(
    field: &str,
    types: &[String],
    parse: impl Fn(&str) -> Result<MediaRange, String>,
) -> Result<Vec<MediaRange>, String> {
    types
        .iter()
        .map(|t| parse(t).map_err(|problem| format!("{field}: {t:?} {problem}")))
        .collect()
}

/// Lower-case names that `valid` accepts, at least one.
fn tokens(
    field: &str,
    names: &[String],
    valid: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    if names.is_empty() {
        return Err(format!(
            "{field}: leave it out to allow none, or list at least one"
        ));
    }
    names
        .iter()
        .map(|name| {
            let lower = name.to_ascii_lowercase();
            if valid(&lower) && !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(lower)
            } else {
                Err(format!("{field}: {name:?} is not accepted here"))
            }
        })
        .collect()
}

/// `claims = { groups = "editors", email_verified = true, "realm_access.roles" = ["a", "b"] }`
fn claim_conditions(table: &toml::Table) -> Result<Vec<ClaimCondition>, String> {
    table
        .iter()
        .map(|(name, value)| {
            let claim = ClaimPath::parse(name).map_err(|problem| format!("claims: {problem}"))?;
            let expected = |value: &toml::Value| match value {
                toml::Value::String(text) => Ok(Expected::Text(text.clone())),
                toml::Value::Boolean(flag) => Ok(Expected::Bool(*flag)),
                toml::Value::Table(_) => Err(format!(
                    "claims: {name:?} is a table; quote a dotted claim name, as \"realm_access.roles\" = \"uploader\""
                )),
                _ => Err(format!(
                    "claims: {name:?} must be a string, true or false, or a list of them"
                )),
            };
            let any_of = match value {
                toml::Value::Array(items) if !items.is_empty() => {
                    items.iter().map(expected).collect::<Result<Vec<_>, _>>()?
                }
                toml::Value::Array(_) => {
                    return Err(format!("claims: {name:?} lists no value"));
                }
                one => vec![expected(one)?],
            };
            Ok(ClaimCondition { claim, any_of })
        })
        .collect()
}
