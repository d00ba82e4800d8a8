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
//! With `[[issuers]]` (see `issuers_file`), a client may take the tokens of end users
//! (`end_users`), and its rules may use templates (`/media/users/{sub}/**`) and claim
//! conditions (`claims = { groups = "editors" }`). Unknown fields are errors, so a typo cannot
//! silently widen or drop a rule.

use std::collections::HashSet;
use std::num::NonZeroU32;

use serde::Deserialize;

use super::issuers_file::{self, EndUsersEntry, IssuerEntry};
use super::rules_file::{RuleEntry, rule};
use super::{ANONYMOUS, Client, ENV_ISSUER_ID, IssuerConfig};
use crate::domain::MAX_URL_LIFETIME_SECS;
use crate::limiter::Rate;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default)]
    issuers: Vec<IssuerEntry>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    id: String,
    api_key_sha256: Option<String>,
    jwt_subject: Option<String>,
    jwt_issuer: Option<String>,
    end_users: Option<EndUsersEntry>,
    max_ttl: Option<u32>,
    rate_limit: Option<RateEntry>,
    #[serde(default)]
    allow: Vec<RuleEntry>,
}

/// `rate_limit = { per_minute = 600, burst = 60 }`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateEntry {
    per_minute: u32,
    /// Default: a tenth of `per_minute`, at least 1.
    burst: Option<u32>,
}

/// What a clients file says: the identity providers and the clients.
#[derive(Debug, Clone)]
pub struct ClientsFile {
    pub issuers: Vec<IssuerConfig>,
    pub clients: Vec<Client>,
}

/// Parses and checks a clients file. `default_ttl` is the `max_ttl` of clients that set none;
/// `other_issuers` are the ids of issuers configured outside the file (`JWT_ISSUER`: "default").
/// The error is one line: where in the file, and what is wrong.
pub fn parse(text: &str, default_ttl: u32, other_issuers: &[&str]) -> Result<ClientsFile, String> {
    let file: FileEntry = toml::from_str(text).map_err(|error| toml_error(text, &error))?;
    let issuers = issuers(file.issuers, other_issuers)?;
    let issuer_ids: Vec<&str> = issuers
        .iter()
        .map(|i| i.id.as_str())
        .chain(other_issuers.iter().copied())
        .collect();
    let mut ids = HashSet::new();
    let mut key_hashes = HashSet::new();
    let mut subjects = HashSet::new();
    let mut clients = Vec::with_capacity(file.clients.len());
    for (index, entry) in file.clients.into_iter().enumerate() {
        let at = format!("clients[{index}] ({:?})", entry.id);
        let client = client(entry, default_ttl, &issuer_ids)
            .map_err(|problem| format!("{at}: {problem}"))?;
        if !ids.insert(client.id.clone()) {
            return Err(format!("{at}: the id is used by another client"));
        }
        if let Some(hash) = client.api_key_sha256
            && !key_hashes.insert(hash)
        {
            return Err(format!("{at}: api_key_sha256 is used by another client"));
        }
        if let Some(subject) = &client.jwt_subject
            && !subjects.insert((client.jwt_issuer.clone(), subject.clone()))
        {
            return Err(format!("{at}: jwt_subject is used by another client"));
        }
        clients.push(client);
    }
    Ok(ClientsFile { issuers, clients })
}

fn issuers(entries: Vec<IssuerEntry>, other_issuers: &[&str]) -> Result<Vec<IssuerConfig>, String> {
    let mut issuers: Vec<IssuerConfig> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let issuer = issuers_file::issuer(entry)
            .map_err(|problem| format!("issuers[{index}]: {problem}"))?;
        let at = format!("issuers[{index}] ({:?})", issuer.id);
        if issuer.id == ENV_ISSUER_ID || other_issuers.contains(&issuer.id.as_str()) {
            return Err(format!(
                "{at}: the id {:?} is taken by the issuer of JWT_ISSUER",
                issuer.id
            ));
        }
        if issuers.iter().any(|i| i.id == issuer.id) {
            return Err(format!("{at}: the id is used by another issuer"));
        }
        if issuers.iter().any(|i| i.issuer == issuer.issuer) {
            return Err(format!("{at}: the issuer is configured twice"));
        }
        issuers.push(issuer);
    }
    Ok(issuers)
}

fn client(entry: ClientEntry, default_ttl: u32, issuer_ids: &[&str]) -> Result<Client, String> {
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
    let end_users = entry.end_users.map(issuers_file::end_users).transpose()?;
    let credentials = [
        api_key_sha256.is_some(),
        entry.jwt_subject.is_some(),
        end_users.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if entry.id == ANONYMOUS && credentials > 0 {
        return Err(format!(
            "the {ANONYMOUS:?} client is for callers without credentials: it takes no api_key_sha256, jwt_subject or end_users"
        ));
    }
    if entry.id != ANONYMOUS && credentials != 1 {
        return Err(
            "needs one of api_key_sha256, jwt_subject or end_users (or the id \"anonymous\")"
                .into(),
        );
    }
    if entry.jwt_issuer.is_some() && entry.jwt_subject.is_none() {
        return Err("jwt_issuer goes with jwt_subject".into());
    }
    let known_issuer = |id: &str, field: &str| {
        if issuer_ids.contains(&id) {
            Ok(())
        } else {
            Err(format!(
                "{field}: {id:?} is not the id of an [[issuers]] entry"
            ))
        }
    };
    if let Some(id) = &entry.jwt_issuer {
        known_issuer(id, "jwt_issuer")?;
    }
    if let Some(mapping) = &end_users {
        known_issuer(&mapping.issuer, "end_users.issuer")?;
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
            rule(rule_entry, end_users.is_some())
                .map_err(|problem| format!("allow[{index}].{problem}"))
        })
        .collect::<Result<_, _>>()?;
    let rate_limit = entry.rate_limit.as_ref().map(rate).transpose()?;
    Ok(Client {
        id: entry.id,
        api_key_sha256,
        jwt_subject: entry.jwt_subject,
        jwt_issuer: entry.jwt_issuer,
        end_users,
        rate_limit,
        max_ttl,
        allow,
    })
}

fn rate(entry: &RateEntry) -> Result<Rate, String> {
    let error =
        || "rate_limit: per_minute and burst must be whole numbers from 1 to 1000000".to_owned();
    let in_range = |n: u32| NonZeroU32::new(n).filter(|n| n.get() <= 1_000_000);
    let per_minute = in_range(entry.per_minute).ok_or_else(error)?;
    let burst = match entry.burst {
        Some(burst) => in_range(burst).ok_or_else(error)?,
        None => NonZeroU32::new(per_minute.get().div_ceil(10)).unwrap_or(NonZeroU32::MIN),
    };
    Ok(Rate { per_minute, burst })
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
    use crate::access::MediaRange;
    use crate::domain::Action;

    const KEY_HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn parse_ok(text: &str) -> Vec<Client> {
        parse(text, 600, &[ENV_ISSUER_ID])
            .unwrap_or_else(|e| panic!("{e}"))
            .clients
    }

    fn parse_err(text: &str) -> String {
        let error = parse(text, 600, &[ENV_ISSUER_ID]).unwrap_err();
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
            Some(vec![
                MediaRange::parse("image/jpeg").unwrap(),
                MediaRange::parse("application/pdf").unwrap()
            ])
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
        assert!(parse_err("[[clients]]\nid = \"a\"\n").contains("one of api_key_sha256"));
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
            "{base}methods = [\"PUT\", \"POST\"]\nresources = [\"/**\"]\ncontent_types = [\"image/*\"]\nmax_size = 1024\nrequire_no_overwrite = true\n"
        ));
        let rule = &clients[0].allow[0];
        assert_eq!(rule.max_size, Some(1024));
        assert!(rule.require_no_overwrite);
        assert_eq!(
            rule.content_types,
            Some(vec![MediaRange::AnySubtype("image".into())])
        );
        assert!(
            parse_err(&format!(
                "{base}methods = [\"GET\"]\nresources = [\"/**\"]\nmax_size = 5\n"
            ))
            .contains("apply to uploads")
        );
    }

    #[test]
    fn rules_whose_conditions_cannot_hold_are_refused() {
        let base = format!(
            "[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\n[[clients.allow]]\nresources = [\"/**\"]\n"
        );
        let error = parse_err(&format!(
            "{base}methods = [\"PUT\", \"DELETE\"]\nrequire_no_overwrite = true\n"
        ));
        assert!(
            error.contains("require_no_overwrite with DELETE"),
            "{error}"
        );
        let error = parse_err(&format!(
            "{base}methods = [\"PUT\", \"RESUMABLE\"]\nmax_size = 10\n"
        ));
        assert!(error.contains("max_size with RESUMABLE"), "{error}");
        parse_ok(&format!(
            "{base}methods = [\"RESUMABLE\"]\nrequire_no_overwrite = true\n"
        ));
    }

    #[test]
    fn rate_limits_are_read_with_a_default_burst() {
        let base = format!("[[clients]]\nid = \"a\"\napi_key_sha256 = \"{KEY_HASH}\"\n");
        let clients = parse_ok(&format!(
            "{base}rate_limit = {{ per_minute = 600, burst = 60 }}\n"
        ));
        let rate = clients[0].rate_limit.unwrap();
        assert_eq!((rate.per_minute.get(), rate.burst.get()), (600, 60));
        let clients = parse_ok(&format!("{base}rate_limit = {{ per_minute = 25 }}\n"));
        assert_eq!(clients[0].rate_limit.unwrap().burst.get(), 3);
        assert!(
            parse_err(&format!("{base}rate_limit = {{ per_minute = 0 }}\n")).contains("rate_limit")
        );
        assert!(
            parse_err(&format!("{base}rate_limit = {{ per_minut = 5 }}\n")).contains("per_minut")
        );
    }

    #[test]
    fn max_ttl_defaults_to_the_service_ttl() {
        let clients = parse_ok("[[clients]]\nid = \"anonymous\"\n");
        assert_eq!(clients[0].max_ttl, 600);
    }

    const ISSUER: &str =
        "[[issuers]]\nid = \"idp\"\nissuer = \"https://idp.example/\"\naudiences = [\"api\"]\n";

    #[test]
    fn issuers_and_end_user_clients_are_read() {
        let file = parse(
            &format!(
                "{ISSUER}[[clients]]\nid = \"web\"\nend_users = {{ issuer = \"idp\", authorized_parties = [\"spa\"] }}\n[[clients.allow]]\nmethods = [\"PUT\"]\nresources = ['/b/t/{{claims.\"https://x.example/t\"}}/{{sub}}/**']\nclaims = {{ \"realm_access.roles\" = [\"a\", \"b\"], email_verified = true }}\nmetadata = [\"owner\"]\n"
            ),
            600,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.issuers[0].jwks, super::super::JwksSource::Discovery);
        let web = &file.clients[0];
        assert_eq!(web.end_users.as_ref().unwrap().issuer, "idp");
        assert_eq!(web.allow[0].claims.len(), 2);
        assert!(web.allow[0].resources[0].has_templates());
    }

    #[test]
    fn end_user_configuration_mistakes_are_located() {
        let client = |body: &str| format!("{ISSUER}[[clients]]\nid = \"web\"\n{body}\n");
        let rule = |rule: &str| {
            client(&format!(
                "end_users = {{ issuer = \"idp\" }}\n[[clients.allow]]\n{rule}"
            ))
        };
        for (text, expected) in [
            (client("end_users = { issuer = \"nope\" }"), "not the id of an [[issuers]] entry"),
            (client(&format!("api_key_sha256 = \"{KEY_HASH}\"\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/b/{{sub}}/*\"]")),
             "templates ({sub}, {claims.<name>}) need a client with end_users"),
            (client(&format!("api_key_sha256 = \"{KEY_HASH}\"\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/b/*\"]\nclaims = {{ a = \"b\" }}")),
             "conditions on claims need a client with end_users"),
            (rule("methods = [\"GET\"]\nresources = [\"/b/{email}\"]"), "is not a template"),
            (rule("methods = [\"GET\"]\nresources = [\"/b/*\"]\nclaims = { realm_access.roles = \"x\" }"), "quote a dotted claim name"),
            (rule("methods = [\"GET\"]\nresources = [\"/b/*\"]\nclaims = { n = 5 }"), "must be a string, true or false"),
            (rule("methods = [\"PUT\"]\nresources = [\"/b/*\"]\nresponse_dispositions = [\"attachment\"]"), "apply to downloads"),
            (rule("methods = [\"GET\"]\nresources = [\"/b/*\"]\nmetadata = [\"owner\"]"), "apply to uploads"),
            (rule("methods = [\"PUT\"]\nresources = [\"/b/*\"]\nupload_headers = [\"x-evil\"]"), "upload_headers"),
            (format!("{ISSUER}{ISSUER}"), "used by another issuer"),
            ("[[issuers]]\nid = \"a\"\nissuer = \"http://idp.example\"\naudiences = [\"x\"]\n".to_owned(), "must be an https:// URL"),
            ("[[issuers]]\nid = \"a\"\nissuer = \"https://idp.example\"\naudiences = []\n".to_owned(), "audiences"),
            ("[[issuers]]\nid = \"default\"\nissuer = \"https://idp.example\"\naudiences = [\"x\"]\n".to_owned(), "taken by the issuer of JWT_ISSUER"),
        ] {
            let error = parse(&text, 600, &[]).unwrap_err();
            assert!(error.contains(expected), "{text}\n=> {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}
