//! `CORS_ALLOWED_ORIGINS`, `CORS_ALLOWED_HEADERS`, `CORS_MAX_AGE`: which pages on other
//! origins may call the API.

use std::time::Duration;

use http::Uri;
use http::header::HeaderName;

use super::{ConfigError, ServeArgs};

/// The default request headers a page may send: credentials, the JSON body, its request id.
pub const DEFAULT_CORS_HEADERS: [&str; 3] = ["authorization", "content-type", "x-request-id"];
pub const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Which origins may call the API from a browser, with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    pub origins: CorsOrigins,
    /// Request headers allowed, lower case.
    pub headers: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any page. The API takes no cookies, so no credentials are involved either way.
    Any,
    /// Exact origins, as browsers send them: `scheme://host[:port]`, lower case.
    List(Vec<String>),
}

/// `None` when `CORS_ALLOWED_ORIGINS` is unset or empty: no CORS headers at all.
pub(super) fn parse_cors(args: &ServeArgs) -> Result<Option<CorsSettings>, ConfigError> {
    let origins_error = |problem: String| {
        ConfigError::new("CORS_ALLOWED_ORIGINS", "--cors-allowed-origins", problem)
    };
    let entries: Vec<&str> = args
        .cors_allowed_origins
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    let has_other_settings = args.cors_allowed_headers.is_some() || args.cors_max_age.is_some();
    if entries.is_empty() {
        if has_other_settings {
            return Err(origins_error(
                "not set, but CORS_ALLOWED_HEADERS or CORS_MAX_AGE is; list the allowed origins"
                    .into(),
            ));
        }
        return Ok(None);
    }
    let origins = if entries == ["*"] {
        CorsOrigins::Any
    } else {
        CorsOrigins::List(
            entries
                .iter()
                .map(|entry| parse_origin(entry).map_err(origins_error))
                .collect::<Result<_, _>>()?,
        )
    };
    let headers = match args.cors_allowed_headers.as_deref() {
        None => DEFAULT_CORS_HEADERS.map(str::to_owned).to_vec(),
        Some(value) => parse_headers(value)?,
    };
    let max_age = super::parse::parse_seconds(
        ("CORS_MAX_AGE", "--cors-max-age"),
        args.cors_max_age.as_deref(),
        DEFAULT_CORS_MAX_AGE,
        0..=86_400,
    )?;
    Ok(Some(CorsSettings {
        origins,
        headers,
        max_age,
    }))
}

/// `scheme://host[:port]` exactly, as the browser's `Origin` header carries it: no path, no
/// trailing slash, no credentials.
fn parse_origin(entry: &str) -> Result<String, String> {
    let problem = |why: &str| {
        format!("{entry:?} {why}; an origin is scheme://host[:port], e.g. https://app.example.com")
    };
    if entry == "*" {
        return Err(problem("cannot be mixed with other origins"));
    }
    let uri: Uri = entry
        .parse()
        .map_err(|_| problem("is not a valid origin"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(problem("must start with http:// or https://"));
    }
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
        .ok_or_else(|| problem("must name a host"))?;
    let rebuilt = format!("{}://{}", uri.scheme_str().unwrap_or_default(), authority);
    if !rebuilt.eq_ignore_ascii_case(entry) {
        return Err(problem("must have no path, query or trailing slash"));
    }
    Ok(rebuilt.to_ascii_lowercase())
}

fn parse_headers(value: &str) -> Result<Vec<String>, ConfigError> {
    let headers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            HeaderName::try_from(name)
                .map(|name| name.as_str().to_owned())
                .map_err(|_| {
                    ConfigError::new(
                        "CORS_ALLOWED_HEADERS",
                        "--cors-allowed-headers",
                        format!("{name:?} is not a header name"),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    if headers.is_empty() {
        return Err(ConfigError::new(
            "CORS_ALLOWED_HEADERS",
            "--cors-allowed-headers",
            "is empty; list header names, or leave it unset for the default",
        ));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_scheme_host_and_port() {
        assert_eq!(
            parse_origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:5173").unwrap(),
            "http://127.0.0.1:5173"
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://x",
            "https://u@x",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_must_be_header_names() {
        assert_eq!(
            parse_headers("Authorization, X-Custom").unwrap(),
            ["authorization", "x-custom"]
        );
        assert!(parse_headers("bad header").is_err());
        assert!(parse_headers(" , ").is_err());
    }
}
