//! PROTOTYPE `reuse` (see `crate::proto`): identical GET grants within a window get the same
//! URL, signed once at the window's start. The lifetime counted from any request in the window
//! is then at most the one asked for, and `expires_at` is the URL's own expiry. Every request
//! is still decided and audited before it gets here. Bounded: at most `MAX_ENTRIES` URLs,
//! all dropped when the window turns or the signing key changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use super::{IssuedSecret, Issuer, SecretGrant};
use crate::audit::AuditEvent;
use crate::error::ApiError;
use crate::timestamp;

const WINDOW_SECONDS: i64 = 60;
const MAX_ENTRIES: usize = 10_000;

/// What makes two grants sign the same URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    bucket: String,
    object: String,
    version: Option<&'static str>,
    content_type: Option<String>,
    content_md5: Option<String>,
    if_generation_match: Option<u64>,
    content_length_range: Option<(u64, u64)>,
    lifetime: u32,
}

#[derive(Debug, Default)]
struct Window {
    start: i64,
    /// The issuer the URLs were signed by (a rotated key starts afresh).
    issuer: usize,
    urls: HashMap<Key, super::IssuedUrl>,
}

#[derive(Debug, Default)]
pub struct ReuseCache {
    window: Mutex<Window>,
}

impl ReuseCache {
    /// The URL for `grant` at `now`: the one already signed in this window, or a new one
    /// signed at the window's start.
    pub fn sign(
        &self,
        issuer: &Arc<Issuer>,
        grant: SecretGrant,
        now: OffsetDateTime,
        record: &mut AuditEvent,
    ) -> Result<IssuedSecret, ApiError> {
        let seconds = now.unix_timestamp();
        let start = seconds - seconds.rem_euclid(WINDOW_SECONDS);
        let issuer_id = Arc::as_ptr(issuer) as usize;
        let request = &grant.request;
        let key = Key {
            bucket: request.bucket.to_string(),
            object: request.object.to_string(),
            version: request.version.map(crate::domain::SigningVersion::as_str),
            content_type: request.content_type.as_ref().map(|c| c.as_str().to_owned()),
            content_md5: request.content_md5.as_ref().map(|m| m.as_str().to_owned()),
            if_generation_match: grant.if_generation_match,
            content_length_range: grant.content_length_range.map(|r| (r.min, r.max)),
            lifetime: grant.lifetime,
        };
        let cached = {
            let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            if window.start != start || window.issuer != issuer_id {
                *window = Window {
                    start,
                    issuer: issuer_id,
                    urls: HashMap::new(),
                };
            }
            window.urls.get(&key).cloned()
        };
        let url = if let Some(url) = cached {
            url
        } else {
            let at = OffsetDateTime::from_unix_timestamp(start).unwrap_or(now);
            let url = issuer.issue_url(&grant.url_grant(), at)?;
            let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            if window.start == start && window.urls.len() < MAX_ENTRIES {
                window.urls.insert(key, url.clone());
            }
            url
        };
        record.expires_at = Some(timestamp::iso8601(url.expires_at));
        Ok(IssuedSecret {
            request: grant.request,
            url,
        })
    }
}
