//! Where each bucket's objects live, as plain data.
//!
//! - The simple form is ael.api's: one `OBJECT_STORAGE_BACKEND` (`gcs`, `s3` or `swift`) for
//!   every bucket of `KNOWN_BUCKETS`, with ael.api's variables (`MINIO_ENDPOINT`, `AWS_*`,
//!   `SWIFT_*`).
//! - `BACKENDS_CONFIG_PATH` names a file (`backends_file.rs`) that gives buckets a backend and
//!   credentials of their own; the buckets it does not list keep the simple form's backend.
//!
//! Secrets are never read here: they stay a [`StoreSecret`] (the value given in the
//! environment, or the name of a variable or file), which `startup` resolves.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::parse::parse_endpoint;
use super::{ConfigError, Secret};
use crate::signing::s3::{self, AddressingStyle};
use crate::signing::swift::{Digest, ExpiryFormat};
use crate::signing::v4::is_location;

/// MinIO's and botocore's default region, and ael.api's only sensible one.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// The storage flags, each with ael.api's variable (flattened into `serve` and `sign`).
#[derive(Debug, Default, Args)]
pub struct StoreArgs {
    /// The backend of the buckets no backends file names: gcs, s3 or swift [default: gcs].
    #[arg(long, env = "OBJECT_STORAGE_BACKEND", value_name = "BACKEND")]
    pub object_storage_backend: Option<String>,

    /// TOML file giving buckets their own backend and credentials (S3, Swift, GCS).
    #[arg(long = "backends", env = "BACKENDS_CONFIG_PATH", value_name = "FILE")]
    pub backends_config_path: Option<String>,

    /// S3: the endpoint (MinIO, R2, Ceph, ...) [default: AWS's endpoint of the region].
    #[arg(long = "s3-endpoint", env = "MINIO_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3: the region signed into the credential scope [default: us-east-1].
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub aws_region: Option<String>,

    /// S3: the access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", value_name = "ID")]
    pub aws_access_key_id: Option<String>,

    /// S3: the secret access key.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub aws_secret_access_key: Option<Secret>,

    /// S3: the session token of temporary credentials (STS).
    #[arg(
        long,
        env = "AWS_SESSION_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub aws_session_token: Option<Secret>,

    /// Swift: scheme, host and port of the proxy (`https://swift.example:8080`).
    #[arg(long, env = "SWIFT_ENDPOINT", value_name = "URL")]
    pub swift_endpoint: Option<String>,

    /// Swift: the account, as in `/v1/<account>/` (`AUTH_...`).
    #[arg(long, env = "SWIFT_TENANT_ID", value_name = "ACCOUNT")]
    pub swift_tenant_id: Option<String>,

    /// Swift: the account's `Temp-URL-Key`.
    #[arg(
        long,
        env = "SWIFT_TEMP_URL_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub swift_temp_url_key: Option<Secret>,

    /// Swift: the TempURL HMAC, sha1 (deprecated), sha256 or sha512 [default: sha1, as
    /// ael.api signed].
    #[arg(long, env = "SWIFT_TEMP_URL_DIGEST", value_name = "DIGEST")]
    pub swift_temp_url_digest: Option<String>,

    /// Swift: `temp_url_expires` as unix seconds or iso8601 [default: unix].
    #[arg(long, env = "SWIFT_TEMP_URL_EXPIRES_FORMAT", value_name = "FORMAT")]
    pub swift_temp_url_expires_format: Option<String>,
}

/// A credential: given in the environment, or the variable or file that holds it. `Debug`
/// never shows a given value.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSecret {
    Given(Zeroizing<String>),
    /// The name of an environment variable.
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for StoreSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::Env(name) => write!(f, "Env({name:?})"),
            Self::File(path) => write!(f, "File({path:?})"),
        }
    }
}

/// An S3-compatible store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `scheme://host[:port][/path]`, without a trailing slash.
    pub endpoint: String,
    pub region: String,
    /// `None`: as botocore's `auto`: virtual-hosted at AWS's own endpoints, path style at any
    /// other (MinIO, R2, Ceph).
    pub url_style: Option<AddressingStyle>,
    /// Not a secret, but it may come from a variable too.
    pub access_key_id: StoreSecret,
    pub secret_access_key: StoreSecret,
    pub session_token: Option<StoreSecret>,
}

impl S3Settings {
    /// The style of `bucket` when nothing more specific is configured.
    pub fn style(&self) -> AddressingStyle {
        self.url_style
            .unwrap_or(if is_aws_endpoint(&self.endpoint) {
                AddressingStyle::VirtualHosted
            } else {
                AddressingStyle::Path
            })
    }
}

fn is_aws_endpoint(endpoint: &str) -> bool {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// An OpenStack Swift account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwiftSettings {
    /// `scheme://host[:port][/path]`, without a trailing slash; `/v1/<account>` follows.
    pub endpoint: String,
    pub account: String,
    pub temp_url_key: StoreSecret,
    pub digest: Digest,
    pub expiry_format: ExpiryFormat,
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSettings {
    /// The service's GCS configuration (`SERVICE_ACCOUNT_KEY_PATH`, `HMAC_*`, ...).
    Gcs,
    S3(S3Settings),
    Swift(SwiftSettings),
}

impl BackendSettings {
    /// `gcs`, `s3` or `swift`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Gcs => "gcs",
            Self::S3(_) => "s3",
            Self::Swift(_) => "swift",
        }
    }
}

/// Where the buckets' objects live.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// The backend of every bucket the backends file does not name.
    pub default: BackendSettings,
    /// `BACKENDS_CONFIG_PATH`: read at start-up.
    pub backends_file: Option<PathBuf>,
}

impl StorageSettings {
    pub fn from_args(args: &StoreArgs) -> Result<Self, ConfigError> {
        let default = match args.object_storage_backend.as_deref().map(str::trim) {
            None | Some("gcs") => BackendSettings::Gcs,
            Some("s3") => BackendSettings::S3(s3_from_args(args)?),
            Some("swift") => BackendSettings::Swift(swift_from_args(args)?),
            Some(other) => {
                return Err(ConfigError::new(
                    "OBJECT_STORAGE_BACKEND",
                    "--object-storage-backend",
                    format!("must be gcs, s3 or swift; got {other:?}"),
                ));
            }
        };
        let backends_file = args
            .backends_config_path
            .as_deref()
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        Ok(Self {
            default,
            backends_file,
        })
    }
}

/// The S3 store of ael.api's variables: `MINIO_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
pub fn s3_from_args(args: &StoreArgs) -> Result<S3Settings, ConfigError> {
    let region = s3_region(args.aws_region.as_deref())
        .map_err(|problem| ConfigError::new("AWS_REGION", "--aws-region", problem))?;
    let endpoint = match args.s3_endpoint.as_deref() {
        Some(value) => s3_endpoint(value)
            .map_err(|problem| ConfigError::new("MINIO_ENDPOINT", "--s3-endpoint", problem))?,
        None => s3::aws_endpoint(&region),
    };
    let access_key_id = args
        .aws_access_key_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "AWS_ACCESS_KEY_ID",
                "--aws-access-key-id",
                "not set; S3 URLs are signed with an access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            )
        })?;
    let secret = args
        .aws_secret_access_key
        .as_ref()
        .filter(|secret| !secret.0.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "AWS_SECRET_ACCESS_KEY",
                "--aws-secret-access-key",
                "not set; S3 URLs are signed with an access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            )
        })?;
    Ok(S3Settings {
        endpoint,
        region,
        url_style: None,
        access_key_id: StoreSecret::Given(Zeroizing::new(access_key_id.to_owned())),
        secret_access_key: StoreSecret::Given(secret.0.clone()),
        session_token: args
            .aws_session_token
            .as_ref()
            .filter(|token| !token.0.is_empty())
            .map(|token| StoreSecret::Given(token.0.clone())),
    })
}

/// The Swift account of ael.api's variables: `SWIFT_ENDPOINT`, `SWIFT_TENANT_ID`,
/// `SWIFT_TEMP_URL_KEY`. Signed as ael.api signed (SHA-1, Unix expiry) unless
/// `SWIFT_TEMP_URL_DIGEST` and `SWIFT_TEMP_URL_EXPIRES_FORMAT` say otherwise.
pub fn swift_from_args(args: &StoreArgs) -> Result<SwiftSettings, ConfigError> {
    let required = |value: Option<&str>, variable, flag, what: &str| {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ConfigError::new(
                    variable,
                    flag,
                    format!("not set; Swift TempURLs need {what}"),
                )
            })
    };
    let endpoint = required(
        args.swift_endpoint.as_deref(),
        "SWIFT_ENDPOINT",
        "--swift-endpoint",
        "the proxy's URL",
    )?;
    let endpoint = parse_endpoint(("SWIFT_ENDPOINT", "--swift-endpoint"), Some(&endpoint), "")?;
    let account = required(
        args.swift_tenant_id.as_deref(),
        "SWIFT_TENANT_ID",
        "--swift-tenant-id",
        "the account (AUTH_...)",
    )?;
    swift_account(&account)
        .map_err(|problem| ConfigError::new("SWIFT_TENANT_ID", "--swift-tenant-id", problem))?;
    let key = args
        .swift_temp_url_key
        .as_ref()
        .filter(|key| !key.0.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "SWIFT_TEMP_URL_KEY",
                "--swift-temp-url-key",
                "not set; Swift TempURLs are signed with the account's Temp-URL-Key",
            )
        })?;
    let digest = match args.swift_temp_url_digest.as_deref() {
        // ael.api signed with SHA-1, and a cluster it served may accept nothing else.
        None => Digest::Sha1,
        Some(value) => swift_digest(value).map_err(|problem| {
            ConfigError::new("SWIFT_TEMP_URL_DIGEST", "--swift-temp-url-digest", problem)
        })?,
    };
    let expiry_format = match args.swift_temp_url_expires_format.as_deref() {
        None => ExpiryFormat::UnixSeconds,
        Some(value) => swift_expiry_format(value).map_err(|problem| {
            ConfigError::new(
                "SWIFT_TEMP_URL_EXPIRES_FORMAT",
                "--swift-temp-url-expires-format",
                problem,
            )
        })?,
    };
    Ok(SwiftSettings {
        endpoint,
        account,
        temp_url_key: StoreSecret::Given(key.0.clone()),
        digest,
        expiry_format,
    })
}

/// A region such as `eu-west-1`, or `auto` (Cloudflare R2).
pub fn s3_region(value: Option<&str>) -> Result<String, String> {
    let region = value.map_or(DEFAULT_S3_REGION, str::trim);
    if is_location(region) {
        Ok(region.to_owned())
    } else {
        Err(format!(
            "must be a region such as us-east-1 or eu-central-1 (auto for R2); got {region:?}"
        ))
    }
}

/// An `http(s)://host[:port][/path]` endpoint whose path botocore would not rewrite.
pub fn s3_endpoint(value: &str) -> Result<String, String> {
    let endpoint =
        parse_endpoint(("", ""), Some(value), "").map_err(|error| error.problem().to_owned())?;
    // Placing a bucket checks what the signer needs of the endpoint.
    s3::locate_bucket(&endpoint, AddressingStyle::Path, "bucket")
        .map(|_| endpoint)
        .map_err(|error| format!("{error}; got {value:?}"))
}

/// The account part of `/v1/<account>/`: no `/`.
pub(super) fn swift_account(account: &str) -> Result<(), String> {
    if account.is_empty() || account.contains('/') || account.chars().any(char::is_control) {
        Err(format!(
            "must be the account name without '/' (AUTH_...); got {account:?}"
        ))
    } else {
        Ok(())
    }
}

pub(super) fn swift_digest(value: &str) -> Result<Digest, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "sha1" => Ok(Digest::Sha1),
        "sha256" => Ok(Digest::Sha256),
        "sha512" => Ok(Digest::Sha512),
        _ => Err(format!(
            "must be sha1 (deprecated), sha256 or sha512; got {value:?}"
        )),
    }
}

pub(super) fn swift_expiry_format(value: &str) -> Result<ExpiryFormat, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "unix" => Ok(ExpiryFormat::UnixSeconds),
        "iso8601" => Ok(ExpiryFormat::Iso8601),
        _ => Err(format!("must be unix or iso8601; got {value:?}")),
    }
}

pub(super) fn s3_url_style(value: &str) -> Result<AddressingStyle, String> {
    match value.trim() {
        "path" => Ok(AddressingStyle::Path),
        "virtual-hosted" => Ok(AddressingStyle::VirtualHosted),
        _ => Err(format!("must be path or virtual-hosted; got {value:?}")),
    }
}

#[cfg(test)]
#[path = "stores_tests.rs"]
mod tests;
