//! Typed settings, read once at start-up. Each problem stops the process with one line that
//! names the variable and says what is wrong.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use axum::http::Uri;
use tracing::level_filters::LevelFilter;
use zeroize::Zeroizing;

use crate::cli::ServeArgs;
use crate::domain::BucketName;
use crate::key::ServiceAccountKey;

pub const DEFAULT_SECRETS_TTL: u32 = 600;
/// Google refuses signed URLs that live longer than seven days.
pub const MAX_SECRETS_TTL: u32 = 7 * 24 * 60 * 60;
pub const DEFAULT_PORT: u16 = 4000;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// Scheme and authority (and optional path prefix), without a trailing slash.
    pub storage_base_url: String,
    pub log_level: LevelFilter,
    /// A request still unanswered after this gets a 408.
    pub request_timeout: Duration,
    pub key: ServiceAccountKey,
    pub dev_mode: bool,
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
        let storage_base_url = parse_storage_base_url(args.storage_base_url.as_deref())?;
        let request_timeout = parse_request_timeout(args.request_timeout.as_deref())?;
        let key = match (args.service_account_key_path.as_deref(), dev) {
            (Some(path), _) => load_key(path)?,
            (None, true) => ServiceAccountKey::generate(DEV_CLIENT_EMAIL).map_err(|e| {
                ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", e.to_string())
            })?,
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
        Ok(Self {
            listen: SocketAddr::new(host, port),
            known_buckets,
            secrets_ttl,
            storage_base_url,
            log_level,
            request_timeout,
            key,
            dev_mode: dev,
        })
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
    let Some(value) = value else {
        return Ok(DEFAULT_REQUEST_TIMEOUT);
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if (1..=MAX_REQUEST_TIMEOUT_SECS).contains(&seconds) => {
            Ok(Duration::from_secs(seconds))
        }
        _ => Err(ConfigError::new(
            "REQUEST_TIMEOUT",
            "--request-timeout",
            format!(
                "must be a whole number of seconds from 1 to {MAX_REQUEST_TIMEOUT_SECS}; got {value:?}"
            ),
        )),
    }
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
    let Some(value) = value else {
        return Ok(DEFAULT_STORAGE_BASE_URL.to_owned());
    };
    let error = |problem: &str| {
        ConfigError::new(
            "STORAGE_BASE_URL",
            "--storage-base-url",
            format!("{problem}; got {value:?}"),
        )
    };
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
