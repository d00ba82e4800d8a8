//! The audit trail: one record per decision, chained by SHA-256, with checkpoints of the chain
//! head signed by a key the trail's storage never sees (`storage-signer audit verify`).
//!
//! - `canonical`: the one JSON form a record may have.
//! - `chain`: sealing and opening records (pure).
//! - `checkpoint`: signed checkpoints, keys and public keys (pure apart from the IAM call).
//! - `sealer`: the writer's chain state: records and checkpoints in order (pure).
//! - `verify`: checking a trail (pure).
//! - `writer`: the [`Auditor`] handle and its writer task: bounded queue, deadline, group commit.
//! - `file`, `postgres` (and `tls`, its connections): where records go.
//! - `search`, `commands`: `storage-signer audit search|verify|public-key`.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod commands;
mod file;
pub mod postgres;
mod sealer;
pub mod search;
pub mod settings;
mod tls;
pub mod verify;
mod writer;

pub use settings::{AuditSettings, PreparedAudit};
pub use writer::{AuditSink, AuditUnavailable, Auditor};

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
///
/// The record written is this struct's JSON plus the chain fields (`log`, `seq`, `prev_hash`,
/// `time`, `hash`), in canonical form (see [`canonical`]). A new field is one line here:
/// give an optional one `#[serde(skip_serializing_if = "Option::is_none")]`, so records
/// without it keep their old form and older trails still verify.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub request_id: String,
    /// The caller's own `x-request-id`, kept apart from the service's `request_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_request_id: Option<String>,
    pub client_id: Option<String>,
    /// The end user's `sub` and `iss`, when an identity provider's token authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_issuer: Option<String>,
    pub remote_addr: Option<String>,
    pub action: Option<&'static str>,
    pub bucket: Option<String>,
    pub object: Option<String>,
    pub expires_at: Option<String>,
    pub decision: Decision,
    pub reason: String,
    /// Summary records only: `[{"source", "client", "reason", "count"}, ...]`.
    #[serde(skip_serializing_if = "Option::is_none")]
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
