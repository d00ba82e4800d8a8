//! Signing a grant for an S3-compatible store (AWS S3, MinIO, Cloudflare R2, Ceph, GCS's XML
//! API): presigned URLs and POST policies, built by `signing::s3` and `signing::s3_post` as
//! botocore builds them.
//!
//! The grant's conditions become signed headers, named as botocore names them
//! (`ObjectHeaders`): `Content-Type`, `Content-MD5`, `If-None-Match: *` for "never
//! overwrite" (`if_generation_match: 0`), and `Content-Length` for an exact size (S3 has no
//! size range for URLs; the decision refuses other ranges). Forms carry the range as
//! `content-length-range`.

use time::OffsetDateTime;

use super::backend::BackendKind;
use super::issuer::{IssuedPolicy, IssuedUrl, PolicyGrant, UrlGrant};
use crate::domain::SigningVersion;
use crate::signing::hmac::HmacKey;
use crate::signing::s3::{self, AddressingStyle, ObjectHeaders, PresignRequest, S3Error};
use crate::signing::s3_post::{self, PostPolicyRequest};
use crate::timestamp;

/// Custom metadata arrives named for GCS (`FormRequest::metadata`, `UrlExtras::metadata`).
const GCS_METADATA_PREFIX: &str = "x-goog-meta-";
const S3_METADATA_PREFIX: &str = "x-amz-meta-";

/// An S3-compatible store and the access key that signs for it. `Debug` shows no secret.
#[derive(Debug)]
pub struct S3Store {
    /// `scheme://host[:port][/path]`.
    pub endpoint: String,
    pub region: String,
    pub key: HmacKey,
}

impl S3Store {
    /// A presigned URL for `grant`, addressed in `style`, at `now` (whole seconds).
    pub fn issue_url(
        &self,
        style: AddressingStyle,
        grant: &UrlGrant<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedUrl, S3Error> {
        let inserted_at = timestamp::whole_seconds(now);
        let expires_at = inserted_at + time::Duration::seconds(grant.lifetime.into());
        let headers = signed_headers(grant)?;
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        // `response-content-disposition`, `response-content-type`: botocore's names too.
        let query = grant.extras.response_query();
        let url = s3::presign_url(
            &PresignRequest {
                method: grant.action.http_method(),
                endpoint: &self.endpoint,
                style,
                region: &self.region,
                bucket: grant.bucket,
                key: grant.object,
                headers: &pairs,
                query: &query,
                timestamp: inserted_at,
                expires_in: grant.lifetime,
            },
            &self.key,
        )?;
        Ok(IssuedUrl {
            url,
            version: SigningVersion::V4,
            kind: "s3-v4",
            headers,
            inserted_at,
            expires_at,
            backend: BackendKind::S3,
        })
    }

    /// A POST policy for `grant`, at `now`.
    pub fn issue_policy(
        &self,
        style: AddressingStyle,
        grant: &PolicyGrant<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedPolicy, S3Error> {
        let inserted_at = timestamp::whole_seconds(now);
        let expires_at = inserted_at + time::Duration::seconds(grant.lifetime.into());
        let renamed: Vec<(String, &str)> = grant
            .fields
            .iter()
            .map(|(name, value)| {
                let name = name.strip_prefix(GCS_METADATA_PREFIX).map_or_else(
                    || (*name).to_owned(),
                    |meta| format!("{S3_METADATA_PREFIX}{meta}"),
                );
                (name, *value)
            })
            .collect();
        let mut fields: Vec<(&str, &str)> = renamed
            .iter()
            .map(|(name, value)| (name.as_str(), *value))
            .collect();
        if let Some(content_type) = grant.content_type {
            fields.push(("Content-Type", content_type));
        }
        let conditions = grant.conditions();
        let policy = s3_post::sign_post_policy(
            &PostPolicyRequest {
                endpoint: &self.endpoint,
                style,
                region: &self.region,
                bucket: grant.bucket,
                key: grant.key,
                fields: &fields,
                conditions: &conditions,
                timestamp: inserted_at,
                expires_in: grant.lifetime,
            },
            &self.key,
        )?;
        Ok(IssuedPolicy {
            url: policy.url,
            kind: "s3-policy",
            fields: policy.fields,
            inserted_at,
            expires_at,
        })
    }
}

/// The headers the request must send, exactly as signed.
fn signed_headers(grant: &UrlGrant<'_>) -> Result<Vec<(String, String)>, S3Error> {
    let extras = &grant.extras;
    let metadata: Vec<(&str, &str)> = extras
        .metadata
        .iter()
        .map(|(name, value)| {
            let name = name.strip_prefix(GCS_METADATA_PREFIX).unwrap_or(name);
            (name, value.as_str())
        })
        .collect();
    let mut headers = ObjectHeaders {
        content_type: grant.content_type,
        content_md5: grant.content_md5,
        metadata: &metadata,
        if_none_match_any: grant.if_generation_match == Some(0),
    }
    .to_headers()?;
    // botocore's `CacheControl` and `ContentDisposition` of `put_object`.
    if let Some(cache_control) = extras.cache_control {
        headers.push(("Cache-Control".to_owned(), cache_control.to_owned()));
    }
    if let Some(disposition) = extras.content_disposition {
        headers.push(("Content-Disposition".to_owned(), disposition.to_owned()));
    }
    // An exact size: the only size a URL can pin (browsers set `Content-Length` themselves).
    if let Some(range) = grant.content_length_range.filter(|r| r.min == r.max) {
        headers.push(("Content-Length".to_owned(), range.min.to_string()));
    }
    Ok(headers)
}
