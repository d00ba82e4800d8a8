//! Form uploads: a V4 POST policy for a browser `<form>` (`POST /upload_policies`).

use time::OffsetDateTime;

use super::backend::{self, Backends};
use super::{Caller, IssuedPolicy, Origin, Outcome, PolicyGrant, Rules, identify, lifetime_error};
use crate::access::{Access, ContentTypeAccess};
use crate::audit::{AuditEvent, Decision};
use crate::auth::Authenticated;
use crate::domain::{Action, ContentLengthRange, ContentType};
use crate::error::ApiError;
use crate::request::FormRequest;
use crate::signing::post_policy::Key;
use crate::timestamp;

/// A form upload the caller's rules allow.
#[derive(Debug)]
pub struct FormGrant {
    pub request: FormRequest,
    pub lifetime: u32,
    pub content_length_range: Option<ContentLengthRange>,
}

/// A form request and the policy signed for it.
#[derive(Debug)]
pub struct IssuedForm {
    pub request: FormRequest,
    pub policy: IssuedPolicy,
}

/// Decides a form upload: the caller must be known, the request valid, its lifetime within
/// the caller's `max_ttl`, and a rule must allow `POST` on the key (or the whole key prefix).
pub fn decide_form(
    rules: &Rules,
    origin: &Origin,
    caller: Caller,
    form: Result<FormRequest, ApiError>,
) -> Outcome<FormGrant> {
    let mut record = origin.record();
    record.action = Some(Action::Post.as_str());
    match identify(caller, record) {
        Ok((caller, record)) => decide(rules, &caller, form, record),
        Err(refused) => *refused,
    }
}

fn decide(
    rules: &Rules,
    caller: &Authenticated,
    form: Result<FormRequest, ApiError>,
    mut record: AuditEvent,
) -> Outcome<FormGrant> {
    let client = &caller.client;
    let form = match form {
        Ok(form) => form,
        Err(error) => return Outcome::refused(record, Decision::Invalid, error),
    };
    let (key_path, is_prefix) = form.key_path();
    record.bucket = Some(form.bucket.to_string());
    record.object = Some(if is_prefix {
        format!("{key_path}*")
    } else {
        key_path.to_owned()
    });
    let lifetime = match client.lifetime(form.expires_in, rules.default_ttl) {
        Ok(lifetime) => lifetime,
        Err(too_long) => {
            let error = lifetime_error("$.policy", too_long.max_ttl);
            return Outcome::refused(record, Decision::Invalid, error);
        }
    };
    if let Some(entry) = backend::form_unsupported(rules.backends.kind(form.bucket.as_str())) {
        return Outcome::refused(record, Decision::Invalid, ApiError::Validation(vec![entry]));
    }
    let path = format!("/{}/{key_path}", form.bucket);
    let content_type = match (&form.content_type, &form.content_type_prefix) {
        (Some(exact), _) => Some(ContentTypeAccess::Exact(exact)),
        (None, Some(prefix)) => Some(ContentTypeAccess::Prefix(prefix.as_str())),
        (None, None) => None,
    };
    let access = Access {
        path_is_prefix: is_prefix,
        content_type,
        content_length_range: form.content_length_range,
        end_user: caller.end_user.as_deref(),
        ..Access::object(Action::Post, &path)
    };
    match client.authorize(&access) {
        Ok(grant) => Outcome::granted(
            record,
            format!(
                "form upload allowed by rule {} of client {:?}",
                grant.rule, client.id
            ),
            FormGrant {
                content_length_range: grant.content_length_range,
                lifetime,
                request: form,
            },
        ),
        Err(denial) => Outcome::refused(record, Decision::Denied, ApiError::Forbidden(denial)),
    }
}

impl FormGrant {
    /// Whether signing takes an RSA signature with the key in memory (not IAM, not HMAC, not
    /// an S3 store).
    pub fn needs_local_key(&self, backends: &Backends) -> bool {
        let bucket = self.request.bucket.as_str();
        backends.store(bucket).is_none()
            && backends
                .gcs()
                .is_some_and(|issuer| issuer.signs_policy_with_local_key(bucket))
    }

    /// Signs the policy with the bucket's store at `now` (`IssuedForm::note` then puts its
    /// expiry in the record).
    pub fn sign(self, backends: &Backends, now: OffsetDateTime) -> Result<IssuedForm, ApiError> {
        let form = &self.request;
        let mut fields: Vec<(&str, &str)> = form
            .metadata
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if let Some(redirect) = &form.success_action_redirect {
            fields.push(("success_action_redirect", redirect));
        }
        if let Some(status) = form.success_action_status {
            fields.push(("success_action_status", status));
        }
        let (key_path, is_prefix) = form.key_path();
        let grant = PolicyGrant {
            bucket: form.bucket.as_str(),
            key: if is_prefix {
                Key::Prefix(key_path)
            } else {
                Key::Exact(key_path)
            },
            content_type: form.content_type.as_ref().map(ContentType::as_str),
            content_type_prefix: form.content_type_prefix.as_deref(),
            content_length_range: self.content_length_range,
            fields: &fields,
            lifetime: self.lifetime,
        };
        let policy = backends.issue_policy(&grant, now)?;
        Ok(IssuedForm {
            request: self.request,
            policy,
        })
    }
}

impl IssuedForm {
    /// The record gets the policy's expiry.
    pub fn note(&self, record: &mut AuditEvent) {
        record.expires_at = Some(timestamp::iso8601(self.policy.expires_at));
    }
}
