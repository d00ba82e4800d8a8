//! V4 signed URLs (GOOG4-RSA-SHA256 and GOOG4-HMAC-SHA256).
//!
//! From <https://cloud.google.com/storage/docs/authentication/signatures>:
//!
//! ```text
//! CanonicalRequest = HTTP_VERB + "\n" + PATH_TO_RESOURCE + "\n" + CANONICAL_QUERY_STRING + "\n"
//!                    + CANONICAL_HEADERS + "\n" + SIGNED_HEADERS + "\n" + PAYLOAD
//! StringToSign     = SIGNING_ALGORITHM + "\n" + CURRENT_DATETIME + "\n" + CREDENTIAL_SCOPE + "\n"
//!                    + HEX(SHA256(CanonicalRequest))
//! ```

use std::fmt::Write as _;

use aws_lc_rs::digest::{SHA256, digest};
use time::OffsetDateTime;

use super::encoding::{encode_object_name, encode_query_component};
use super::headers::canonical_headers;
use super::{SignError, SignedUrl, Signer};

pub const RSA_ALGORITHM: &str = "GOOG4-RSA-SHA256";
pub const HMAC_ALGORITHM: &str = "GOOG4-HMAC-SHA256";

/// Where the URL points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle<'a> {
    /// `{endpoint}/{bucket}/{object}`; `endpoint` is `scheme://host[:port]`.
    Path { endpoint: &'a str },
    /// `{scheme}://{bucket}.{host[:port]}/{object}`.
    VirtualHosted { endpoint: &'a str },
    /// `{scheme}://{hostname}/{object}`: a domain (CNAME or load balancer) bound to the bucket.
    BucketBound { scheme: &'a str, hostname: &'a str },
}

/// Everything a V4 signature covers. Plain strings, as in `v2::V2Request`.
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

/// A request canonicalised and ready to sign; the signature completes the URL.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub canonical_request: String,
    pub string_to_sign: String,
    url_without_signature: String,
}

impl Prepared {
    /// The URL, with `signature` (lower-case hex) as `X-Goog-Signature`.
    pub fn signed_url(&self, signature_hex: &str) -> SignedUrl {
        SignedUrl::new(format!(
            "{}&X-Goog-Signature={signature_hex}",
            self.url_without_signature
        ))
    }
}

/// `YYYYMMDDTHHMMSSZ`
pub fn request_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `YYYYMMDD/auto/storage/goog4_request`
pub fn credential_scope(at: OffsetDateTime) -> String {
    scope_of(&request_timestamp(at))
}

fn scope_of(timestamp: &str) -> String {
    format!("{}/auto/storage/goog4_request", &timestamp[..8])
}

/// Canonicalises `request` for `algorithm`, signed by `access_id` (the service account's
/// e-mail, or the HMAC key's access id).
pub fn prepare(request: &V4Request<'_>, algorithm: &str, access_id: &str) -> Prepared {
    let timestamp = request_timestamp(request.timestamp);
    let scope = scope_of(&timestamp);
    let (base, host, resource) = locate(request);

    let mut headers: Vec<(&str, &str)> = request.headers.to_vec();
    if !headers
        .iter()
        .any(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
    {
        headers.push(("host", &host));
    }
    let headers = canonical_headers(&headers);
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");

    // CANONICAL_QUERY_STRING: every `name=value`, each part encoded, sorted as whole strings
    // (as Google's Python client sorts them).
    let credential = format!("{access_id}/{scope}");
    let expires = request.expires_in.to_string();
    let mut query: Vec<(&str, &str)> = request.query.to_vec();
    query.extend([
        ("X-Goog-Algorithm", algorithm),
        ("X-Goog-Credential", &credential),
        ("X-Goog-Date", &timestamp),
        ("X-Goog-Expires", &expires),
        ("X-Goog-SignedHeaders", &signed_headers),
    ]);
    let mut pairs: Vec<String> = query
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                encode_query_component(name),
                encode_query_component(value)
            )
        })
        .collect();
    pairs.sort();
    let canonical_query = pairs.join("&");

    // CANONICAL_HEADERS: `name:value\n` each.
    let mut canonical_header_lines = String::new();
    for (name, value) in &headers {
        let _ = writeln!(canonical_header_lines, "{name}:{value}");
    }
    // PAYLOAD: the signed body hash if the request carries one, else unsigned.
    let payload = headers
        .iter()
        .find(|(name, _)| name == "x-goog-content-sha256")
        .map_or("UNSIGNED-PAYLOAD", |(_, value)| value.as_str());

    let canonical_request = [
        request.method,
        &resource,
        &canonical_query,
        &canonical_header_lines,
        &signed_headers,
        payload,
    ]
    .join("\n");
    let string_to_sign = [
        algorithm,
        &timestamp,
        &scope,
        &hex::encode(digest(&SHA256, canonical_request.as_bytes())),
    ]
    .join("\n");
    Prepared {
        canonical_request,
        string_to_sign,
        url_without_signature: format!("{base}{resource}?{canonical_query}"),
    }
}

/// Signs with the service account's RSA key (GOOG4-RSA-SHA256). For HMAC keys see
/// [`super::hmac::sign_url`].
pub fn sign_rsa(request: &V4Request<'_>, signer: &impl Signer) -> Result<SignedUrl, SignError> {
    let prepared = prepare(request, RSA_ALGORITHM, signer.google_access_id());
    let signature = signer.sign_rsa_sha256(prepared.string_to_sign.as_bytes())?;
    Ok(prepared.signed_url(&hex::encode(signature)))
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
