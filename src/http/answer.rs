//! The last two steps of every signing request: write the decision's audit record, then
//! answer. Fail closed: when the record cannot be written, nothing is issued (503).

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request_log::DecisionLogFields;
use crate::app::App;
use crate::error::ApiError;
use crate::issuing::Outcome;

/// Writes `outcome`'s audit record, then answers with `respond` (or the refusal's error). The
/// request log gets the decision's fields either way.
pub async fn after_audit<T>(
    app: &Arc<App>,
    outcome: Outcome<T>,
    respond: impl FnOnce(T) -> Response,
) -> Response {
    let log_fields = DecisionLogFields::from(&outcome.record);
    let mut response = match app.record(outcome.record).await {
        Err(unavailable) => ApiError::from(unavailable).into_response(),
        Ok(()) => match outcome.result {
            Ok(value) => respond(value),
            Err(error) => error.into_response(),
        },
    };
    response.extensions_mut().insert(log_fields);
    response
}

/// Issued URLs are bearer credentials: no cache may keep a response that holds them.
pub fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
}
