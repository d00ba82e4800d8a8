use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// Liveness: the process answers HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the audit log can be written (no URL is issued otherwise) and the service is not
/// shutting down.
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let mut reasons = Vec::new();
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
