//! The audit trail: one record per decision, chained by SHA-256 so that an edited, deleted,
//! inserted or reordered record is detected (`storage-signer audit verify`).

pub mod chain;
mod sink;

pub use sink::{AuditSink, AuditUnavailable};

use serde::Serialize;

/// What the service decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A URL was issued.
    Issued,
    /// The caller is known but the policy does not allow the request.
    Denied,
    /// The request was malformed or failed validation.
    Invalid,
    /// The caller presented no valid credentials.
    Unauthenticated,
    /// The service failed to sign (an internal error); nothing was issued.
    Failed,
    /// The audit sink works again after failed writes; the reason says since when.
    AuditResumed,
    /// A periodic summary of the requests the rate limits turned away without a record each
    /// (`suppressed`: counts by source, client and reason).
    Suppressed,
    /// A signed document was checked (`/validate_signed_entity`); the reason gives the verdict.
    Validated,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Issued => "issued",
            Decision::Denied => "denied",
            Decision::Invalid => "invalid",
            Decision::Unauthenticated => "unauthenticated",
            Decision::Failed => "failed",
            Decision::AuditResumed => "audit_resumed",
            Decision::Suppressed => "suppressed",
            Decision::Validated => "validated",
        }
    }
}

/// The facts of one decision. Never the URL, the signature, an API key or a token.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub request_id: String,
    /// The caller's own `x-request-id`, kept apart from the service's `request_id`.
    pub caller_request_id: Option<String>,
    pub client_id: Option<String>,
    /// The end user's `sub` and `iss`, when an identity provider's token authenticated.
    pub end_user: Option<String>,
    pub end_user_issuer: Option<String>,
    pub remote_addr: Option<String>,
    pub action: Option<&'static str>,
    pub bucket: Option<String>,
    pub object: Option<String>,
    pub expires_at: Option<String>,
    pub decision: Decision,
    pub reason: String,
    /// Summary records only: `[{"source", "client", "reason", "count"}, ...]`.
    pub suppressed: Option<serde_json::Value>,
}

impl AuditEvent {
    /// An event for a request whose outcome is not known yet.
    pub fn new(request_id: impl Into<String>, remote_addr: Option<String>) -> Self {
        Self {
            request_id: request_id.into(),
            caller_request_id: None,
            client_id: None,
            end_user: None,
            end_user_issuer: None,
            remote_addr,
            action: None,
            bucket: None,
            object: None,
            expires_at: None,
            decision: Decision::Invalid,
            reason: String::new(),
            suppressed: None,
        }
    }

    /// Records the outcome.
    pub fn decide(&mut self, decision: Decision, reason: impl Into<String>) {
        self.decision = decision;
        self.reason = reason.into();
    }
}
