//! Deciding what a caller gets. The result of authentication and the parsed request come in;
//! an [`Outcome`] goes out that says what to sign and what the audit record says. Pure: the
//! time is passed in, and nothing is read or written here. Signing the grant is the next step
//! ([`Issuer`]), then the record is written, then the answer goes out.

mod backend;
mod form;
mod issuer;
mod locate;
mod reuse;
mod s3;
mod secret;
mod swift;
mod validate;

pub use backend::{BackendKind, Backends, BucketBackends, Store};
pub use form::{FormGrant, IssuedForm, decide_form};
pub use issuer::{
    BucketStyle, IssuedPolicy, IssuedUrl, Issuer, PolicyGrant, RsaSigner, UrlExtras, UrlGrant,
};
pub use locate::Located;
pub use reuse::{ReuseCache, Reused};
pub use s3::S3Store;
pub use secret::{IssuedSecret, SecretGrant, decide_batch, decide_secret};
pub use swift::SwiftStore;
pub use validate::{Validation, ValidationGrant, decide_validation};

use crate::audit::{AuditEvent, Decision};
use crate::auth::{AuthError, Authenticated};
use crate::domain::{Action, BucketName, InvalidEntry, SigningVersion, Violation};
use crate::error::ApiError;
use crate::request::InvalidSecret;

/// The service's own limits that every decision applies.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Buckets URLs may be issued for (`KNOWN_BUCKETS`).
    pub known_buckets: Vec<BucketName>,
    /// Lifetime of a URL whose request names none (`SECRETS_TTL`), capped by the caller's
    /// `max_ttl`.
    pub default_ttl: u32,
    /// The signing process of secrets that name none (`SIGNING_VERSION`): some options need
    /// V4.
    pub default_version: SigningVersion,
    /// Which buckets S3 and Swift serve (the others are GCS's): what their URLs can carry.
    pub backends: BucketBackends,
}

/// Where a request came from, for its audit record.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The service's own id of the request.
    pub request_id: String,
    /// The caller's `x-request-id`, if it sent a sane one: recorded apart, never as
    /// `request_id`, so that a caller cannot make its records pass for others'.
    pub caller_request_id: Option<String>,
    pub remote_addr: Option<String>,
}

impl Origin {
    fn record(&self) -> AuditEvent {
        self.record_for(self.request_id.clone())
    }

    /// The record of a part of the request (a batch item) with its own id.
    fn record_for(&self, request_id: String) -> AuditEvent {
        let mut record = AuditEvent::new(request_id, self.remote_addr.clone());
        record.caller_request_id.clone_from(&self.caller_request_id);
        record
    }
}

/// Who sent a request: a client of the clients file (and the end user, if any), or why none
/// is known.
pub type Caller = Result<Authenticated, AuthError>;

/// A request that could not be read: why, and the action it asks for when that much was valid
/// (so that refusals are audited and counted by action).
#[derive(Debug)]
pub struct Unreadable {
    pub error: ApiError,
    pub action: Option<Action>,
}

impl From<ApiError> for Unreadable {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            action: None,
        }
    }
}

impl From<InvalidSecret> for Unreadable {
    fn from(invalid: InvalidSecret) -> Self {
        Self {
            error: ApiError::Validation(invalid.entries),
            action: invalid.action,
        }
    }
}

/// What deciding (and then signing) one request came to, and the audit record it leaves
/// whatever the result.
#[derive(Debug)]
pub struct Outcome<T> {
    pub record: AuditEvent,
    pub result: Result<T, ApiError>,
}

impl<T> Outcome<T> {
    fn refused(mut record: AuditEvent, decision: Decision, error: ApiError) -> Self {
        record.decide(decision, error.audit_reason());
        Self {
            record,
            result: Err(error),
        }
    }

    fn granted(mut record: AuditEvent, reason: String, grant: T) -> Self {
        record.decide(Decision::Issued, reason);
        Self {
            record,
            result: Ok(grant),
        }
    }

    /// Signs a granted request with `sign`; a signing failure is audited as `failed`.
    pub fn sign<U>(
        self,
        sign: impl FnOnce(T, &mut AuditEvent) -> Result<U, ApiError>,
    ) -> Outcome<U> {
        let Outcome { mut record, result } = self;
        match result.and_then(|grant| sign(grant, &mut record)) {
            Ok(signed) => Outcome {
                record,
                result: Ok(signed),
            },
            Err(error) if record.decision == Decision::Issued => {
                Outcome::refused(record, Decision::Failed, error)
            }
            Err(error) => Outcome {
                record,
                result: Err(error),
            },
        }
    }
}

/// The caller that sent the request, with the record naming it; or the refusal.
fn identify<T>(
    caller: Caller,
    mut record: AuditEvent,
) -> Result<(Authenticated, AuditEvent), Box<Outcome<T>>> {
    match caller {
        Ok(caller) => {
            name_caller(&mut record, &caller);
            Ok((caller, record))
        }
        Err(error) => Err(Box::new(Outcome::refused(
            record,
            Decision::Unauthenticated,
            ApiError::Unauthenticated(error),
        ))),
    }
}

/// The record names the client and, if there is one, the end user.
fn name_caller(record: &mut AuditEvent, caller: &Authenticated) {
    record.client_id = Some(caller.client.id.clone());
    if let Some(user) = &caller.end_user {
        record.end_user = Some(user.subject.clone());
        record.end_user_issuer = Some(user.issuer.clone());
    }
}

/// The 422 for an `expires_in` (of the request at `path`) above the client's `max_ttl`.
fn lifetime_error(path: &str, max_ttl: u32) -> ApiError {
    let violation = Violation::new(
        "number",
        format!("must be at most {max_ttl} seconds for this client"),
    )
    .with_params(serde_json::json!({"less_than_or_equal_to": max_ttl}));
    ApiError::Validation(vec![InvalidEntry::json_property(
        format!("{path}.expires_in"),
        violation,
    )])
}
