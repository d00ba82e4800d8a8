//! The state the service shares between requests, and its atomic replacements when the key or
//! the clients file is reloaded.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditSink, AuditUnavailable, Decision};
use crate::auth::jwt::JwtError;
use crate::auth::{AuthError, Authenticator, Now};
use crate::config::CorsSettings;
use crate::error::ApiError;
use crate::issuing::{
    Backends, Caller, FormGrant, IssuedForm, IssuedSecret, Issuer, Outcome, ReuseCache, Reused,
    RsaSigner, Rules, SecretGrant,
};
use crate::key::ServiceAccountKey;
use crate::limiter::{Limited, Limiter, Rate, RateKey};
use crate::metrics::Metrics;
use crate::signing::Signer as _;
use crate::signing_threads::SigningThreads;
use crate::validator::Validator;

/// Shared by every handler.
pub type AppState = Arc<App>;

/// How long a request waits for an identity provider's keys to be fetched (its token named a
/// key id not seen yet, or none were fetched so far).
const KEY_REFRESH_WAIT: Duration = Duration::from_secs(5);

/// How the HTTP layer holds requests to account.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Signing requests handled at once; past this, 503.
    pub max_concurrent_requests: usize,
    /// A request still unanswered after this (a client trickling its body, say) gets a 408.
    pub request_timeout: Duration,
    /// Which pages on other origins may call the API; `None`: no CORS headers.
    pub cors: Option<CorsSettings>,
    /// Refused requests per source address (and per client) that get their own audit record.
    pub refusals: Rate,
}

#[derive(Debug)]
pub struct App {
    /// Every store's signer, replaced whole when the GCS key rotates; a request keeps the
    /// one it started with.
    backends: RwLock<Arc<Backends>>,
    /// Counts key rotations, so that URLs kept for reuse are never those of an older key.
    key_generation: AtomicU64,
    /// Read URLs shared by identical grants of one window (rules with `reuse_window`).
    reuse: ReuseCache,
    /// Replaced whole when the clients file is reloaded.
    authenticator: RwLock<Arc<Authenticator>>,
    pub rules: Rules,
    pub audit: AuditSink,
    pub metrics: Arc<Metrics>,
    pub limits: RequestLimits,
    /// The clients' rate limits and the limit on refusals per source and client.
    pub limiter: Limiter,
    /// Signing slots: `MAX_CONCURRENT_REQUESTS`, taken by authenticated work only.
    slots: tokio::sync::Semaphore,
    /// Where RSA signatures with the key in memory are made, off the I/O threads; `None`
    /// (`SIGNING_THREADS=0`): the I/O threads make them.
    signing_threads: Option<SigningThreads>,
    shutting_down: AtomicBool,
    /// Dev mode: serve the demo page at `/`.
    pub dev_mode: bool,
    /// `/validate_signed_entity`'s clients, when `DIGITAL_SIGNATURE_ENDPOINT` is set.
    pub validator: Option<Validator>,
}

impl App {
    pub fn new(
        backends: Backends,
        authenticator: Authenticator,
        rules: Rules,
        audit: AuditSink,
        limits: RequestLimits,
        signing_threads: Option<SigningThreads>,
        dev_mode: bool,
    ) -> Self {
        let metrics = Arc::new(match backends.gcs().map(|issuer| &issuer.signer) {
            Some(signer) => Metrics::new(
                signer.key_id().unwrap_or(signer.kind()),
                signer.google_access_id(),
            ),
            // No GCS bucket, no service-account key.
            None => Metrics::new("none", "none"),
        });
        Self {
            backends: RwLock::new(Arc::new(backends)),
            key_generation: AtomicU64::new(0),
            reuse: ReuseCache::default(),
            authenticator: RwLock::new(Arc::new(authenticator)),
            rules,
            audit,
            metrics,
            slots: tokio::sync::Semaphore::new(limits.max_concurrent_requests),
            signing_threads,
            limiter: Limiter::new(limits.refusals),
            limits,
            shutting_down: AtomicBool::new(false),
            dev_mode,
            validator: None,
        }
    }

    /// Every store's keys and signing choices in force now.
    pub fn backends(&self) -> Arc<Backends> {
        Arc::clone(&self.backends.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The GCS keys and signing choices in force now (none when no bucket is GCS's).
    pub fn issuer(&self) -> Option<Arc<Issuer>> {
        self.backends().gcs().cloned()
    }

    /// The stores in force and the generation of the GCS key (which a rotation changes),
    /// read together.
    fn backends_and_generation(&self) -> (Arc<Backends>, u64) {
        let backends = self.backends.read().unwrap_or_else(PoisonError::into_inner);
        (
            Arc::clone(&backends),
            self.key_generation.load(Ordering::Acquire),
        )
    }

    /// A rotated key takes over for new requests.
    pub fn use_key(&self, key: ServiceAccountKey) {
        let key_id = key.private_key_id().unwrap_or("none").to_owned();
        let client_email = key.client_email().to_owned();
        let mut backends = self
            .backends
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *backends = Arc::new(backends.with_gcs_signer(RsaSigner::Key(Arc::new(key))));
        // URLs kept for reuse were signed by the old key: the next identical grant is signed
        // anew.
        self.key_generation.fetch_add(1, Ordering::AcqRel);
        drop(backends);
        self.metrics.key_loaded(&key_id, &client_email);
        tracing::info!(
            private_key_id = key_id,
            client_email,
            "new service-account key in use"
        );
    }

    /// Whether a signature can be made now: always with a key in memory; with IAM, when the
    /// metadata server and IAM last answered.
    pub fn signer_problem(&self) -> Option<&'static str> {
        match self.issuer().as_deref().map(|issuer| &issuer.signer) {
            None | Some(RsaSigner::Key(_)) => None,
            Some(RsaSigner::Iam(iam)) => (!iam.is_healthy())
                .then_some("IAM signing is unavailable (metadata server or IAM Credentials)"),
        }
    }

    /// The callers and rules in force now.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        Arc::clone(
            &self
                .authenticator
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Reloaded callers and rules take over for new requests.
    pub fn use_authenticator(&self, authenticator: Authenticator) {
        let clients = authenticator.client_count();
        *self
            .authenticator
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(authenticator);
        tracing::info!(clients, "clients reloaded");
    }

    /// The caller that `authorization` (the raw header value, if any) identifies. A token
    /// whose key id its issuer's fetched keys lack waits for a refresh (rate limited), which
    /// brings the keys of a provider that rotated them.
    pub async fn authenticate(&self, authorization: Option<&[u8]>) -> Caller {
        let authenticator = self.authenticator();
        let result = authenticator.authenticate(authorization, Now::current());
        let missing_key = matches!(
            result,
            Err(AuthError::InvalidToken(
                JwtError::UnknownKey | JwtError::KeysUnavailable
            ))
        );
        if !missing_key {
            return result;
        }
        let Some(cache) = authenticator.key_cache_for(authorization) else {
            return result;
        };
        let mut attempts = cache.attempts();
        if !cache.request_refresh(Instant::now()) {
            return result;
        }
        if tokio::time::timeout(KEY_REFRESH_WAIT, attempts.changed())
            .await
            .is_err()
        {
            return result;
        }
        authenticator.authenticate(authorization, Now::current())
    }

    /// Signs a granted secret at `now`.
    pub async fn sign_secret(
        self: &Arc<Self>,
        outcome: Outcome<SecretGrant>,
        now: OffsetDateTime,
    ) -> Outcome<IssuedSecret> {
        let mut signed = self.sign_secrets(vec![outcome], now).await;
        signed.pop().expect("one outcome per secret")
    }

    /// Signs the granted secrets of a batch at `now`, in order.
    pub async fn sign_secrets(
        self: &Arc<Self>,
        outcomes: Vec<Outcome<SecretGrant>>,
        now: OffsetDateTime,
    ) -> Vec<Outcome<IssuedSecret>> {
        let (backends, key_generation) = self.backends_and_generation();
        let local = outcomes.iter().any(
            |outcome| matches!(&outcome.result, Ok(grant) if grant.needs_local_key(&backends)),
        );
        self.sign_all(outcomes, local, IssuedSecret::note, move |app, grant| {
            let started = Instant::now();
            let secret = grant.sign(&backends, now, (&app.reuse, key_generation))?;
            match secret.reused {
                Reused::Signed => app
                    .metrics
                    .observe_signing(secret.url.kind, started.elapsed()),
                Reused::Reused => {
                    app.metrics.reused_urls.inc();
                }
            }
            Ok(secret)
        })
        .await
    }

    /// Signs a granted form policy at `now`.
    pub async fn sign_form(
        self: &Arc<Self>,
        outcome: Outcome<FormGrant>,
        now: OffsetDateTime,
    ) -> Outcome<IssuedForm> {
        let backends = self.backends();
        let local = matches!(&outcome.result, Ok(grant) if grant.needs_local_key(&backends));
        let mut signed = self
            .sign_all(vec![outcome], local, IssuedForm::note, move |app, grant| {
                let started = Instant::now();
                let form = grant.sign(&backends, now)?;
                app.metrics
                    .observe_signing(form.policy.kind, started.elapsed());
                Ok(form)
            })
            .await;
        signed.pop().expect("one outcome per form")
    }

    /// Signs every granted outcome with `sign`, in order: on a signing thread when `local`
    /// (an RSA signature with the key in memory: see `signing_threads`) and there are signing
    /// threads (`SIGNING_THREADS` is not 0), else here (HMAC, a
    /// reused URL; IAM, which waits on the network with this runtime's HTTP client). Then
    /// `note` completes each record. A signature that could not be made is audited as
    /// `failed`.
    async fn sign_all<G, S>(
        self: &Arc<Self>,
        outcomes: Vec<Outcome<G>>,
        local: bool,
        note: fn(&S, &mut AuditEvent),
        sign: impl Fn(&App, G) -> Result<S, ApiError> + Send + 'static,
    ) -> Vec<Outcome<S>>
    where
        G: Send + 'static,
        S: Send + 'static,
    {
        let mut grants = Vec::with_capacity(outcomes.len());
        let decided: Vec<(AuditEvent, Option<ApiError>)> = outcomes
            .into_iter()
            .map(|Outcome { record, result }| match result {
                Ok(grant) => {
                    grants.push(grant);
                    (record, None)
                }
                Err(refusal) => (record, Some(refusal)),
            })
            .collect();
        let granted = grants.len();
        let threads = self
            .signing_threads
            .as_ref()
            .filter(|_| local && granted > 0);
        let signed: Vec<Result<S, ApiError>> = if let Some(threads) = threads {
            let app = Arc::clone(self);
            let job = move || grants.into_iter().map(|grant| sign(&app, grant)).collect();
            match threads.run(job).await {
                Ok(signed) => signed,
                Err(unfinished) => (0..granted)
                    .map(|_| Err(ApiError::Internal(unfinished.into())))
                    .collect(),
            }
        } else {
            grants.into_iter().map(|grant| sign(self, grant)).collect()
        };
        let mut signed = signed.into_iter();
        decided
            .into_iter()
            .map(|(record, refusal)| {
                let decided = Outcome {
                    record,
                    result: refusal.map_or(Ok(()), Err),
                };
                decided.sign(|(), record| {
                    let signed = signed.next().unwrap_or_else(|| {
                        Err(ApiError::Internal(anyhow::anyhow!(
                            "a signature went missing"
                        )))
                    })?;
                    note(&signed, record);
                    Ok(signed)
                })
            })
            .collect()
    }

    /// Writes an audit record (the writer task does the I/O; this waits at most
    /// `AUDIT_TIMEOUT`) and counts the decision (or the failed write) in the metrics.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        self.record_batch(vec![event]).await
    }

    /// Writes the records in one write (all durable, or none) and counts each decision.
    pub async fn record_batch(&self, events: Vec<AuditEvent>) -> Result<(), AuditUnavailable> {
        let counted: Vec<_> = events
            .iter()
            .map(|event| {
                (
                    event.action.unwrap_or("-"),
                    event.client_id.clone(),
                    event.decision.as_str(),
                )
            })
            .collect();
        let written = self.audit.record_batch(events).await;
        for (action, client, decision) in counted {
            let outcome = if written.is_ok() {
                decision
            } else {
                self.metrics.audit_write_failures.inc();
                "audit_failed"
            };
            self.metrics
                .count_decision(action, client.as_deref().unwrap_or("-"), outcome);
        }
        written
    }

    /// A signing slot for an authenticated caller's work, or 503 at once when all
    /// `MAX_CONCURRENT_REQUESTS` are taken: a queue would only add latency.
    pub fn signing_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.slots.try_acquire().map_err(|_| {
            self.metrics.overload_rejections.inc();
            ApiError::Overloaded
        })
    }

    /// Takes `urls` from the client's `rate_limit` (if it has one), for `subject` (the end
    /// user) when known. Past the limit: 429, counted in the summary.
    pub fn check_rate(
        &self,
        client: &crate::access::Client,
        subject: Option<String>,
        urls: usize,
        source: IpAddr,
    ) -> Result<(), ApiError> {
        let Some(rate) = client.rate_limit else {
            return Ok(());
        };
        let key = RateKey {
            client: client.id.clone(),
            subject,
        };
        let urls = u32::try_from(urls).unwrap_or(u32::MAX);
        self.limiter
            .check_client(&key, rate, urls)
            .map_err(|limited| {
                self.turned_away(limited, source, Some(&client.id), "client", "rate_limited")
            })
    }

    /// Whether the refusal in `record` gets a record of its own; past the refusal limit of its
    /// source or client, a 429 instead, counted in the summary. Issued and failed requests
    /// always get their record.
    pub fn admit_refusal(&self, record: &AuditEvent, source: IpAddr) -> Result<(), ApiError> {
        if !matches!(
            record.decision,
            Decision::Denied | Decision::Invalid | Decision::Unauthenticated
        ) {
            return Ok(());
        }
        let client = record.client_id.as_deref();
        self.limiter
            .admit_refusal(source, client)
            .map_err(|limited| {
                self.turned_away(
                    limited,
                    source,
                    client,
                    "refusals",
                    record.decision.as_str(),
                )
            })
    }

    fn turned_away(
        &self,
        limited: Limited,
        source: IpAddr,
        client: Option<&str>,
        limit: &'static str,
        reason: &'static str,
    ) -> ApiError {
        self.limiter.count_turned_away(source, client, reason);
        self.metrics.count_rate_limited(limit);
        ApiError::RateLimited {
            retry_after_secs: limited.retry_after.as_secs().max(1),
        }
    }

    /// Writes the summary of what the limits turned away since the last one, if anything was.
    pub async fn record_summary(&self, interval: Duration) {
        let rows = self.limiter.take_summary();
        if rows.is_empty() {
            return;
        }
        let total: u64 = rows.iter().map(|(_, count)| count).sum();
        let mut event = AuditEvent::new("-", None);
        event.decide(
            Decision::Suppressed,
            format!(
                "rate limits turned away {total} request(s) in the last {} s, each answered 429 without a record of its own",
                interval.as_secs()
            ),
        );
        event.suppressed = Some(serde_json::Value::Array(
            rows.iter()
                .map(|(row, count)| {
                    serde_json::json!({"source": row.source, "client": row.client, "reason": row.reason, "count": count})
                })
                .collect(),
        ));
        if self.record(event).await.is_err() {
            tracing::error!(
                turned_away = total,
                "the audit summary of rate-limited requests could not be written"
            );
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}
