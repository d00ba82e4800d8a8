//! Which store serves each bucket, what its URLs can carry, and the dispatch from a grant to
//! the store's signer: Google Cloud Storage ([`Issuer`], unchanged), an S3-compatible store
//! ([`S3Store`]) or OpenStack Swift ([`SwiftStore`]).
//!
//! The decision asks [`BackendKind`] before anything is signed. A request for what the store
//! cannot sign into a URL gets a 422 naming the field; a rule whose condition the store cannot
//! enforce denies the request (403), since granting it would drop the condition silently:
//!
//! | | GCS | S3 | Swift |
//! |---|---|---|---|
//! | `content_type`, `content_md5` | signed | signed | not signed (ael.api's clients send `content_type`: it is returned in `headers`, unenforced) |
//! | size limit | `x-goog-content-length-range` | an exact size only (`Content-Length`) | none |
//! | no overwrite | `x-goog-if-generation-match: 0` | `If-None-Match: *` | none |
//! | `RESUMABLE` | yes | no | no |
//! | prefix URLs, `filename`, `inline` | no | no | yes |

use std::collections::HashMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::issuer::{IssuedPolicy, IssuedUrl, Issuer, PolicyGrant, RsaSigner, UrlGrant};
use super::s3::S3Store;
use super::swift::SwiftStore;
use crate::access::{Denial, Grant, Rule};
use crate::domain::{Action, ContentLengthRange, InvalidEntry, SigningVersion, Violation};
use crate::error::ApiError;
use crate::request::{SecretRequest, StoreOptions};
use crate::signing::s3::AddressingStyle;

/// The kind of store behind a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    Gcs,
    S3,
    Swift,
}

impl BackendKind {
    /// `gcs`, `s3` or `swift`: in responses and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gcs => "gcs",
            Self::S3 => "s3",
            Self::Swift => "swift",
        }
    }

    /// For people: `GCS`, `S3`, `Swift`.
    fn title(self) -> &'static str {
        match self {
            Self::Gcs => "GCS",
            Self::S3 => "S3",
            Self::Swift => "Swift",
        }
    }
}

impl IssuedUrl {
    /// How it was signed, as the answer's `version` says: `v2` or `v4` (GCS), `v4` (S3:
    /// Signature Version 4), `tempurl` (Swift).
    pub fn process(&self) -> &'static str {
        match self.backend {
            BackendKind::Gcs => self.version.as_str(),
            BackendKind::S3 => "v4",
            BackendKind::Swift => "tempurl",
        }
    }
}

/// The backend of each bucket, for the decision; buckets not listed are GCS's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketBackends(HashMap<String, BackendKind>);

impl BucketBackends {
    pub fn new(kinds: impl IntoIterator<Item = (String, BackendKind)>) -> Self {
        Self(
            kinds
                .into_iter()
                .filter(|(_, kind)| *kind != BackendKind::Gcs)
                .collect(),
        )
    }

    pub fn kind(&self, bucket: &str) -> BackendKind {
        self.0.get(bucket).copied().unwrap_or(BackendKind::Gcs)
    }
}

/// The fields of `secret` that its bucket's store cannot sign: one 422 entry each.
pub(super) fn unsupported_fields(kind: BackendKind, secret: &SecretRequest) -> Vec<InvalidEntry> {
    let mut refused: Vec<(&'static str, String)> = Vec::new();
    if kind != BackendKind::Swift {
        for (field, given) in [
            ("prefix", secret.store.prefix),
            ("filename", secret.store.filename.is_some()),
            ("inline", secret.store.inline),
        ] {
            if given {
                let store = kind.title();
                refused.push((
                    field,
                    format!("applies to Swift buckets only; this is a {store} bucket"),
                ));
            }
        }
    }
    if kind != BackendKind::Gcs {
        refused.extend(beyond_gcs(kind, secret));
    }
    if kind == BackendKind::Swift {
        refused.extend(unsigned_by_swift(secret));
    }
    refused
        .into_iter()
        .map(|(field, description)| {
            InvalidEntry::json_property(
                format!("{}.{field}", secret.path),
                Violation::new("exclusion", description),
            )
        })
        .collect()
}

/// What S3 and Swift lack of GCS: resumable uploads, V2, generations, size ranges.
fn beyond_gcs(kind: BackendKind, secret: &SecretRequest) -> Vec<(&'static str, String)> {
    let mut refused = Vec::new();
    if secret.action == Action::Resumable {
        refused.push((
            "action",
            format!(
                "{} has no resumable uploads that start with a signed URL: upload with PUT, or with a form (/upload_policies)",
                kind.title()
            ),
        ));
    }
    match (kind, secret.version) {
        (BackendKind::S3, Some(SigningVersion::V2)) => refused.push((
            "version",
            "S3 URLs are signed with Signature Version 4 only (v4)".into(),
        )),
        (BackendKind::Swift, Some(_)) => refused.push((
            "version",
            "Swift TempURLs have no signing version; leave it out".into(),
        )),
        _ => {}
    }
    match (kind, secret.action, secret.if_generation_match) {
        (_, _, None) | (BackendKind::S3, Action::Put, Some(0)) => {}
        (BackendKind::S3, _, Some(_)) => refused.push((
            "if_generation_match",
            "S3 has no generations: only 0 on a PUT (create, never replace: If-None-Match: *) can be signed".into(),
        )),
        _ => refused.push((
            "if_generation_match",
            "Swift TempURLs sign no conditions: no-overwrite cannot be guaranteed".into(),
        )),
    }
    match (kind, secret.content_length_range) {
        (_, None) => {}
        (BackendKind::S3, Some(range)) if range.min == range.max => {}
        (BackendKind::S3, Some(_)) => refused.push((
            "content_length_range",
            "an S3 URL pins an exact size only: give content_length_range [n, n] (max_size cannot be signed), or use a form (/upload_policies) for a range".into(),
        )),
        (_, Some(_)) => refused.push((
            "content_length_range",
            "Swift TempURLs sign no size limit (content_length_range, max_size)".into(),
        )),
    }
    refused
}

/// The headers and download options a TempURL cannot sign.
fn unsigned_by_swift(secret: &SecretRequest) -> Vec<(&'static str, String)> {
    [
        (
            "content_md5",
            secret.content_md5.is_some(),
            "the MD5 cannot be pinned",
        ),
        (
            "metadata",
            !secret.metadata.is_empty(),
            "metadata cannot be pinned",
        ),
        (
            "cache_control",
            secret.cache_control.is_some(),
            "the header cannot be pinned",
        ),
        (
            "content_disposition",
            secret.content_disposition.is_some(),
            "the header cannot be pinned",
        ),
        (
            "response_content_type",
            secret.response_content_type.is_some(),
            "a download's type cannot be forced",
        ),
        (
            "response_content_disposition",
            secret.response_content_disposition.is_some(),
            "use filename and inline for a download's Content-Disposition",
        ),
    ]
    .into_iter()
    .filter(|(_, given, _)| *given)
    .map(|(field, _, why)| (field, format!("Swift TempURLs sign no headers: {why}")))
    .collect()
}

/// Why a form upload cannot go to a bucket of this kind, if it cannot.
pub(super) fn form_unsupported(kind: BackendKind) -> Option<InvalidEntry> {
    match kind {
        BackendKind::Gcs | BackendKind::S3 => None,
        BackendKind::Swift => Some(InvalidEntry::json_property(
            "$.policy.bucket",
            Violation::new(
                "exclusion",
                "form uploads (POST policies) are not offered for Swift buckets; upload with a PUT URL",
            ),
        )),
    }
}

/// The condition of `rule` (which allowed an upload, with `grant`'s conditions) that the
/// store cannot sign into its URL, as a denial.
pub(super) fn unenforceable(
    kind: BackendKind,
    action: Action,
    rule: &Rule,
    grant: &Grant,
) -> Option<Denial> {
    if !action.is_upload() || action == Action::Post {
        return None;
    }
    let denial = |condition: String| {
        Some(Denial::Unenforceable {
            backend: kind.title(),
            condition,
        })
    };
    match kind {
        BackendKind::Gcs => None,
        BackendKind::S3 => match grant.content_length_range {
            Some(ContentLengthRange { min, max }) if min != max => denial(format!(
                "be at most {max} bytes (an S3 URL pins an exact size only: ask for content_length_range [n, n], or use a form, /upload_policies)"
            )),
            _ => None,
        },
        BackendKind::Swift => {
            if rule.content_types.is_some() {
                denial("have one of the listed content types".into())
            } else if let Some(range) = grant.content_length_range {
                denial(format!("be at most {} bytes", range.max))
            } else if grant.if_generation_match.is_some() {
                denial("never replace an object".into())
            } else {
                None
            }
        }
    }
}

/// A bucket of another store than GCS, and how its URLs are addressed.
#[derive(Debug, Clone)]
pub enum Store {
    S3 {
        store: Arc<S3Store>,
        style: AddressingStyle,
    },
    Swift(Arc<SwiftStore>),
}

/// Every store the service signs for: GCS (absent when no bucket uses it) and the buckets of
/// the others. Replaced whole when the GCS key rotates.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    gcs: Option<Arc<Issuer>>,
    stores: HashMap<String, Store>,
}

impl Backends {
    /// `stores` holds the buckets of S3 and Swift; every other bucket is GCS's.
    pub fn new(gcs: Option<Issuer>, stores: HashMap<String, Store>) -> Self {
        Self {
            gcs: gcs.map(Arc::new),
            stores,
        }
    }

    /// The GCS issuer, if a GCS key (or IAM) is configured.
    pub fn gcs(&self) -> Option<&Arc<Issuer>> {
        self.gcs.as_ref()
    }

    /// The same stores, with GCS URLs signed by `signer` (a rotated key).
    #[must_use]
    pub fn with_gcs_signer(&self, signer: RsaSigner) -> Self {
        Self {
            gcs: self
                .gcs
                .as_ref()
                .map(|issuer| Arc::new(issuer.with_signer(signer))),
            stores: self.stores.clone(),
        }
    }

    /// The store of `bucket`, unless GCS serves it.
    pub fn store(&self, bucket: &str) -> Option<&Store> {
        self.stores.get(bucket)
    }

    /// The backend of every bucket that is not GCS's.
    pub fn kinds(&self) -> BucketBackends {
        BucketBackends::new(self.stores.iter().map(|(bucket, store)| {
            let kind = match store {
                Store::S3 { .. } => BackendKind::S3,
                Store::Swift(_) => BackendKind::Swift,
            };
            (bucket.clone(), kind)
        }))
    }

    /// Signs `grant` (with Swift's `options`) with its bucket's store, at `now`.
    pub fn issue_url(
        &self,
        grant: &UrlGrant<'_>,
        options: &StoreOptions,
        now: OffsetDateTime,
    ) -> Result<IssuedUrl, ApiError> {
        match self.stores.get(grant.bucket) {
            None => Ok(self.gcs_issuer(grant.bucket)?.issue_url(grant, now)?),
            Some(Store::S3 { store, style }) => store
                .issue_url(*style, grant, now)
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("S3 URL"))),
            Some(Store::Swift(store)) => store
                .issue_url(grant, options, now)
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("Swift TempURL"))),
        }
    }

    /// Signs a form upload for `grant` with its bucket's store, at `now`.
    pub fn issue_policy(
        &self,
        grant: &PolicyGrant<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedPolicy, ApiError> {
        match self.stores.get(grant.bucket) {
            None => Ok(self.gcs_issuer(grant.bucket)?.issue_policy(grant, now)?),
            Some(Store::S3 { store, style }) => store
                .issue_policy(*style, grant, now)
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("S3 POST policy"))),
            // The decision refuses forms for Swift buckets.
            Some(Store::Swift(_)) => Err(ApiError::Internal(anyhow::anyhow!(
                "no form uploads for Swift bucket {:?}",
                grant.bucket
            ))),
        }
    }

    fn gcs_issuer(&self, bucket: &str) -> Result<&Issuer, ApiError> {
        // Start-up refuses a GCS bucket without a key, so this is a bug if it happens.
        self.gcs.as_deref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("no GCS signer for bucket {bucket:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::BucketName;

    fn secret(body: &serde_json::Value) -> SecretRequest {
        SecretRequest::from_json(
            &json!({ "secret": body }),
            &[BucketName::parse("media").unwrap()],
        )
        .unwrap()
    }

    fn refused(kind: BackendKind, body: &serde_json::Value) -> Vec<String> {
        unsupported_fields(kind, &secret(body))
            .into_iter()
            .map(|entry| entry.entry)
            .collect()
    }

    #[test]
    fn gcs_takes_everything_but_swift_options() {
        let body = json!({"action": "RESUMABLE", "bucket": "media", "resource_id": "a", "version": "v2", "if_generation_match": 7});
        assert!(refused(BackendKind::Gcs, &body).is_empty());
        let body = json!({"action": "PUT", "bucket": "media", "resource_id": "a", "max_size": 5});
        assert!(refused(BackendKind::Gcs, &body).is_empty());
        let body = json!({"action": "GET", "bucket": "media", "resource_id": "a", "prefix": true, "filename": "f", "inline": true});
        assert_eq!(
            refused(BackendKind::Gcs, &body),
            ["$.secret.prefix", "$.secret.filename", "$.secret.inline"]
        );
    }

    #[test]
    fn s3_signs_v4_no_overwrite_and_exact_sizes_only() {
        let ok = json!({"action": "PUT", "bucket": "media", "resource_id": "a", "content_type": "image/png", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "if_generation_match": 0, "content_length_range": [5, 5], "version": "v4"});
        assert!(refused(BackendKind::S3, &ok).is_empty());
        let bad = json!({"action": "RESUMABLE", "bucket": "media", "resource_id": "a", "version": "v2", "if_generation_match": 3});
        assert_eq!(
            refused(BackendKind::S3, &bad),
            [
                "$.secret.action",
                "$.secret.version",
                "$.secret.if_generation_match"
            ]
        );
        let ranged = json!({"action": "PUT", "bucket": "media", "resource_id": "a", "max_size": 5});
        assert_eq!(
            refused(BackendKind::S3, &ranged),
            ["$.secret.content_length_range"]
        );
        let get = json!({"action": "GET", "bucket": "media", "resource_id": "a", "if_generation_match": 0});
        assert_eq!(
            refused(BackendKind::S3, &get),
            ["$.secret.if_generation_match"]
        );
    }

    #[test]
    fn swift_signs_method_object_and_expiry_only() {
        let ok = json!({"action": "PUT", "bucket": "media", "resource_id": "a", "content_type": "image/png", "prefix": true});
        assert!(refused(BackendKind::Swift, &ok).is_empty());
        let bad = json!({"action": "PUT", "bucket": "media", "resource_id": "a", "version": "v4", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "if_generation_match": 0, "max_size": 5});
        assert_eq!(
            refused(BackendKind::Swift, &bad),
            [
                "$.secret.version",
                "$.secret.if_generation_match",
                "$.secret.content_length_range",
                "$.secret.content_md5"
            ]
        );
    }

    fn rule(content_types: Option<Vec<&str>>) -> Rule {
        Rule {
            methods: vec![Action::Put],
            resources: vec![crate::access::ResourcePattern::parse("/**").unwrap()],
            content_types: content_types.map(|types| {
                types
                    .into_iter()
                    .map(|t| crate::access::MediaRange::parse(t).unwrap())
                    .collect()
            }),
            ..Rule::default()
        }
    }

    #[test]
    fn rule_conditions_the_store_cannot_sign_deny() {
        let grant = |range: Option<ContentLengthRange>, generation| Grant {
            rule: 0,
            content_length_range: range,
            if_generation_match: generation,
        };
        let range = Some(ContentLengthRange { min: 0, max: 100 });
        let exact = Some(ContentLengthRange { min: 7, max: 7 });
        let put = Action::Put;
        assert!(unenforceable(BackendKind::S3, put, &rule(None), &grant(range, Some(0))).is_some());
        assert!(unenforceable(BackendKind::S3, put, &rule(None), &grant(exact, Some(0))).is_none());
        assert!(
            unenforceable(BackendKind::Gcs, put, &rule(None), &grant(range, Some(0))).is_none()
        );
        let typed = rule(Some(vec!["image/png"]));
        assert!(unenforceable(BackendKind::Swift, put, &typed, &grant(None, None)).is_some());
        assert!(
            unenforceable(BackendKind::Swift, put, &rule(None), &grant(None, Some(0))).is_some()
        );
        assert!(unenforceable(BackendKind::Swift, put, &rule(None), &grant(None, None)).is_none());
        assert!(
            unenforceable(BackendKind::Swift, Action::Get, &typed, &grant(None, None)).is_none()
        );
    }
}
