//! OpenStack Swift TempURLs: `{endpoint}/v1/{account}/{container}/{object}?temp_url_sig=…&
//! temp_url_expires=…`, signed as python-swiftclient's `utils.generate_temp_url` signs them
//! and verified as Swift's `tempurl` middleware verifies them
//! (<https://docs.openstack.org/swift/latest/api/temporary_url_middleware.html>).
//!
//! ```text
//! hmac_body = [ "ip=" IP_RANGE "\n" ] METHOD "\n" EXPIRES "\n" [ "prefix:" ] PATH
//! signature = hex(HMAC(key, hmac_body))                        sha1, sha256 (the default)
//!           | "sha512:" base64url_nopad(HMAC-SHA512(key, hmac_body))
//! ```
//!
//! What the two sides do, read in their source (swiftclient 4.11 `utils.py`, Swift 2.38
//! `common/middleware/tempurl.py`, `common/digest.py`) and checked by `tests/swift_signing.rs`:
//!
//! - **The signed path is the decoded one.** The middleware rebuilds
//!   `/v1/{account}/{container}/{object}` from `PATH_INFO`, which the WSGI server has
//!   percent-decoded, and checks the HMAC of that. swiftclient signs whatever string it is
//!   given and puts that same string in the URL, unencoded. Given an unencoded path it signs
//!   right but returns an unusable URL when the name holds a space, `?`, `#`, `%` or
//!   non-ASCII; given an encoded path its signature fails for exactly those names. So here the
//!   HMAC covers the decoded path and the URL carries it percent-encoded.
//! - **`EXPIRES` in the HMAC is always Unix seconds**, even when the URL carries ISO 8601
//!   (`temp_url_expires=2026-12-01T10:00:00Z`, which the middleware parses back).
//! - **Prefix URLs** sign `prefix:/v1/{account}/{container}/{prefix}` and add
//!   `temp_url_prefix={prefix}`; they are good for every object whose name starts with the
//!   prefix. swiftclient writes the prefix into the query unencoded; the middleware reads it
//!   with `parse_qs` (so a raw `+` would become a space), hence it is encoded here.
//! - **IP ranges** come first in the HMAC (`ip=…`, so a newline in a path cannot forge one)
//!   and as `temp_url_ip_range`.
//! - `filename` and `inline` are not signed; the middleware uses them for the response's
//!   `Content-Disposition`. A `HEAD` is allowed by a URL signed for `GET`, `HEAD`, `POST` or
//!   `PUT`.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::SignedUrl;
use super::encoding::{encode_object_name, encode_query_component, lower_hex};
use crate::timestamp;

/// A Swift `Temp-URL-Key` (account or container metadata). `Debug` does not print it.
#[derive(Clone)]
pub struct TempUrlKey(Zeroizing<String>);

impl TempUrlKey {
    pub fn new(key: Zeroizing<String>) -> Self {
        Self(key)
    }
}

impl fmt::Debug for TempUrlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TempUrlKey(<redacted>)")
    }
}

/// The HMAC's hash. Clusters list the ones they accept in `allowed_digests`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Digest {
    /// Deprecated: Swift 2.38 still accepts it by default (with a warning) and says a future
    /// release will not; older clusters may accept nothing else. ael.api signed with it.
    Sha1,
    /// swiftclient's default.
    #[default]
    Sha256,
    Sha512,
}

/// How `temp_url_expires` is written in the URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpiryFormat {
    /// `1796119200`
    #[default]
    UnixSeconds,
    /// `2026-12-01T10:00:00Z` (swiftclient's `iso8601=True`).
    Iso8601,
}

/// What the URL grants access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One object, by its decoded name.
    Object(&'a str),
    /// Every object whose name starts with this (possibly empty) prefix.
    Prefix(&'a str),
}

/// Everything a TempURL covers, and how its URL is written.
#[derive(Debug, Clone, Copy)]
pub struct TempUrlRequest<'a> {
    /// `GET`, `HEAD`, `PUT`, `POST`, `DELETE` (upper-cased, as swiftclient does).
    pub method: &'a str,
    /// `scheme://host[:port]` of the Swift proxy; a path here goes before `/v1` in the URL
    /// and is not signed.
    pub endpoint: &'a str,
    /// The account (ael.api's tenant): `AUTH_…`.
    pub account: &'a str,
    /// The container (ael.api's bucket).
    pub container: &'a str,
    pub scope: Scope<'a>,
    pub expires_at: OffsetDateTime,
    pub expiry_format: ExpiryFormat,
    pub digest: Digest,
    /// An address or CIDR range (`203.0.113.0/24`, `2001:db8::/32`) the client must come from.
    pub ip_range: Option<&'a str>,
    /// `filename=`: the name in the response's `Content-Disposition`.
    pub filename: Option<&'a str>,
    /// `inline`: `Content-Disposition: inline` rather than `attachment`.
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwiftError {
    #[error("a Swift TempURL needs an account and a container without '/', and an object name")]
    InvalidPath,
    #[error("a Swift TempURL IP range is an address or CIDR range")]
    InvalidIpRange,
    #[error("a Swift TempURL cannot expire before 1970")]
    InvalidExpiry,
    #[error("the Swift endpoint must be http:// or https:// and a host")]
    InvalidEndpoint,
}

/// The path the middleware checks: `/v1/{account}/{container}/{object}`, decoded, or
/// `prefix:/v1/{account}/{container}/{prefix}`.
pub fn signed_path(request: &TempUrlRequest<'_>) -> Result<String, SwiftError> {
    let part_ok = |part: &str| !part.is_empty() && !part.contains('/');
    let (prefix, name) = match request.scope {
        // The middleware refuses an object name of slashes only (`obj.strip('/')`).
        Scope::Object(name) if name.trim_matches('/').is_empty() => {
            return Err(SwiftError::InvalidPath);
        }
        Scope::Object(name) => ("", name),
        Scope::Prefix(prefix) => ("prefix:", prefix),
    };
    if !part_ok(request.account) || !part_ok(request.container) {
        return Err(SwiftError::InvalidPath);
    }
    Ok(format!(
        "{prefix}/v1/{}/{}/{name}",
        request.account, request.container
    ))
}

/// The text the HMAC covers (swiftclient's `hmac_body`, Swift's `get_hmac`).
pub fn hmac_body(request: &TempUrlRequest<'_>) -> Result<String, SwiftError> {
    let mut body = String::new();
    if let Some(range) = request.ip_range {
        body.push_str("ip=");
        body.push_str(valid_ip_range(range)?);
        body.push('\n');
    }
    body.push_str(&request.method.to_ascii_uppercase());
    body.push('\n');
    body.push_str(&expires_seconds(request.expires_at)?.to_string());
    body.push('\n');
    body.push_str(&signed_path(request)?);
    Ok(body)
}

/// `temp_url_sig`: hex for SHA-1 and SHA-256, `sha512:` and unpadded URL-safe base64 for
/// SHA-512 (swiftclient's forms; the middleware accepts them and more).
pub fn signature(request: &TempUrlRequest<'_>, key: &TempUrlKey) -> Result<String, SwiftError> {
    let body = hmac_body(request)?;
    let algorithm = match request.digest {
        Digest::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Digest::Sha256 => hmac::HMAC_SHA256,
        Digest::Sha512 => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(
        &hmac::Key::new(algorithm, key.0.as_bytes()),
        body.as_bytes(),
    );
    Ok(match request.digest {
        Digest::Sha512 => format!("sha512:{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
        Digest::Sha1 | Digest::Sha256 => lower_hex(tag.as_ref()),
    })
}

/// The TempURL.
pub fn temp_url(request: &TempUrlRequest<'_>, key: &TempUrlKey) -> Result<SignedUrl, SwiftError> {
    let endpoint = request.endpoint.trim_end_matches('/');
    let valid_endpoint = endpoint.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['?', '#'])
    });
    if !valid_endpoint {
        return Err(SwiftError::InvalidEndpoint);
    }
    let signature = signature(request, key)?;
    let seconds = expires_seconds(request.expires_at)?;
    let expires = match request.expiry_format {
        ExpiryFormat::UnixSeconds => seconds.to_string(),
        ExpiryFormat::Iso8601 => timestamp::iso8601(request.expires_at),
    };
    let name = match request.scope {
        Scope::Object(name) | Scope::Prefix(name) => name,
    };
    // Each part encoded (`/` kept in the object name); Swift decodes the path before checking.
    let mut url = format!(
        "{endpoint}/v1/{}/{}/{}?temp_url_sig={signature}&temp_url_expires={expires}",
        encode_object_name(request.account),
        encode_object_name(request.container),
        encode_object_name(name),
    );
    if let Some(range) = request.ip_range {
        // Only hex digits, `.`, `:` and `/`: nothing to encode, as swiftclient writes it.
        url.push_str("&temp_url_ip_range=");
        url.push_str(range);
    }
    if let Scope::Prefix(prefix) = request.scope {
        url.push_str("&temp_url_prefix=");
        url.push_str(&encode_object_name(prefix));
    }
    if let Some(filename) = request.filename {
        url.push_str("&filename=");
        url.push_str(&encode_query_component(filename));
    }
    if request.inline {
        url.push_str("&inline");
    }
    Ok(SignedUrl::new(url))
}

fn expires_seconds(at: OffsetDateTime) -> Result<u64, SwiftError> {
    u64::try_from(at.unix_timestamp()).map_err(|_| SwiftError::InvalidExpiry)
}

/// The middleware parses the range with Python's `ip_network`; here only its alphabet is
/// checked, which keeps newlines and query syntax out of the HMAC and the URL.
fn valid_ip_range(range: &str) -> Result<&str, SwiftError> {
    let alphabet = range
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b".:/".contains(&b));
    if !range.is_empty() && alphabet && range.bytes().any(|b| b.is_ascii_digit()) {
        Ok(range)
    } else {
        Err(SwiftError::InvalidIpRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scope: Scope<'_>) -> TempUrlRequest<'_> {
        TempUrlRequest {
            method: "get",
            endpoint: "https://swift.example:8080",
            account: "AUTH_account",
            container: "container",
            scope,
            // 2026-12-01T10:00:00Z
            expires_at: time::macros::datetime!(2026-12-01 10:00:00 UTC),
            expiry_format: ExpiryFormat::UnixSeconds,
            digest: Digest::Sha256,
            ip_range: None,
            filename: None,
            inline: false,
        }
    }

    fn key() -> TempUrlKey {
        TempUrlKey::new(Zeroizing::new("mykey".into()))
    }

    #[test]
    fn hmac_body_is_method_expiry_and_decoded_path() {
        assert_eq!(
            hmac_body(&request(Scope::Object("a b/ü?.txt"))).unwrap(),
            "GET\n1796119200\n/v1/AUTH_account/container/a b/ü?.txt"
        );
    }

    #[test]
    fn hmac_body_of_a_prefix_url_with_an_ip_range() {
        let request = TempUrlRequest {
            ip_range: Some("1.2.3.0/24"),
            ..request(Scope::Prefix("pre/"))
        };
        assert_eq!(
            hmac_body(&request).unwrap(),
            "ip=1.2.3.0/24\nGET\n1796119200\nprefix:/v1/AUTH_account/container/pre/"
        );
    }

    #[test]
    fn sha256_signature_matches_python_hmac() {
        // hmac.new(b"mykey", b"GET\n1796119200\n/v1/AUTH_account/container/object",
        //          hashlib.sha256).hexdigest(), computed with Python 3.11.
        assert_eq!(
            signature(&request(Scope::Object("object")), &key()).unwrap(),
            "5be1416dff927841b274a0268f9b6a7017007fe4b0d59886274cd460bf065e9f"
        );
    }

    #[test]
    fn sha1_url_of_ael_api_test_vector() {
        // Nebo15/ael.api, apps/ael_api/test/unit/secrets/api_test.exs, "swift link is
        // generated correctly": PUT, expires 2017-11-08T11:21:32Z, the config defaults as
        // tenant and key, HMAC-SHA1 (ael.api's only digest).
        let key = TempUrlKey::new(Zeroizing::new("set_swift_temp_url_key".into()));
        let request = TempUrlRequest {
            method: "PUT",
            endpoint: "https://swift.example",
            account: "set_swift_tenant_id",
            container: "test-container",
            scope: Scope::Object("B09E9D3E-EDE1-4A51-8FA7-46B4E8035795/some-file.png"),
            expires_at: time::macros::datetime!(2017-11-08 11:21:32 UTC),
            digest: Digest::Sha1,
            ..request(Scope::Object("o"))
        };
        assert_eq!(
            temp_url(&request, &key).unwrap().expose(),
            "https://swift.example/v1/set_swift_tenant_id/test-container/B09E9D3E-EDE1-4A51-8FA7-46B4E8035795/some-file.png?temp_url_sig=b15725813484636a67115bc8aa44b5aad4f480fe&temp_url_expires=1510140092"
        );
    }

    #[test]
    fn url_encodes_the_path_and_writes_expiry_as_asked() {
        let request = TempUrlRequest {
            expiry_format: ExpiryFormat::Iso8601,
            digest: Digest::Sha512,
            filename: Some("a b.pdf"),
            inline: true,
            ..request(Scope::Object("a b/ü?#%+.txt"))
        };
        let url = temp_url(&request, &key()).unwrap();
        let url = url.expose();
        assert!(
            url.starts_with(
                "https://swift.example:8080/v1/AUTH_account/container/a%20b/%C3%BC%3F%23%25%2B.txt?temp_url_sig=sha512:"
            ),
            "{url}"
        );
        assert!(url.ends_with("&temp_url_expires=2026-12-01T10:00:00Z&filename=a%20b.pdf&inline"));
    }

    #[test]
    fn prefix_is_encoded_in_the_query() {
        let url = temp_url(&request(Scope::Prefix("a+b/")), &key()).unwrap();
        assert!(
            url.expose().ends_with("&temp_url_prefix=a%2Bb/"),
            "{}",
            url.expose()
        );
    }

    #[test]
    fn refuses_what_the_middleware_could_not_check() {
        let refuse = |request: TempUrlRequest<'_>| temp_url(&request, &key()).unwrap_err();
        assert_eq!(refuse(request(Scope::Object(""))), SwiftError::InvalidPath);
        assert_eq!(
            refuse(request(Scope::Object("//"))),
            SwiftError::InvalidPath
        );
        assert_eq!(
            refuse(TempUrlRequest {
                container: "a/b",
                ..request(Scope::Object("o"))
            }),
            SwiftError::InvalidPath
        );
        assert_eq!(
            refuse(TempUrlRequest {
                account: "",
                ..request(Scope::Object("o"))
            }),
            SwiftError::InvalidPath
        );
        assert_eq!(
            refuse(TempUrlRequest {
                ip_range: Some("1.2.3.4\nGET"),
                ..request(Scope::Object("o"))
            }),
            SwiftError::InvalidIpRange
        );
        assert_eq!(
            refuse(TempUrlRequest {
                endpoint: "swift.example",
                ..request(Scope::Object("o"))
            }),
            SwiftError::InvalidEndpoint
        );
        assert_eq!(
            refuse(TempUrlRequest {
                expires_at: time::macros::datetime!(1969-12-31 23:59:59 UTC),
                ..request(Scope::Object("o"))
            }),
            SwiftError::InvalidExpiry
        );
        // An empty prefix is the whole container.
        assert!(temp_url(&request(Scope::Prefix("")), &key()).is_ok());
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "TempUrlKey(<redacted>)");
    }
}
