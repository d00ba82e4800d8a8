//! Typed settings, read once at start-up. Each problem stops the process with one line that
//! names the variable and says what is wrong.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use tracing::level_filters::LevelFilter;
use zeroize::Zeroizing;

use crate::audit::{self, PreparedAudit};
use crate::auth::Authenticator;
use crate::auth::jwt::JwtVerifier;
use crate::cli::ServeArgs;
use crate::domain::BucketName;
use crate::domain::SigningVersion;
use crate::iam::{self, IamSettings, IamSigner};
use crate::issuing::{BucketStyle, Issuer, RsaSigner};
use crate::key::ServiceAccountKey;
use crate::policy::{self, ANONYMOUS, clients_file};
use crate::signing::hmac::HmacKey;

pub const DEFAULT_SECRETS_TTL: u32 = 600;
/// Google refuses signed URLs that live longer than seven days.
pub const MAX_SECRETS_TTL: u32 = 7 * 24 * 60 * 60;
pub const DEFAULT_PORT: u16 = 4000;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEY_WATCH_INTERVAL: Duration = Duration::from_secs(10);
/// Enough to keep two cores busy with RSA while bounding memory and queueing.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;
const MAX_REQUEST_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_STORAGE_BASE_URL: &str = "https://storage.googleapis.com";
pub const DEV_BUCKET: &str = "dev-bucket";
pub const DEV_CLIENT_EMAIL: &str = "storage-signer-dev@dev.invalid";

/// Everything `serve` needs, validated.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub known_buckets: Vec<BucketName>,
    pub secrets_ttl: u32,
    pub log_level: LevelFilter,
    /// A request still unanswered after this gets a 408.
    pub request_timeout: Duration,
    /// Keys, endpoint and per-bucket signing choices.
    pub issuer: Issuer,
    /// The key file, watched for a rotated key (unset when the key is generated or IAM signs).
    pub key_file: Option<PathBuf>,
    /// How often the key file is checked; `None`: only on SIGHUP.
    pub key_watch_interval: Option<Duration>,
    /// Requests handled at once; past this, 503.
    pub max_concurrent_requests: usize,
    /// Time between SIGTERM and closing the listener (readiness already failing).
    pub shutdown_drain: Duration,
    /// Where callers and their rules come from (kept to reload them on SIGHUP).
    pub access: AccessSettings,
    /// Callers and rules as loaded at start-up.
    pub authenticator: Authenticator,
    pub audit: PreparedAudit,
    pub dev_mode: bool,
    /// The local verifying store of dev mode.
    pub dev_store: Option<DevStoreSettings>,
}

/// The local object store that `serve --dev` runs beside the service.
#[derive(Debug, Clone)]
pub struct DevStoreSettings {
    pub port: u16,
    pub dir: Option<std::path::PathBuf>,
    /// Allowed CORS origins; empty: the service's own origin, known once it is bound.
    pub cors_origins: Vec<String>,
    /// Whether `STORAGE_BASE_URL` was left to point at the store.
    pub is_storage_base_url: bool,
    /// Whether the service key was generated (and is saved for `sign --dev-key`).
    pub key_is_generated: bool,
}

/// The files that say who may get which URL.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    pub clients_config_path: Option<String>,
    /// `ALLOW_ANONYMOUS` as given; `None` when unset.
    pub allow_anonymous: Option<bool>,
    pub jwt: Option<JwtSettings>,
    /// `SECRETS_TTL`: the `max_ttl` of clients that set none.
    pub default_ttl: u32,
    pub dev_mode: bool,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks_path: String,
    pub issuer: String,
    pub audience: String,
}

/// A setting that stops start-up: which variable, and what is wrong with it.
#[derive(Debug)]
pub struct ConfigError {
    variable: &'static str,
    flag: &'static str,
    problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, flag: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            flag,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.variable, self.flag, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let dev = args.dev;
        let log_level = parse_log_level(args.log_level.as_deref())?;
        let secrets_ttl = parse_secrets_ttl(args.secrets_ttl.as_deref())?;
        let known_buckets = match (args.known_buckets.as_deref(), dev) {
            (None, true) => vec![BucketName::parse(DEV_BUCKET).expect("valid bucket name")],
            (value, _) => parse_known_buckets(value)?,
        };
        let default_host = if dev {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let host = parse_host(args.host.as_deref(), default_host)?;
        let port = parse_port(args.port.as_deref())?;
        let request_timeout = parse_request_timeout(args.request_timeout.as_deref())?;
        let issuer = issuer(args, &known_buckets)?;
        let key_file = match &issuer.signer {
            RsaSigner::Key(_) => args.service_account_key_path.as_ref().map(PathBuf::from),
            RsaSigner::Iam(_) => None,
        };
        let key_watch_interval = parse_seconds(
            ("KEY_WATCH_INTERVAL", "--key-watch-interval"),
            args.key_watch_interval.as_deref(),
            DEFAULT_KEY_WATCH_INTERVAL,
            0..=3600,
        )?;
        let key_watch_interval = (!key_watch_interval.is_zero()).then_some(key_watch_interval);
        let max_concurrent_requests = match args.max_concurrent_requests.as_deref() {
            None => DEFAULT_MAX_CONCURRENT_REQUESTS,
            Some(value) => match value.trim().parse::<usize>() {
                Ok(n) if (1..=100_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError::new(
                        "MAX_CONCURRENT_REQUESTS",
                        "--max-concurrent-requests",
                        format!("must be a whole number from 1 to 100000; got {value:?}"),
                    ));
                }
            },
        };
        let shutdown_drain = parse_seconds(
            ("SHUTDOWN_DRAIN_SECONDS", "--shutdown-drain-seconds"),
            args.shutdown_drain_seconds.as_deref(),
            Duration::ZERO,
            0..=60,
        )?;
        let access = AccessSettings {
            clients_config_path: args.clients_config_path.clone(),
            allow_anonymous: parse_bool(
                "ALLOW_ANONYMOUS",
                "--allow-anonymous",
                args.allow_anonymous.as_deref(),
            )?,
            jwt: parse_jwt(args)?,
            default_ttl: secrets_ttl,
            dev_mode: dev,
        };
        let authenticator = access.load()?;
        let audit = audit_sink(args, &issuer)?;
        let dev_store = dev.then(|| dev_store(args, port)).transpose()?;
        Ok(Self {
            listen: SocketAddr::new(host, port),
            known_buckets,
            secrets_ttl,
            log_level,
            request_timeout,
            issuer,
            key_file,
            key_watch_interval,
            max_concurrent_requests,
            shutdown_drain,
            access,
            authenticator,
            audit,
            dev_mode: dev,
            dev_store,
        })
    }
}

/// The service-account key, the optional HMAC key, and how each bucket is signed.
fn issuer(args: &ServeArgs, known_buckets: &[BucketName]) -> Result<Issuer, ConfigError> {
    let signer = match args.signer.as_deref().map(str::trim) {
        None | Some("key") => {
            if args.iam_service_account.is_some() {
                return Err(ConfigError::new(
                    "IAM_SERVICE_ACCOUNT",
                    "--iam-service-account",
                    "is set, but SIGNER is not iam; set SIGNER=iam to sign through IAM",
                ));
            }
            RsaSigner::Key(Arc::new(service_account_key(args)?))
        }
        Some("iam") => RsaSigner::Iam(Arc::new(iam_signer(args)?)),
        Some(other) => {
            return Err(ConfigError::new(
                "SIGNER",
                "--signer",
                format!("must be key or iam; got {other:?}"),
            ));
        }
    };
    let default_version = match args.signing_version.as_deref() {
        None => SigningVersion::V2,
        Some(value) => SigningVersion::parse(value.trim()).map_err(|_| {
            ConfigError::new(
                "SIGNING_VERSION",
                "--signing-version",
                format!("must be v2 or v4; got {value:?}"),
            )
        })?,
    };
    let hmac = load_hmac_key(args)?;
    let hmac_buckets = parse_bucket_list(
        "HMAC_BUCKETS",
        "--hmac-buckets",
        args.hmac_buckets.as_deref(),
        known_buckets,
    )?;
    if !hmac_buckets.is_empty() && hmac.is_none() {
        return Err(ConfigError::new(
            "HMAC_BUCKETS",
            "--hmac-buckets",
            "names buckets, but no HMAC key is configured (HMAC_KEY_PATH, or HMAC_ACCESS_ID and HMAC_SECRET)",
        ));
    }
    Ok(Issuer {
        signer,
        hmac,
        storage_base_url: parse_storage_base_url(args.storage_base_url.as_deref())?,
        default_version,
        bucket_styles: parse_bucket_styles(args.bucket_url_styles.as_deref(), known_buckets)?,
        hmac_buckets: hmac_buckets.into_iter().collect(),
    })
}

/// `SIGNER=iam`: signBlob for `IAM_SERVICE_ACCOUNT`, with the metadata server's token.
fn iam_signer(args: &ServeArgs) -> Result<IamSigner, ConfigError> {
    if args.service_account_key_path.is_some() {
        return Err(ConfigError::new(
            "SERVICE_ACCOUNT_KEY_PATH",
            "--key",
            "is set, but SIGNER=iam signs without a key file; unset one of them",
        ));
    }
    if args.dev {
        return Err(ConfigError::new(
            "SIGNER",
            "--signer",
            "iam cannot be used with --dev (the dev store verifies with a local key)",
        ));
    }
    let error =
        |problem: &str| ConfigError::new("IAM_SERVICE_ACCOUNT", "--iam-service-account", problem);
    let service_account = args
        .iam_service_account
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| {
            error("not set; SIGNER=iam needs the e-mail of the service account that signs")
        })?;
    let plausible = service_account
        .split_once('@')
        .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'))
        && service_account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_".contains(&b));
    if !plausible {
        return Err(error(&format!(
            "must be a service-account e-mail such as signer@project.iam.gserviceaccount.com; got {service_account:?}"
        )));
    }
    let settings = IamSettings {
        service_account: service_account.to_owned(),
        iam_endpoint: parse_endpoint(
            ("IAM_ENDPOINT", "--iam-endpoint"),
            args.iam_endpoint.as_deref(),
            iam::DEFAULT_IAM_ENDPOINT,
        )?,
        metadata_endpoint: parse_endpoint(
            ("METADATA_ENDPOINT", "--metadata-endpoint"),
            args.metadata_endpoint.as_deref(),
            iam::DEFAULT_METADATA_ENDPOINT,
        )?,
        timeout: parse_seconds(
            ("IAM_TIMEOUT", "--iam-timeout"),
            args.iam_timeout.as_deref(),
            iam::DEFAULT_IAM_TIMEOUT,
            1..=60,
        )?,
    };
    IamSigner::new(settings).map_err(|e| ConfigError::new("SIGNER", "--signer", e.to_string()))
}

/// A whole number of seconds within `range`, or `default` when unset.
fn parse_seconds(
    (variable, flag): (&'static str, &'static str),
    value: Option<&str>,
    default: Duration,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if range.contains(&seconds) => Ok(Duration::from_secs(seconds)),
        _ => Err(ConfigError::new(
            variable,
            flag,
            format!(
                "must be a whole number of seconds from {} to {}; got {value:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn service_account_key(args: &ServeArgs) -> Result<ServiceAccountKey, ConfigError> {
    let key = match (args.service_account_key_path.as_deref(), args.dev) {
        (Some(path), _) => load_key(path)?,
        (None, true) => ServiceAccountKey::generate(DEV_CLIENT_EMAIL)
            .map_err(|e| ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", e.to_string()))?,
        (None, false) => {
            return Err(ConfigError::new(
                "SERVICE_ACCOUNT_KEY_PATH",
                "--key",
                "not set; point it at a service-account JSON key file, or run `storage-signer serve --dev` to try the service without one",
            ));
        }
    };
    key.self_check()
        .map_err(|e| ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", e.to_string()))?;
    Ok(key)
}

fn dev_store(args: &ServeArgs, port: u16) -> Result<DevStoreSettings, ConfigError> {
    let default_port = if port == 0 { 0 } else { port.saturating_add(1) };
    let store_port = match args.store_port.as_deref() {
        None => default_port,
        Some(value) => value.trim().parse().map_err(|_| {
            ConfigError::new(
                "DEV_STORE_PORT",
                "--store-port",
                format!("must be a port number from 0 to 65535; got {value:?}"),
            )
        })?,
    };
    let cors_origins = args
        .store_cors_origins
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(DevStoreSettings {
        port: store_port,
        dir: args.store_dir.as_deref().map(std::path::PathBuf::from),
        cors_origins,
        is_storage_base_url: args.storage_base_url.is_none(),
        key_is_generated: args.service_account_key_path.is_none(),
    })
}

fn audit_sink(args: &ServeArgs, issuer: &Issuer) -> Result<PreparedAudit, ConfigError> {
    let fsync =
        parse_bool("AUDIT_FSYNC", "--audit-fsync", args.audit_fsync.as_deref())?.unwrap_or(false);
    let database_url = args
        .audit_database_url
        .as_ref()
        .map(|url| {
            audit::postgres::DatabaseUrl::parse(&url.0).and_then(|url| {
                url.with_ca_file(args.audit_database_ca_file.as_deref().map(Path::new))
            })
        })
        .transpose()
        .map_err(|p| ConfigError::new("AUDIT_DATABASE_URL", "--audit-database-url", p))?;
    let log_path = args.audit_log_path.as_deref().filter(|p| *p != "-");
    if database_url.is_some() && log_path.is_some() {
        return Err(ConfigError::new(
            "AUDIT_DATABASE_URL",
            "--audit-database-url",
            "is set, and so is AUDIT_LOG_PATH: choose one sink",
        ));
    }
    let number = |(variable, flag), value: Option<&str>, default: u64, range| {
        parse_seconds((variable, flag), value, Duration::from_secs(default), range)
            .map(|d| d.as_secs())
    };
    let settings = audit::AuditSettings {
        log_path: log_path.map(PathBuf::from),
        database_url,
        fsync,
        timeout: parse_seconds(
            ("AUDIT_TIMEOUT", "--audit-timeout"),
            args.audit_timeout.as_deref(),
            audit::settings::DEFAULT_TIMEOUT,
            1..=60,
        )?,
        queue: usize::try_from(number(
            ("AUDIT_QUEUE", "--audit-queue"),
            args.audit_queue.as_deref(),
            audit::settings::DEFAULT_QUEUE as u64,
            1..=1_000_000,
        )?)
        .unwrap_or(audit::settings::DEFAULT_QUEUE),
        checkpoint_records: number(
            ("AUDIT_CHECKPOINT_RECORDS", "--audit-checkpoint-records"),
            args.audit_checkpoint_records.as_deref(),
            audit::settings::DEFAULT_CHECKPOINT_RECORDS,
            1..=1_000_000,
        )?,
        checkpoint_every: parse_seconds(
            ("AUDIT_CHECKPOINT_SECONDS", "--audit-checkpoint-seconds"),
            args.audit_checkpoint_seconds.as_deref(),
            Duration::from_secs(audit::settings::DEFAULT_CHECKPOINT_SECONDS),
            1..=86_400,
        )?,
        signing_key_path: args.audit_signing_key_path.as_deref().map(PathBuf::from),
    };
    let service_key = match &issuer.signer {
        RsaSigner::Key(key) => audit::checkpoint::CheckpointKey::Local(Arc::clone(key)),
        RsaSigner::Iam(iam) => audit::checkpoint::CheckpointKey::Iam(Arc::clone(iam)),
    };
    let key = settings
        .checkpoint_key(service_key)
        .map_err(|p| ConfigError::new("AUDIT_SIGNING_KEY_PATH", "--audit-signing-key", p))?;
    let (variable, flag) = if settings.database_url.is_some() {
        ("AUDIT_DATABASE_URL", "--audit-database-url")
    } else {
        ("AUDIT_LOG_PATH", "--audit-log")
    };
    settings
        .open(key)
        .map_err(|problem| ConfigError::new(variable, flag, problem))
}

/// `HMAC_KEY_PATH` (the JSON that `gcloud storage hmac create` prints, or
/// `{"accessId", "secret"}`), or `HMAC_ACCESS_ID` with `HMAC_SECRET`.
fn load_hmac_key(args: &ServeArgs) -> Result<Option<HmacKey>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        access_id: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct KeyFile {
        access_id: Option<String>,
        metadata: Option<Metadata>,
        secret: Option<String>,
    }
    if let Some(path) = args.hmac_key_path.as_deref() {
        let error = |problem: String| ConfigError::new("HMAC_KEY_PATH", "--hmac-key", problem);
        let text = std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
        let file: KeyFile = serde_json::from_slice(&text).map_err(|e| {
            error(format!(
                "{path:?} is not an HMAC key file (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let access_id = file.access_id.or(file.metadata.map(|m| m.access_id));
        return match (access_id, file.secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                Ok(Some(HmacKey::new(id, Zeroizing::new(secret))))
            }
            _ => Err(error(format!("{path:?} needs an accessId and a secret"))),
        };
    }
    match (args.hmac_access_id.as_deref(), args.hmac_secret.as_ref()) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.0.is_empty() => {
            Ok(Some(HmacKey::new(id.trim(), secret.0.clone())))
        }
        (Some(_), _) => Err(ConfigError::new(
            "HMAC_SECRET",
            "--hmac-secret",
            "not set, but HMAC_ACCESS_ID is; set both",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "HMAC_ACCESS_ID",
            "--hmac-access-id",
            "not set, but HMAC_SECRET is; set both",
        )),
    }
}

/// A comma-separated list of buckets that must all be known.
fn parse_bucket_list(
    variable: &'static str,
    flag: &'static str,
    value: Option<&str>,
    known_buckets: &[BucketName],
) -> Result<Vec<String>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            if known_buckets.iter().any(|b| b.as_str() == name) {
                Ok(name.to_owned())
            } else {
                Err(ConfigError::new(
                    variable,
                    flag,
                    format!("{name:?} is not in KNOWN_BUCKETS"),
                ))
            }
        })
        .collect()
}

/// `bucket=path`, `bucket=virtual-hosted` or `bucket=https://host` (a bucket-bound hostname),
/// separated by commas.
fn parse_bucket_styles(
    value: Option<&str>,
    known_buckets: &[BucketName],
) -> Result<HashMap<String, BucketStyle>, ConfigError> {
    let error =
        |problem: String| ConfigError::new("BUCKET_URL_STYLES", "--bucket-url-styles", problem);
    let mut styles = HashMap::new();
    for entry in value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((bucket, style)) = entry.split_once('=') else {
            return Err(error(format!(
                "{entry:?} must be bucket=path, bucket=virtual-hosted or bucket=https://host"
            )));
        };
        let bucket = bucket.trim();
        if !known_buckets.iter().any(|b| b.as_str() == bucket) {
            return Err(error(format!("{bucket:?} is not in KNOWN_BUCKETS")));
        }
        let style = match style.trim() {
            "path" => BucketStyle::Path,
            "virtual-hosted" => BucketStyle::VirtualHosted,
            url => {
                let url = parse_storage_base_url(Some(url)).map_err(|_| {
                    error(format!(
                        "{url:?} must be path, virtual-hosted or an http(s) URL"
                    ))
                })?;
                BucketStyle::BucketBound(url)
            }
        };
        styles.insert(bucket.to_owned(), style);
    }
    Ok(styles)
}

impl AccessSettings {
    /// Whether anyone who can reach the service gets any URL of a known bucket.
    pub fn is_open_mode(&self) -> bool {
        self.clients_config_path.is_none()
    }

    /// Reads the clients file and the JWKS. Used at start-up and on SIGHUP.
    pub fn load(&self) -> Result<Authenticator, ConfigError> {
        let jwt = self.jwt.as_ref().map(JwtSettings::load).transpose()?;
        let Some(path) = &self.clients_config_path else {
            let open = self.allow_anonymous == Some(true)
                || (self.dev_mode && self.allow_anonymous.is_none());
            if !open {
                return Err(ConfigError::new(
                    "CLIENTS_CONFIG_PATH",
                    "--clients",
                    "not set; give a clients file, or set ALLOW_ANONYMOUS=true to run ael.api's open mode (any caller gets a URL for any object of a known bucket)",
                ));
            }
            let open_client = policy::open_mode_client(self.default_ttl);
            return Ok(Authenticator::new(vec![open_client], jwt, true));
        };
        let error = |problem: String| ConfigError::new("CLIENTS_CONFIG_PATH", "--clients", problem);
        let text = std::fs::read_to_string(path)
            .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
        let clients = clients_file::parse(&text, self.default_ttl)
            .map_err(|problem| error(format!("{path:?}: {problem}")))?;
        if jwt.is_none() && clients.iter().any(|c| c.jwt_subject.is_some()) {
            return Err(ConfigError::new(
                "JWT_JWKS_PATH",
                "--jwt-jwks",
                "not set, but the clients file has a jwt_subject; set JWT_JWKS_PATH, JWT_ISSUER and JWT_AUDIENCE",
            ));
        }
        if self.allow_anonymous == Some(false) && clients.iter().any(|c| c.id == ANONYMOUS) {
            return Err(ConfigError::new(
                "ALLOW_ANONYMOUS",
                "--allow-anonymous",
                format!(
                    "is false, but {path:?} defines the {ANONYMOUS:?} client; remove one of them"
                ),
            ));
        }
        Ok(Authenticator::new(
            clients,
            jwt,
            self.allow_anonymous != Some(false),
        ))
    }
}

impl JwtSettings {
    fn load(&self) -> Result<JwtVerifier, ConfigError> {
        let error = |problem: String| ConfigError::new("JWT_JWKS_PATH", "--jwt-jwks", problem);
        let path = &self.jwks_path;
        let text = std::fs::read_to_string(path)
            .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
        JwtVerifier::from_jwks(&text, &self.issuer, &self.audience)
            .map_err(|problem| error(format!("{path:?} {problem}")))
    }
}

fn parse_jwt(args: &ServeArgs) -> Result<Option<JwtSettings>, ConfigError> {
    let values = [
        ("JWT_JWKS_PATH", "--jwt-jwks", args.jwt_jwks_path.as_deref()),
        ("JWT_ISSUER", "--jwt-issuer", args.jwt_issuer.as_deref()),
        (
            "JWT_AUDIENCE",
            "--jwt-audience",
            args.jwt_audience.as_deref(),
        ),
    ];
    if values.iter().all(|(_, _, value)| value.is_none()) {
        return Ok(None);
    }
    for (variable, flag, value) in values {
        if value.is_none_or(|v| v.trim().is_empty()) {
            return Err(ConfigError::new(
                variable,
                flag,
                "not set; JWT authentication needs JWT_JWKS_PATH, JWT_ISSUER and JWT_AUDIENCE together",
            ));
        }
    }
    let [jwks, issuer, audience] = values.map(|(_, _, value)| value.unwrap_or_default().to_owned());
    Ok(Some(JwtSettings {
        jwks_path: jwks,
        issuer,
        audience,
    }))
}

fn parse_bool(
    variable: &'static str,
    flag: &'static str,
    value: Option<&str>,
) -> Result<Option<bool>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError::new(
            variable,
            flag,
            format!("must be true or false; got {value:?}"),
        )),
    }
}

fn parse_log_level(value: Option<&str>) -> Result<LevelFilter, ConfigError> {
    let Some(value) = value else {
        return Ok(LevelFilter::INFO);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(LevelFilter::ERROR),
        "warn" | "warning" => Ok(LevelFilter::WARN),
        "info" => Ok(LevelFilter::INFO),
        "debug" => Ok(LevelFilter::DEBUG),
        "trace" => Ok(LevelFilter::TRACE),
        _ => Err(ConfigError::new(
            "LOG_LEVEL",
            "--log-level",
            format!("must be one of error, warn, info, debug, trace; got {value:?}"),
        )),
    }
}

fn parse_secrets_ttl(value: Option<&str>) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(DEFAULT_SECRETS_TTL);
    };
    match value.trim().parse::<u32>() {
        Ok(ttl) if (1..=MAX_SECRETS_TTL).contains(&ttl) => Ok(ttl),
        _ => Err(ConfigError::new(
            "SECRETS_TTL",
            "--secrets-ttl",
            format!(
                "must be a whole number of seconds from 1 to {MAX_SECRETS_TTL} (7 days); got {value:?}"
            ),
        )),
    }
}

fn parse_known_buckets(value: Option<&str>) -> Result<Vec<BucketName>, ConfigError> {
    let error = |problem: String| ConfigError::new("KNOWN_BUCKETS", "--known-buckets", problem);
    let Some(value) = value else {
        return Err(error(
            "not set; list the buckets URLs may be issued for, separated by commas".into(),
        ));
    };
    let buckets = value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            BucketName::parse(name).map_err(|v| error(format!("{name:?} {}", v.description)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if buckets.is_empty() {
        return Err(error("is empty; list at least one bucket".into()));
    }
    Ok(buckets)
}

fn parse_request_timeout(value: Option<&str>) -> Result<Duration, ConfigError> {
    parse_seconds(
        ("REQUEST_TIMEOUT", "--request-timeout"),
        value,
        DEFAULT_REQUEST_TIMEOUT,
        1..=MAX_REQUEST_TIMEOUT_SECS,
    )
}

fn parse_host(value: Option<&str>, default: IpAddr) -> Result<IpAddr, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            ConfigError::new(
                "HOST",
                "--host",
                format!(
                    "must be an IP address to bind, such as 0.0.0.0 or 127.0.0.1; got {value:?}"
                ),
            )
        }),
    }
}

fn parse_port(value: Option<&str>) -> Result<u16, ConfigError> {
    match value {
        None => Ok(DEFAULT_PORT),
        Some(value) => value.trim().parse().map_err(|_| {
            ConfigError::new(
                "PORT",
                "--port",
                format!("must be a port number from 0 to 65535; got {value:?}"),
            )
        }),
    }
}

fn parse_storage_base_url(value: Option<&str>) -> Result<String, ConfigError> {
    parse_endpoint(
        ("STORAGE_BASE_URL", "--storage-base-url"),
        value,
        DEFAULT_STORAGE_BASE_URL,
    )
}

/// An `http(s)://host[:port][/prefix]` URL without a trailing slash, query or credentials.
fn parse_endpoint(
    (variable, flag): (&'static str, &'static str),
    value: Option<&str>,
    default: &str,
) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok(default.to_owned());
    };
    let error =
        |problem: &str| ConfigError::new(variable, flag, format!("{problem}; got {value:?}"));
    let trimmed = value.trim().trim_end_matches('/');
    let uri: Uri = trimmed.parse().map_err(|_| error("is not a valid URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(error("must start with http:// or https://"));
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(error("must name a host"));
    }
    if uri.query().is_some() || trimmed.contains('#') {
        return Err(error("must not have a query or fragment"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(error("must not contain user credentials"));
    }
    Ok(trimmed.to_owned())
}

fn load_key(path: &str) -> Result<ServiceAccountKey, ConfigError> {
    let error = |problem: String| ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", problem);
    let bytes = std::fs::read(Path::new(path))
        .map(Zeroizing::new)
        .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
    ServiceAccountKey::from_json(&bytes).map_err(|e| error(format!("{path:?} {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_ttl_bounds() {
        assert_eq!(parse_secrets_ttl(None).unwrap(), 600);
        assert_eq!(parse_secrets_ttl(Some("1")).unwrap(), 1);
        assert_eq!(parse_secrets_ttl(Some("604800")).unwrap(), 604_800);
        for bad in ["0", "604801", "-5", "ten", ""] {
            assert!(parse_secrets_ttl(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn known_buckets_are_trimmed_and_validated() {
        let buckets = parse_known_buckets(Some(" a-bucket , b-bucket,")).unwrap();
        let names: Vec<_> = buckets.iter().map(BucketName::as_str).collect();
        assert_eq!(names, ["a-bucket", "b-bucket"]);
        assert!(parse_known_buckets(Some(" , ")).is_err());
        assert!(parse_known_buckets(Some("ok-bucket,Bad_Bucket")).is_err());
    }

    #[test]
    fn storage_base_url_loses_its_trailing_slash() {
        assert_eq!(
            parse_storage_base_url(Some("http://127.0.0.1:9000/")).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            parse_storage_base_url(Some("https://cdn.example.com/storage")).unwrap(),
            "https://cdn.example.com/storage"
        );
    }

    #[test]
    fn storage_base_url_must_be_http() {
        for bad in [
            "storage.googleapis.com",
            "ftp://x",
            "https://x?a=b",
            "https://u:p@x",
            "https://x#f",
        ] {
            assert!(parse_storage_base_url(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_line_names_variable_and_flag() {
        let error = parse_port(Some("http")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "PORT (--port): must be a port number from 0 to 65535; got \"http\""
        );
    }
}
