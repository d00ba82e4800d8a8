//! The one error type of the service: why a request was not answered with what it asked for.
//!
//! Pure description, no HTTP: each error says its stable `type` name, the message a client
//! gets, the invalid parts of the request, the reason the audit record gives, and (for our own
//! failures) the detail that only the operator's log sees. `http::error` maps it to a response,
//! in one place.

use crate::access::Denial;
use crate::auth::AuthError;
use crate::domain::{InvalidEntry, Violation};

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
    /// IAM did not sign in time; the reason goes to the log only.
    #[error("the remote signer is unavailable")]
    SignerUnavailable(String),
    #[error("too many requests in flight")]
    Overloaded,
    /// A rate limit: the client's `rate_limit`, or refused requests from this source.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("request timed out")]
    Timeout,
    /// A service the answer depends on (storage, the digital-signature service) failed; the
    /// detail goes to the log only.
    #[error("the {service} failed")]
    BadGateway {
        service: &'static str,
        detail: String,
    },
    /// `/validate_signed_entity` without `DIGITAL_SIGNATURE_ENDPOINT`.
    #[error("signed-entity validation is not configured")]
    ValidationDisabled,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::signing::SignError> for ApiError {
    fn from(error: crate::signing::SignError) -> Self {
        match error {
            crate::signing::SignError::Unavailable(reason) => ApiError::SignerUnavailable(reason),
            other @ crate::signing::SignError::KeyFailure => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::audit::AuditUnavailable> for ApiError {
    fn from(_: crate::audit::AuditUnavailable) -> Self {
        ApiError::AuditUnavailable
    }
}

impl ApiError {
    /// The stable `error.type` of the response.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::MalformedJson { .. } => "request_malformed",
            ApiError::UnsupportedMediaType => "content_type_invalid",
            ApiError::PayloadTooLarge { .. } => "request_too_large",
            ApiError::NotFound | ApiError::ValidationDisabled => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthenticated(_) => "access_denied",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::AuditUnavailable | ApiError::SignerUnavailable(_) => "service_unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Timeout => "request_timeout",
            ApiError::BadGateway { .. } => "bad_gateway",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// What went wrong, for the person behind the client.
    pub fn message(&self) -> String {
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
            ApiError::SignerUnavailable(_) => {
                "The signing service (IAM) did not answer in time, so no URL was issued; try again shortly.".into()
            }
            ApiError::Overloaded => {
                "Too many requests are in flight; try again shortly (see Retry-After).".into()
            }
            ApiError::RateLimited { retry_after_secs } => format!(
                "Too many requests (or too many refused ones) from this caller; try again in {retry_after_secs} s (see Retry-After)."
            ),
            ApiError::Timeout => {
                "The request was not completed in time (is the body being sent?).".into()
            }
            ApiError::BadGateway { service, .. } => format!(
                "The {service} did not answer as expected, so there is no verdict; try again shortly (the request id identifies it in our logs)."
            ),
            ApiError::ValidationDisabled => "Validating signed entities is not enabled on this service (DIGITAL_SIGNATURE_ENDPOINT is not set).".into(),
            ApiError::Internal(_) => "Something went wrong on our side; the request id identifies it in our logs.".into(),
        }
    }

    /// Every invalid part of the request, for 400, 413, 415 and 422.
    pub fn invalid(&self) -> Vec<InvalidEntry> {
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
                        .with_params(serde_json::json!(["application/json"])),
                ],
            }],
            ApiError::PayloadTooLarge { limit } => vec![InvalidEntry {
                entry: "$".into(),
                entry_type: "request",
                rules: vec![
                    Violation::new("size", format!("must be at most {limit} bytes"))
                        .with_params(serde_json::json!({"max": limit})),
                ],
            }],
            _ => Vec::new(),
        }
    }

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
            ApiError::Forbidden(denial) => denial.audit_reason(),
            ApiError::BadGateway { service, .. } => format!("the {service} failed"),
            other => other.kind().replace('_', " "),
        }
    }

    /// Our own failure, described for the operator's log only (never sent to the client).
    pub fn log_detail(&self) -> Option<String> {
        match self {
            ApiError::Internal(error) => Some(format!("{error:#}")),
            ApiError::SignerUnavailable(reason) => Some(reason.clone()),
            ApiError::BadGateway { service, detail } => Some(format!("{service}: {detail}")),
            _ => None,
        }
    }
}
