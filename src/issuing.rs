//! Turning an authorised request into a signed URL or form: which signing process, key, URL
//! style and signed headers. Pure apart from the signing keys; the time is passed in.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use crate::domain::{Action, ContentLengthRange, SigningVersion};
use crate::key::ServiceAccountKey;
use crate::signing::hmac::{self, HmacKey};
use crate::signing::post_policy::{self, Condition, Key, PolicyRequest};
use crate::signing::v4::{self, UrlStyle, V4Request};
use crate::signing::{SignError, SignedUrl, v2};
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

/// The keys and per-bucket choices that signing needs. Read-only after start-up.
#[derive(Debug)]
pub struct Issuer {
    pub key: ServiceAccountKey,
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
}

/// A signed URL and what its user must send with it.
#[derive(Debug)]
pub struct IssuedUrl {
    pub url: SignedUrl,
    pub version: SigningVersion,
    /// The headers the request must carry, exactly (the signature covers them).
    pub headers: Vec<(&'static str, String)>,
    pub inserted_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
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

/// A signed form: where to POST and the fields to send before the file.
#[derive(Debug)]
pub struct IssuedPolicy {
    pub url: String,
    pub fields: Vec<(String, String)>,
    pub inserted_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl Issuer {
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
        let url = match version {
            SigningVersion::V2 => self.sign_v2(grant, &headers, expires_at),
            SigningVersion::V4 => self.sign_v4(grant, &headers, inserted_at),
        }?;
        Ok(IssuedUrl {
            url,
            version,
            headers,
            inserted_at,
            expires_at,
        })
    }

    fn sign_v2(
        &self,
        grant: &UrlGrant<'_>,
        headers: &[(&'static str, String)],
        expires_at: OffsetDateTime,
    ) -> Result<SignedUrl, SignError> {
        // The clock is after 1970.
        let expires = u64::try_from(expires_at.unix_timestamp()).unwrap_or_default();
        // Content-Type and Content-MD5 have their own lines in V2; the rest are extension
        // headers.
        let extension: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| name.starts_with("x-goog-"))
            .map(|(name, value)| (*name, value.as_str()))
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
        v2::sign(&self.storage_base_url, &request, &self.key)
    }

    fn sign_v4(
        &self,
        grant: &UrlGrant<'_>,
        headers: &[(&'static str, String)],
        inserted_at: OffsetDateTime,
    ) -> Result<SignedUrl, SignError> {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let style = self.url_style(grant.bucket);
        let request = V4Request {
            method: grant.action.http_method(),
            bucket: grant.bucket,
            object: Some(grant.object),
            style: style.as_url_style(&self.storage_base_url),
            headers: &headers,
            query: &[],
            timestamp: inserted_at,
            expires_in: grant.lifetime,
        };
        match self.hmac_for(grant.bucket) {
            Some(key) => Ok(hmac::sign_url(&request, key)),
            None => v4::sign_rsa(&request, &self.key),
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
        let mut conditions = Vec::new();
        if let Some(range) = grant.content_length_range {
            conditions.push(Condition::ContentLengthRange {
                min: range.min,
                max: range.max,
            });
        }
        if let Some(prefix) = grant.content_type_prefix {
            conditions.push(Condition::StartsWith {
                field: "Content-Type",
                prefix,
            });
        }
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
        let policy = match self.hmac_for(grant.bucket) {
            Some(key) => post_policy::sign_hmac(&request, key),
            None => post_policy::sign_rsa(&request, &self.key)?,
        };
        Ok(IssuedPolicy {
            url: policy.url,
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
fn signed_headers(grant: &UrlGrant<'_>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(content_type) = grant.content_type {
        headers.push(("Content-Type", content_type.to_owned()));
    }
    if let Some(md5) = grant.content_md5 {
        headers.push(("Content-MD5", md5.to_owned()));
    }
    if let Some(range) = grant.content_length_range {
        headers.push(("x-goog-content-length-range", range.header_value()));
    }
    if let Some(generation) = grant.if_generation_match {
        headers.push(("x-goog-if-generation-match", generation.to_string()));
    }
    if grant.action == Action::Resumable {
        headers.push(("x-goog-resumable", "start".to_owned()));
    }
    headers
}
