use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::app::AppState;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metrics
///
/// Prometheus metrics in the OpenMetrics text format: requests, decisions, latency of whole
/// requests and of signing alone, audit write failures, overload refusals, and the key in
/// use with its age.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, OPENMETRICS)],
        state.metrics.encode(),
    )
}
