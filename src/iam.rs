//! Keyless signing: IAM Credentials `signBlob` signs for the service account, with an access
//! token from the GCE/GKE metadata server (Workload Identity). No private key is held here.
//!
//! Google's own clients do the same when they run without a key file. The URL differs from a
//! locally signed one only in who computes the RSA signature, and PKCS#1 v1.5 is
//! deterministic, so the URLs are byte-identical for the same key.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::signing::{SignError, Signer};

pub const DEFAULT_IAM_ENDPOINT: &str = "https://iamcredentials.googleapis.com";
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://metadata.google.internal";
/// All attempts of one signature, token included, end within this.
pub const DEFAULT_IAM_TIMEOUT: Duration = Duration::from_secs(5);
/// One HTTP exchange; a slow attempt leaves time for another.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A token is renewed this long before it expires (Google's auth libraries use 3m45s), or at
/// half its life when that is shorter.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Google's access tokens live an hour (twelve at most, with an extended lifetime); a token
/// that claims no life or more than this is refused, not trusted.
const MAX_TOKEN_LIFETIME_SECS: u64 = 12 * 3600;

/// Where and as whom to sign.
#[derive(Debug, Clone)]
pub struct IamSettings {
    /// The service account that signs, e.g. `signer@project.iam.gserviceaccount.com`.
    pub service_account: String,
    /// Scheme and authority of IAM Credentials, without a trailing slash.
    pub iam_endpoint: String,
    /// Scheme and authority of the metadata server, without a trailing slash.
    pub metadata_endpoint: String,
    /// The whole budget of one signature.
    pub timeout: Duration,
}

/// Why a signature could not be had. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("the metadata server answered {0} for the access token")]
    TokenStatus(StatusCode),
    #[error("IAM signBlob answered {0}")]
    SignStatus(StatusCode),
    #[error("{what} failed: {reason}")]
    Transport { what: &'static str, reason: String },
    #[error("{0} answered with an unexpected body")]
    Body(&'static str),
    #[error(
        "the metadata server's token claims a lifetime of {0} s (1 to {MAX_TOKEN_LIFETIME_SECS} expected); refused"
    )]
    TokenLifetime(u64),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("IAM signing needs a multi-threaded tokio runtime")]
    NoRuntime,
}

impl IamError {
    /// Worth another attempt: the network, throttling, Google's 5xx, an expired token.
    fn is_transient(&self) -> bool {
        match self {
            Self::TokenStatus(status) | Self::SignStatus(status) => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::UNAUTHORIZED
                    || status.is_server_error()
            }
            Self::Transport { .. } | Self::TimedOut(_) => true,
            Self::Body(_) | Self::TokenLifetime(_) | Self::NoRuntime => false,
        }
    }
}

struct AccessToken {
    value: Zeroizing<String>,
    refresh_at: Instant,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignBlobResponse {
    key_id: Option<String>,
    signed_blob: String,
}

/// Where the access token that calls IAM comes from.
enum TokenSource {
    /// The GCE/GKE metadata server (the service, Workload Identity).
    MetadataServer,
    /// A token handed over by the caller (`storage-signer sign --impersonate-service-account`
    /// with `GOOGLE_OAUTH_ACCESS_TOKEN` or `--access-token-file`): used as is, never renewed.
    Given(Zeroizing<String>),
}

/// How long a given token is taken to live: it is never renewed, and IAM's 401 says when it
/// has expired.
const GIVEN_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Signs through IAM Credentials. Cheap to share; one token is cached for all requests.
pub struct IamSigner {
    service_account: String,
    sign_blob_url: String,
    token_url: String,
    timeout: Duration,
    http: reqwest::Client,
    source: TokenSource,
    /// Held across a refresh, so concurrent requests wait for one token instead of each
    /// asking the metadata server.
    token: tokio::sync::Mutex<Option<AccessToken>>,
    healthy: AtomicBool,
    key_id: Mutex<Option<String>>,
}

impl fmt::Debug for IamSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSigner")
            .field("service_account", &self.service_account)
            .field("sign_blob_url", &self.sign_blob_url)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl IamSigner {
    /// Signs with tokens from the metadata server.
    pub fn new(settings: IamSettings) -> Result<Self, IamError> {
        Self::with_source(settings, TokenSource::MetadataServer)
    }

    /// Signs with `token` (an OAuth access token of a principal that may sign as the
    /// service account: `roles/iam.serviceAccountTokenCreator` on it). The metadata server
    /// is not asked.
    pub fn with_access_token(
        settings: IamSettings,
        token: Zeroizing<String>,
    ) -> Result<Self, IamError> {
        Self::with_source(settings, TokenSource::Given(token))
    }

    fn with_source(settings: IamSettings, source: TokenSource) -> Result<Self, IamError> {
        let http = reqwest::Client::builder()
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IamError::Transport {
                what: "building the HTTP client",
                reason: e.to_string(),
            })?;
        Ok(Self {
            sign_blob_url: format!(
                "{}/v1/projects/-/serviceAccounts/{}:signBlob",
                settings.iam_endpoint, settings.service_account
            ),
            token_url: format!(
                "{}/computeMetadata/v1/instance/service-accounts/default/token",
                settings.metadata_endpoint
            ),
            service_account: settings.service_account,
            timeout: settings.timeout,
            http,
            source,
            token: tokio::sync::Mutex::new(None),
            healthy: AtomicBool::new(false),
            key_id: Mutex::new(None),
        })
    }

    /// Whether the last attempt to reach IAM or the metadata server succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// The id of the Google-managed key that made the last signature.
    pub fn key_id(&self) -> Option<String> {
        self.key_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Signs a probe message, to learn whether signing works before a request needs it (the
    /// counterpart of a local key's start-up self-check). Updates [`is_healthy`](Self::is_healthy).
    pub async fn check(&self) -> Result<(), IamError> {
        let outcome = self.sign(b"storage-signer readiness check").await.map(drop);
        if outcome.is_err() {
            self.healthy.store(false, Ordering::Release);
        }
        outcome
    }

    /// RSA-SHA256 signature of `message` by the service account's Google-managed key.
    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IamError> {
        let deadline = Instant::now() + self.timeout;
        let outcome = self
            .with_retries(deadline, || self.sign_once(message))
            .await;
        match &outcome {
            Ok(_) => self.healthy.store(true, Ordering::Release),
            Err(error) if error.is_transient() => self.healthy.store(false, Ordering::Release),
            Err(_) => {}
        }
        outcome
    }

    async fn with_retries<T, F, Fut>(
        &self,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, IamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, IamError>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0;
        loop {
            tries += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = left.min(ATTEMPT_TIMEOUT);
            let error = match tokio::time::timeout(limit, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
                Err(_) => IamError::TimedOut(limit),
            };
            if let IamError::SignStatus(StatusCode::UNAUTHORIZED) = error {
                if let TokenSource::Given(_) = self.source {
                    // A given token cannot be renewed: asking again changes nothing.
                    return Err(error);
                }
                // Revoked or expired early: the next attempt gets a new token.
                *self.token.lock().await = None;
            }
            let pause = jittered(backoff);
            if !error.is_transient() || tries >= MAX_ATTEMPTS || Instant::now() + pause >= deadline
            {
                return Err(error);
            }
            tracing::warn!(%error, attempt = tries, "IAM signing: trying again");
            tokio::time::sleep(pause).await;
            backoff *= 2;
        }
    }

    async fn sign_once(&self, message: &[u8]) -> Result<Vec<u8>, IamError> {
        let token = self.access_token().await?;
        let response = self
            .http
            .post(&self.sign_blob_url)
            .bearer_auth(token.as_str())
            .json(&serde_json::json!({ "payload": BASE64.encode(message) }))
            .send()
            .await
            .map_err(|e| transport("IAM signBlob", &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(IamError::SignStatus(status));
        }
        let body: SignBlobResponse = response
            .json()
            .await
            .map_err(|_| IamError::Body("IAM signBlob"))?;
        let signature = BASE64
            .decode(body.signed_blob)
            .map_err(|_| IamError::Body("IAM signBlob"))?;
        if body.key_id.is_some() {
            *self.key_id.lock().unwrap_or_else(PoisonError::into_inner) = body.key_id;
        }
        Ok(signature)
    }

    /// The cached token, renewed ahead of its expiry. A failed renewal keeps using the old
    /// token while it is still valid.
    async fn access_token(&self) -> Result<Zeroizing<String>, IamError> {
        let mut cached = self.token.lock().await;
        let now = Instant::now();
        if let Some(token) = cached.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(token.value.clone());
        }
        match self.fetch_token().await {
            Ok(token) => {
                let value = token.value.clone();
                *cached = Some(token);
                Ok(value)
            }
            Err(error) => match cached.as_ref().filter(|t| now < t.expires_at) {
                Some(token) => {
                    tracing::warn!(%error, "access token not renewed; using it until it expires");
                    Ok(token.value.clone())
                }
                None => Err(error),
            },
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, IamError> {
        let requested = Instant::now();
        if let TokenSource::Given(token) = &self.source {
            return Ok(AccessToken {
                value: token.clone(),
                refresh_at: requested + GIVEN_TOKEN_LIFETIME,
                expires_at: requested + GIVEN_TOKEN_LIFETIME,
            });
        }
        let response = self
            .http
            .get(&self.token_url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| transport("the metadata server", &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(IamError::TokenStatus(status));
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|_| IamError::Body("the metadata server"))?;
        if !(1..=MAX_TOKEN_LIFETIME_SECS).contains(&body.expires_in) {
            let error = IamError::TokenLifetime(body.expires_in);
            tracing::error!(%error, "access token refused");
            return Err(error);
        }
        let lifetime = Duration::from_secs(body.expires_in);
        // Checked, though the lifetime is bounded: an `Instant` that overflows panics.
        let expires_at = requested.checked_add(lifetime).unwrap_or(requested);
        Ok(AccessToken {
            value: Zeroizing::new(body.access_token),
            refresh_at: expires_at
                .checked_sub(REFRESH_MARGIN.min(lifetime / 2))
                .unwrap_or(requested),
            expires_at,
        })
    }
}

impl Signer for IamSigner {
    fn google_access_id(&self) -> &str {
        &self.service_account
    }

    /// Blocks the calling thread until IAM answers (at most the configured timeout).
    ///
    /// The handlers and the issuer are synchronous; with a local key signing is pure CPU
    /// work. Here the thread is lent to the runtime with `block_in_place`, so other requests
    /// keep being served on the remaining workers.
    fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        // Logged by the request log, under the request's id.
        let unavailable = |error: IamError| {
            SignError::Unavailable(format!(
                "IAM signing failed for {}: {error}",
                self.service_account
            ))
        };
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| unavailable(IamError::NoRuntime))?;
        if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
            return Err(unavailable(IamError::NoRuntime));
        }
        tokio::task::block_in_place(|| handle.block_on(self.sign(message))).map_err(unavailable)
    }
}

fn transport(what: &'static str, error: &reqwest::Error) -> IamError {
    // Without the URL: it is ours, and the message stays short.
    let reason = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        error.to_string()
    };
    IamError::Transport { what, reason }
}

/// Between half and all of `backoff`, so replicas that failed together do not retry together.
fn jittered(backoff: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    backoff / 2 + backoff / 2 * u32::from(byte[0]) / 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retried_and_others_are_not() {
        for status in [429, 401, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(IamError::SignStatus(status).is_transient(), "{status}");
        }
        for status in [400, 403, 404] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!IamError::SignStatus(status).is_transient(), "{status}");
        }
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let pause = jittered(Duration::from_millis(100));
            assert!(pause >= Duration::from_millis(50) && pause <= Duration::from_millis(100));
        }
    }
}
