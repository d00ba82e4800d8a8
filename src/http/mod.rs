//! HTTP routes. `router()` is a plain function so tests and `startup` build the same app.

pub mod api_doc;
mod demo;
mod fields;
mod health;
mod json_body;
mod policy_request;
mod request_log;
mod secret_request;
mod secrets;
mod upload_policies;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use request_log::RequestId;

use crate::audit::AuditSink;
use crate::auth::Authenticator;
use crate::config::{AccessSettings, Settings};
use crate::domain::BucketName;
use crate::error::ApiError;
use crate::issuing::Issuer;

/// What handlers share.
#[derive(Debug)]
pub struct AppState {
    pub issuer: Issuer,
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
        Self {
            issuer: settings.issuer,
            known_buckets: settings.known_buckets,
            secrets_ttl: settings.secrets_ttl,
            request_timeout: settings.request_timeout,
            access: settings.access,
            authenticator: RwLock::new(Arc::new(settings.authenticator)),
            audit: settings.audit,
            shutting_down: AtomicBool::new(false),
            dev_mode: settings.dev_mode,
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
    pages
        .route("/media_content_storage_secrets", post(secrets::create))
        .route("/media_content_storage_secrets/batch", post(secrets::batch))
        .route("/upload_policies", post(upload_policies::create))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(api_doc::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are limited by the `JsonBody` extractor of each route.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(Arc::clone(&state), timeout))
        .layer(middleware::from_fn(request_log::track))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn timeout(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    tokio::time::timeout(state.request_timeout, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::Timeout.into_response())
}
