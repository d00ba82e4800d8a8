//! Fetching identity providers' signing keys over HTTPS, and keeping them fresh.
//!
//! An issuer's JWKS comes from its `jwks_uri`, or from the `jwks_uri` of its discovery
//! document (`{issuer}/.well-known/openid-configuration`, `OpenID` Connect Discovery 1.0, whose
//! `issuer` must be the configured one). Each issuer's keys live in a [`KeyCache`], refreshed:
//!
//! - when its HTTP caching headers say (`Cache-Control: max-age`, else `Expires`), within
//!   `JWKS_MIN_REFRESH_INTERVAL` and a day; an hour when the provider says nothing;
//! - early, when a token names an unknown key id (rate limited by the cache);
//! - after a failure, with backoff from the minimum interval up to five minutes, keeping the
//!   last good keys meanwhile.
//!
//! Caches live as long as an issuer of the configuration uses them, across reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES, HeaderMap};
use serde::Deserialize;

use crate::access::{IssuerConfig, JwksSource, check_fetch_url};
use crate::auth::jwt::KeySet;
use crate::auth::key_cache::{DEFAULT_MAX_STALE, KeyCache};

/// Refresh interval when the provider sends no caching headers.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Longest time between refreshes, whatever the headers say.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Longest wait between retries while the provider fails.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// One request's time limit.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document or JWKS accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Where a fetched key set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Location {
    Discovery { issuer: String },
    Uri(String),
}

impl Location {
    fn describe(&self) -> String {
        match self {
            Location::Discovery { issuer } => discovery_url(issuer),
            Location::Uri(uri) => uri.clone(),
        }
    }
}

/// The key caches of the issuers in use, by where their keys come from.
#[derive(Debug)]
pub struct KeyCaches {
    caches: Mutex<HashMap<(Location, u64), Arc<KeyCache>>>,
    /// Caches made since the fetchers were last started.
    unstarted: Mutex<Vec<(Weak<KeyCache>, Location)>>,
    min_refresh_interval: Duration,
}

impl KeyCaches {
    pub fn new(min_refresh_interval: Duration) -> Self {
        Self {
            caches: Mutex::new(HashMap::new()),
            unstarted: Mutex::new(Vec::new()),
            min_refresh_interval,
        }
    }

    /// The cache for `issuer`'s remote keys (the same one as before for the same source), or
    /// `None` when its keys are a file.
    pub fn for_issuer(&self, issuer: &IssuerConfig) -> Option<Arc<KeyCache>> {
        let location = match &issuer.jwks {
            JwksSource::Discovery => Location::Discovery {
                issuer: issuer.issuer.clone(),
            },
            JwksSource::Uri(uri) => Location::Uri(uri.clone()),
            JwksSource::File(_) => return None,
        };
        let max_stale = issuer
            .jwks_max_stale
            .map_or(DEFAULT_MAX_STALE, Duration::from_secs);
        let key = (location.clone(), max_stale.as_secs());
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        let cache = caches.entry(key).or_insert_with(|| {
            let cache = Arc::new(KeyCache::new(
                location.describe(),
                self.min_refresh_interval,
                max_stale,
            ));
            self.unstarted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((Arc::downgrade(&cache), location));
            cache
        });
        Some(Arc::clone(cache))
    }

    /// Forgets the caches no issuer in `used` needs (their fetchers stop).
    pub fn retain(&self, used: &[Arc<KeyCache>]) {
        self.caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, cache| used.iter().any(|u| Arc::ptr_eq(u, cache)));
    }

    /// Starts a fetcher for every cache made since the last call. Needs the runtime.
    pub fn start_fetchers(&self, client: &reqwest::Client) {
        let unstarted = std::mem::take(
            &mut *self
                .unstarted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (cache, location) in unstarted {
            tokio::spawn(keep_fresh(cache, location, client.clone()));
        }
    }
}

/// The HTTP client for identity providers: rustls, a time limit, no redirects to follow
/// blindly.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| format!("cannot build the HTTP client for identity providers: {e}"))
}

/// Fetches, stores and waits, while the cache is in use.
async fn keep_fresh(cache: Weak<KeyCache>, location: Location, client: reqwest::Client) {
    let mut retry = Duration::ZERO;
    loop {
        let Some(strong) = cache.upgrade() else {
            return;
        };
        let minimum = strong.min_refresh_interval();
        strong.begin_attempt(Instant::now());
        let wait = match fetch(&client, &location).await {
            Ok((keys, fresh_for)) => {
                tracing::info!(source = strong.source(), kids = ?keys.kids(), "identity provider keys fetched");
                strong.store(keys, Instant::now());
                retry = Duration::ZERO;
                fresh_for
                    .unwrap_or(DEFAULT_REFRESH)
                    .clamp(minimum, MAX_REFRESH)
            }
            Err(problem) => {
                strong.attempt_failed();
                retry = (retry * 2).clamp(minimum, MAX_RETRY.max(minimum));
                tracing::warn!(
                    source = strong.source(),
                    problem,
                    retry_in_seconds = retry.as_secs(),
                    "identity provider keys not fetched: the last good keys stay in use"
                );
                retry
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = strong.refresh_requested() => {}
        }
        drop(strong);
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

fn discovery_url(issuer: &str) -> String {
    // OpenID Connect Discovery 1.0, 4: a trailing `/` of the issuer is removed first.
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The key set and how long the provider says it stays fresh.
async fn fetch(
    client: &reqwest::Client,
    location: &Location,
) -> Result<(KeySet, Option<Duration>), String> {
    let jwks_uri = match location {
        Location::Uri(uri) => uri.clone(),
        Location::Discovery { issuer } => {
            let url = discovery_url(issuer);
            let (body, _) = get(client, &url).await?;
            let document: Discovery = serde_json::from_slice(&body)
                .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
            if document.issuer != *issuer {
                return Err(format!(
                    "{url}: the document names another issuer ({:?})",
                    document.issuer
                ));
            }
            check_fetch_url(&document.jwks_uri)
                .map_err(|problem| format!("{url}: jwks_uri {problem}"))?;
            document.jwks_uri
        }
    };
    let (body, headers) = get(client, &jwks_uri).await?;
    let text = std::str::from_utf8(&body).map_err(|_| format!("{jwks_uri}: not UTF-8"))?;
    let keys = KeySet::from_jwks(text).map_err(|problem| format!("{jwks_uri} {problem}"))?;
    Ok((keys, fresh_for(&headers, SystemTime::now())))
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(Vec<u8>, HeaderMap), String> {
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else {
                "could not connect"
            };
            format!("{url}: {why}")
        })?;
    if !response.status().is_success() {
        return Err(format!("{url}: answered {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|_| format!("{url}: the body could not be read"))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    Ok((body.to_vec(), headers))
}

/// How long a response stays fresh (RFC 9111): `Cache-Control: max-age` (zero with
/// `no-cache` or `no-store`), else `Expires` minus `Date` (or `now`). `None`: not said.
pub fn fresh_for(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(cache_control) = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        let mut max_age = None;
        for directive in cache_control.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                max_age = seconds.trim_matches('"').parse::<u64>().ok();
            }
        }
        if let Some(seconds) = max_age {
            return Some(Duration::from_secs(seconds));
        }
    }
    let expires = http_date(headers.get(EXPIRES)?.to_str().ok()?)?;
    let date = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date)
        .unwrap_or(now);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 requires senders to use.
fn http_date(value: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value.trim(), format)
        .ok()?
        .assume_utc();
    Some(SystemTime::from(at))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(reqwest::header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn freshness_follows_max_age_then_expires() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 06 Nov 1994 08:49:37
        assert_eq!(
            fresh_for(
                &headers(&[(CACHE_CONTROL, "public, max-age=21600, must-revalidate")]),
                now
            ),
            Some(Duration::from_secs(21_600))
        );
        assert_eq!(
            fresh_for(&headers(&[(CACHE_CONTROL, "no-cache")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            fresh_for(&headers(&[(EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT")]), now),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            fresh_for(
                &headers(&[
                    (EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT"),
                    (DATE, "Sun, 06 Nov 1994 09:19:37 GMT")
                ]),
                now
            ),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(fresh_for(&headers(&[(EXPIRES, "0")]), now), None);
        assert_eq!(fresh_for(&HeaderMap::new(), now), None);
    }

    #[test]
    fn discovery_drops_a_trailing_slash_of_the_issuer() {
        assert_eq!(
            discovery_url("https://tenant.auth0.com/"),
            "https://tenant.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://kc.example/realms/app"),
            "https://kc.example/realms/app/.well-known/openid-configuration"
        );
    }
}
