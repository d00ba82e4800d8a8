//! The state the service shares between requests, and its atomic replacements when the key or
//! the clients file is reloaded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditSink, AuditUnavailable};
use crate::auth::Authenticator;
use crate::issuing::{
    Caller, FormGrant, IssuedForm, IssuedSecret, Issuer, Outcome, RsaSigner, Rules, SecretGrant,
};
use crate::key::ServiceAccountKey;
use crate::metrics::Metrics;
use crate::signing::Signer as _;

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
    /// Replaced whole when the key rotates; a request keeps the one it started with.
    issuer: RwLock<Arc<Issuer>>,
    /// Replaced whole when the clients file is reloaded.
    authenticator: RwLock<Arc<Authenticator>>,
    pub rules: Rules,
    pub audit: AuditSink,
    pub metrics: Metrics,
    pub limits: RequestLimits,
    shutting_down: AtomicBool,
    /// Dev mode: serve the demo page at `/`.
    pub dev_mode: bool,
}

impl App {
    pub fn new(
        issuer: Issuer,
        authenticator: Authenticator,
        rules: Rules,
        audit: AuditSink,
        limits: RequestLimits,
        dev_mode: bool,
    ) -> Self {
        let signer = &issuer.signer;
        let metrics = Metrics::new(
            signer.key_id().unwrap_or(signer.kind()),
            signer.google_access_id(),
        );
        Self {
            issuer: RwLock::new(Arc::new(issuer)),
            authenticator: RwLock::new(Arc::new(authenticator)),
            rules,
            audit,
            metrics,
            limits,
            shutting_down: AtomicBool::new(false),
            dev_mode,
        }
    }

    /// The keys and signing choices in force now.
    pub fn issuer(&self) -> Arc<Issuer> {
        Arc::clone(&self.issuer.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A rotated key takes over for new requests.
    pub fn use_key(&self, key: ServiceAccountKey) {
        let key_id = key.private_key_id().unwrap_or("none").to_owned();
        let client_email = key.client_email().to_owned();
        let mut issuer = self.issuer.write().unwrap_or_else(PoisonError::into_inner);
        *issuer = Arc::new(issuer.with_signer(RsaSigner::Key(Arc::new(key))));
        drop(issuer);
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
        match &self.issuer().signer {
            RsaSigner::Key(_) => None,
            RsaSigner::Iam(iam) => (!iam.is_healthy())
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
        let issuer = self.issuer();
        outcome.sign(|grant, record| {
            let started = Instant::now();
            let secret = grant.sign(&issuer, now, record)?;
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
        let issuer = self.issuer();
        outcome.sign(|grant, record| {
            let started = Instant::now();
            let form = grant.sign(&issuer, now, record)?;
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
