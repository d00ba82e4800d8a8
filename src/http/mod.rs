//! HTTP routes. `router()` is a plain function so tests and `startup` build the same app.

pub mod api_doc;
mod demo;
mod fields;
mod health;
mod json_body;
mod metrics;
mod policy_request;
mod request_log;
mod secret_request;
mod secrets;
mod upload_policies;

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;

pub use request_log::RequestId;

use crate::audit::{AuditEvent, AuditSink, AuditUnavailable};
use crate::auth::Authenticator;
use crate::config::{AccessSettings, Settings};
use crate::domain::BucketName;
use crate::error::ApiError;
use crate::issuing::{Issuer, RsaSigner};
use crate::key_watch::{KeyChange, KeyWatch};
use crate::metrics::Metrics;
use crate::signing::Signer as _;

/// What handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Replaced whole when the key rotates; a request keeps the one it started with.
    issuer: RwLock<Arc<Issuer>>,
    /// The key file, when there is one to watch.
    key_watch: Option<KeyWatch>,
    pub key_watch_interval: Option<Duration>,
    pub max_concurrent_requests: usize,
    pub shutdown_drain: Duration,
    pub metrics: Metrics,
    pub known_buckets: Vec<BucketName>,
    pub secrets_ttl: u32,
    /// A request that takes longer (a client trickling its body, say) gets a 408.
    pub request_timeout: Duration,
    pub access: AccessSettings,
    authenticator: RwLock<Arc<Authenticator>>,
    pub audit: AuditSink,
    shutting_down: AtomicBool,
    /// Dev mode: serve the demo page at `/`.
    pub dev_mode: bool,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        let signer = &settings.issuer.signer;
        let metrics = Metrics::new(
            signer.key_id().unwrap_or(signer.kind()),
            signer.google_access_id(),
        );
        Self {
            issuer: RwLock::new(Arc::new(settings.issuer)),
            key_watch: settings.key_file.map(KeyWatch::new),
            key_watch_interval: settings.key_watch_interval,
            max_concurrent_requests: settings.max_concurrent_requests,
            shutdown_drain: settings.shutdown_drain,
            metrics,
            known_buckets: settings.known_buckets,
            secrets_ttl: settings.secrets_ttl,
            request_timeout: settings.request_timeout,
            access: settings.access,
            authenticator: RwLock::new(Arc::new(settings.authenticator)),
            audit: settings.audit.start(),
            shutting_down: AtomicBool::new(false),
            dev_mode: settings.dev_mode,
        }
    }

    /// The keys and signing choices in force now.
    pub fn issuer(&self) -> Arc<Issuer> {
        Arc::clone(&self.issuer.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Checks the key file and, when it holds a new valid key, makes it the one that signs
    /// new requests. An invalid file is logged and the key in use stays.
    pub fn reload_key(&self) {
        let Some(watch) = &self.key_watch else {
            return;
        };
        match watch.check() {
            KeyChange::Unchanged => {}
            KeyChange::Rotated(key) => {
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
            KeyChange::Invalid(problem) => {
                tracing::error!(
                    path = %watch.path().display(),
                    problem,
                    "key file not reloaded: the key in use stays"
                );
            }
        }
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

    /// Writes audit records (one write for all) and counts the decisions (or the failed
    /// write) in the metrics.
    pub async fn record_audit(&self, events: Vec<AuditEvent>) -> Result<(), AuditUnavailable> {
        let counted: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.action.unwrap_or("-"),
                    e.client_id.clone(),
                    e.decision.as_str(),
                )
            })
            .collect();
        let written = self.audit.record_batch(events).await;
        for (action, client, decision) in counted {
            if written.is_err() {
                self.metrics.audit_write_failures.inc();
            }
            let outcome = if written.is_ok() {
                decision
            } else {
                "audit_failed"
            };
            self.metrics
                .count_decision(action, client.as_deref().unwrap_or("-"), outcome);
        }
        written
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

    /// Re-reads the clients file and JWKS. A broken file is logged and the rules in force
    /// stay.
    pub fn reload_access(&self) {
        match self.access.load() {
            Ok(authenticator) => {
                let clients = authenticator.client_count();
                *self
                    .authenticator
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(authenticator);
                tracing::info!(clients, "clients reloaded");
            }
            Err(error) => {
                tracing::error!(%error, "clients not reloaded: the previous rules stay in force");
            }
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let pages = if state.dev_mode {
        Router::new()
            .route("/", get(demo::page))
            .route("/docs", get(demo::api_page))
    } else {
        Router::new()
    };
    // Past the limit a request is answered 503 at once rather than queued: a queue only adds
    // latency, and the load balancer can try another replica.
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new({
            let state = Arc::clone(&state);
            move |error: tower::BoxError| {
                let state = Arc::clone(&state);
                async move { overloaded_or_timed_out(&state, &error) }
            }
        }))
        .load_shed()
        // Global: `Router::layer` gives each route its own copy of a layer, and a plain
        // concurrency limit would then count per route.
        .layer(GlobalConcurrencyLimitLayer::new(
            state.max_concurrent_requests,
        ))
        .timeout(state.request_timeout);
    let signing = pages
        .route("/media_content_storage_secrets", post(secrets::create))
        .route("/media_content_storage_secrets/batch", post(secrets::batch))
        .route("/upload_policies", post(upload_policies::create))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are limited by the `JsonBody` extractor of each route.
        .layer(DefaultBodyLimit::disable())
        .layer(overload);
    // Probes and metrics bypass the limit: an overloaded replica must still say so.
    let operations = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(api_doc::openapi_json));
    operations
        .merge(signing)
        // Inside the request log, so a panic is logged with its request id and status.
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            request_log::track,
        ))
        .with_state(state)
}

fn overloaded_or_timed_out(state: &AppState, error: &tower::BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        state.metrics.overload_rejections.inc();
        ApiError::Overloaded.into_response()
    } else if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::Timeout.into_response()
    } else {
        ApiError::Internal(anyhow::anyhow!("middleware failed: {error}")).into_response()
    }
}

/// A panicking handler gets a 500 with the usual error body, not a dropped connection. The
/// panic message goes to the log only.
#[expect(
    clippy::needless_pass_by_value,
    reason = "tower-http hands over the panic payload by value"
)]
fn answer_panic(panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Entry points for the fuzz targets in `fuzz/`: a request body through the same steps as the
/// handlers take (size limit, bytes to JSON, the member object, field by field validation),
/// without HTTP, authentication or signing. Not part of the service's API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    use super::fields::Fields;
    pub use super::policy_request::{KeyRequest, PolicyRequest};
    pub use super::secret_request::SecretRequest;
    use crate::domain::BucketName;
    use crate::error::{InvalidEntry, MAX_BODY_BYTES};

    /// Why a body was refused, as the handler would answer.
    #[derive(Debug)]
    pub enum Refused {
        /// Over `MAX_BODY_BYTES`: 413.
        TooLarge,
        /// Not a JSON document: 400.
        MalformedJson,
        /// Invalid fields, each listed: 422.
        Invalid(Vec<InvalidEntry>),
    }

    fn json(bytes: &[u8]) -> Result<Value, Refused> {
        if bytes.len() > MAX_BODY_BYTES {
            return Err(Refused::TooLarge);
        }
        serde_json::from_slice(bytes).map_err(|_| Refused::MalformedJson)
    }

    /// The body of `POST /media_content_storage_secrets`: `{"secret": {...}}`.
    pub fn parse_secret_body(
        bytes: &[u8],
        known_buckets: &[BucketName],
    ) -> Result<SecretRequest, Refused> {
        let body = json(bytes)?;
        let fields =
            Fields::member(&body, "secret").map_err(|entry| Refused::Invalid(vec![entry]))?;
        SecretRequest::from_fields(fields, known_buckets).map_err(Refused::Invalid)
    }

    /// The body of `POST /upload_policies`: `{"policy": {...}}`.
    pub fn parse_policy_body(
        bytes: &[u8],
        known_buckets: &[BucketName],
    ) -> Result<PolicyRequest, Refused> {
        let body = json(bytes)?;
        PolicyRequest::from_json(&body, known_buckets).map_err(Refused::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_gets_a_500_json_error_without_the_panic_message() {
        async fn explode() -> &'static str {
            panic!("secret detail")
        }
        let app = Router::new()
            .route("/", get(explode))
            .layer(CatchPanicLayer::custom(answer_panic));
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "internal_error");
        assert!(!body.to_string().contains("secret detail"), "{body}");
    }
}
