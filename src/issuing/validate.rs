//! Validating a signed document (`POST /validate_signed_entity`): the caller must be known,
//! the URL must name an object of a known bucket, and one of the caller's rules must allow
//! `GET` on it, as for a read URL. Checking the document itself is the validator's (I/O).

use serde_json::Value;

use super::backend::Backends;
use super::locate::Located;
use super::{Caller, Origin, Outcome, identify};
use crate::access::Access;
use crate::audit::Decision;
use crate::domain::{Action, BucketName, InvalidEntry};
use crate::error::ApiError;
use crate::request::{FieldRule, ValidateRequest};

/// The audit record's `action` of a validation.
pub const VALIDATE_ACTION: &str = "VALIDATE";

/// A validation request whose URL names a known bucket's object.
#[derive(Debug, Clone)]
pub struct Validation {
    pub located: Located,
    pub rules: Vec<FieldRule>,
}

/// A validation the caller may make: the object it may read.
pub type ValidationGrant = Validation;

impl Validation {
    /// Reads ael.api's body and finds the object its `url` names among `known_buckets`.
    pub fn read(
        body: &Value,
        backends: &Backends,
        known_buckets: &[BucketName],
    ) -> Result<Self, ApiError> {
        let request = ValidateRequest::from_json(body).map_err(ApiError::Validation)?;
        let located = backends
            .locate(&request.url, known_buckets)
            .map_err(|violation| {
                ApiError::Validation(vec![InvalidEntry::json_property("$.url", violation)])
            })?;
        Ok(Self {
            located,
            rules: request.rules,
        })
    }
}

/// Decides a validation: the caller must be known and allowed to `GET` the object.
pub fn decide_validation(
    origin: &Origin,
    caller: Caller,
    validation: Result<Validation, ApiError>,
) -> Outcome<ValidationGrant> {
    let mut record = origin.record();
    record.action = Some(VALIDATE_ACTION);
    let (caller, mut record) = match identify(caller, record) {
        Ok(identified) => identified,
        Err(refused) => return *refused,
    };
    let validation = match validation {
        Ok(validation) => validation,
        Err(error) => return Outcome::refused(record, Decision::Invalid, error),
    };
    let Located { bucket, object } = &validation.located;
    record.bucket = Some(bucket.to_string());
    record.object = Some(object.to_string());
    let path = format!("/{bucket}/{object}");
    let access = Access {
        end_user: caller.end_user.as_deref(),
        ..Access::object(Action::Get, &path)
    };
    match caller.client.authorize(&access) {
        Ok(grant) => Outcome::granted(
            record,
            format!(
                "read allowed by rule {} of client {:?}",
                grant.rule, caller.client.id
            ),
            validation,
        ),
        Err(denial) => Outcome::refused(record, Decision::Denied, ApiError::Forbidden(denial)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::access::{Client, ResourcePattern, Rule};
    use crate::auth::Authenticated;
    use crate::domain::ObjectName;

    fn reader() -> Authenticated {
        Authenticated::client(Arc::new(Client {
            id: "reader".into(),
            api_key_sha256: None,
            jwt_subject: None,
            jwt_issuer: None,
            end_users: None,
            rate_limit: None,
            max_ttl: 600,
            allow: vec![Rule {
                methods: vec![Action::Get],
                resources: vec![ResourcePattern::parse("/media/signed/**").unwrap()],
                ..Rule::default()
            }],
        }))
    }

    fn validation(object: &str) -> Validation {
        Validation {
            located: Located {
                bucket: BucketName::parse("media").unwrap(),
                object: ObjectName::parse(object).unwrap(),
            },
            rules: Vec::new(),
        }
    }

    fn origin() -> Origin {
        Origin {
            request_id: "r".into(),
            caller_request_id: None,
            remote_addr: None,
        }
    }

    #[test]
    fn a_reader_of_the_object_may_validate_it() {
        let outcome = decide_validation(&origin(), Ok(reader()), Ok(validation("signed/a.p7s")));
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.record.action, Some("VALIDATE"));
        assert_eq!(outcome.record.object.as_deref(), Some("signed/a.p7s"));
    }

    #[test]
    fn a_caller_that_may_not_read_it_is_denied() {
        let outcome = decide_validation(&origin(), Ok(reader()), Ok(validation("private/a.p7s")));
        assert!(matches!(outcome.result, Err(ApiError::Forbidden(_))));
        assert_eq!(outcome.record.decision, Decision::Denied);
    }
}
