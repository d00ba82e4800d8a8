//! Signing an authorised grant: which signing process, key, URL style and signed headers.
//! Pure apart from the signing keys (IAM signs over the network); the time is passed in.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use time::OffsetDateTime;

use super::backend::BackendKind;
use crate::domain::{Action, ContentLengthRange, SigningVersion};
use crate::iam::IamSigner;
use crate::key::ServiceAccountKey;
use crate::signing::hmac::{self, HmacKey};
use crate::signing::post_policy::{self, Condition, Key, PolicyRequest};
use crate::signing::v4::{self, UrlStyle, V4Request};
use crate::signing::{SignError, SignedUrl, Signer, v2};
use crate::timestamp;

/// How URLs for one bucket are addressed (V4 URLs and POST policies; V2 URLs are always
/// path-style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketStyle {
    Path,
    VirtualHosted,
    /// A domain bound to the bucket, as `scheme://host`.
    BucketBound(String),
}

/// Who makes the RSA signatures of the service account.
#[derive(Debug, Clone)]
pub enum RsaSigner {
    /// The service-account key, in memory.
    Key(Arc<ServiceAccountKey>),
    /// IAM Credentials `signBlob`: no key here at all.
    Iam(Arc<IamSigner>),
}

impl RsaSigner {
    /// Short name for metrics and logs: `rsa` (local key) or `iam`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Key(_) => "rsa",
            Self::Iam(_) => "iam",
        }
    }

    /// The id of the key that signs (`private_key_id` of the key file), when known.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Self::Key(key) => key.private_key_id(),
            Self::Iam(_) => None,
        }
    }
}

impl Signer for RsaSigner {
    fn google_access_id(&self) -> &str {
        match self {
            Self::Key(key) => key.google_access_id(),
            Self::Iam(iam) => iam.google_access_id(),
        }
    }

    fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            Self::Key(key) => key.sign_rsa_sha256(message),
            Self::Iam(iam) => iam.sign_rsa_sha256(message),
        }
    }
}

/// The keys and per-bucket choices that signing needs. Replaced whole (never changed in
/// place) when the key rotates.
#[derive(Debug, Clone)]
pub struct Issuer {
    pub signer: RsaSigner,
    pub hmac: Option<HmacKey>,
    /// Scheme and authority of the storage endpoint, without a trailing slash.
    pub storage_base_url: String,
    pub default_version: SigningVersion,
    pub bucket_styles: HashMap<String, BucketStyle>,
    /// Buckets whose V4 URLs and policies are signed with the HMAC key.
    pub hmac_buckets: HashSet<String>,
}

/// An authorised request for a URL, with every condition to sign.
#[derive(Debug, Clone, Copy)]
pub struct UrlGrant<'a> {
    pub action: Action,
    pub bucket: &'a str,
    pub object: &'a str,
    pub version: Option<SigningVersion>,
    pub content_type: Option<&'a str>,
    pub content_md5: Option<&'a str>,
    pub if_generation_match: Option<u64>,
    pub content_length_range: Option<ContentLengthRange>,
    pub lifetime: u32,
    /// Download overrides and upload headers.
    pub extras: UrlExtras<'a>,
}

/// What a URL may carry besides its method, object and upload conditions.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlExtras<'a> {
    /// `response-content-type`: the `Content-Type` of the download.
    pub response_content_type: Option<&'a str>,
    /// `response-content-disposition`: the `Content-Disposition` of the download.
    pub response_content_disposition: Option<&'a str>,
    /// `x-goog-meta-*` headers of the upload (full names).
    pub metadata: &'a [(String, String)],
    /// The upload's `Cache-Control` (V4 only: V2 signs no such header).
    pub cache_control: Option<&'a str>,
    /// The upload's `Content-Disposition` (V4 only).
    pub content_disposition: Option<&'a str>,
}

impl UrlExtras<'_> {
    /// The download overrides as query parameters, as Google's client names them (and
    /// botocore: S3 takes the same names).
    pub(super) fn response_query(&self) -> Vec<(&str, &str)> {
        let mut query = Vec::new();
        if let Some(disposition) = self.response_content_disposition {
            query.push(("response-content-disposition", disposition));
        }
        if let Some(content_type) = self.response_content_type {
            query.push(("response-content-type", content_type));
        }
        query
    }
}

/// A signed URL and what its user must send with it.
#[derive(Debug, Clone)]
pub struct IssuedUrl {
    pub url: SignedUrl,
    pub version: SigningVersion,
    /// How it was signed: `v2-rsa`, `v4-rsa`, `v4-hmac` (`iam` for `rsa` when IAM signs).
    pub kind: &'static str,
    /// The headers the request must carry, exactly (the signature covers them).
    pub headers: Vec<(String, String)>,
    pub inserted_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The store that will check it.
    pub backend: BackendKind,
}

/// An authorised form upload.
#[derive(Debug, Clone, Copy)]
pub struct PolicyGrant<'a> {
    pub bucket: &'a str,
    pub key: Key<'a>,
    pub content_type: Option<&'a str>,
    pub content_type_prefix: Option<&'a str>,
    pub content_length_range: Option<ContentLengthRange>,
    /// Form fields pinned to exact values (`x-goog-meta-*`, `success_action_*`).
    pub fields: &'a [(&'a str, &'a str)],
    pub lifetime: u32,
}

impl<'a> PolicyGrant<'a> {
    /// The size range and the `Content-Type` prefix, as policy conditions (GCS and S3 alike).
    pub(super) fn conditions(&self) -> Vec<Condition<'a>> {
        let mut conditions = Vec::new();
        if let Some(range) = self.content_length_range {
            conditions.push(Condition::ContentLengthRange {
                min: range.min,
                max: range.max,
            });
        }
        if let Some(prefix) = self.content_type_prefix {
            conditions.push(Condition::StartsWith {
                field: "Content-Type",
                prefix,
            });
        }
        conditions
    }
}

/// A signed form: where to POST and the fields to send before the file.
pub struct IssuedPolicy {
    pub url: String,
    /// `policy-rsa`, `policy-hmac` or `policy-iam`.
    pub kind: &'static str,
    pub fields: Vec<(String, String)>,
    pub inserted_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Field names only: the values include the signature and a session token, which are
/// credentials (as [`PostPolicy`](crate::signing::post_policy::PostPolicy)'s `Debug`).
impl std::fmt::Debug for IssuedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("IssuedPolicy")
            .field("url", &self.url)
            .field("kind", &self.kind)
            .field("fields", &names)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// The same choices, signed by `signer` (a rotated key).
    #[must_use]
    pub fn with_signer(&self, signer: RsaSigner) -> Self {
        Self {
            signer,
            ..self.clone()
        }
    }

    /// The in-memory service-account key, unless IAM signs.
    pub fn local_key(&self) -> Option<&ServiceAccountKey> {
        match &self.signer {
            RsaSigner::Key(key) => Some(key),
            RsaSigner::Iam(_) => None,
        }
    }

    /// Whether a URL for `bucket` (signed as `version`, or the default) takes an RSA signature
    /// with the key in memory: V2, or V4 without the HMAC key, unless IAM signs.
    pub fn signs_url_with_local_key(&self, bucket: &str, version: Option<SigningVersion>) -> bool {
        self.local_key().is_some()
            && match version.unwrap_or(self.default_version) {
                SigningVersion::V2 => true,
                SigningVersion::V4 => self.hmac_for(bucket).is_none(),
            }
    }

    /// Whether a POST policy for `bucket` takes an RSA signature with the key in memory.
    pub fn signs_policy_with_local_key(&self, bucket: &str) -> bool {
        self.local_key().is_some() && self.hmac_for(bucket).is_none()
    }

    /// Signs `grant` at `now` (whole seconds are kept: `Expires`/`X-Goog-Date` have no
    /// fraction).
    pub fn issue_url(
        &self,
        grant: &UrlGrant<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedUrl, SignError> {
        let inserted_at = timestamp::whole_seconds(now);
        let expires_at = inserted_at + time::Duration::seconds(grant.lifetime.into());
        let version = grant.version.unwrap_or(self.default_version);
        let headers = signed_headers(grant);
        let (url, kind) = match version {
            SigningVersion::V2 => (
                self.sign_v2(grant, &headers, expires_at)?,
                match self.signer {
                    RsaSigner::Key(_) => "v2-rsa",
                    RsaSigner::Iam(_) => "v2-iam",
                },
            ),
            SigningVersion::V4 => self.sign_v4(grant, &headers, inserted_at)?,
        };
        Ok(IssuedUrl {
            url,
            version,
            kind,
            headers,
            inserted_at,
            expires_at,
            backend: BackendKind::Gcs,
        })
    }

    fn sign_v2(
        &self,
        grant: &UrlGrant<'_>,
        headers: &[(String, String)],
        expires_at: OffsetDateTime,
    ) -> Result<SignedUrl, SignError> {
        // The clock is after 1970.
        let expires = u64::try_from(expires_at.unix_timestamp()).unwrap_or_default();
        // Content-Type and Content-MD5 have their own lines in V2; the rest are extension
        // headers.
        let extension: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| name.starts_with("x-goog-"))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let request = v2::V2Request {
            method: grant.action.http_method(),
            bucket: grant.bucket,
            object: grant.object,
            content_md5: grant.content_md5,
            content_type: grant.content_type,
            extension_headers: &extension,
            expires,
        };
        let url = v2::sign(&self.storage_base_url, &request, &self.signer)?;
        Ok(v2::with_unsigned_query(url, &grant.extras.response_query()))
    }

    fn sign_v4(
        &self,
        grant: &UrlGrant<'_>,
        headers: &[(String, String)],
        inserted_at: OffsetDateTime,
    ) -> Result<(SignedUrl, &'static str), SignError> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let query = grant.extras.response_query();
        let style = self.url_style(grant.bucket);
        let request = V4Request {
            method: grant.action.http_method(),
            bucket: grant.bucket,
            object: Some(grant.object),
            style: style.as_url_style(&self.storage_base_url),
            headers: &headers,
            query: &query,
            timestamp: inserted_at,
            expires_in: grant.lifetime,
        };
        match (self.hmac_for(grant.bucket), &self.signer) {
            (Some(key), _) => Ok((hmac::sign_url(&request, key), "v4-hmac")),
            (None, RsaSigner::Key(_)) => Ok((v4::sign_rsa(&request, &self.signer)?, "v4-rsa")),
            (None, RsaSigner::Iam(_)) => Ok((v4::sign_rsa(&request, &self.signer)?, "v4-iam")),
        }
    }

    /// Signs a V4 POST policy for `grant` at `now`.
    pub fn issue_policy(
        &self,
        grant: &PolicyGrant<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedPolicy, SignError> {
        let inserted_at = timestamp::whole_seconds(now);
        let expires_at = inserted_at + time::Duration::seconds(grant.lifetime.into());
        let mut fields: Vec<(&str, &str)> = grant.fields.to_vec();
        if let Some(content_type) = grant.content_type {
            fields.push(("content-type", content_type));
        }
        let conditions = grant.conditions();
        let style = self.url_style(grant.bucket);
        let request = PolicyRequest {
            bucket: grant.bucket,
            key: grant.key,
            style: style.as_url_style(&self.storage_base_url),
            fields: &fields,
            conditions: &conditions,
            timestamp: inserted_at,
            expires_in: grant.lifetime,
        };
        let (policy, kind) = match (self.hmac_for(grant.bucket), &self.signer) {
            (Some(key), _) => (post_policy::sign_hmac(&request, key), "policy-hmac"),
            (None, RsaSigner::Key(_)) => {
                (post_policy::sign_rsa(&request, &self.signer)?, "policy-rsa")
            }
            (None, RsaSigner::Iam(_)) => {
                (post_policy::sign_rsa(&request, &self.signer)?, "policy-iam")
            }
        };
        Ok(IssuedPolicy {
            url: policy.url,
            kind,
            fields: policy.fields,
            inserted_at,
            expires_at,
        })
    }

    fn url_style(&self, bucket: &str) -> &BucketStyle {
        self.bucket_styles.get(bucket).unwrap_or(&BucketStyle::Path)
    }

    fn hmac_for(&self, bucket: &str) -> Option<&HmacKey> {
        self.hmac
            .as_ref()
            .filter(|_| self.hmac_buckets.contains(bucket))
    }
}

impl BucketStyle {
    fn as_url_style<'a>(&'a self, endpoint: &'a str) -> UrlStyle<'a> {
        match self {
            BucketStyle::Path => UrlStyle::Path { endpoint },
            BucketStyle::VirtualHosted => UrlStyle::VirtualHosted { endpoint },
            BucketStyle::BucketBound(url) => UrlStyle::BucketBound {
                scheme: "https",
                hostname: url,
            },
        }
    }
}

/// The headers a request with this grant must send, named as a browser sends them.
fn signed_headers(grant: &UrlGrant<'_>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, value: String| headers.push((name.to_owned(), value));
    if let Some(content_type) = grant.content_type {
        add("Content-Type", content_type.to_owned());
    }
    if let Some(md5) = grant.content_md5 {
        add("Content-MD5", md5.to_owned());
    }
    if let Some(cache_control) = grant.extras.cache_control {
        add("Cache-Control", cache_control.to_owned());
    }
    if let Some(disposition) = grant.extras.content_disposition {
        add("Content-Disposition", disposition.to_owned());
    }
    if let Some(range) = grant.content_length_range {
        add("x-goog-content-length-range", range.header_value());
    }
    if let Some(generation) = grant.if_generation_match {
        add("x-goog-if-generation-match", generation.to_string());
    }
    for (name, value) in grant.extras.metadata {
        add(name, value.clone());
    }
    if grant.action == Action::Resumable {
        add("x-goog-resumable", "start".to_owned());
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_policy_s_debug_names_its_fields_without_their_values() {
        let policy = IssuedPolicy {
            url: "https://storage.googleapis.com/bucket/".to_owned(),
            kind: "policy-hmac",
            fields: vec![
                ("key".to_owned(), "uploads/a.png".to_owned()),
                (
                    "x-amz-security-token".to_owned(),
                    "SESSIONTOKENVALUE".to_owned(),
                ),
                (
                    "x-goog-signature".to_owned(),
                    "0123abcdSIGNATUREVALUE".to_owned(),
                ),
            ],
            inserted_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!("{policy:?}");
        for secret in ["SESSIONTOKENVALUE", "0123abcdSIGNATUREVALUE"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("x-goog-signature"), "{shown}");
    }
}
