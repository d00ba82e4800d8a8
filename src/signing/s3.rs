//! S3 presigned URLs (AWS Signature Version 4 in the query string), byte for byte as
//! botocore's `generate_presigned_url` builds them (botocore 1.44: `signers.py`,
//! `auth.py` `S3SigV4QueryAuth`, `serialize.py`, and the S3 endpoint rule set). Works for
//! Amazon S3 and for S3-compatible stores (MinIO, Cloudflare R2, Ceph RGW) at their own
//! endpoints. The SigV4 steps themselves are [`super::v4::prepare_target`]'s.
//!
//! What botocore does, read in its source and checked against it by `tests/s3_signing.rs`:
//!
//! - **Key in the path**: `percent_encode(key, safe='/~')` (`_render_uri_template`, greedy
//!   `{Key+}`), so only `A-Z a-z 0-9 - _ . ~ /` stay; that is GCS's set, hence
//!   [`encode_object_name`]. S3 does not normalise the path (`_normalize_url_path` returns
//!   it as is): `a//b`, `./x`, `../x` and a leading `/` are signed and sent as they are.
//! - **Query**: names and values are `quote(..., safe='-_.~')`: space is `%20`, `/` `%2F`,
//!   `+` `%2B`. The URL carries the operation's parameters (`response-content-disposition`,
//!   ...) first, in the caller's order, then `X-Amz-Algorithm`, `-Credential`, `-Date`,
//!   `-Expires`, `-SignedHeaders`, `-Security-Token` (temporary credentials only), and
//!   `X-Amz-Signature` last. The canonical query string sorts by name, then value.
//! - **Headers**: `Content-Type`, `Content-MD5`, `x-amz-meta-*` and `If-None-Match` are
//!   *signed headers* (listed in `X-Amz-SignedHeaders`), never query parameters; whoever uses
//!   the URL must send them with exactly these values. `host` is always signed: lower case,
//!   with the port unless it is the scheme's default (`_host_from_url`), while the URL keeps
//!   the endpoint's authority as written (`:443` included).
//! - **Payload**: always `UNSIGNED-PAYLOAD`.
//! - **Addressing** ([`AddressingStyle`]): see `locate_bucket`.
//!
//! Deliberate differences, both where botocore's output would not do what was asked:
//! - botocore drops a `Content-Type` of exactly `application/x-www-form-urlencoded;
//!   charset=utf-8` from the signed headers (`SigV4QueryAuth._modify_request_before_signing`,
//!   meant for its own default); we sign what the caller pins.
//! - For an `http` endpoint botocore puts a bucket name with dots in the host even when the
//!   endpoint is an IP address (`http://my.bucket.127.0.0.1:9000/`); no DNS resolves that,
//!   so IP endpoints always get path style here.

use time::OffsetDateTime;

use super::SignedUrl;
use super::encoding::{encode_object_name, encode_query_component};
use super::hmac::HmacKey;
use super::v4::{self, AWS_HMAC_ALGORITHM, Credential, Dialect, Prepared, Target};
use crate::domain::MAX_URL_LIFETIME_SECS as MAX_EXPIRES_IN;

/// How a bucket appears in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingStyle {
    /// `{endpoint}/{bucket}/{key}`: botocore's `addressing_style='path'`, and what its
    /// default (`auto`) picks for a custom `endpoint_url`.
    Path,
    /// `{scheme}://{bucket}.{authority}/{key}` when the bucket name can be a host name, else
    /// path style, as botocore's `addressing_style='virtual'`; what `auto` picks for AWS's
    /// own endpoints.
    VirtualHosted,
}

/// Everything an S3 presigned URL covers. Plain strings, like `v4::V4Request`.
#[derive(Debug, Clone, Copy)]
pub struct PresignRequest<'a> {
    /// `GET`, `HEAD`, `PUT`, `DELETE`, ...
    pub method: &'a str,
    /// `scheme://host[:port][/path]`: `https://s3.eu-west-1.amazonaws.com` ([`aws_endpoint`]),
    /// `http://127.0.0.1:9000` (MinIO), `https://<account>.r2.cloudflarestorage.com`, ...
    pub endpoint: &'a str,
    pub style: AddressingStyle,
    /// The bucket's region: `us-east-1`, `eu-central-1`, `auto` (R2), ...
    pub region: &'a str,
    pub bucket: &'a str,
    /// The object key, decoded (UTF-8, not percent-encoded).
    pub key: &'a str,
    /// Headers the request must carry (see [`ObjectHeaders`]); `host` is added.
    pub headers: &'a [(&'a str, &'a str)],
    /// Query parameters of the operation, decoded, with distinct names
    /// (`response-content-disposition`, `response-content-type`, `versionId`, ...).
    pub query: &'a [(&'a str, &'a str)],
    /// The request time (`X-Amz-Date`).
    pub timestamp: OffsetDateTime,
    /// Lifetime in seconds (`X-Amz-Expires`), 1 to [`MAX_EXPIRES_IN`].
    pub expires_in: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    #[error("the S3 endpoint must be http:// or https:// and a host, with at most a plain path")]
    InvalidEndpoint,
    #[error("an S3 bucket name has 1 to 255 of the characters A-Z a-z 0-9 . - _")]
    InvalidBucketName,
    #[error("an S3 object key must not be empty")]
    EmptyKey,
    #[error("an S3 presigned URL lives 1 to 604800 seconds")]
    InvalidExpiry,
    #[error("S3 metadata names must be HTTP tokens, and distinct")]
    InvalidMetadataName,
    /// botocore refuses it too (`validate_ascii_metadata`): S3 stores metadata as ASCII.
    #[error("S3 metadata values must be printable ASCII")]
    NonAsciiMetadata,
    #[error("the form field {0:?} is set by the signer")]
    ReservedField(String),
}

/// The endpoint botocore uses for a region of AWS's commercial partition when no
/// `endpoint_url` is set: `s3.amazonaws.com` for `us-east-1` (its "global" endpoint), else
/// `s3.<region>.amazonaws.com`. China's regions end in `amazonaws.com.cn`.
pub fn aws_endpoint(region: &str) -> String {
    match region {
        "us-east-1" => "https://s3.amazonaws.com".to_owned(),
        _ if region.starts_with("cn-") => format!("https://s3.{region}.amazonaws.com.cn"),
        _ => format!("https://s3.{region}.amazonaws.com"),
    }
}

/// The headers an upload URL can pin, named as botocore sends them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectHeaders<'a> {
    pub content_type: Option<&'a str>,
    /// Base64 of the body's MD5.
    pub content_md5: Option<&'a str>,
    /// `(name, value)`; sent as `x-amz-meta-{name}` (S3 lower-cases the name).
    pub metadata: &'a [(&'a str, &'a str)],
    /// `If-None-Match: *`: S3 refuses the `PUT` if the key exists (botocore's
    /// `put_object(IfNoneMatch="*")`).
    pub if_none_match_any: bool,
}

impl ObjectHeaders<'_> {
    /// The headers, to sign and to hand to whoever uses the URL.
    pub fn to_headers(&self) -> Result<Vec<(String, String)>, S3Error> {
        let mut headers = Vec::new();
        if let Some(content_type) = self.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(md5) = self.content_md5 {
            headers.push(("Content-MD5".to_owned(), md5.to_owned()));
        }
        if self.if_none_match_any {
            headers.push(("If-None-Match".to_owned(), "*".to_owned()));
        }
        for (i, (name, value)) in self.metadata.iter().enumerate() {
            let is_token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let repeated = self.metadata[..i]
                .iter()
                .any(|(other, _)| other.eq_ignore_ascii_case(name));
            if !is_token || repeated {
                return Err(S3Error::InvalidMetadataName);
            }
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(S3Error::NonAsciiMetadata);
            }
            headers.push((format!("x-amz-meta-{name}"), (*value).to_owned()));
        }
        Ok(headers)
    }
}

/// Canonicalises `request` for `access_id` (and the session token of temporary credentials).
pub fn prepare(
    request: &PresignRequest<'_>,
    access_id: &str,
    security_token: Option<&str>,
) -> Result<Prepared, S3Error> {
    if request.key.is_empty() {
        return Err(S3Error::EmptyKey);
    }
    if !(1..=MAX_EXPIRES_IN).contains(&request.expires_in) {
        return Err(S3Error::InvalidExpiry);
    }
    let location = locate_bucket(request.endpoint, request.style, request.bucket)?;
    Ok(v4::prepare_target(
        &Dialect::s3(request.region),
        &Credential {
            algorithm: AWS_HMAC_ALGORITHM,
            access_id,
            security_token,
        },
        &Target {
            method: request.method,
            canonical_uri: location.object_path(request.key),
            host: location.host(),
            url_prefix: location.origin,
            headers: request.headers,
            query: request.query,
            timestamp: request.timestamp,
            expires_in: request.expires_in,
        },
    ))
}

/// Signs `request` with an S3 access key.
pub fn presign_url(request: &PresignRequest<'_>, key: &HmacKey) -> Result<SignedUrl, S3Error> {
    let prepared = prepare(request, key.access_id(), key.session_token())?;
    let signature = key.sign_in(
        &Dialect::s3(request.region),
        prepared.date(),
        prepared.string_to_sign.as_bytes(),
    );
    Ok(prepared.signed_url(&signature))
}

/// Where a bucket's objects live: the URL's origin and the path before the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketLocation {
    scheme: String,
    /// `scheme://authority`, the bucket's host included in virtual-hosted style.
    origin: String,
    /// The path before `/{key}`: the bucket (path style) or the endpoint's own path.
    path: String,
}

impl BucketLocation {
    /// `CANONICAL_URI` of an object: botocore joins the endpoint's path and `/{key}`, dropping
    /// one `/` where both have it (`awsrequest._urljoin`).
    fn object_path(&self, key: &str) -> String {
        let base = self.path.strip_suffix('/').unwrap_or(&self.path);
        format!("{base}/{}", encode_object_name(key))
    }

    /// `scheme://authority/path/`: what an object's encoded key follows in its URL.
    pub(crate) fn object_url_prefix(&self) -> String {
        format!("{}{}", self.origin, self.object_path(""))
    }

    /// Where a POST form goes: the bucket's URL, `/` if it has no path (botocore's
    /// `generate_presigned_post`: the `CreateBucket` URL).
    pub(crate) fn form_url(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        format!("{}{path}", self.origin)
    }

    /// The `host` header: host name in lower case, port unless the scheme's default.
    fn host(&self) -> String {
        let authority = self.origin.split_once("://").map_or("", |(_, a)| a);
        let (host, port) = split_port(authority);
        let default = if self.scheme == "https" { "443" } else { "80" };
        match port {
            Some(port) if port != default => format!("{}:{port}", host.to_ascii_lowercase()),
            _ => host.to_ascii_lowercase(),
        }
    }
}

/// Places `bucket` at `endpoint` in `style`, following the S3 endpoint rule set
/// (`endpoint-rule-set-1.json`, for an `endpoint_url`):
///
/// 1. path style if asked for;
/// 2. virtual-hosted if the bucket is a host label (3 to 63 of `a-z 0-9 -`, not starting or
///    ending with `-`, not an IPv4 address) and the endpoint's host is not an IP address;
/// 3. over `http`, virtual-hosted also for dot-separated labels (`my.bucket`) (botocore:
///    even at an IP address; see the module's differences);
/// 4. path style otherwise (dots over `https`, where the wildcard certificate would not
///    match; upper case; `_`; short names).
pub(crate) fn locate_bucket(
    endpoint: &str,
    style: AddressingStyle,
    bucket: &str,
) -> Result<BucketLocation, S3Error> {
    let valid_bucket = (1..=255).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid_bucket {
        return Err(S3Error::InvalidBucketName);
    }
    let (scheme, authority, path) = parse_endpoint(endpoint)?;
    let at_ip = is_ip(split_port(authority).0);
    let virtual_hosted = style == AddressingStyle::VirtualHosted
        && !at_ip
        && (virtual_hostable(bucket, false)
            || (scheme == "http" && virtual_hostable(bucket, true)));
    Ok(if virtual_hosted {
        BucketLocation {
            scheme: scheme.to_owned(),
            origin: format!("{scheme}://{bucket}.{authority}"),
            path: path.to_owned(),
        }
    } else {
        // `{url#normalizedPath}{uri_encoded_bucket}`: the endpoint's path ends in `/`.
        let normalized = if path.ends_with('/') { "" } else { "/" };
        BucketLocation {
            scheme: scheme.to_owned(),
            origin: format!("{scheme}://{authority}"),
            path: format!("{path}{normalized}{}", encode_query_component(bucket)),
        }
    })
}

/// `(scheme, authority, path)` of an endpoint. The path may only hold unreserved characters
/// and `/` (no dot segments), so that botocore's normalisation and quoting of it change
/// nothing.
fn parse_endpoint(endpoint: &str) -> Result<(&str, &str, &str), S3Error> {
    let (scheme, rest) = endpoint.split_once("://").ok_or(S3Error::InvalidEndpoint)?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let (host, port) = split_port(authority);
    let plain_path = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    let valid = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains(['@', '?', '#', '/'])
        && port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        && plain_path;
    if valid {
        Ok((scheme, authority, path))
    } else {
        Err(S3Error::InvalidEndpoint)
    }
}

/// `(host, port)` of an authority; an IPv6 host keeps its brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.split_once(']') {
            Some((ip, rest)) => (&authority[..=ip.len()], rest.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// botocore's `isIp` of a parsed URL: four dot-separated groups of 1 to 3 digits, or a
/// bracketed IPv6 address.
fn is_ip(host: &str) -> bool {
    host.starts_with('[') || is_ipv4_like(host)
}

fn is_ipv4_like(value: &str) -> bool {
    let groups: Vec<&str> = value.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// botocore's `aws.isVirtualHostableS3Bucket(bucket, allow_subdomains)`.
fn virtual_hostable(bucket: &str, allow_dots: bool) -> bool {
    let label = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    bucket.len() >= 3
        && !bucket.bytes().any(|b| b.is_ascii_uppercase())
        && !is_ipv4_like(bucket)
        && if allow_dots {
            bucket.split('.').all(label)
        } else {
            label(bucket)
        }
}

#[cfg(test)]
#[path = "s3_tests.rs"]
mod tests;
