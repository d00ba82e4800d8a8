//! Signature Version 4: Google's V4 signing (GOOG4-RSA-SHA256, GOOG4-HMAC-SHA256) and AWS
//! Signature Version 4 (AWS4-HMAC-SHA256) are one algorithm under two sets of names.
//!
//! From <https://cloud.google.com/storage/docs/authentication/signatures> and
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>:
//!
//! ```text
//! CanonicalRequest = HTTP_VERB + "\n" + CANONICAL_URI + "\n" + CANONICAL_QUERY_STRING + "\n"
//!                    + CANONICAL_HEADERS + "\n" + SIGNED_HEADERS + "\n" + PAYLOAD
//! StringToSign     = SIGNING_ALGORITHM + "\n" + CURRENT_DATETIME + "\n" + CREDENTIAL_SCOPE + "\n"
//!                    + HEX(SHA256(CanonicalRequest))
//! CredentialScope  = YYYYMMDD + "/" + REGION + "/" + SERVICE + "/" + TERMINATOR
//! ```
//!
//! A [`Dialect`] holds what differs (query parameter names, scope, key derivation prefix,
//! how the URL's query is laid out); [`prepare_target`] does the rest for both. This file
//! also places GCS requests on their host ([`prepare`]); `s3.rs` places S3 requests.

use aws_lc_rs::digest::{SHA256, digest};
use time::OffsetDateTime;

use super::encoding::{encode_object_name, lower_hex, push_query_component};
use super::headers::canonical_headers;
use super::{SignError, SignedUrl, Signer};

pub const RSA_ALGORITHM: &str = "GOOG4-RSA-SHA256";
pub const HMAC_ALGORITHM: &str = "GOOG4-HMAC-SHA256";
/// AWS Signature Version 4 with an HMAC-SHA256 signing key.
pub const AWS_HMAC_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How the canonical query string is sorted, and how the URL carries the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLayout {
    /// Google's clients: every `name=value` pair encoded, then sorted as whole strings
    /// (`_signing._url_encode`); the URL carries the canonical query string itself.
    SortedPairs,
    /// botocore (`SigV4QueryAuth`): pairs sorted by encoded name, then by encoded value, as
    /// AWS's documentation says; the URL carries the operation's parameters in the caller's
    /// order, then `Algorithm, Credential, Date, Expires, SignedHeaders[, Security-Token]`.
    OperationThenAuth,
}

/// The names of the query parameters that carry the signature.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamNames {
    pub algorithm: &'static str,
    pub credential: &'static str,
    pub date: &'static str,
    pub expires: &'static str,
    pub signed_headers: &'static str,
    /// Sent only with temporary credentials (S3).
    pub security_token: &'static str,
    pub signature: &'static str,
}

/// The names that tell one SigV4 dialect from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect<'a> {
    /// The query parameters' names: `X-Goog-*` or `X-Amz-*`.
    pub params: &'static ParamNames,
    /// Put before the secret to make the first HMAC key: `GOOG4` or `AWS4`.
    pub secret_prefix: &'static str,
    /// `auto` for GCS; the bucket's region for S3.
    pub region: &'a str,
    pub service: &'static str,
    pub terminator: &'static str,
    /// The header whose value replaces `UNSIGNED-PAYLOAD` when a request carries it.
    pub content_sha256_header: &'static str,
    pub query_layout: QueryLayout,
}

impl Dialect<'static> {
    /// Google Cloud Storage: scope `YYYYMMDD/auto/storage/goog4_request`.
    pub const GCS: Self = Self {
        params: &ParamNames {
            algorithm: "X-Goog-Algorithm",
            credential: "X-Goog-Credential",
            date: "X-Goog-Date",
            expires: "X-Goog-Expires",
            signed_headers: "X-Goog-SignedHeaders",
            security_token: "X-Goog-Security-Token",
            signature: "X-Goog-Signature",
        },
        secret_prefix: "GOOG4",
        region: "auto",
        service: "storage",
        terminator: "goog4_request",
        content_sha256_header: "x-goog-content-sha256",
        query_layout: QueryLayout::SortedPairs,
    };
}

impl<'a> Dialect<'a> {
    /// Amazon S3 (and MinIO, R2, Ceph): scope `YYYYMMDD/<region>/s3/aws4_request`.
    pub const fn s3(region: &'a str) -> Self {
        Self {
            params: &ParamNames {
                algorithm: "X-Amz-Algorithm",
                credential: "X-Amz-Credential",
                date: "X-Amz-Date",
                expires: "X-Amz-Expires",
                signed_headers: "X-Amz-SignedHeaders",
                security_token: "X-Amz-Security-Token",
                signature: "X-Amz-Signature",
            },
            secret_prefix: "AWS4",
            region,
            service: "s3",
            terminator: "aws4_request",
            content_sha256_header: "x-amz-content-sha256",
            query_layout: QueryLayout::OperationThenAuth,
        }
    }

    /// `YYYYMMDD/region/service/terminator` for `date` (`YYYYMMDD`).
    pub fn credential_scope(&self, date: &str) -> String {
        format!(
            "{date}/{}/{}/{}",
            self.region, self.service, self.terminator
        )
    }
}

/// Who signs: the algorithm, the access id in the credential, and a session token if the
/// credentials are temporary (S3's `X-Amz-Security-Token`).
#[derive(Clone, Copy)]
pub struct Credential<'a> {
    pub algorithm: &'a str,
    pub access_id: &'a str,
    pub security_token: Option<&'a str>,
}

/// The session token is a credential: `Debug` says only whether there is one.
impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("algorithm", &self.algorithm)
            .field("access_id", &self.access_id)
            .field("security_token", &self.security_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// A request placed on its host: everything the canonical request covers.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub method: &'a str,
    /// What precedes the canonical URI in the URL: `scheme://authority`, plus (GCS) any path
    /// of the endpoint that is not signed.
    pub url_prefix: String,
    /// `CANONICAL_URI`: the encoded path, as signed and as sent.
    pub canonical_uri: String,
    /// The `host` header value, unless `headers` has one.
    pub host: String,
    /// Headers the request must carry.
    pub headers: &'a [(&'a str, &'a str)],
    /// Query parameters of the operation (e.g. `response-content-disposition`), decoded.
    pub query: &'a [(&'a str, &'a str)],
    /// The request time (`X-…-Date`).
    pub timestamp: OffsetDateTime,
    /// Lifetime in seconds (`X-…-Expires`).
    pub expires_in: u32,
}

/// A request canonicalised and ready to sign; the signature completes the URL.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub canonical_request: String,
    pub string_to_sign: String,
    url_without_signature: String,
    signature_param: &'static str,
}

impl Prepared {
    /// The URL, with `signature_hex` (lower-case hex) as `X-…-Signature`, last.
    pub fn signed_url(&self, signature_hex: &str) -> SignedUrl {
        SignedUrl::new(format!(
            "{}&{}={signature_hex}",
            self.url_without_signature, self.signature_param
        ))
    }

    /// `YYYYMMDD`: the day whose derived key signs this request (the string to sign's
    /// second line starts with it).
    pub fn date(&self) -> &str {
        self.string_to_sign
            .split('\n')
            .nth(1)
            .map_or("", |timestamp| timestamp.get(..8).unwrap_or_default())
    }
}

/// `YYYYMMDDTHHMMSSZ`
pub fn request_timestamp(at: OffsetDateTime) -> String {
    crate::timestamp::iso8601_basic(at)
}

/// `YYYYMMDD/auto/storage/goog4_request`
pub fn credential_scope(at: OffsetDateTime) -> String {
    Dialect::GCS.credential_scope(&request_timestamp(at)[..8])
}

/// The location of the credential scope that Google's client libraries sign: any bucket.
pub const DEFAULT_LOCATION: &str = "auto";

/// Whether `location` can stand in a credential scope: `auto`, or a region such as
/// `us-east1` or `europe-west3` (lower-case letters, digits and `-`).
pub fn is_location(location: &str) -> bool {
    !location.is_empty()
        && location.len() <= 64
        && location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Canonicalises `target` in `dialect` for `credential`: the canonical request, the string to
/// sign and the URL that only lacks its signature.
pub fn prepare_target(
    dialect: &Dialect<'_>,
    credential: &Credential<'_>,
    target: &Target<'_>,
) -> Prepared {
    // Each string is built once, into a buffer sized up front: this runs for every V4 and HMAC
    // URL, and `format!` per pair with joined vectors cost about 10,000 instructions of one.
    let timestamp = request_timestamp(target.timestamp);
    let scope = dialect.credential_scope(&timestamp[..8]);

    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(target.headers.len() + 1);
    headers.extend_from_slice(target.headers);
    if !headers
        .iter()
        .any(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
    {
        headers.push(("host", &target.host));
    }
    let headers = canonical_headers(&headers);
    let mut signed_headers = String::with_capacity(64);
    for (name, _) in &headers {
        if !signed_headers.is_empty() {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }

    let names = dialect.params;
    let mut credential_value = String::with_capacity(credential.access_id.len() + scope.len() + 1);
    credential_value.push_str(credential.access_id);
    credential_value.push('/');
    credential_value.push_str(&scope);
    let expires = target.expires_in.to_string();
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(target.query.len() + 6);
    pairs.extend_from_slice(target.query);
    pairs.extend([
        (names.algorithm, credential.algorithm),
        (names.credential, credential_value.as_str()),
        (names.date, timestamp.as_str()),
        (names.expires, expires.as_str()),
        (names.signed_headers, signed_headers.as_str()),
    ]);
    if let Some(token) = credential.security_token {
        pairs.push((names.security_token, token));
    }
    let query = EncodedQuery::new(&pairs);

    let mut url = String::with_capacity(
        target.url_prefix.len() + target.canonical_uri.len() + query.text.len() + 100,
    );
    url.push_str(&target.url_prefix);
    url.push_str(&target.canonical_uri);
    url.push('?');
    let mut canonical_request = String::with_capacity(512 + query.text.len());
    for part in [target.method, "\n", &target.canonical_uri, "\n"] {
        canonical_request.push_str(part);
    }
    match dialect.query_layout {
        QueryLayout::SortedPairs => {
            let sorted = query.sorted_by(|pair| pair);
            query.join(&sorted, &mut url);
            query.join(&sorted, &mut canonical_request);
        }
        QueryLayout::OperationThenAuth => {
            query.join(&query.pairs, &mut url);
            let sorted = query.sorted_by(|pair| pair.split_once('=').unwrap_or((pair, "")));
            query.join(&sorted, &mut canonical_request);
        }
    }
    canonical_request.push('\n');
    // CANONICAL_HEADERS: `name:value\n` each.
    for (name, value) in &headers {
        for part in [name.as_str(), ":", value.as_str(), "\n"] {
            canonical_request.push_str(part);
        }
    }
    // PAYLOAD: the signed body hash if the request carries one, else unsigned (botocore's
    // `S3SigV4QueryAuth.payload`, Google's `_signing.generate_signed_url_v4`).
    let payload = headers
        .iter()
        .find(|(name, _)| name == dialect.content_sha256_header)
        .map_or("UNSIGNED-PAYLOAD", |(_, value)| value.as_str());
    for part in ["\n", &signed_headers, "\n", payload] {
        canonical_request.push_str(part);
    }
    let string_to_sign =
        string_to_sign(credential.algorithm, &timestamp, &scope, &canonical_request);
    Prepared {
        canonical_request,
        string_to_sign,
        url_without_signature: url,
        signature_param: names.signature,
    }
}

/// `StringToSign = ALGORITHM \n TIMESTAMP \n SCOPE \n HEX(SHA256(CanonicalRequest))`
pub fn string_to_sign(
    algorithm: &str,
    timestamp: &str,
    scope: &str,
    canonical_request: &str,
) -> String {
    let hash = lower_hex(digest(&SHA256, canonical_request.as_bytes()).as_ref());
    let mut text = String::with_capacity(algorithm.len() + timestamp.len() + scope.len() + 67);
    for part in [algorithm, "\n", timestamp, "\n", scope, "\n", &hash] {
        text.push_str(part);
    }
    text
}

/// Query parameters as `name=value`, both parts encoded with the unreserved set
/// (`A-Z a-z 0-9 - . _ ~`: Google's `_quote_param` and botocore's `percent_encode`,
/// `safe='-_.~'`, agree), in one buffer.
struct EncodedQuery {
    text: String,
    /// Where each pair is in `text`, in the order given.
    pairs: Vec<std::ops::Range<usize>>,
}

impl EncodedQuery {
    fn new(pairs: &[(&str, &str)]) -> Self {
        let mut text = String::with_capacity(384);
        let mut ranges = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let start = text.len();
            push_query_component(&mut text, name);
            text.push('=');
            push_query_component(&mut text, value);
            ranges.push(start..text.len());
        }
        Self {
            text,
            pairs: ranges,
        }
    }

    /// The pairs sorted by `key` of their `name=value` text.
    fn sorted_by<'s, K: Ord>(&'s self, key: impl Fn(&'s str) -> K) -> Vec<std::ops::Range<usize>> {
        let mut sorted = self.pairs.clone();
        sorted.sort_by_key(|range| key(&self.text[range.clone()]));
        sorted
    }

    /// `pairs` joined with `&`, onto `out`.
    fn join(&self, pairs: &[std::ops::Range<usize>], out: &mut String) {
        for (index, range) in pairs.iter().enumerate() {
            if index > 0 {
                out.push('&');
            }
            out.push_str(&self.text[range.clone()]);
        }
    }
}

/// Where a GCS URL points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle<'a> {
    /// `{endpoint}/{bucket}/{object}`; `endpoint` is `scheme://host[:port]`.
    Path { endpoint: &'a str },
    /// `{scheme}://{bucket}.{host[:port]}/{object}`.
    VirtualHosted { endpoint: &'a str },
    /// `{scheme}://{hostname}/{object}`: a domain (CNAME or load balancer) bound to the bucket.
    BucketBound { scheme: &'a str, hostname: &'a str },
}

/// Everything a GCS V4 signature covers. Plain strings, as in `v2::V2Request`.
#[derive(Debug, Clone, Copy)]
pub struct V4Request<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    /// `None` signs the bucket itself (listing).
    pub object: Option<&'a str>,
    pub style: UrlStyle<'a>,
    /// Headers the request must carry, besides `host` (added here).
    pub headers: &'a [(&'a str, &'a str)],
    /// Extra query parameters (e.g. `response-content-disposition`).
    pub query: &'a [(&'a str, &'a str)],
    /// The request time (`X-Goog-Date`).
    pub timestamp: OffsetDateTime,
    /// Lifetime in seconds (`X-Goog-Expires`); Google accepts at most seven days.
    pub expires_in: u32,
}

/// Canonicalises a GCS `request` for `algorithm`, signed by `access_id` (the service
/// account's e-mail, or the HMAC key's access id), in the `auto` location.
pub fn prepare(request: &V4Request<'_>, algorithm: &str, access_id: &str) -> Prepared {
    prepare_in(request, algorithm, access_id, DEFAULT_LOCATION)
}

/// [`prepare`] with the credential scope's location named (`gsutil signurl -r REGION`).
/// `location` must pass [`is_location`].
pub fn prepare_in(
    request: &V4Request<'_>,
    algorithm: &str,
    access_id: &str,
    location: &str,
) -> Prepared {
    let (url_prefix, host, canonical_uri) = locate(request);
    prepare_target(
        &Dialect {
            region: location,
            ..Dialect::GCS
        },
        &Credential {
            algorithm,
            access_id,
            security_token: None,
        },
        &Target {
            method: request.method,
            url_prefix,
            canonical_uri,
            host,
            headers: request.headers,
            query: request.query,
            timestamp: request.timestamp,
            expires_in: request.expires_in,
        },
    )
}

/// Signs with the service account's RSA key (GOOG4-RSA-SHA256). For HMAC keys see
/// [`super::hmac::sign_url`].
pub fn sign_rsa(request: &V4Request<'_>, signer: &impl Signer) -> Result<SignedUrl, SignError> {
    let prepared = prepare(request, RSA_ALGORITHM, signer.google_access_id());
    let signature = signer.sign_rsa_sha256(prepared.string_to_sign.as_bytes())?;
    Ok(prepared.signed_url(&lower_hex(&signature)))
}

/// The URL base (scheme and authority), the canonical `host`, and the path to the resource.
fn locate(request: &V4Request<'_>) -> (String, String, String) {
    let object = request.object.map(encode_object_name);
    let bucketless = format!("/{}", object.as_deref().unwrap_or_default());
    match request.style {
        UrlStyle::Path { endpoint } => {
            let resource = match &object {
                Some(object) => format!("/{}/{object}", request.bucket),
                None => format!("/{}", request.bucket),
            };
            (endpoint.to_owned(), host_of(authority(endpoint)), resource)
        }
        UrlStyle::VirtualHosted { endpoint } => {
            let (scheme, authority) = split_scheme(endpoint);
            let authority = format!("{}.{authority}", request.bucket);
            let host = host_of(&authority);
            (format!("{scheme}://{authority}"), host, bucketless)
        }
        UrlStyle::BucketBound { scheme, hostname } => {
            let (scheme, authority) = if hostname.contains("://") {
                split_scheme(hostname)
            } else {
                (scheme, hostname)
            };
            (
                format!("{scheme}://{authority}"),
                host_of(authority),
                bucketless,
            )
        }
    }
}

fn split_scheme(url: &str) -> (&str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    (scheme, rest.split('/').next().unwrap_or_default())
}

fn authority(url: &str) -> &str {
    split_scheme(url).1
}

/// The `host` header value: the authority without its port. Google's conformance cases sign
/// `host:localhost` for `http://localhost:8080` and `host:storage.googleapis.com` for
/// `https://storage.googleapis.com:443` ("Simple GET with non-default hostname", "Simple GET
/// with endpoint on client"); Google's Python client would keep the port.
fn host_of(authority: &str) -> String {
    if let Some(rest) = authority.strip_prefix('[') {
        // [IPv6]:port
        return rest
            .split_once(']')
            .map_or(authority.to_owned(), |(ip, _)| format!("[{ip}]"));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
        _ => authority.to_owned(),
    }
    .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_s_debug_hides_its_session_token() {
        let credential = Credential {
            algorithm: AWS_HMAC_ALGORITHM,
            access_id: "AKIDEXAMPLE",
            security_token: Some("FQoGZXIvYXdzEXAMPLETOKEN"),
        };
        let shown = format!("{credential:?}");
        assert!(!shown.contains("FQoGZXIvYXdzEXAMPLETOKEN"), "{shown}");
        assert!(
            shown.contains("AKIDEXAMPLE") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn locations_are_auto_or_region_names() {
        for good in ["auto", "us-east1", "europe-west3", "us"] {
            assert!(is_location(good), "{good}");
        }
        for bad in ["", "US-EAST1", "us/east", "a b", "us_east1"] {
            assert!(!is_location(bad), "{bad}");
        }
    }

    #[test]
    fn host_drops_the_port() {
        assert_eq!(host_of("localhost:8080"), "localhost");
        assert_eq!(host_of("Storage.GoogleAPIs.com"), "storage.googleapis.com");
        assert_eq!(host_of("[::1]:4000"), "[::1]");
        assert_eq!(host_of("bucket.example"), "bucket.example");
    }

    #[test]
    fn timestamps_are_basic_iso8601_utc() {
        let at = time::macros::datetime!(2019-02-01 09:00:00 UTC);
        assert_eq!(request_timestamp(at), "20190201T090000Z");
        assert_eq!(credential_scope(at), "20190201/auto/storage/goog4_request");
    }
}
