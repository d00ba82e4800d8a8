//! The backends file (`BACKENDS_CONFIG_PATH`, TOML): buckets with a backend and credentials of
//! their own, beside the one backend of ael.api's `OBJECT_STORAGE_BACKEND`.
//!
//! ```toml
//! [[backends]]
//! name = "minio"                      # named in errors and logs
//! type = "s3"                         # s3, swift or gcs
//! endpoint = "http://minio.storage:9000"
//! region = "us-east-1"
//! url_style = "path"                  # or virtual-hosted
//! access_key_id = "AKIAIOSFODNN7EXAMPLE"
//! secret_access_key_file = "/var/run/secrets/minio/secret_access_key"
//! buckets = ["media-minio"]
//!
//! [[backends]]
//! name = "archive"
//! type = "swift"
//! endpoint = "https://swift.example:8080"
//! account = "AUTH_archive"
//! temp_url_key_env = "ARCHIVE_TEMP_URL_KEY"
//! digest = "sha256"                   # the default here; sha1 only for old clusters
//! buckets = ["archive"]
//! ```
//!
//! The file holds no secret: it is meant to be a `ConfigMap`. Each secret is named by the
//! environment variable (`*_env`) or the file (`*_file`, a mounted `Secret`) that holds it;
//! a secret written in the file itself is refused. Unknown fields are errors, so a typo cannot
//! silently send a bucket to the wrong store. Pure: `startup` reads the file and the secrets.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::stores::{
    BackendSettings, S3Settings, StoreSecret, SwiftSettings, s3_endpoint, s3_region, s3_url_style,
    swift_account, swift_digest, swift_expiry_format,
};
use crate::signing::s3;
use crate::signing::swift::{Digest, ExpiryFormat};

/// One `[[backends]]` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendEntry {
    pub name: String,
    pub backend: BackendSettings,
    pub buckets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(default)]
    backends: Vec<Entry>,
}

/// Every field any type takes; [`entry`] checks which belong to the type.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    buckets: Vec<String>,
    endpoint: Option<String>,
    region: Option<String>,
    url_style: Option<String>,
    access_key_id: Option<String>,
    access_key_id_env: Option<String>,
    // The secret fields themselves are read only to refuse them with a clear message, and
    // as `toml::Value` so that no parse error can quote them.
    secret_access_key: Option<toml::Value>,
    secret_access_key_env: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    session_token: Option<toml::Value>,
    session_token_env: Option<String>,
    session_token_file: Option<PathBuf>,
    account: Option<String>,
    temp_url_key: Option<toml::Value>,
    temp_url_key_env: Option<String>,
    temp_url_key_file: Option<PathBuf>,
    digest: Option<String>,
    expires_format: Option<String>,
}

/// Parses and checks a backends file. The error is one line: which entry and what is wrong.
pub fn parse(text: &str) -> Result<Vec<BackendEntry>, String> {
    let file: FileEntry = toml::from_str(text)
        .map_err(|error| crate::access::clients_file::toml_error(text, &error))?;
    let mut names = HashSet::new();
    let mut buckets = HashSet::new();
    let mut entries = Vec::with_capacity(file.backends.len());
    for (index, raw) in file.backends.into_iter().enumerate() {
        let at = format!("backends[{index}] ({:?})", raw.name);
        let parsed = entry(raw).map_err(|problem| format!("{at}: {problem}"))?;
        if !names.insert(parsed.name.clone()) {
            return Err(format!("{at}: the name is used by another backend"));
        }
        if let Some(bucket) = parsed
            .buckets
            .iter()
            .find(|b| !buckets.insert((*b).clone()))
        {
            return Err(format!(
                "{at}: bucket {bucket:?} is listed twice (a bucket has one backend)"
            ));
        }
        entries.push(parsed);
    }
    Ok(entries)
}

fn entry(raw: Entry) -> Result<BackendEntry, String> {
    let valid_name = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_name {
        return Err("name must be 1 to 64 characters of A-Z a-z 0-9 - _ .".into());
    }
    if raw.buckets.is_empty() {
        return Err("buckets: list at least one bucket".into());
    }
    refuse_inline_secrets(&raw)?;
    let backend = match raw.kind.as_str() {
        "gcs" => {
            only(&raw, &[])?;
            BackendSettings::Gcs
        }
        "s3" => BackendSettings::S3(s3_entry(&raw)?),
        "swift" => BackendSettings::Swift(swift_entry(&raw)?),
        other => return Err(format!("type must be s3, swift or gcs; got {other:?}")),
    };
    Ok(BackendEntry {
        name: raw.name,
        backend,
        buckets: raw.buckets,
    })
}

fn refuse_inline_secrets(raw: &Entry) -> Result<(), String> {
    for (field, given) in [
        ("secret_access_key", raw.secret_access_key.is_some()),
        ("session_token", raw.session_token.is_some()),
        ("temp_url_key", raw.temp_url_key.is_some()),
    ] {
        if given {
            return Err(format!(
                "{field}: secrets are not written in this file; name the variable ({field}_env) or the file ({field}_file) that holds it"
            ));
        }
    }
    Ok(())
}

/// The fields given, by name.
fn given(raw: &Entry) -> Vec<&'static str> {
    [
        ("endpoint", raw.endpoint.is_some()),
        ("region", raw.region.is_some()),
        ("url_style", raw.url_style.is_some()),
        ("access_key_id", raw.access_key_id.is_some()),
        ("access_key_id_env", raw.access_key_id_env.is_some()),
        ("secret_access_key_env", raw.secret_access_key_env.is_some()),
        (
            "secret_access_key_file",
            raw.secret_access_key_file.is_some(),
        ),
        ("session_token_env", raw.session_token_env.is_some()),
        ("session_token_file", raw.session_token_file.is_some()),
        ("account", raw.account.is_some()),
        ("temp_url_key_env", raw.temp_url_key_env.is_some()),
        ("temp_url_key_file", raw.temp_url_key_file.is_some()),
        ("digest", raw.digest.is_some()),
        ("expires_format", raw.expires_format.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, is_given)| is_given.then_some(name))
    .collect()
}

/// Refuses the fields of other types.
fn only(raw: &Entry, allowed: &[&str]) -> Result<(), String> {
    match given(raw)
        .into_iter()
        .find(|field| !allowed.contains(field))
    {
        Some(field) => Err(format!("{field} is not a field of {} backends", raw.kind)),
        None => Ok(()),
    }
}

fn s3_entry(raw: &Entry) -> Result<S3Settings, String> {
    only(
        raw,
        &[
            "endpoint",
            "region",
            "url_style",
            "access_key_id",
            "access_key_id_env",
            "secret_access_key_env",
            "secret_access_key_file",
            "session_token_env",
            "session_token_file",
        ],
    )?;
    let region = s3_region(raw.region.as_deref()).map_err(|p| format!("region: {p}"))?;
    let endpoint = match raw.endpoint.as_deref() {
        Some(value) => s3_endpoint(value).map_err(|p| format!("endpoint: {p}"))?,
        None => s3::aws_endpoint(&region),
    };
    let url_style = raw
        .url_style
        .as_deref()
        .map(s3_url_style)
        .transpose()
        .map_err(|p| format!("url_style: {p}"))?;
    let access_key_id = match (&raw.access_key_id, &raw.access_key_id_env) {
        (Some(id), None) if !id.trim().is_empty() => {
            StoreSecret::Given(Zeroizing::new(id.trim().to_owned()))
        }
        (None, Some(variable)) if is_variable_name(variable) => StoreSecret::Env(variable.clone()),
        _ => return Err("give access_key_id or access_key_id_env (one of them)".into()),
    };
    Ok(S3Settings {
        endpoint,
        region,
        url_style,
        access_key_id,
        secret_access_key: secret(
            "secret_access_key",
            raw.secret_access_key_env.as_ref(),
            raw.secret_access_key_file.as_ref(),
        )?
        .ok_or("give secret_access_key_env or secret_access_key_file")?,
        session_token: secret(
            "session_token",
            raw.session_token_env.as_ref(),
            raw.session_token_file.as_ref(),
        )?,
    })
}

fn swift_entry(raw: &Entry) -> Result<SwiftSettings, String> {
    only(
        raw,
        &[
            "endpoint",
            "account",
            "temp_url_key_env",
            "temp_url_key_file",
            "digest",
            "expires_format",
        ],
    )?;
    let endpoint = raw
        .endpoint
        .as_deref()
        .ok_or("endpoint: the Swift proxy's URL is required")?;
    let endpoint = super::parse::parse_endpoint(("", ""), Some(endpoint), "")
        .map_err(|error| format!("endpoint: {}", error.problem()))?;
    let account = raw
        .account
        .as_deref()
        .ok_or("account: required (AUTH_...)")?;
    swift_account(account).map_err(|p| format!("account: {p}"))?;
    Ok(SwiftSettings {
        endpoint,
        account: account.to_owned(),
        temp_url_key: secret(
            "temp_url_key",
            raw.temp_url_key_env.as_ref(),
            raw.temp_url_key_file.as_ref(),
        )?
        .ok_or("give temp_url_key_env or temp_url_key_file")?,
        // New configurations get swiftclient's default; SHA-1 is deprecated in Swift.
        digest: raw
            .digest
            .as_deref()
            .map(swift_digest)
            .transpose()
            .map_err(|p| format!("digest: {p}"))?
            .unwrap_or(Digest::Sha256),
        expiry_format: raw
            .expires_format
            .as_deref()
            .map(swift_expiry_format)
            .transpose()
            .map_err(|p| format!("expires_format: {p}"))?
            .unwrap_or(ExpiryFormat::UnixSeconds),
    })
}

/// `<field>_env` or `<field>_file`, not both.
fn secret(
    field: &str,
    env: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<Option<StoreSecret>, String> {
    match (env, file) {
        (None, None) => Ok(None),
        (Some(variable), None) if is_variable_name(variable) => {
            Ok(Some(StoreSecret::Env(variable.to_owned())))
        }
        (Some(variable), None) => Err(format!(
            "{field}_env must be an environment variable's name; got {variable:?}"
        )),
        (None, Some(path)) if !path.as_os_str().is_empty() => {
            Ok(Some(StoreSecret::File(path.to_owned())))
        }
        (None, Some(_)) => Err(format!("{field}_file must not be empty")),
        (Some(_), Some(_)) => Err(format!("give {field}_env or {field}_file, not both")),
    }
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        let error = parse(text).unwrap_err();
        assert!(!error.contains('\n'), "one line: {error}");
        error
    }

    #[test]
    fn reads_the_documented_format() {
        let entries = parse(
            r#"
[[backends]]
name = "minio"
type = "s3"
endpoint = "http://minio.storage:9000"
url_style = "path"
access_key_id = "AKID"
secret_access_key_file = "/run/secrets/sk"
buckets = ["media-minio"]

[[backends]]
name = "archive"
type = "swift"
endpoint = "https://swift.example:8080"
account = "AUTH_archive"
temp_url_key_env = "ARCHIVE_KEY"
buckets = ["archive", "archive-2"]

[[backends]]
name = "gcs"
type = "gcs"
buckets = ["media"]
"#,
        )
        .unwrap();
        let BackendSettings::S3(s3) = &entries[0].backend else {
            panic!("{entries:?}")
        };
        assert_eq!(s3.endpoint, "http://minio.storage:9000");
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(
            s3.secret_access_key,
            StoreSecret::File("/run/secrets/sk".into())
        );
        let BackendSettings::Swift(swift) = &entries[1].backend else {
            panic!("{entries:?}")
        };
        assert_eq!(swift.digest, Digest::Sha256, "new configurations: SHA-256");
        assert_eq!(swift.temp_url_key, StoreSecret::Env("ARCHIVE_KEY".into()));
        assert_eq!(entries[2].backend, BackendSettings::Gcs);
    }

    #[test]
    fn refuses_secrets_written_in_the_file_without_quoting_them() {
        let error = parse_err(
            r#"
[[backends]]
name = "m"
type = "s3"
access_key_id = "AKID"
secret_access_key = "wJalrXUtnFEMI-inline"
buckets = ["b"]
"#,
        );
        assert!(error.contains("secret_access_key_env"), "{error}");
        assert!(!error.contains("wJalr"), "{error}");
    }

    #[test]
    fn refuses_typos_fields_of_other_types_and_shared_buckets() {
        let base = "name = \"s\"\ntype = \"swift\"\nendpoint = \"https://s\"\naccount = \"AUTH_a\"\ntemp_url_key_env = \"K\"\n";
        for (extra, expected) in [
            ("digets = \"sha1\"\nbuckets = [\"b\"]", "unknown field"),
            (
                "region = \"us-east-1\"\nbuckets = [\"b\"]",
                "region is not a field of swift",
            ),
            ("digest = \"md5\"\nbuckets = [\"b\"]", "digest: must be"),
            ("buckets = []", "at least one bucket"),
            ("buckets = [\"b\", \"b\"]", "listed twice"),
        ] {
            let error = parse_err(&format!("[[backends]]\n{base}{extra}\n"));
            assert!(error.contains(expected), "{extra}: {error}");
        }
        let twice = format!(
            "[[backends]]\n{base}buckets = [\"b\"]\n[[backends]]\n{}buckets = [\"b\"]\n",
            base.replace("\"s\"", "\"t\"")
        );
        assert!(parse_err(&twice).contains("listed twice"));
    }

    #[test]
    fn a_secret_comes_from_one_source() {
        let error = parse_err(
            "[[backends]]\nname = \"m\"\ntype = \"s3\"\naccess_key_id = \"A\"\nsecret_access_key_env = \"X\"\nsecret_access_key_file = \"/f\"\nbuckets = [\"b\"]\n",
        );
        assert!(error.contains("not both"), "{error}");
        let error = parse_err(
            "[[backends]]\nname = \"m\"\ntype = \"s3\"\naccess_key_id = \"A\"\nbuckets = [\"b\"]\n",
        );
        assert!(error.contains("secret_access_key_env"), "{error}");
    }
}
