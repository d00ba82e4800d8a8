//! HTTP routes. `router()` is a plain function so tests and `startup` build the same app.

mod health;
mod json_body;
mod request_log;
mod secret_request;
mod secrets;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use request_log::RequestId;

use crate::domain::BucketName;
use crate::error::{ApiError, MAX_BODY_BYTES};
use crate::key::ServiceAccountKey;

/// What handlers share: read-only after start-up.
#[derive(Debug)]
pub struct AppState {
    pub key: ServiceAccountKey,
    pub known_buckets: Vec<BucketName>,
    pub secrets_ttl: u32,
    pub storage_base_url: String,
    /// A request that takes longer (a client trickling its body, say) gets a 408.
    pub request_timeout: Duration,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/media_content_storage_secrets", post(secrets::create))
        .route("/healthz", get(health::healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
