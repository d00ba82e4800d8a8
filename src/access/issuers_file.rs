//! The `[[issuers]]` of the clients file and a client's `end_users`: identity providers whose
//! tokens are accepted, and which client their end users act as.
//!
//! ```toml
//! [[issuers]]
//! id = "auth0"                                    # the name clients use
//! issuer = "https://example.eu.auth0.com/"        # the exact `iss`
//! audiences = ["https://api.example.com"]         # `aud` must include one
//! # keys: discovery from {issuer}/.well-known/openid-configuration, unless one of
//! # jwks_uri = "https://example.eu.auth0.com/.well-known/jwks.json"
//! # jwks_path = "/etc/storage-signer/jwks.json"   # a file, watched for changes
//! # audience_claim = "client_id"                  # Cognito access tokens have no `aud`
//! # max_token_lifetime = 86400                    # seconds; default JWT_MAX_TOKEN_LIFETIME
//! # jwks_max_stale = 86400                        # seconds the last keys are trusted while
//! #                                               # the provider does not answer
//!
//! [[clients]]
//! id = "webapp"
//! end_users = { issuer = "auth0", authorized_parties = ["<SPA client id>"] }
//! ```

use std::path::PathBuf;

use http::Uri;
use serde::Deserialize;

use super::{EndUserMapping, IssuerConfig, JwksSource};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssuerEntry {
    id: String,
    issuer: String,
    audiences: Vec<String>,
    audience_claim: Option<String>,
    jwks_uri: Option<String>,
    jwks_path: Option<PathBuf>,
    max_token_lifetime: Option<u64>,
    jwks_max_stale: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndUsersEntry {
    issuer: String,
    audiences: Option<Vec<String>>,
    authorized_parties: Option<Vec<String>>,
}

/// Longest token lifetime an issuer may allow: a year and a day.
const MAX_TOKEN_LIFETIME_LIMIT: u64 = 366 * 86_400;

pub(super) fn issuer(entry: IssuerEntry) -> Result<IssuerConfig, String> {
    if !valid_id(&entry.id) {
        return Err("id must be 1 to 64 characters of A-Z a-z 0-9 - _ .".into());
    }
    if entry.issuer.trim() != entry.issuer || entry.issuer.is_empty() {
        return Err("issuer must be the exact `iss` of the tokens".into());
    }
    if entry.audiences.is_empty() || entry.audiences.iter().any(|a| a.trim().is_empty()) {
        return Err(
            "audiences: list the audiences tokens must carry (one at least, none empty)".into(),
        );
    }
    let jwks = match (entry.jwks_uri, entry.jwks_path) {
        (Some(_), Some(_)) => return Err("give jwks_uri or jwks_path, not both".into()),
        (Some(uri), None) => {
            check_fetch_url(&uri).map_err(|problem| format!("jwks_uri: {problem}"))?;
            JwksSource::Uri(uri)
        }
        (None, Some(path)) => JwksSource::File(path),
        (None, None) => {
            check_fetch_url(&entry.issuer).map_err(|problem| {
                format!("issuer: {problem} (its keys are discovered from it; or give jwks_uri or jwks_path)")
            })?;
            JwksSource::Discovery
        }
    };
    if let Some(lifetime) = entry.max_token_lifetime
        && !(60..=MAX_TOKEN_LIFETIME_LIMIT).contains(&lifetime)
    {
        return Err(format!(
            "max_token_lifetime must be 60 to {MAX_TOKEN_LIFETIME_LIMIT} seconds"
        ));
    }
    if entry.jwks_max_stale == Some(0) {
        return Err("jwks_max_stale must be at least 1 second".into());
    }
    let audience_claim = entry.audience_claim.unwrap_or_else(|| "aud".into());
    if audience_claim.is_empty() {
        return Err("audience_claim must name a claim".into());
    }
    Ok(IssuerConfig {
        id: entry.id,
        issuer: entry.issuer,
        audiences: entry.audiences,
        audience_claim,
        jwks,
        max_token_lifetime: entry.max_token_lifetime,
        jwks_max_stale: entry.jwks_max_stale,
    })
}

pub(super) fn end_users(entry: EndUsersEntry) -> Result<EndUserMapping, String> {
    let empty = |list: &Option<Vec<String>>| list.as_ref().is_some_and(Vec::is_empty);
    if empty(&entry.audiences) || empty(&entry.authorized_parties) {
        return Err(
            "end_users: leave audiences or authorized_parties out to accept any, or list one"
                .into(),
        );
    }
    Ok(EndUserMapping {
        issuer: entry.issuer,
        audiences: entry.audiences,
        authorized_parties: entry.authorized_parties,
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Keys are fetched over HTTPS; plain HTTP only from this machine (a local stand-in).
pub fn check_fetch_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        // Keys are public, and the URL appears in logs and errors: a password in it would too.
        return Err(format!(
            "a key URL of {} must not carry a user name or password",
            uri.host().unwrap_or_default()
        ));
    }
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(format!(
            "{url:?} must be an https:// URL (http:// only for 127.0.0.1 or localhost)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fetched_over_https_or_from_this_machine() {
        assert!(check_fetch_url("https://idp.example/").is_ok());
        assert!(check_fetch_url("http://127.0.0.1:4001/_idp").is_ok());
        assert!(check_fetch_url("http://localhost:8080").is_ok());
        assert!(check_fetch_url("http://idp.example/").is_err());
        assert!(check_fetch_url("idp.example").is_err());
        assert!(check_fetch_url("file:///etc/jwks.json").is_err());
    }

    #[test]
    fn key_urls_with_credentials_are_refused_without_repeating_them() {
        for url in [
            "https://user:s3cret@idp.example/.well-known/jwks.json",
            "http://user:s3cret@127.0.0.1:4001/_idp",
            "https://s3cret@idp.example/",
        ] {
            let problem = check_fetch_url(url).expect_err(url);
            assert!(!problem.contains("s3cret"), "{problem}");
            assert!(problem.contains("user name or password"), "{problem}");
        }
    }
}
