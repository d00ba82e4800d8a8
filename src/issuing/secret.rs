//! Signed URLs: one secret (`POST /media_content_storage_secrets`), or a batch of them.

use std::convert::Infallible;

use time::OffsetDateTime;

use super::{
    Caller, IssuedUrl, Issuer, Origin, Outcome, Rules, UrlGrant, identify, lifetime_error,
};
use crate::access::{Access, Client, ContentTypeAccess};
use crate::audit::{AuditEvent, Decision};
use crate::domain::{ContentLengthRange, ContentMd5, ContentType};
use crate::error::ApiError;
use crate::request::SecretRequest;
use crate::timestamp;

/// A secret the caller's rules allow, with the conditions the rule adds.
#[derive(Debug)]
pub struct SecretGrant {
    pub request: SecretRequest,
    pub lifetime: u32,
    pub if_generation_match: Option<u64>,
    pub content_length_range: Option<ContentLengthRange>,
}

/// A secret and the URL signed for it.
#[derive(Debug)]
pub struct IssuedSecret {
    pub request: SecretRequest,
    pub url: IssuedUrl,
}

/// Decides one secret: the caller must be known, the secret valid, its lifetime within the
/// caller's `max_ttl`, and one of the caller's rules must allow it.
pub fn decide_secret(
    rules: &Rules,
    origin: &Origin,
    caller: Caller,
    secret: Result<SecretRequest, ApiError>,
) -> Outcome<SecretGrant> {
    match identify(caller, origin.record()) {
        Ok((client, record)) => decide(rules, &client, secret, record),
        Err(refused) => *refused,
    }
}

/// Decides each secret of a batch on its own (audit `request_id` `<id>#<index>`), for one
/// caller. `Err`: the whole batch is refused (no caller, or no list of secrets).
pub fn decide_batch(
    rules: &Rules,
    origin: &Origin,
    caller: Caller,
    secrets: Result<Vec<Result<SecretRequest, ApiError>>, ApiError>,
) -> Result<Vec<Outcome<SecretGrant>>, Box<Outcome<Infallible>>> {
    let (client, record) = identify(caller, origin.record())?;
    let secrets =
        secrets.map_err(|error| Box::new(Outcome::refused(record, Decision::Invalid, error)))?;
    Ok(secrets
        .into_iter()
        .enumerate()
        .map(|(index, secret)| {
            let mut record = AuditEvent::new(
                format!("{}#{index}", origin.request_id),
                origin.remote_addr.clone(),
            );
            record.client_id = Some(client.id.clone());
            decide(rules, &client, secret, record)
        })
        .collect())
}

fn decide(
    rules: &Rules,
    client: &Client,
    secret: Result<SecretRequest, ApiError>,
    mut record: AuditEvent,
) -> Outcome<SecretGrant> {
    let secret = match secret {
        Ok(secret) => secret,
        Err(error) => return Outcome::refused(record, Decision::Invalid, error),
    };
    record.action = Some(secret.action.as_str());
    record.bucket = Some(secret.bucket.to_string());
    record.object = Some(secret.object.to_string());
    let lifetime = match client.lifetime(secret.expires_in, rules.default_ttl) {
        Ok(lifetime) => lifetime,
        Err(too_long) => {
            let error = lifetime_error(&secret.path, too_long.max_ttl);
            return Outcome::refused(record, Decision::Invalid, error);
        }
    };
    let path = format!("/{}/{}", secret.bucket, secret.object);
    let access = Access {
        content_type: secret
            .content_type
            .as_ref()
            .map(|ct| ContentTypeAccess::Exact(ct.as_str())),
        content_length_range: secret.content_length_range,
        if_generation_match: secret.if_generation_match,
        ..Access::object(secret.action, &path)
    };
    match client.authorize(&access) {
        Ok(grant) => Outcome::granted(
            record,
            format!("allowed by rule {} of client {:?}", grant.rule, client.id),
            SecretGrant {
                if_generation_match: grant.if_generation_match,
                content_length_range: grant.content_length_range,
                lifetime,
                request: secret,
            },
        ),
        Err(denial) => Outcome::refused(record, Decision::Denied, ApiError::Forbidden(denial)),
    }
}

impl SecretGrant {
    /// What the issuer signs.
    pub fn url_grant(&self) -> UrlGrant<'_> {
        let request = &self.request;
        UrlGrant {
            action: request.action,
            bucket: request.bucket.as_str(),
            object: request.object.as_str(),
            version: request.version,
            content_type: request.content_type.as_ref().map(ContentType::as_str),
            content_md5: request.content_md5.as_ref().map(ContentMd5::as_str),
            if_generation_match: self.if_generation_match,
            content_length_range: self.content_length_range,
            lifetime: self.lifetime,
        }
    }

    /// Signs the URL at `now`; the record gets its expiry.
    pub fn sign(
        self,
        issuer: &Issuer,
        now: OffsetDateTime,
        record: &mut AuditEvent,
    ) -> Result<IssuedSecret, ApiError> {
        let url = issuer.issue_url(&self.url_grant(), now)?;
        record.expires_at = Some(timestamp::iso8601(url.expires_at));
        Ok(IssuedSecret {
            request: self.request,
            url,
        })
    }
}
