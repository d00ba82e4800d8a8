//! The state the service shares between requests, and its atomic replacements when the key or
//! the clients file is reloaded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditSink, AuditUnavailable};
use crate::auth::Authenticator;
use crate::issuing::{
    Backends, Caller, FormGrant, IssuedForm, IssuedSecret, Issuer, Outcome, RsaSigner, Rules,
    SecretGrant,
};
use crate::key::ServiceAccountKey;
use crate::metrics::Metrics;
use crate::signing::Signer as _;
use crate::validator::Validator;

/// Shared by every handler.
pub type AppState = Arc<App>;

/// How the HTTP layer holds requests to account.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Signing requests handled at once; past this, 503.
    pub max_concurrent_requests: usize,
    /// A request still unanswered after this (a client trickling its body, say) gets a 408.
    pub request_timeout: Duration,
}

#[derive(Debug)]
pub struct App {
    /// Every store's signer, replaced whole when the GCS key rotates; a request keeps the
    /// one it started with.
    backends: RwLock<Arc<Backends>>,
    /// Replaced whole when the clients file is reloaded.
    authenticator: RwLock<Arc<Authenticator>>,
    pub rules: Rules,
    pub audit: AuditSink,
    pub metrics: Metrics,
    pub limits: RequestLimits,
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
        dev_mode: bool,
    ) -> Self {
        let metrics = match backends.gcs().map(|issuer| &issuer.signer) {
            Some(signer) => Metrics::new(
                signer.key_id().unwrap_or(signer.kind()),
                signer.google_access_id(),
            ),
            // No GCS bucket, no service-account key.
            None => Metrics::new("none", "none"),
        };
        Self {
            backends: RwLock::new(Arc::new(backends)),
            authenticator: RwLock::new(Arc::new(authenticator)),
            rules,
            audit,
            metrics,
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

    /// A rotated key takes over for new requests.
    pub fn use_key(&self, key: ServiceAccountKey) {
        let key_id = key.private_key_id().unwrap_or("none").to_owned();
        let client_email = key.client_email().to_owned();
        let mut backends = self
            .backends
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *backends = Arc::new(backends.with_gcs_signer(RsaSigner::Key(Arc::new(key))));
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

    /// The client that `authorization` (the raw header value, if any) identifies.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Caller {
        self.authenticator().authenticate(authorization)
    }

    /// Signs a granted secret at `now`, timing the signature.
    pub fn sign_secret(
        &self,
        outcome: Outcome<SecretGrant>,
        now: OffsetDateTime,
    ) -> Outcome<IssuedSecret> {
        let backends = self.backends();
        outcome.sign(|grant, record| {
            let started = Instant::now();
            let secret = grant.sign(&backends, now, record)?;
            self.metrics
                .observe_signing(secret.url.kind, started.elapsed());
            Ok(secret)
        })
    }

    /// Signs a granted form policy at `now`, timing the signature.
    pub fn sign_form(
        &self,
        outcome: Outcome<FormGrant>,
        now: OffsetDateTime,
    ) -> Outcome<IssuedForm> {
        let backends = self.backends();
        outcome.sign(|grant, record| {
            let started = Instant::now();
            let form = grant.sign(&backends, now, record)?;
            self.metrics
                .observe_signing(form.policy.kind, started.elapsed());
            Ok(form)
        })
    }

    /// Writes an audit record and counts the decision (or the failed write) in the metrics.
    /// Slow synced writes run off the async executor.
    pub async fn record(self: &Arc<Self>, event: AuditEvent) -> Result<(), AuditUnavailable> {
        if self.audit.syncs() {
            let app = Arc::clone(self);
            tokio::task::spawn_blocking(move || app.record_now(&event))
                .await
                .unwrap_or(Err(AuditUnavailable))
        } else {
            self.record_now(&event)
        }
    }

    fn record_now(&self, event: &AuditEvent) -> Result<(), AuditUnavailable> {
        let written = self.audit.record(event);
        if written.is_err() {
            self.metrics.audit_write_failures.inc();
        }
        self.metrics.count_decision(
            event.action.unwrap_or("-"),
            event.client_id.as_deref().unwrap_or("-"),
            if written.is_ok() {
                event.decision.as_str()
            } else {
                "audit_failed"
            },
        );
        written
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}
