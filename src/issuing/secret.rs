//! Signed URLs: one secret (`POST /media_content_storage_secrets`), or a batch of them.

use std::convert::Infallible;
use std::fmt::Write as _;

use time::OffsetDateTime;

use super::backend::{self, BackendKind, Backends};
use super::{
    Caller, IssuedUrl, Origin, Outcome, ReuseCache, Reused, Rules, Unreadable, UrlExtras, UrlGrant,
    identify, lifetime_error, name_caller,
};
use crate::access::{Access, ContentTypeAccess, UrlOptions, disposition_type};
use crate::audit::{AuditEvent, Decision};
use crate::auth::Authenticated;
use crate::domain::{
    Action, ContentLengthRange, ContentMd5, ContentType, HeaderText, InvalidEntry, SigningVersion,
    Violation,
};
use crate::error::ApiError;
use crate::request::{SecretRequest, StoreOptions};
use crate::timestamp;

/// A secret the caller's rules allow, with the conditions the rule adds.
#[derive(Debug)]
pub struct SecretGrant {
    pub request: SecretRequest,
    pub lifetime: u32,
    /// A read the rule lets share its URL with identical grants of the same window (seconds).
    pub reuse_window: Option<u32>,
    /// Who the grant is for (the reuse cache keeps each client's URLs apart).
    pub client: String,
    pub if_generation_match: Option<u64>,
    pub content_length_range: Option<ContentLengthRange>,
}

/// A secret and the URL signed for it.
#[derive(Debug)]
pub struct IssuedSecret {
    pub request: SecretRequest,
    pub url: IssuedUrl,
    /// Whether the URL was signed for an earlier identical grant (see `reuse`).
    pub reused: Reused,
}

/// Decides one secret: the caller must be known, the secret valid, its lifetime within the
/// caller's `max_ttl`, and one of the caller's rules must allow it.
pub fn decide_secret(
    rules: &Rules,
    origin: &Origin,
    caller: Caller,
    secret: Result<SecretRequest, Unreadable>,
) -> Outcome<SecretGrant> {
    match identify(caller, origin.record()) {
        Ok((caller, record)) => decide(rules, &caller, secret, record),
        Err(refused) => *refused,
    }
}

/// Decides each secret of a batch on its own (audit `request_id` `<id>#<index>`), for one
/// caller. `Err`: the whole batch is refused (no caller, or no list of secrets).
pub fn decide_batch(
    rules: &Rules,
    origin: &Origin,
    caller: Caller,
    secrets: Result<Vec<Result<SecretRequest, Unreadable>>, ApiError>,
) -> Result<Vec<Outcome<SecretGrant>>, Box<Outcome<Infallible>>> {
    let (caller, record) = identify(caller, origin.record())?;
    let secrets =
        secrets.map_err(|error| Box::new(Outcome::refused(record, Decision::Invalid, error)))?;
    Ok(secrets
        .into_iter()
        .enumerate()
        .map(|(index, secret)| {
            let mut record = origin.record_for(format!("{}#{index}", origin.request_id));
            name_caller(&mut record, &caller);
            decide(rules, &caller, secret, record)
        })
        .collect())
}

fn decide(
    rules: &Rules,
    caller: &Authenticated,
    secret: Result<SecretRequest, Unreadable>,
    mut record: AuditEvent,
) -> Outcome<SecretGrant> {
    let client = &caller.client;
    let secret = match secret {
        Ok(secret) => secret,
        Err(Unreadable { error, action }) => {
            record.action = action.map(Action::as_str);
            return Outcome::refused(record, Decision::Invalid, error);
        }
    };
    record.action = Some(secret.action.as_str());
    record.bucket = Some(secret.bucket.to_string());
    // A prefix URL covers the folder `<object>/`.
    let prefix = secret.store.prefix;
    record.object = Some(if prefix {
        format!("{}/*", secret.object)
    } else {
        secret.object.to_string()
    });
    let lifetime = match client.lifetime(secret.expires_in, rules.default_ttl) {
        Ok(lifetime) => lifetime,
        Err(too_long) => {
            let error = lifetime_error(&secret.path, too_long.max_ttl);
            return Outcome::refused(record, Decision::Invalid, error);
        }
    };
    let kind = rules.backends.kind(secret.bucket.as_str());
    let unsupported = backend::unsupported_fields(kind, &secret);
    if !unsupported.is_empty() {
        return Outcome::refused(record, Decision::Invalid, ApiError::Validation(unsupported));
    }
    // S3 signs every header with Signature Version 4, whatever `SIGNING_VERSION` says.
    if kind == BackendKind::Gcs
        && let Some(error) = v4_only(&secret, rules.default_version)
    {
        return Outcome::refused(record, Decision::Invalid, error);
    }
    let path = format!(
        "/{}/{}{}",
        secret.bucket,
        secret.object,
        if prefix { "/" } else { "" }
    );
    let metadata_names: Vec<&str> = secret
        .metadata
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("x-goog-meta-"))
        .collect();
    let headers: Vec<&str> = [
        secret.cache_control.as_ref().map(|_| "cache-control"),
        secret
            .content_disposition
            .as_ref()
            .map(|_| "content-disposition"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let disposition = secret
        .response_content_disposition
        .as_ref()
        .map(|value| disposition_type(value.as_str()));
    let access = Access {
        path_is_prefix: prefix,
        content_type: secret.content_type.as_ref().map(ContentTypeAccess::Exact),
        content_length_range: secret.content_length_range,
        if_generation_match: secret.if_generation_match,
        end_user: caller.end_user.as_deref(),
        options: UrlOptions {
            response_content_type: secret.response_content_type.as_ref(),
            response_disposition: disposition.as_deref(),
            metadata_names: &metadata_names,
            headers: &headers,
        },
        ..Access::object(secret.action, &path)
    };
    let authorized = client.authorize(&access).and_then(|grant| {
        let rule = &client.allow[grant.rule];
        match backend::unenforceable(kind, secret.action, rule, &grant) {
            Some(denial) => Err(denial),
            None => Ok(grant),
        }
    });
    match authorized {
        Ok(grant) => Outcome::granted(
            record,
            format!("allowed by rule {} of client {:?}", grant.rule, client.id),
            SecretGrant {
                if_generation_match: grant.if_generation_match,
                content_length_range: grant.content_length_range,
                lifetime,
                reuse_window: client.allow[grant.rule]
                    .reuse_window
                    .filter(|_| matches!(secret.action, Action::Get | Action::Head)),
                client: client.id.clone(),
                request: secret,
            },
        ),
        Err(denial) => Outcome::refused(record, Decision::Denied, ApiError::Forbidden(denial)),
    }
}

/// `cache_control` and `content_disposition` need V4: a V2 signature covers no such header.
fn v4_only(secret: &SecretRequest, default_version: SigningVersion) -> Option<ApiError> {
    if secret.version.unwrap_or(default_version) == SigningVersion::V4 {
        return None;
    }
    let entries: Vec<InvalidEntry> = secret
        .header_fields()
        .map(|field| {
            InvalidEntry::json_property(
                format!("{}.{field}", secret.path),
                Violation::new(
                    "exclusion",
                    "needs version v4: a V2 signature cannot cover this header",
                ),
            )
        })
        .collect();
    (!entries.is_empty()).then_some(ApiError::Validation(entries))
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
            extras: UrlExtras {
                response_content_type: request
                    .response_content_type
                    .as_ref()
                    .map(ContentType::as_str),
                response_content_disposition: request
                    .response_content_disposition
                    .as_ref()
                    .map(HeaderText::as_str),
                metadata: &request.metadata,
                cache_control: request.cache_control.as_ref().map(HeaderText::as_str),
                content_disposition: request.content_disposition.as_ref().map(HeaderText::as_str),
            },
        }
    }

    /// Signs the URL with the bucket's store at `now`; the record gets its expiry.
    ///
    /// Whether signing takes an RSA signature with the key in memory (not IAM, not HMAC, not
    /// S3 or Swift). A grant with a `reuse_window` does not count: most of its URLs come from
    /// the cache.
    pub fn needs_local_key(&self, backends: &Backends) -> bool {
        let bucket = self.request.bucket.as_str();
        self.reuse_window.is_none()
            && backends.store(bucket).is_none()
            && backends
                .gcs()
                .is_some_and(|issuer| issuer.signs_url_with_local_key(bucket, self.request.version))
    }

    /// Signs the URL with the bucket's store at `now` (`IssuedSecret::note` then completes the
    /// record). A grant with a `reuse_window` takes the URL of an identical grant signed
    /// earlier in the same window, from `reuse` (`key_generation` names the key that signs), or
    /// signs it as of the window's start and keeps it there (not with Swift's prefix,
    /// `filename` or `inline`, which the reuse cache's key does not hold).
    pub fn sign(
        self,
        backends: &Backends,
        now: OffsetDateTime,
        (reuse, key_generation): (&ReuseCache, u64),
    ) -> Result<IssuedSecret, ApiError> {
        let grant = self.url_grant();
        let options = &self.request.store;
        let (url, reused) = match self.reuse_window {
            Some(window) if *options == StoreOptions::default() => {
                reuse.issue(&self.client, key_generation, &grant, window, now, |at| {
                    backends.issue_url(&grant, options, at)
                })?
            }
            _ => (backends.issue_url(&grant, options, now)?, Reused::Signed),
        };
        Ok(IssuedSecret {
            request: self.request,
            url,
            reused,
        })
    }
}

impl IssuedSecret {
    /// The record gets the URL's expiry, and says when the URL was reused.
    pub fn note(&self, record: &mut AuditEvent) {
        if self.reused == Reused::Reused {
            let _ = write!(
                record.reason,
                "; the URL signed at {} for an identical grant, reused",
                timestamp::iso8601(self.url.inserted_at)
            );
        }
        record.expires_at = Some(timestamp::iso8601(self.url.expires_at));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::access::{Client, ResourcePattern, Rule};
    use crate::auth::AuthError;
    use crate::domain::BucketName;
    use crate::issuing::BucketBackends;

    fn rules() -> Rules {
        Rules {
            known_buckets: vec![BucketName::parse("media").unwrap()],
            default_ttl: 600,
            default_version: SigningVersion::V2,
            backends: BucketBackends::default(),
        }
    }

    fn origin() -> Origin {
        Origin {
            request_id: "req-1".into(),
            caller_request_id: None,
            remote_addr: Some("10.0.0.7:5000".into()),
        }
    }

    /// May upload PNGs under `/media/in/**`, at most 100 bytes, never overwriting.
    fn uploader_client() -> Authenticated {
        Authenticated::client(Arc::new(Client {
            id: "uploader".into(),
            api_key_sha256: None,
            jwt_subject: None,
            jwt_issuer: None,
            end_users: None,
            rate_limit: None,
            max_ttl: 900,
            allow: vec![Rule {
                methods: vec![Action::Put],
                resources: vec![ResourcePattern::parse("/media/in/**").unwrap()],
                content_types: Some(vec![crate::access::MediaRange::parse("image/png").unwrap()]),
                max_size: Some(100),
                require_no_overwrite: true,
                ..Rule::default()
            }],
        }))
    }

    fn secret(body: &serde_json::Value) -> Result<SecretRequest, Unreadable> {
        SecretRequest::from_json(&json!({ "secret": body }), &rules().known_buckets)
            .map_err(Unreadable::from)
    }

    fn put(object: &str) -> Result<SecretRequest, Unreadable> {
        secret(
            &json!({"action": "PUT", "bucket": "media", "resource_id": object, "content_type": "image/png"}),
        )
    }

    #[test]
    fn an_allowed_secret_is_granted_with_the_rules_conditions_and_audited_as_issued() {
        let outcome = decide_secret(&rules(), &origin(), Ok(uploader_client()), put("in/a.png"));
        let grant = outcome.result.unwrap();
        assert_eq!(grant.lifetime, 600);
        assert_eq!(grant.if_generation_match, Some(0));
        assert_eq!(
            grant.content_length_range,
            Some(ContentLengthRange { min: 0, max: 100 })
        );
        let record = outcome.record;
        assert_eq!(record.decision, Decision::Issued);
        assert_eq!(record.reason, "allowed by rule 0 of client \"uploader\"");
        assert_eq!(record.client_id.as_deref(), Some("uploader"));
        assert_eq!(record.request_id, "req-1");
        assert_eq!(record.remote_addr.as_deref(), Some("10.0.0.7:5000"));
        assert_eq!(
            (
                record.action,
                record.bucket.as_deref(),
                record.object.as_deref()
            ),
            (Some("PUT"), Some("media"), Some("in/a.png"))
        );
    }

    #[test]
    fn a_secret_outside_the_rules_is_denied_and_says_which_path() {
        let outcome = decide_secret(&rules(), &origin(), Ok(uploader_client()), put("out/a.png"));
        assert!(matches!(outcome.result, Err(ApiError::Forbidden(_))));
        assert_eq!(outcome.record.decision, Decision::Denied);
        assert_eq!(
            outcome.record.reason, "path not allowed for PUT",
            "the record names the object once, in `object`"
        );
    }

    #[test]
    fn an_unknown_caller_is_refused_before_anything_else() {
        let outcome = decide_secret(
            &rules(),
            &origin(),
            Err(AuthError::InvalidApiKey),
            secret(&json!({"action": "PATCH"})),
        );
        assert!(matches!(outcome.result, Err(ApiError::Unauthenticated(_))));
        assert_eq!(outcome.record.decision, Decision::Unauthenticated);
        assert_eq!(outcome.record.client_id, None);
        assert_eq!(outcome.record.action, None);
    }

    #[test]
    fn an_invalid_secret_is_audited_for_its_client_without_an_object() {
        let outcome = decide_secret(
            &rules(),
            &origin(),
            Ok(uploader_client()),
            secret(&json!({"action": "PATCH", "bucket": "media", "resource_id": "a"})),
        );
        assert!(matches!(outcome.result, Err(ApiError::Validation(_))));
        assert_eq!(outcome.record.decision, Decision::Invalid);
        assert_eq!(outcome.record.client_id.as_deref(), Some("uploader"));
        assert_eq!(outcome.record.object, None);
        assert_eq!(outcome.record.action, None);
        assert_eq!(
            outcome.record.reason,
            "invalid: $.secret.action (inclusion)"
        );
    }

    #[test]
    fn an_invalid_secret_with_a_valid_action_is_audited_under_that_action() {
        let outcome = decide_secret(
            &rules(),
            &origin(),
            Ok(uploader_client()),
            secret(&json!({"action": "DELETE", "bucket": "media", "resource_id": "a//b"})),
        );
        assert_eq!(outcome.record.decision, Decision::Invalid);
        assert_eq!(outcome.record.action, Some("DELETE"));
    }

    #[test]
    fn a_lifetime_above_max_ttl_is_refused_not_shortened() {
        let outcome = decide_secret(
            &rules(),
            &origin(),
            Ok(uploader_client()),
            secret(
                &json!({"action": "PUT", "bucket": "media", "resource_id": "in/a.png", "content_type": "image/png", "expires_in": 901}),
            ),
        );
        let Err(ApiError::Validation(entries)) = outcome.result else {
            panic!("{:?}", outcome.result);
        };
        assert_eq!(entries[0].entry, "$.secret.expires_in");
        assert_eq!(outcome.record.decision, Decision::Invalid);
    }

    #[test]
    fn batch_items_are_decided_and_audited_one_by_one() {
        let body = json!({"secrets": [
            {"action": "PUT", "bucket": "media", "resource_id": "in/a.png", "content_type": "image/png"},
            {"action": "PUT", "bucket": "media", "resource_id": "out/b.png", "content_type": "image/png"},
            "not an object",
        ]});
        let items = SecretRequest::batch_from_json(&body, &rules().known_buckets)
            .unwrap()
            .into_iter()
            .map(|item| item.map_err(Unreadable::from))
            .collect();
        let outcomes = decide_batch(&rules(), &origin(), Ok(uploader_client()), Ok(items)).unwrap();
        let decided: Vec<(&str, Decision)> = outcomes
            .iter()
            .map(|o| (o.record.request_id.as_str(), o.record.decision))
            .collect();
        assert_eq!(
            decided,
            [
                ("req-1#0", Decision::Issued),
                ("req-1#1", Decision::Denied),
                ("req-1#2", Decision::Invalid)
            ]
        );
    }

    #[test]
    fn a_signing_failure_turns_the_grant_into_a_failed_record() {
        let outcome = decide_secret(&rules(), &origin(), Ok(uploader_client()), put("in/a.png"));
        let signed: Outcome<()> =
            outcome.sign(|_, _| Err(ApiError::SignerUnavailable("IAM did not answer".into())));
        assert_eq!(signed.record.decision, Decision::Failed);
        assert_eq!(signed.record.reason, "service unavailable");
    }
}
