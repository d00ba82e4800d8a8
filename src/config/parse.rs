//! Parsers for single settings: each names its variable and flag, and what is wrong, in one
//! line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use http::Uri;
use tracing::level_filters::LevelFilter;

use super::{
    ConfigError, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SECRETS_TTL,
    DEFAULT_STORAGE_BASE_URL, JwtSettings, MAX_REQUEST_TIMEOUT_SECS, ServeArgs,
};
use crate::domain::{BucketName, MAX_URL_LIFETIME_SECS};
use crate::issuing::BucketStyle;

/// A whole number of seconds within `range`, or `default` when unset.
pub(super) fn parse_seconds(
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

/// A comma-separated list of buckets that must all be known.
pub(super) fn parse_bucket_list(
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
pub(super) fn parse_bucket_styles(
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

pub(super) fn parse_jwt(args: &ServeArgs) -> Result<Option<JwtSettings>, ConfigError> {
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
        jwks_path: jwks.into(),
        issuer,
        audience,
    }))
}

pub(super) fn parse_bool(
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
            format!(
                "must be true or false (1/0, yes/no and on/off are read the same); got {value:?}"
            ),
        )),
    }
}

pub(super) fn parse_log_level(value: Option<&str>) -> Result<LevelFilter, ConfigError> {
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

pub(super) fn parse_secrets_ttl(value: Option<&str>) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(DEFAULT_SECRETS_TTL);
    };
    match value.trim().parse::<u32>() {
        Ok(ttl) if (1..=MAX_URL_LIFETIME_SECS).contains(&ttl) => Ok(ttl),
        _ => Err(ConfigError::new(
            "SECRETS_TTL",
            "--secrets-ttl",
            format!(
                "must be a whole number of seconds from 1 to {MAX_URL_LIFETIME_SECS} (7 days); got {value:?}"
            ),
        )),
    }
}

pub(super) fn parse_known_buckets(value: Option<&str>) -> Result<Vec<BucketName>, ConfigError> {
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

pub(super) fn parse_request_timeout(value: Option<&str>) -> Result<Duration, ConfigError> {
    parse_seconds(
        ("REQUEST_TIMEOUT", "--request-timeout"),
        value,
        DEFAULT_REQUEST_TIMEOUT,
        1..=MAX_REQUEST_TIMEOUT_SECS,
    )
}

pub(super) fn parse_host(value: Option<&str>, default: IpAddr) -> Result<IpAddr, ConfigError> {
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

pub(super) fn parse_port(value: Option<&str>) -> Result<u16, ConfigError> {
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

pub(super) fn parse_storage_base_url(value: Option<&str>) -> Result<String, ConfigError> {
    parse_endpoint(
        ("STORAGE_BASE_URL", "--storage-base-url"),
        value,
        DEFAULT_STORAGE_BASE_URL,
    )
}

/// An `http(s)://host[:port][/prefix]` URL without a trailing slash, query or credentials.
pub(super) fn parse_endpoint(
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
