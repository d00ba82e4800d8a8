//! HTTP routes. `router()` is a plain function so tests and `startup` build the same app.

mod answer;
pub mod api_doc;
mod cors;
mod demo;
pub mod error;
mod health;
mod json_body;
mod metrics;
mod request_log;
mod secret_json;
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
use tower_http::catch_panic::CatchPanicLayer;

pub use request_log::{RequestId, RequestIds};

use crate::app::AppState;
use crate::error::ApiError;

/// The API. `with_metrics`: whether `/metrics` is served here too (not when `METRICS_PORT`
/// gives it a listener of its own).
pub fn router(state: AppState, with_metrics: bool) -> Router {
    // The API reference is static and renders the public `/openapi.json`: served in
    // production too. The upload demo needs the dev store: dev mode only.
    let pages = Router::new().route("/docs", get(demo::api_page));
    let pages = if state.dev_mode {
        pages.route("/", get(demo::page))
    } else {
        pages
    };
    // A request still unanswered after REQUEST_TIMEOUT (a body trickled in, say) gets a 408.
    // The signing slots (MAX_CONCURRENT_REQUESTS) are taken in the handlers, by authenticated
    // callers whose body has arrived: a caller that never finishes its body holds none.
    let timeout = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(timed_out))
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
        .layer(timeout);
    let operations = if with_metrics { operations() } else { probes() };
    finish(operations.merge(signing), state)
}

/// The probes and `/metrics`, for the listener of `METRICS_PORT`.
pub fn operations_router(state: AppState) -> Router {
    finish(
        operations()
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed),
        state,
    )
}

/// Probes and metrics: they need no slot, so an overloaded replica still says so.
fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(api_doc::openapi_json))
}

fn operations() -> Router<AppState> {
    probes().route("/metrics", get(metrics::metrics))
}

/// The layers every route gets: the panic guard, CORS, then the request log outside them.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let mut layered = routes
        // Inside the request log, so a panic is logged with its request id and status.
        .layer(CatchPanicLayer::custom(answer_panic));
    // Outside the routes and the overload limit (a preflight needs neither), inside the request
    // log (errors get their CORS headers before their body is written there).
    if let Some(cors) = &state.limits.cors {
        layered = layered.layer(cors::layer(cors));
    }
    layered
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            request_log::track,
        ))
        .with_state(state)
}

async fn timed_out(error: tower::BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
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
        let ids = RequestIds {
            own: RequestId::generate(),
            caller: None,
        };
        let response = error::finish(response, &ids);
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "internal_error");
        assert!(!body.to_string().contains("secret detail"), "{body}");
    }
}
