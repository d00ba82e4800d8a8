//! The one place where errors become HTTP responses.
//!
//! Clients get a stable JSON shape in the spirit of ael.api's (eview):
//! `{"meta": {"code", "request_id"}, "error": {"type", "message", "invalid"?}}`, with a precise
//! message for their own mistakes and a generic one for ours.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::domain::Violation;
use crate::http::RequestId;
use crate::policy::Denial;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON body")]
    MalformedJson { detail: String },
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("validation failed")]
    Validation(Vec<InvalidEntry>),
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthError),
    #[error("denied: {0}")]
    Forbidden(Denial),
    #[error("the audit log cannot be written")]
    AuditUnavailable,
    #[error("the remote signer is unavailable")]
    SignerUnavailable,
    #[error("too many requests in flight")]
    Overloaded,
    #[error("request timed out")]
    Timeout,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::signing::SignError> for ApiError {
    fn from(error: crate::signing::SignError) -> Self {
        match error {
            crate::signing::SignError::Unavailable => ApiError::SignerUnavailable,
            other @ crate::signing::SignError::KeyFailure => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::audit::AuditUnavailable> for ApiError {
    fn from(_: crate::audit::AuditUnavailable) -> Self {
        ApiError::AuditUnavailable
    }
}

/// One invalid part of a request and every rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvalidEntry {
    pub entry: String,
    pub entry_type: &'static str,
    pub rules: Vec<Violation>,
}

impl InvalidEntry {
    /// A field of the JSON body, named by its `JSONPath` (`$.secret.action`).
    pub fn json_property(entry: impl Into<String>, violation: Violation) -> Self {
        Self {
            entry: entry.into(),
            entry_type: "json_data_property",
            rules: vec![violation],
        }
    }
}

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest accepted batch body: 100 secrets with long names.
pub const MAX_BATCH_BODY_BYTES: usize = 512 * 1024;

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
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `request_malformed`, `access_denied`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `request_timeout`, `request_too_large`, `content_type_invalid`, `validation_failed`,
    /// `internal_error`, `service_unavailable` or `overloaded`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// What went wrong, for a person.
    message: String,
    /// Every invalid part of the request, for 400, 413, 415 and 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    invalid: Vec<InvalidEntry>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::AuditUnavailable | ApiError::SignerUnavailable | ApiError::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::MalformedJson { .. } => "request_malformed",
            ApiError::UnsupportedMediaType => "content_type_invalid",
            ApiError::PayloadTooLarge { .. } => "request_too_large",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthenticated(_) => "access_denied",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::AuditUnavailable | ApiError::SignerUnavailable => "service_unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::Timeout => "request_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::MalformedJson { detail } => {
                format!("Malformed request: the body is not valid JSON ({detail}).")
            }
            ApiError::UnsupportedMediaType => {
                "Invalid Content-Type header. Send the body as JSON with 'Content-Type: application/json'.".into()
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("Request body is too large (the limit is {limit} bytes).")
            }
            ApiError::NotFound => "No such endpoint.".into(),
            ApiError::MethodNotAllowed => "This endpoint does not accept this HTTP method.".into(),
            ApiError::Validation(entries) => format!(
                "Validation failed: {} invalid field(s); see `invalid` for each field and rule.",
                entries.len()
            ),
            ApiError::Unauthenticated(error) => format!("Authentication failed: {error}."),
            ApiError::Forbidden(denial) => format!("Not allowed: {denial}."),
            ApiError::AuditUnavailable => {
                "The audit log cannot be written, so no URL can be issued; try again shortly.".into()
            }
            ApiError::SignerUnavailable => {
                "The signing service (IAM) did not answer in time, so no URL was issued; try again shortly.".into()
            }
            ApiError::Overloaded => {
                "Too many requests are in flight; try again shortly (see Retry-After).".into()
            }
            ApiError::Timeout => {
                "The request was not completed in time (is the body being sent?).".into()
            }
            ApiError::Internal(_) => "Something went wrong on our side; the request id identifies it in our logs.".into(),
        }
    }

    fn invalid(&self) -> Vec<InvalidEntry> {
        match self {
            ApiError::Validation(entries) => entries.clone(),
            ApiError::MalformedJson { detail } => vec![InvalidEntry {
                entry: "$".into(),
                entry_type: "request",
                rules: vec![Violation::new("json", detail.clone())],
            }],
            ApiError::UnsupportedMediaType => vec![InvalidEntry {
                entry: "Content-Type".into(),
                entry_type: "header",
                rules: vec![
                    Violation::new("inclusion", "must be application/json")
                        .with_params(json!(["application/json"])),
                ],
            }],
            ApiError::PayloadTooLarge { limit } => vec![InvalidEntry {
                entry: "$".into(),
                entry_type: "request",
                rules: vec![
                    Violation::new("size", format!("must be at most {limit} bytes"))
                        .with_params(json!({"max": limit})),
                ],
            }],
            _ => Vec::new(),
        }
    }
}

impl ApiError {
    /// The `reason` of the audit record for a request refused with this error.
    pub fn audit_reason(&self) -> String {
        match self {
            ApiError::Validation(entries) => {
                let fields: Vec<String> = entries
                    .iter()
                    .map(|entry| {
                        let rules: Vec<&str> = entry.rules.iter().map(|r| r.rule).collect();
                        format!("{} ({})", entry.entry, rules.join(", "))
                    })
                    .collect();
                format!("invalid: {}", fields.join(", "))
            }
            ApiError::Unauthenticated(error) => error.to_string(),
            ApiError::Forbidden(denial) => denial.to_string(),
            other => other.kind().replace('_', " "),
        }
    }
}

impl ApiError {
    /// The `error` object for this error.
    pub fn detail(&self) -> ErrorDetail {
        if let ApiError::Internal(error) = self {
            // Internal detail goes to the log, tied to the request id; never to the client.
            let request_id = RequestId::current();
            tracing::error!(%request_id, error = format!("{error:#}"), "internal error");
        }
        ErrorDetail {
            kind: self.kind(),
            message: self.message(),
            invalid: self.invalid(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            meta: ErrorMeta {
                code: status.as_u16(),
                request_id: RequestId::current(),
            },
            error: self.detail(),
        };
        let mut response = (status, Json(body)).into_response();
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
            ApiError::AuditUnavailable | ApiError::SignerUnavailable | ApiError::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
