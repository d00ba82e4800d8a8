//! HTTP routes. `router()` is a plain function so tests and `startup` build the same app.

mod answer;
pub mod api_doc;
mod demo;
pub mod error;
mod health;
mod json_body;
mod metrics;
mod request_log;
mod secrets;
mod upload_policies;
mod validate;

use std::any::Any;
use std::sync::Arc;

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

use crate::app::{App, AppState};
use crate::error::ApiError;

pub fn router(state: AppState) -> Router {
    // The API reference is static and renders the public `/openapi.json`: served in
    // production too. The upload demo needs the dev store: dev mode only.
    let pages = Router::new().route("/docs", get(demo::api_page));
    let pages = if state.dev_mode {
        pages.route("/", get(demo::page))
    } else {
        pages
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
            state.limits.max_concurrent_requests,
        ))
        .timeout(state.limits.request_timeout);
    let signing = pages
        .route("/media_content_storage_secrets", post(secrets::create))
        .route("/media_content_storage_secrets/batch", post(secrets::batch))
        .route("/upload_policies", post(upload_policies::create))
        .route("/validate_signed_entity", post(validate::validate))
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

fn overloaded_or_timed_out(state: &App, error: &tower::BoxError) -> Response {
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
        let response = error::finish(response, &RequestId::generate());
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "internal_error");
        assert!(!body.to_string().contains("secret detail"), "{body}");
    }
}
