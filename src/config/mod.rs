//! Settings: plain typed values read once at start-up from flags and environment variables,
//! validated here. Each problem stops the process with one line that names the variable and
//! says what is wrong. Nothing here reads a file or builds a service: `startup` does that.

mod args;
mod audit;
pub mod backends_file;
mod cors;
mod dev;
mod limits;
mod parse;
mod signer;
pub mod stores;
mod tls;
mod validator;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use zeroize::Zeroizing;

pub use args::{Secret, ServeArgs};
pub use audit::AuditSettings;
pub use cors::{CorsOrigins, CorsSettings};
pub use limits::{ConnectionSettings, RateSettings, RefusalSettings};
use parse::{
    parse_bool, parse_bucket_list, parse_bucket_styles, parse_host, parse_jwt, parse_known_buckets,
    parse_log_level, parse_port, parse_request_timeout, parse_seconds, parse_secrets_ttl,
    parse_storage_base_url,
};
pub use stores::{
    BackendSettings, S3Settings, StorageSettings, StoreArgs, StoreSecret, SwiftSettings,
};
pub use tls::{TlsArgs, TlsSettings};
pub use validator::{ValidatorArgs, ValidatorSettings};

use crate::domain::{BucketName, SigningVersion};
use crate::iam::IamSettings;
use crate::issuing::BucketStyle;

pub const DEFAULT_SECRETS_TTL: u32 = 600;
pub const DEFAULT_PORT: u16 = 4000;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEY_WATCH_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_CONFIG_WATCH_INTERVAL: Duration = Duration::from_secs(10);
/// A token that lives longer than a day is refused unless an issuer allows more: a
/// 100-year `exp` is a leaked credential for a century.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;
pub const DEFAULT_JWKS_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Enough to keep two cores busy with RSA while bounding memory and queueing.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;
const MAX_REQUEST_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_STORAGE_BASE_URL: &str = "https://storage.googleapis.com";
pub const DEV_BUCKET: &str = "dev-bucket";
pub const DEV_CLIENT_EMAIL: &str = "storage-signer-dev@dev.invalid";
/// The issuer id of dev mode's stand-in identity provider.
pub const DEV_ISSUER_ID: &str = "dev";

/// Everything `serve` needs, validated.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub known_buckets: Vec<BucketName>,
    pub secrets_ttl: u32,
    pub log_level: LevelFilter,
    /// A request still unanswered after this gets a 408.
    pub request_timeout: Duration,
    /// Who signs with the service account's RSA key.
    pub signer: SignerSettings,
    /// The HMAC key, when buckets are signed with one.
    pub hmac: Option<HmacSource>,
    /// Endpoint and per-bucket signing choices.
    pub signing: SigningSettings,
    /// How often the key file is checked for a rotated key; `None`: only on SIGHUP.
    pub key_watch_interval: Option<Duration>,
    /// How often the clients file and JWKS files are checked for changes; `None`: only on
    /// SIGHUP.
    pub config_watch_interval: Option<Duration>,
    /// Requests handled at once; past this, 503.
    pub max_concurrent_requests: usize,
    /// Threads for RSA signatures with the key in memory; 0: the I/O threads sign.
    pub signing_threads: usize,
    /// Which pages on other origins may call the API; `None`: no CORS headers.
    pub cors: Option<CorsSettings>,
    /// Time between SIGTERM and closing the listener (readiness already failing).
    pub shutdown_drain: Duration,
    /// The connection cap and the header-read and keep-alive timeouts.
    pub connections: ConnectionSettings,
    /// How refused requests are rate limited before they reach the audit trail.
    pub refusals: RefusalSettings,
    /// `/metrics` on a listener of its own (same host), when set.
    pub metrics_port: Option<u16>,
    /// Where callers and their rules come from (kept to reload them on SIGHUP).
    pub access: AccessSettings,
    pub audit: AuditSettings,
    pub dev_mode: bool,
    /// The local verifying store of dev mode.
    pub dev_store: Option<DevStoreSettings>,
    /// HTTPS files; `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Which backend serves each bucket (GCS, S3, Swift).
    pub stores: StorageSettings,
    /// `POST /validate_signed_entity`; `None`: not configured.
    pub validator: Option<ValidatorSettings>,
}

/// Who makes the RSA signatures.
#[derive(Debug, Clone)]
pub enum SignerSettings {
    /// The service-account key file; `None` in dev mode: a key generated in memory.
    Key(Option<PathBuf>),
    /// No key at all: only buckets of other backends (S3, Swift) can be served; start-up
    /// refuses a GCS bucket without a key.
    Unset,
    /// IAM Credentials `signBlob`, no key file.
    Iam(IamSettings),
}

/// Where the HMAC key comes from.
#[derive(Debug, Clone)]
pub enum HmacSource {
    /// `HMAC_KEY_PATH`: the JSON `gcloud storage hmac create` prints, or `{"accessId", "secret"}`.
    File(PathBuf),
    /// `HMAC_ACCESS_ID` with `HMAC_SECRET`.
    Given {
        access_id: String,
        secret: Zeroizing<String>,
    },
}

/// How URLs are addressed and which process signs them.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    /// Scheme and authority of the storage endpoint, without a trailing slash.
    pub storage_base_url: String,
    pub default_version: SigningVersion,
    pub bucket_styles: HashMap<String, BucketStyle>,
    /// Buckets whose V4 URLs and policies are signed with the HMAC key.
    pub hmac_buckets: Vec<String>,
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
    /// `None`: ael.api's open mode (allowed only with `ALLOW_ANONYMOUS=true` or in dev mode).
    pub clients_config_path: Option<PathBuf>,
    /// `ALLOW_ANONYMOUS` as given; `None` when unset.
    pub allow_anonymous: Option<bool>,
    pub jwt: Option<JwtSettings>,
    /// `SECRETS_TTL`: the `max_ttl` of clients that set none.
    pub default_ttl: u32,
    /// `JWT_MAX_TOKEN_LIFETIME`: the longest `exp - iat` of issuers that set none.
    pub max_token_lifetime: u64,
    /// `JWKS_MIN_REFRESH_INTERVAL`: fewest seconds between two fetches of a remote JWKS.
    pub jwks_min_refresh_interval: Duration,
    /// Dev mode without a clients file: the stand-in identity provider of the demo, trusted
    /// (filled in by start-up once the dev store's address is known).
    pub dev_issuer: Option<DevIssuer>,
}

/// The dev store's stand-in identity provider: its issuer, audience and public keys.
#[derive(Debug, Clone)]
pub struct DevIssuer {
    pub issuer: String,
    pub audience: String,
    /// The JWKS document of its throw-away key.
    pub jwks: String,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks_path: PathBuf,
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
    pub fn new(variable: &'static str, flag: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            flag,
            problem: problem.into(),
        }
    }
}

impl ConfigError {
    /// What is wrong, without the variable's name.
    pub fn problem(&self) -> &str {
        &self.problem
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
        if dev {
            dev::check_dev_mode(args, host)?;
        }
        let port = parse_port(args.port.as_deref())?;
        let request_timeout = parse_request_timeout(args.request_timeout.as_deref())?;
        let signer = signer::signer(args)?;
        let hmac = hmac_source(args)?;
        let signing = signing(args, &known_buckets, hmac.is_some())?;
        let key_watch_interval = parse_seconds(
            ("KEY_WATCH_INTERVAL", "--key-watch-interval"),
            args.key_watch_interval.as_deref(),
            DEFAULT_KEY_WATCH_INTERVAL,
            0..=3600,
        )?;
        let key_watch_interval = (!key_watch_interval.is_zero()).then_some(key_watch_interval);
        let config_watch_interval = parse_seconds(
            ("CONFIG_WATCH_INTERVAL", "--config-watch-interval"),
            args.config_watch_interval.as_deref(),
            DEFAULT_CONFIG_WATCH_INTERVAL,
            0..=3600,
        )?;
        let config_watch_interval =
            (!config_watch_interval.is_zero()).then_some(config_watch_interval);
        let cors = cors::parse_cors(args)?;
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
        let signing_threads = limits::signing_threads(args)?;
        let shutdown_drain = parse_seconds(
            ("SHUTDOWN_DRAIN_SECONDS", "--shutdown-drain-seconds"),
            args.shutdown_drain_seconds.as_deref(),
            Duration::ZERO,
            0..=60,
        )?;
        let connections = limits::connections(args)?;
        let refusals = limits::refusals(args)?;
        let metrics_port = limits::metrics_port(args, port)?;
        let access = access(args, secrets_ttl)?;
        let audit = audit::audit(args)?;
        let dev_store = dev.then(|| dev::dev_store(args, port)).transpose()?;
        let tls = TlsSettings::from_args(&args.tls, dev)?;
        let stores = StorageSettings::from_args(&args.stores)?;
        let validator = ValidatorSettings::from_args(&args.validator, request_timeout)?;
        Ok(Self {
            listen: SocketAddr::new(host, port),
            known_buckets,
            secrets_ttl,
            log_level,
            request_timeout,
            signer,
            hmac,
            signing,
            key_watch_interval,
            config_watch_interval,
            max_concurrent_requests,
            signing_threads,
            cors,
            shutdown_drain,
            connections,
            refusals,
            metrics_port,
            access,
            audit,
            dev_mode: dev,
            dev_store,
            tls,
            stores,
            validator,
        })
    }

    /// The key file to watch for a rotated key (none when the key is generated or IAM signs).
    pub fn key_file(&self) -> Option<&PathBuf> {
        match &self.signer {
            SignerSettings::Key(path) => path.as_ref(),
            SignerSettings::Iam(_) | SignerSettings::Unset => None,
        }
    }
}

impl AccessSettings {
    /// Whether anyone who can reach the service gets any URL of a known bucket.
    pub fn is_open_mode(&self) -> bool {
        self.clients_config_path.is_none()
    }
}

fn access(args: &ServeArgs, default_ttl: u32) -> Result<AccessSettings, ConfigError> {
    let allow_anonymous = parse_bool(
        "ALLOW_ANONYMOUS",
        "--allow-anonymous",
        args.allow_anonymous.as_deref(),
    )?;
    let open = allow_anonymous == Some(true) || (args.dev && allow_anonymous.is_none());
    if args.clients_config_path.is_none() && !open {
        return Err(ConfigError::new(
            "CLIENTS_CONFIG_PATH",
            "--clients",
            "not set; give a clients file, or set ALLOW_ANONYMOUS=true to run ael.api's open mode (any caller gets a URL for any object of a known bucket)",
        ));
    }
    Ok(AccessSettings {
        clients_config_path: args.clients_config_path.as_deref().map(PathBuf::from),
        allow_anonymous,
        jwt: parse_jwt(args)?,
        default_ttl,
        max_token_lifetime: parse_seconds(
            ("JWT_MAX_TOKEN_LIFETIME", "--jwt-max-token-lifetime"),
            args.jwt_max_token_lifetime.as_deref(),
            Duration::from_secs(DEFAULT_MAX_TOKEN_LIFETIME_SECS),
            60..=31_622_400,
        )?
        .as_secs(),
        jwks_min_refresh_interval: parse_seconds(
            ("JWKS_MIN_REFRESH_INTERVAL", "--jwks-min-refresh-interval"),
            args.jwks_min_refresh_interval.as_deref(),
            DEFAULT_JWKS_MIN_REFRESH_INTERVAL,
            1..=3600,
        )?,
        dev_issuer: None,
    })
}

/// `HMAC_KEY_PATH`, or `HMAC_ACCESS_ID` with `HMAC_SECRET`.
fn hmac_source(args: &ServeArgs) -> Result<Option<HmacSource>, ConfigError> {
    if let Some(path) = args.hmac_key_path.as_deref() {
        return Ok(Some(HmacSource::File(PathBuf::from(path))));
    }
    match (args.hmac_access_id.as_deref(), args.hmac_secret.as_ref()) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.0.is_empty() => {
            Ok(Some(HmacSource::Given {
                access_id: id.trim().to_owned(),
                secret: secret.0.clone(),
            }))
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

/// The endpoint, the default signing process, and how each bucket is addressed and signed.
fn signing(
    args: &ServeArgs,
    known_buckets: &[BucketName],
    has_hmac_key: bool,
) -> Result<SigningSettings, ConfigError> {
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
    let hmac_buckets = parse_bucket_list(
        "HMAC_BUCKETS",
        "--hmac-buckets",
        args.hmac_buckets.as_deref(),
        known_buckets,
    )?;
    if !hmac_buckets.is_empty() && !has_hmac_key {
        return Err(ConfigError::new(
            "HMAC_BUCKETS",
            "--hmac-buckets",
            "names buckets, but no HMAC key is configured (HMAC_KEY_PATH, or HMAC_ACCESS_ID and HMAC_SECRET)",
        ));
    }
    Ok(SigningSettings {
        storage_base_url: parse_storage_base_url(args.storage_base_url.as_deref())?,
        default_version,
        bucket_styles: parse_bucket_styles(args.bucket_url_styles.as_deref(), known_buckets)?,
        hmac_buckets,
    })
}
