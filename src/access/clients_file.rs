//! The clients file (TOML): who the callers are and what each may do.
//!
//! ```toml
//! [[clients]]
//! id = "frontend"
//! api_key_sha256 = "<hex SHA-256 of the API key>"
//! max_ttl = 900
//! [[clients.allow]]
//! methods = ["PUT"]
//! resources = ["/declarations/uploads/**"]
//! content_types = ["image/jpeg", "application/pdf"]   # or "image/*"
//! max_size = 10485760                                  # bytes; signed into uploads
//! require_no_overwrite = true                          # uploads may only create
//! ```
//!
//! Unknown fields are errors, so a typo cannot silently widen or drop a rule.

use std::collections::HashSet;

use serde::Deserialize;

use super::{ANONYMOUS, Client, ResourcePattern, Rule, media_type};
use crate::domain::{Action, ContentType, MAX_OBJECT_SIZE, MAX_URL_LIFETIME_SECS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default)]
    clients: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    id: String,
    api_key_sha256: Option<String>,
    jwt_subject: Option<String>,
    max_ttl: Option<u32>,
    #[serde(default)]
    allow: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    methods: Vec<String>,
    resources: Vec<String>,
    content_types: Option<Vec<String>>,
    max_size: Option<u64>,
    #[serde(default)]
    require_no_overwrite: bool,
}

/// Parses and checks a clients file. `default_ttl` is the `max_ttl` of clients that set none.
/// The error is one line: where in the file, and what is wrong.
pub fn parse(text: &str, default_ttl: u32) -> Result<Vec<Client>, String> {
    let file: FileEntry = toml::from_str(text).map_err(|error| toml_error(text, &error))?;
    let mut ids = HashSet::new();
    let mut key_hashes = HashSet::new();
    let mut subjects = HashSet::new();
    let mut clients = Vec::with_capacity(file.clients.len());
    for (index, entry) in file.clients.into_iter().enumerate() {
        let at = format!("clients[{index}] ({:?})", entry.id);
        let client = client(entry, default_ttl).map_err(|problem| format!("{at}: {problem}"))?;
        if !ids.insert(client.id.clone()) {
            return Err(format!("{at}: the id is used by another client"));
        }
        if let Some(hash) = client.api_key_sha256
            && !key_hashes.insert(hash)
        {
            return Err(format!("{at}: api_key_sha256 is used by another client"));
        }
        if let Some(subject) = &client.jwt_subject
            && !subjects.insert(subject.clone())
        {
            return Err(format!("{at}: jwt_subject is used by another client"));
        }
        clients.push(client);
    }
    Ok(clients)
}

fn client(entry: ClientEntry, default_ttl: u32) -> Result<Client, String> {
    let valid_id = !entry.id.is_empty()
        && entry.id.len() <= 64
        && entry
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    if !valid_id {
        return Err("id must be 1 to 64 characters of A-Z a-z 0-9 - _ . : @".into());
    }
    let api_key_sha256 = entry
        .api_key_sha256
        .as_deref()
        .map(parse_sha256)
        .transpose()?;
    if let Some(subject) = &entry.jwt_subject
        && subject.trim().is_empty()
    {
        return Err("jwt_subject must not be empty".into());
    }
    let has_credential = api_key_sha256.is_some() || entry.jwt_subject.is_some();
    if entry.id == ANONYMOUS && has_credential {
        return Err(format!(
            "the {ANONYMOUS:?} client is for callers without credentials: it takes no api_key_sha256 or jwt_subject"
        ));
    }
    if entry.id != ANONYMOUS && !has_credential {
        return Err("needs api_key_sha256 or jwt_subject (or the id \"anonymous\")".into());
    }
    let max_ttl = entry.max_ttl.unwrap_or(default_ttl);
    if !(1..=MAX_URL_LIFETIME_SECS).contains(&max_ttl) {
        return Err(format!(
            "max_ttl must be 1 to {MAX_URL_LIFETIME_SECS} seconds"
        ));
    }
    let allow = entry
        .allow
        .into_iter()
        .enumerate()
        .map(|(index, rule_entry)| {
            rule(rule_entry).map_err(|problem| format!("allow[{index}].{problem}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Client {
        id: entry.id,
        api_key_sha256,
        jwt_subject: entry.jwt_subject,
        max_ttl,
        allow,
    })
}

fn rule(entry: RuleEntry) -> Result<Rule, String> {
    if entry.methods.is_empty() {
        return Err("methods: list at least one method".into());
    }
    let methods = entry
        .methods
        .iter()
        .map(|m| Action::parse_method(m).map_err(|v| format!("methods: {m:?} {}", v.description)))
        .collect::<Result<Vec<_>, _>>()?;
    if entry.resources.is_empty() {
        return Err("resources: list at least one pattern".into());
    }
    let resources = entry
        .resources
        .iter()
        .map(|p| ResourcePattern::parse(p).map_err(|problem| format!("resources: {problem}")))
        .collect::<Result<Vec<_>, _>>()?;
    let content_types = entry
        .content_types
        .map(|types| {
            if types.is_empty() {
                return Err(
                    "content_types: leave it out to allow any, or list at least one".into(),
                );
            }
            types
                .iter()
                .map(|t| {
                    ContentType::parse(t)
                        .map(|_| media_type(t))
                        .map_err(|v| format!("content_types: {t:?} {}", v.description))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
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
    Ok(Rule {
        methods,
        resources,
        content_types,
        max_size: entry.max_size,
        require_no_overwrite: entry.require_no_overwrite,
    })
}

fn parse_sha256(hex_digest: &str) -> Result<[u8; 32], String> {
    let mut digest = [0; 32];
    hex::decode_to_slice(hex_digest, &mut digest)
        .map_err(|_| "api_key_sha256 must be 64 hex digits (the SHA-256 of the key)".to_owned())?;
    Ok(digest)
}

/// TOML errors are multi-line and quote the source; keep the position and the message.
pub(crate) fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn parse_ok(text: &str) -> Vec<Client> {
        parse(text, 600).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        let error = parse(text, 600).unwrap_err();
        assert!(!error.contains('\n'), "one line: {error}");
        error
    }

    #[test]
    fn reads_the_documented_format() {
        let clients = parse_ok(&format!(
            r#"
[[clients]]
id = "frontend"
api_key_sha256 = "{KEY_HASH}"
max_ttl = 900
[[clients.allow]]
methods = ["PUT"]
resources = ["/declarations/uploads/**"]
content_types = ["image/jpeg", "application/pdf"]

[[clients.allow]]
methods = ["GET", "HEAD"]
resources = ["/declarations/uploads/*/preview.jpg"]
"#
        ));
        assert_eq!(clients.len(), 1);
        let frontend = &clients[0];
        assert_eq!(frontend.id, "frontend");
        assert_eq!(frontend.max_ttl, 900);
        assert_eq!(frontend.allow.len(), 2);
        assert_eq!(
            frontend.allow[0].content_types,
            Some(vec!["image/jpeg".into(), "application/pdf".into()])
        );
        assert_eq!(frontend.allow[1].methods, [Action::Get, Action::Head]);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let error = parse_err(&format!(
            "[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\nmax_tll = 5\n"
        ));
        assert!(error.contains("max_tll"), "{error}");
        assert!(error.starts_with("line 4"), "{error}");
        let error = parse_err(&format!(
            "[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/**\"]\nbuckets = [\"x\"]\n"
        ));
        assert!(error.contains("buckets"), "{error}");
    }

    #[test]
    fn clients_need_a_credential_unless_anonymous() {
        assert!(parse_err("[[clients]]\nid = \"a\"\n").contains("api_key_sha256 or jwt_subject"));
        parse_ok("[[clients]]\nid = \"anonymous\"\n");
        assert!(
            parse_err(&format!(
                "[[clients]]\nid = \"anonymous\"\napi_key_sha256 = \"{KEY_HASH}\"\n"
            ))
            .contains("takes no")
        );
    }

    #[test]
    fn duplicate_ids_keys_and_subjects_are_errors() {
        let twice = |field: &str, a: &str, b: &str| {
            format!("[[clients]]\nid = \"{a}\"\n{field}\n[[clients]]\nid = \"{b}\"\n{field}\n")
        };
        let key = format!("api_key_sha256 = \"{KEY_HASH}\"");
        assert!(parse_err(&twice(&key, "a", "a")).contains("id is used"));
        assert!(parse_err(&twice(&key, "a", "b")).contains("api_key_sha256 is used"));
        assert!(parse_err(&twice("jwt_subject = \"s\"", "a", "b")).contains("jwt_subject is used"));
    }

    #[test]
    fn bad_values_are_located() {
        let base = format!("[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\n");
        for (rule, expected) in [
            (
                "methods = [\"PATCH\"]\nresources = [\"/**\"]",
                "allow[0].methods",
            ),
            ("methods = []\nresources = [\"/**\"]", "allow[0].methods"),
            (
                "methods = [\"GET\"]\nresources = [\"b/**\"]",
                "allow[0].resources",
            ),
            ("methods = [\"GET\"]\nresources = []", "allow[0].resources"),
            (
                "methods = [\"PUT\"]\nresources = [\"/**\"]\ncontent_types = []",
                "allow[0].content_types",
            ),
        ] {
            let error = parse_err(&format!("{base}[[clients.allow]]\n{rule}\n"));
            assert!(error.contains(expected), "{error}");
            assert!(error.starts_with("clients[0] (\"a\")"), "{error}");
        }
        assert!(
            parse_err("[[clients]]\nid = \"a\"\napi_key_sha256 = \"abc\"\n").contains("64 hex")
        );
        assert!(
            parse_err(&format!("{base}max_ttl = 604801\n")).contains("max_ttl"),
            "over seven days"
        );
    }

    #[test]
    fn upload_limits_are_read_and_only_for_uploads() {
        let base = format!(
            "[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\n[[clients.allow]]\n"
        );
        let clients = parse_ok(&format!(
            "{base}methods = [\"PUT\", \"RESUMABLE\", \"POST\"]\nresources = [\"/**\"]\ncontent_types = [\"image/*\"]\nmax_size = 1024\nrequire_no_overwrite = true\n"
        ));
        let rule = &clients[0].allow[0];
        assert_eq!(rule.max_size, Some(1024));
        assert!(rule.require_no_overwrite);
        assert_eq!(rule.content_types, Some(vec!["image/*".to_owned()]));
        assert!(
            parse_err(&format!(
                "{base}methods = [\"GET\"]\nresources = [\"/**\"]\nmax_size = 5\n"
            ))
            .contains("apply to uploads")
        );
    }

    #[test]
    fn max_ttl_defaults_to_the_service_ttl() {
        let clients = parse_ok("[[clients]]\nid = \"anonymous\"\n");
        assert_eq!(clients[0].max_ttl, 600);
    }
}
