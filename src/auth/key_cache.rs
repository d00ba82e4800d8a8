//! The key set of an issuer whose JWKS lives at a URL: what was fetched last, when, and the
//! requests for a refresh. No I/O here: the `jwks` module fetches and stores, the authenticator
//! reads. The time is passed in.
//!
//! - The last good key set is kept while the identity provider is down, up to `max_stale`
//!   after it was fetched; then tokens of the issuer are refused ("out of date") until it
//!   answers again.
//! - A token whose `kid` is not in the set asks for a refresh (a provider that rotated its
//!   keys), at most once per `min_refresh_interval`, so unknown key ids cannot make the
//!   service hammer the provider.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::jwt::{JwtError, KeySet};

/// Keys not refreshed for longer than this are no longer trusted, unless the issuer says.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
pub struct KeyCache {
    /// Where the keys come from (a URL or the issuer's discovery document), for logs.
    source: String,
    state: Mutex<State>,
    /// Wakes the fetcher for an early refresh.
    wake: Notify,
    /// Counts finished fetch attempts, so waiters see one end.
    attempts: watch::Sender<u64>,
    min_refresh_interval: Duration,
    max_stale: Duration,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// A fetch was asked for, or is under way.
    pending: bool,
}

impl KeyCache {
    pub fn new(source: String, min_refresh_interval: Duration, max_stale: Duration) -> Self {
        Self {
            source,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            attempts: watch::Sender::new(0),
            min_refresh_interval,
            max_stale,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn min_refresh_interval(&self) -> Duration {
        self.min_refresh_interval
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys to verify with at `now`.
    pub fn keys(&self, now: Instant) -> Result<Arc<KeySet>, JwtError> {
        let state = self.state();
        match (&state.keys, state.fetched_at) {
            (Some(keys), Some(at)) if now.saturating_duration_since(at) <= self.max_stale => {
                Ok(Arc::clone(keys))
            }
            (Some(_), _) => Err(JwtError::KeysExpired),
            (None, _) => Err(JwtError::KeysUnavailable),
        }
    }

    /// The fetcher starts an attempt.
    pub fn begin_attempt(&self, now: Instant) {
        let mut state = self.state();
        state.last_attempt = Some(now);
        state.pending = true;
    }

    /// A fetch at `now` brought `keys`.
    pub fn store(&self, keys: KeySet, now: Instant) {
        {
            let mut state = self.state();
            state.keys = Some(Arc::new(keys));
            state.fetched_at = Some(now);
            state.pending = false;
        }
        self.attempts.send_modify(|n| *n += 1);
    }

    /// A fetch failed: the keys in force stay.
    pub fn attempt_failed(&self) {
        self.state().pending = false;
        self.attempts.send_modify(|n| *n += 1);
    }

    /// Asks for a refresh because a token named an unknown key id. True when one is under
    /// way or was asked for now; false when the last attempt was too recent (rate limited).
    pub fn request_refresh(&self, now: Instant) -> bool {
        let mut state = self.state();
        if state.pending {
            return true;
        }
        let due = state
            .last_attempt
            .is_none_or(|at| now.saturating_duration_since(at) >= self.min_refresh_interval);
        if due {
            state.pending = true;
            drop(state);
            self.wake.notify_one();
        }
        due
    }

    /// Finished attempts so far; `changed()` on it resolves at the next one.
    pub fn attempts(&self) -> watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    /// Resolves when a refresh is asked for.
    pub async fn refresh_requested(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn cache() -> KeyCache {
        KeyCache::new(
            "https://idp.example/jwks".into(),
            Duration::from_secs(30),
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn keys_are_unavailable_before_the_first_fetch_and_kept_until_stale() {
        let cache = cache();
        let t0 = Instant::now();
        assert_eq!(cache.keys(t0).unwrap_err(), JwtError::KeysUnavailable);
        cache.begin_attempt(t0);
        cache.store(KeySet::from_jwks(JWKS).unwrap(), t0);
        // The provider goes down: failed attempts keep the set.
        cache.begin_attempt(t0 + Duration::from_secs(60));
        cache.attempt_failed();
        assert_eq!(
            cache.keys(t0 + Duration::from_secs(3600)).unwrap().kids(),
            ["k1"]
        );
        assert_eq!(
            cache.keys(t0 + Duration::from_secs(3601)).unwrap_err(),
            JwtError::KeysExpired
        );
    }

    #[test]
    fn refreshes_for_unknown_key_ids_are_rate_limited() {
        let cache = cache();
        let t0 = Instant::now();
        assert!(cache.request_refresh(t0), "nothing fetched yet");
        assert!(
            cache.request_refresh(t0),
            "the asked-for fetch is still pending"
        );
        cache.begin_attempt(t0);
        cache.store(KeySet::from_jwks(JWKS).unwrap(), t0);
        assert!(!cache.request_refresh(t0 + Duration::from_secs(29)));
        assert!(cache.request_refresh(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn waiters_see_the_end_of_an_attempt() {
        let cache = cache();
        let attempts = cache.attempts();
        assert!(!attempts.has_changed().unwrap());
        cache.begin_attempt(Instant::now());
        cache.attempt_failed();
        assert!(attempts.has_changed().unwrap());
    }
}
