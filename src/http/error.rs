//! The one place where errors become HTTP responses.
//!
//! Clients get a stable JSON shape in the spirit of ael.api's (eview):
//! `{"meta": {"code", "request_id"}, "error": {"type", "message", "invalid"?}}`, with a precise
//! message for their own mistakes and a generic one for ours. An error becomes a response with
//! its status and headers at once; its body is written, and our own failures are logged, by the
//! request log (`finish`), which knows the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_log::{RequestId, RequestIds};
use crate::domain::InvalidEntry;
use crate::error::ApiError;

/// Every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    meta: ErrorMeta,
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorMeta {
    code: u16,
    request_id: RequestId,
}

/// The `error` object of a response, also used for refused items of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `request_malformed`, `access_denied`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `request_timeout`, `request_too_large`, `content_type_invalid`, `validation_failed`,
    /// `internal_error`, `service_unavailable`, `overloaded`, `rate_limited` or `bad_gateway`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// What went wrong, for a person.
    message: String,
    /// Every invalid part of the request, for 400, 413, 415 and 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    invalid: Vec<InvalidEntry>,
}

/// What the request log does with the errors behind a response: the error body to write, and
/// our own failures to log under the request id (a batch can carry several).
#[derive(Debug, Clone, Default)]
pub struct ErrorNotes {
    body: Option<ErrorDetail>,
    logged: Vec<String>,
}

impl ErrorNotes {
    /// Notes `error` of batch item `index`: its detail is logged if it is our failure.
    pub fn item(&mut self, index: usize, error: &ApiError) {
        if let Some(detail) = error.log_detail() {
            self.logged.push(format!("item {index}: {detail}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_none() && self.logged.is_empty()
    }
}

pub fn status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::MalformedJson { .. } => StatusCode::BAD_REQUEST,
        ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::NotFound | ApiError::ValidationDisabled => StatusCode::NOT_FOUND,
        ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::AuditUnavailable | ApiError::SignerUnavailable(_) | ApiError::Overloaded => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `error` object for `error`.
pub fn detail(error: &ApiError) -> ErrorDetail {
    ErrorDetail {
        kind: error.kind(),
        message: error.message(),
        invalid: error.invalid(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = status(&self).into_response();
        let headers = response.headers_mut();
        match &self {
            // RFC 6750: tell the client which scheme, and whether its credentials were bad.
            ApiError::Unauthenticated(error) => {
                let challenge = if error.presented_credentials() {
                    "Bearer realm=\"storage-signer\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"storage-signer\""
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            ApiError::AuditUnavailable | ApiError::SignerUnavailable(_) | ApiError::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        let notes = ErrorNotes {
            body: Some(detail(&self)),
            logged: self.log_detail().into_iter().collect(),
        };
        response.extensions_mut().insert(notes);
        response
    }
}

/// Writes the body of an error response (with the id the caller sees) and logs our own
/// failures under the service's id of the request (and the caller's, apart).
pub fn finish(mut response: Response, ids: &RequestIds) -> Response {
    let Some(notes) = response.extensions_mut().remove::<ErrorNotes>() else {
        return response;
    };
    let request_id = ids.answer();
    for detail in &notes.logged {
        tracing::error!(
            request_id = %ids.own,
            caller_request_id = ids.caller.as_ref().map(RequestId::as_str),
            error = detail.as_str(),
            "internal error"
        );
    }
    let Some(detail) = notes.body else {
        return response;
    };
    let status = response.status();
    let body = ErrorBody {
        meta: ErrorMeta {
            code: status.as_u16(),
            request_id: request_id.clone(),
        },
        error: detail,
    };
    let (mut parts, _) = response.into_parts();
    let rendered = Json(body).into_response();
    let (rendered_parts, rendered_body) = rendered.into_parts();
    if let Some(content_type) = rendered_parts.headers.get(header::CONTENT_TYPE) {
        parts
            .headers
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, rendered_body)
}
