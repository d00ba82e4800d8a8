//! Reusing read URLs: within a window, identical grants get the identical URL, signed once.
//!
//! A page that shows a hundred thumbnails asks for the same read URLs again and again; each
//! costs an RSA signature. With a rule's `reuse_window = W`, a `GET` or `HEAD` grant is signed
//! as of the start of its window (`now` rounded down to a multiple of W, since the Unix epoch),
//! so every identical grant in that window produces the same URL (V2 `Expires`, V4
//! `X-Goog-Date` and `X-Goog-Expires` are the same), and the cache hands the URL signed for the
//! first one to the others. Every request is still authorised and audited on its own: only the
//! signature is shared.
//!
//! - The URL lives until window start + the lifetime asked for: never longer than asked, and
//!   at least the lifetime minus one window. Grants whose lifetime is under two windows are
//!   not reused, so a reused URL always has at least half its lifetime left.
//! - `expires_at` and `inserted_at` are the URL's own (its signing time is the window start).
//! - "Identical" is the whole grant (client, method, bucket, object, version, every signed
//!   header and query parameter, lifetime) and the key that signs: a rotated key starts afresh.
//! - Bounded: at most `capacity` URLs, all of the current windows; when full, URLs of past
//!   windows are dropped, and if that frees nothing the new URL is signed but not kept.
//!
//! Pure apart from its lock: the time is passed in, and signing is the caller's closure.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use super::{IssuedUrl, UrlGrant};

/// URLs kept at most, across all windows in use.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The URLs signed in the current windows, by grant.
#[derive(Debug)]
pub struct ReuseCache {
    capacity: usize,
    urls: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    window_start: i64,
    url: IssuedUrl,
}

/// Whether a URL came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reused {
    /// Signed for this request (and kept for the rest of its window, if it may be).
    Signed,
    /// Signed for an earlier identical grant of the same window.
    Reused,
}

impl Default for ReuseCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl ReuseCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            urls: Mutex::new(HashMap::new()),
        }
    }

    /// The URL for `grant` of `client` at `now` with a reuse window of `window` seconds:
    /// from the cache, or signed by `sign` at the window's start. `key_generation` names the
    /// key that signs (it changes when the key rotates).
    pub fn issue<E>(
        &self,
        client: &str,
        key_generation: u64,
        grant: &UrlGrant<'_>,
        window: u32,
        now: OffsetDateTime,
        sign: impl FnOnce(OffsetDateTime) -> Result<IssuedUrl, E>,
    ) -> Result<(IssuedUrl, Reused), E> {
        let window = i64::from(window.max(1));
        if i64::from(grant.lifetime) < 2 * window {
            return sign(now).map(|url| (url, Reused::Signed));
        }
        let window_start = now.unix_timestamp().div_euclid(window) * window;
        let key = cache_key(client, key_generation, grant);
        if let Some(entry) = self.lock().get(&key)
            && entry.window_start == window_start
        {
            return Ok((entry.url.clone(), Reused::Reused));
        }
        let at = OffsetDateTime::from_unix_timestamp(window_start).unwrap_or(now);
        let url = sign(at)?;
        self.keep(key, window_start, &url);
        Ok((url, Reused::Signed))
    }

    /// How many URLs are kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keep(&self, key: String, window_start: i64, url: &IssuedUrl) {
        let mut urls = self.lock();
        if urls.len() >= self.capacity && !urls.contains_key(&key) {
            // URLs of windows that have ended are of no use any more.
            urls.retain(|_, entry| entry.window_start >= window_start);
            if urls.len() >= self.capacity {
                return;
            }
        }
        urls.insert(
            key,
            Entry {
                window_start,
                url: url.clone(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.urls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the URL depends on, one field a line (a line break cannot occur inside a
/// field: names, types and header values refuse control characters before they get here,
/// and the lengths of the free-form parts are written before them).
fn cache_key(client: &str, key_generation: u64, grant: &UrlGrant<'_>) -> String {
    let extras = &grant.extras;
    let mut key = String::with_capacity(256);
    let _ = write!(
        key,
        "{key_generation}\n{}:{client}\n{}\n{}:{}\n{}:{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}",
        client.len(),
        grant.action.as_str(),
        grant.bucket.len(),
        grant.bucket,
        grant.object.len(),
        grant.object,
        grant.version,
        grant.content_type,
        grant.content_md5,
        grant.if_generation_match,
        grant.content_length_range,
        grant.lifetime,
        extras.response_content_type,
        extras.response_content_disposition,
        extras.cache_control,
        extras.content_disposition,
    );
    for (name, value) in extras.metadata {
        let _ = write!(key, "\n{name:?}={value:?}");
    }
    key
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{Action, SigningVersion};
    use crate::issuing::UrlExtras;
    use crate::signing::SignedUrl;

    fn grant(object: &'static str, lifetime: u32) -> UrlGrant<'static> {
        UrlGrant {
            action: Action::Get,
            bucket: "media",
            object,
            version: Some(SigningVersion::V4),
            content_type: None,
            content_md5: None,
            if_generation_match: None,
            content_length_range: None,
            lifetime,
            extras: UrlExtras::default(),
        }
    }

    /// A stand-in signer: the URL names the signing time, and each call is counted.
    fn signer(
        calls: &std::cell::Cell<u32>,
        lifetime: u32,
    ) -> impl FnOnce(OffsetDateTime) -> Result<IssuedUrl, ()> + '_ {
        move |at| {
            calls.set(calls.get() + 1);
            Ok(IssuedUrl {
                url: SignedUrl::new(format!("https://x/o?signed={}", at.unix_timestamp())),
                version: SigningVersion::V4,
                kind: "v4-rsa",
                headers: Vec::new(),
                inserted_at: at,
                expires_at: at + time::Duration::seconds(lifetime.into()),
                backend: crate::issuing::BackendKind::Gcs,
            })
        }
    }

    #[test]
    fn identical_grants_in_one_window_get_one_url_signed_at_the_window_start() {
        let cache = ReuseCache::default();
        let calls = std::cell::Cell::new(0);
        let first_at = datetime!(2026-12-01 10:00:07 UTC);
        let (first, how) = cache
            .issue(
                "c",
                0,
                &grant("a.jpg", 600),
                60,
                first_at,
                signer(&calls, 600),
            )
            .unwrap();
        assert_eq!(how, Reused::Signed);
        assert_eq!(first.inserted_at, datetime!(2026-12-01 10:00:00 UTC));
        assert_eq!(first.expires_at, datetime!(2026-12-01 10:10:00 UTC));
        let later = datetime!(2026-12-01 10:00:59 UTC);
        let (second, how) = cache
            .issue("c", 0, &grant("a.jpg", 600), 60, later, signer(&calls, 600))
            .unwrap();
        assert_eq!(how, Reused::Reused);
        assert_eq!(second.url, first.url);
        assert_eq!(calls.get(), 1, "signed once");
        assert!(second.expires_at <= later + time::Duration::seconds(600));
    }

    #[test]
    fn the_next_window_another_object_client_or_key_is_signed_anew() {
        let cache = ReuseCache::default();
        let calls = std::cell::Cell::new(0);
        let at = datetime!(2026-12-01 10:00:30 UTC);
        let issue = |client: &str, generation, object, at| {
            cache
                .issue(
                    client,
                    generation,
                    &grant(object, 600),
                    60,
                    at,
                    signer(&calls, 600),
                )
                .unwrap()
                .1
        };
        assert_eq!(issue("c", 0, "a.jpg", at), Reused::Signed);
        assert_eq!(issue("c", 0, "b.jpg", at), Reused::Signed);
        assert_eq!(issue("d", 0, "a.jpg", at), Reused::Signed);
        assert_eq!(issue("c", 1, "a.jpg", at), Reused::Signed);
        let next_window = datetime!(2026-12-01 10:01:00 UTC);
        assert_eq!(issue("c", 0, "a.jpg", next_window), Reused::Signed);
        assert_eq!(calls.get(), 5);
    }

    #[test]
    fn a_lifetime_under_two_windows_is_not_reused() {
        let cache = ReuseCache::default();
        let calls = std::cell::Cell::new(0);
        let at = datetime!(2026-12-01 10:00:30 UTC);
        for _ in 0..2 {
            let (url, how) = cache
                .issue("c", 0, &grant("a.jpg", 119), 60, at, signer(&calls, 119))
                .unwrap();
            assert_eq!(how, Reused::Signed);
            assert_eq!(url.inserted_at, at, "signed at the request's own time");
        }
        assert_eq!(calls.get(), 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = ReuseCache::new(2);
        let calls = std::cell::Cell::new(0);
        let at = datetime!(2026-12-01 10:00:30 UTC);
        for object in ["a", "b", "c"] {
            cache
                .issue("c", 0, &grant(object, 600), 60, at, signer(&calls, 600))
                .unwrap();
        }
        assert_eq!(
            cache.len(),
            2,
            "full of the current window: the third is not kept"
        );
        let next_window = datetime!(2026-12-01 10:01:30 UTC);
        cache
            .issue(
                "c",
                0,
                &grant("d", 600),
                60,
                next_window,
                signer(&calls, 600),
            )
            .unwrap();
        assert_eq!(cache.len(), 1, "the past window's URLs were dropped");
    }

    #[test]
    fn names_that_run_into_each_other_are_different_keys() {
        let grant_ab = UrlGrant {
            bucket: "ab",
            object: "c",
            ..grant("", 600)
        };
        let grant_a = UrlGrant {
            bucket: "a",
            object: "bc",
            ..grant("", 600)
        };
        assert_ne!(cache_key("x", 0, &grant_ab), cache_key("x", 0, &grant_a));
    }
}
