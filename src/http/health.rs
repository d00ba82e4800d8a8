use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

/// Liveness
///
/// The process answers HTTP.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = super::api_doc::Health)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness
///
/// Ready while a signature can be made (the key is loaded, or IAM answers), the audit log can
/// be written (no URL is issued otherwise) and the service is not shutting down.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = super::api_doc::Readiness),
        (status = 503, description = "Not ready; `reasons` says why", body = super::api_doc::Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut reasons = Vec::new();
    if let Some(problem) = state.signer_problem() {
        reasons.push(problem);
    }
    if !state.audit.is_healthy() {
        reasons.push("the audit log cannot be written");
    }
    if state.is_shutting_down() {
        reasons.push("shutting down");
    }
    if reasons.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unready", "reasons": reasons})),
        )
    }
}
