//! V2 signed URLs (`GoogleAccessId`, `Expires`, `Signature`).
//!
//! Grammar, from <https://cloud.google.com/storage/docs/access-control/signed-urls-v2>:
//!
//! ```text
//! StringToSign = HTTP_Verb + "\n" +
//!                Content_MD5 + "\n" +
//!                Content_Type + "\n" +
//!                Expires + "\n" +
//!                Canonicalized_Extension_Headers +
//!                Canonicalized_Resource
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::encoding::{push_form_value, push_object_name};
use super::headers::canonical_headers;
use super::{SignError, SignedUrl, Signer};

/// Everything a V2 signature covers. Plain strings: the API layer decides which names it
/// accepts; the signing layer reproduces Google's output for any name.
#[derive(Debug, Clone, Copy)]
pub struct V2Request<'a> {
    /// `GET`, `HEAD`, `PUT`, ... exactly as the client will send it.
    pub method: &'a str,
    pub bucket: &'a str,
    /// The object name, decoded (UTF-8, not percent-encoded).
    pub object: &'a str,
    /// Base64 of the MD5 of the body, if the uploader must send `Content-MD5`.
    pub content_md5: Option<&'a str>,
    /// The `Content-Type` the uploader must send.
    pub content_type: Option<&'a str>,
    /// `x-goog-*` headers the request must carry, e.g. `x-goog-if-generation-match`.
    pub extension_headers: &'a [(&'a str, &'a str)],
    /// Expiry as seconds since the Unix epoch (the `Expires` parameter).
    pub expires: u64,
}

/// `Canonicalized_Resource = "/" + bucket + "/" + percent-encoded object`, onto `out`.
fn push_canonical_resource(out: &mut String, bucket: &str, object: &str) {
    out.push('/');
    out.push_str(bucket);
    out.push('/');
    push_object_name(out, object);
}

/// `Canonicalized_Extension_Headers`: one `name:value` line per header, canonicalised as in
/// [`canonical_headers`].
pub fn canonical_extension_headers(headers: &[(&str, &str)]) -> Vec<String> {
    canonical_headers(headers)
        .into_iter()
        .map(|(name, value)| format!("{name}:{value}"))
        .collect()
}

/// The exact text that gets signed: its lines joined by `\n`, the resource last, without a
/// line break after it.
pub fn string_to_sign(request: &V2Request<'_>) -> String {
    let mut out = String::with_capacity(128 + request.bucket.len() + request.object.len());
    // HTTP_Verb \n Content_MD5 \n Content_Type \n Expires \n
    let _ = writeln!(
        out,
        "{}\n{}\n{}\n{}",
        request.method,
        request.content_md5.unwrap_or_default(),
        request.content_type.unwrap_or_default(),
        request.expires,
    );
    // Canonicalized_Extension_Headers (each line ends in \n)
    for line in canonical_extension_headers(request.extension_headers) {
        out.push_str(&line);
        out.push('\n');
    }
    // Canonicalized_Resource
    push_canonical_resource(&mut out, request.bucket, request.object);
    out
}

/// Assembles the URL once the string to sign has been signed.
///
/// `endpoint` is the scheme and host (and optional path prefix) without a trailing slash.
/// Query parameters are sorted by name and form-encoded, as Google's client does, so the URL
/// is byte-for-byte the one it builds: `Expires`, `GoogleAccessId`, `Signature`.
pub fn signed_url(
    endpoint: &str,
    request: &V2Request<'_>,
    google_access_id: &str,
    signature: &[u8],
) -> SignedUrl {
    let signature = BASE64.encode(signature);
    // Room for the usual URL: an object name with nothing to escape, and the signature's `+`,
    // `/` and `=` three bytes each.
    let mut url = String::with_capacity(
        endpoint.len()
            + request.bucket.len()
            + request.object.len()
            + google_access_id.len()
            + 2 * signature.len()
            + 64,
    );
    url.push_str(endpoint);
    push_canonical_resource(&mut url, request.bucket, request.object);
    let _ = write!(url, "?Expires={}&GoogleAccessId=", request.expires);
    push_form_value(&mut url, google_access_id);
    url.push_str("&Signature=");
    push_form_value(&mut url, &signature);
    SignedUrl::new(url)
}

/// Adds query parameters the V2 signature does not cover (`response-content-type`,
/// `response-content-disposition`) to a signed URL, as Google's client does: they are left out
/// of the string to sign (`canonicalize_v2` is given no query parameters) and sorted into the
/// query with the others, form-encoded. Their names start with a lower-case letter, so they
/// sort after `Expires`, `GoogleAccessId` and `Signature`.
pub fn with_unsigned_query(url: SignedUrl, query: &[(&str, &str)]) -> SignedUrl {
    if query.is_empty() {
        return url;
    }
    let mut pairs = query.to_vec();
    pairs.sort_unstable();
    let mut url = url.into_inner();
    for (name, value) in pairs {
        debug_assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
        url.push('&');
        push_form_value(&mut url, name);
        url.push('=');
        push_form_value(&mut url, value);
    }
    SignedUrl::new(url)
}

/// Signs `request` with `signer` and returns the URL.
pub fn sign(
    endpoint: &str,
    request: &V2Request<'_>,
    signer: &impl Signer,
) -> Result<SignedUrl, SignError> {
    let signature = signer.sign_rsa_sha256(string_to_sign(request).as_bytes())?;
    Ok(signed_url(
        endpoint,
        request,
        signer.google_access_id(),
        &signature,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(object: &'static str) -> V2Request<'static> {
        V2Request {
            method: "GET",
            bucket: "bucket",
            object,
            content_md5: None,
            content_type: None,
            extension_headers: &[],
            expires: 1_549_011_600,
        }
    }

    #[test]
    fn string_to_sign_has_empty_lines_for_missing_md5_and_type() {
        assert_eq!(
            string_to_sign(&get("a b")),
            "GET\n\n\n1549011600\n/bucket/a%20b"
        );
    }

    #[test]
    fn string_to_sign_places_md5_and_type_on_their_lines() {
        let request = V2Request {
            method: "PUT",
            content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg=="),
            content_type: Some("image/png"),
            ..get("x")
        };
        assert_eq!(
            string_to_sign(&request),
            "PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\nimage/png\n1549011600\n/bucket/x"
        );
    }

    #[test]
    fn extension_headers_sit_between_expires_and_resource() {
        let headers = [("x-goog-if-generation-match", "0")];
        let request = V2Request {
            method: "PUT",
            extension_headers: &headers,
            ..get("x")
        };
        assert_eq!(
            string_to_sign(&request),
            "PUT\n\n\n1549011600\nx-goog-if-generation-match:0\n/bucket/x"
        );
    }

    #[test]
    fn url_query_is_sorted_and_form_encoded() {
        let url = signed_url(
            "https://storage.example",
            &get("a+b"),
            "sa@p.iam",
            &[0xfb, 0xff, 0xfe],
        );
        assert_eq!(
            url.expose(),
            "https://storage.example/bucket/a%2Bb?Expires=1549011600&GoogleAccessId=sa%40p.iam&Signature=%2B%2F%2F%2B"
        );
    }
}
