//! Checking a signed request as GCS does: V2 (`GoogleAccessId`/`Expires`/`Signature`) and V4
//! (`X-Goog-*`), RSA against the public side of the service-account key, HMAC against the HMAC
//! key. The canonical forms are rebuilt from the request as it arrived (raw path, query and
//! headers), not from what the signer was asked for.

use std::fmt::Write as _;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq as _;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::error::StoreError;
use crate::domain::MAX_URL_LIFETIME_SECS;
use crate::signing::encoding::encode_query_component;
use crate::signing::hmac::HmacKey;

/// The keys whose signatures the store accepts.
#[derive(Debug)]
pub struct Keys {
    pub client_email: String,
    /// PKCS#1 `RSAPublicKey` DER.
    pub rsa_public_key: Vec<u8>,
    pub hmac: Option<HmacKey>,
}

/// A request as it reached the store.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    /// The path exactly as sent, percent-encoding included.
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub now: OffsetDateTime,
}

/// Checks the request's signature and expiry.
pub fn verify(keys: &Keys, request: &SignedRequest<'_>) -> Result<(), StoreError> {
    let query = query_pairs(request.raw_query);
    let has = |name: &str| query.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if has("X-Goog-Signature") {
        verify_v4(keys, request, &query)
    } else if has("Signature") {
        verify_v2(keys, request, &query)
    } else {
        Err(StoreError::access_denied(
            "Anonymous caller does not have access: the request carries no signature.",
        ))
    }
}

fn verify_v2(
    keys: &Keys,
    request: &SignedRequest<'_>,
    query: &[(String, String)],
) -> Result<(), StoreError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| form_decode(v))
            .ok_or_else(|| {
                StoreError::bad_request("MissingSecurityHeader", format!("{name} is missing"))
            })
    };
    let access_id = param("GoogleAccessId")?;
    let expires = param("Expires")?;
    let signature = param("Signature")?;
    if access_id != keys.client_email {
        return Err(StoreError::access_denied(format!(
            "{access_id} is not a key this store knows"
        )));
    }
    let expires_at: i64 = expires
        .parse()
        .map_err(|_| StoreError::bad_request("InvalidArgument", "Expires is not a number"))?;
    if request.now.unix_timestamp() > expires_at {
        return Err(StoreError::expired());
    }
    // StringToSign = VERB \n Content-MD5 \n Content-Type \n Expires \n extension headers + resource
    let header = |name: &str| header_value(request.headers, name).unwrap_or_default();
    let mut extension: Vec<(String, String)> = request
        .headers
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .filter(|name| name.starts_with("x-goog-"))
        .map(|name| {
            let value = header_value(request.headers, &name).unwrap_or_default();
            (name, value)
        })
        .collect();
    extension.sort();
    extension.dedup();
    let mut string_to_sign = format!(
        "{}\n{}\n{}\n{}\n",
        request.method.as_str(),
        header("content-md5"),
        header("content-type"),
        expires
    );
    for (name, value) in &extension {
        let _ = writeln!(string_to_sign, "{name}:{value}");
    }
    string_to_sign.push_str(request.raw_path);

    let signature = BASE64
        .decode(signature.as_bytes())
        .map_err(|_| StoreError::signature_mismatch())?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &keys.rsa_public_key)
        .verify(string_to_sign.as_bytes(), &signature)
        .map_err(|_| StoreError::signature_mismatch().with_detail("StringToSign", &string_to_sign))
}

fn verify_v4(
    keys: &Keys,
    request: &SignedRequest<'_>,
    query: &[(String, String)],
) -> Result<(), StoreError> {
    let params = V4Params::from_query(query)?;
    let (access_id, scope) = params.check_credential(request.now)?;
    let canonical_query = canonical_query(query);
    // The signed `host` may or may not carry the port: Google's conformance cases drop it,
    // Google's Python client keeps it. Both are the same request, so either form is accepted.
    let host = header_value(request.headers, "host")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut hosts = vec![strip_port(&host)];
    if hosts[0] != host {
        hosts.push(host);
    }
    let mut last_mismatch = None;
    for host in &hosts {
        let signed = SignedParts {
            algorithm: &params.algorithm,
            timestamp: &params.timestamp,
            scope,
            signed_headers: &params.signed_headers,
            canonical_query: &canonical_query,
            host,
        };
        match check_v4_signature(keys, request, &signed, access_id, &params.signature) {
            Ok(()) => return Ok(()),
            Err(error) if error.code == "SignatureDoesNotMatch" => last_mismatch = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_mismatch.unwrap_or_else(StoreError::signature_mismatch))
}

/// The `X-Goog-*` query parameters of a V4 request, decoded.
struct V4Params {
    algorithm: String,
    credential: String,
    timestamp: String,
    expires: String,
    signed_headers: String,
    signature: String,
}

impl V4Params {
    fn from_query(query: &[(String, String)]) -> Result<Self, StoreError> {
        let param = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| percent_decode(v))
                .ok_or_else(|| {
                    StoreError::bad_request(
                        "AuthorizationQueryParametersError",
                        format!("{name} is missing"),
                    )
                })
        };
        Ok(Self {
            algorithm: param("X-Goog-Algorithm")?,
            credential: param("X-Goog-Credential")?,
            timestamp: param("X-Goog-Date")?,
            expires: param("X-Goog-Expires")?,
            signed_headers: param("X-Goog-SignedHeaders")?,
            signature: param("X-Goog-Signature")?,
        })
    }

    /// The access id and the credential scope, once the scope matches the date and the URL
    /// has not expired at `now`.
    fn check_credential(&self, now: OffsetDateTime) -> Result<(&str, &str), StoreError> {
        let (access_id, scope) = self.credential.split_once('/').ok_or_else(|| {
            StoreError::bad_request(
                "AuthorizationQueryParametersError",
                "malformed X-Goog-Credential",
            )
        })?;
        let signed_at = parse_timestamp(&self.timestamp)?;
        // `DATE/LOCATION/storage/goog4_request`: GCS takes `auto` or the bucket's location (as
        // `gsutil signurl -r` and `gcloud storage sign-url --region` sign it).
        let valid_scope = scope
            .strip_prefix(&self.timestamp[..8])
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix("/storage/goog4_request"))
            .is_some_and(crate::signing::v4::is_location);
        if !valid_scope {
            return Err(StoreError::bad_request(
                "AuthorizationQueryParametersError",
                "the credential scope does not match X-Goog-Date",
            ));
        }
        let expires: i64 = self
            .expires
            .parse()
            .ok()
            .filter(|e| (1..=i64::from(MAX_URL_LIFETIME_SECS)).contains(e))
            .ok_or_else(|| {
                StoreError::bad_request(
                    "AuthorizationQueryParametersError",
                    format!("X-Goog-Expires must be 1 to {MAX_URL_LIFETIME_SECS}"),
                )
            })?;
        if now.unix_timestamp() > signed_at.unix_timestamp() + expires {
            return Err(StoreError::expired());
        }
        Ok((access_id, scope))
    }
}

/// `CANONICAL_QUERY_STRING`: everything but the signature, decoded and encoded again, sorted.
fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = query
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("X-Goog-Signature"))
        .map(|(name, value)| {
            format!(
                "{}={}",
                encode_query_component(&percent_decode(name)),
                encode_query_component(&percent_decode(value))
            )
        })
        .collect();
    pairs.sort();
    pairs.join("&")
}

/// The parts of a V4 request that its signature covers, besides method, path and headers.
struct SignedParts<'a> {
    algorithm: &'a str,
    timestamp: &'a str,
    scope: &'a str,
    signed_headers: &'a str,
    canonical_query: &'a str,
    host: &'a str,
}

fn check_v4_signature(
    keys: &Keys,
    request: &SignedRequest<'_>,
    signed: &SignedParts<'_>,
    access_id: &str,
    signature: &str,
) -> Result<(), StoreError> {
    let SignedParts {
        algorithm,
        timestamp,
        scope,
        ..
    } = *signed;
    // CANONICAL_HEADERS: the signed ones, as the request carries them.
    let mut names: Vec<&str> = signed.signed_headers.split(';').collect();
    names.sort_unstable();
    let mut canonical_headers = String::new();
    for name in &names {
        let value = if *name == "host" {
            Some(signed.host.to_owned())
        } else {
            header_value(request.headers, name)
        };
        let value = value.ok_or_else(|| {
            StoreError::signature_mismatch().with_detail("MissingSignedHeader", *name)
        })?;
        let _ = writeln!(canonical_headers, "{name}:{value}");
    }
    let payload = if names.contains(&"x-goog-content-sha256") {
        header_value(request.headers, "x-goog-content-sha256").unwrap_or_default()
    } else {
        "UNSIGNED-PAYLOAD".to_owned()
    };
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.as_str(),
        request.raw_path,
        signed.canonical_query,
        canonical_headers,
        names.join(";"),
        payload
    );
    let string_to_sign = format!(
        "{algorithm}\n{timestamp}\n{scope}\n{}",
        hex::encode(digest(&SHA256, canonical_request.as_bytes()))
    );
    let mismatch = || {
        StoreError::signature_mismatch()
            .with_detail("StringToSign", &string_to_sign)
            .with_detail("CanonicalRequest", &canonical_request)
    };
    verify_v4_signature(
        keys,
        algorithm,
        access_id,
        &timestamp[..8],
        &string_to_sign,
        signature,
        mismatch,
    )
}

/// Checks a V4 signature (hex) over `message` by the key `access_id` names: the service
/// account's RSA key, or the HMAC key, whose signing key depends on the day (`YYYYMMDD`).
/// Used for signed URLs and for form policies alike.
pub fn verify_v4_signature(
    keys: &Keys,
    algorithm: &str,
    access_id: &str,
    day: &str,
    message: &str,
    signature: &str,
    mismatch: impl Fn() -> StoreError,
) -> Result<(), StoreError> {
    match algorithm {
        "GOOG4-RSA-SHA256" => {
            if access_id != keys.client_email {
                return Err(StoreError::access_denied(format!(
                    "{access_id} is not a key this store knows"
                )));
            }
            let signature = hex::decode(signature).map_err(|_| mismatch())?;
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &keys.rsa_public_key)
                .verify(message.as_bytes(), &signature)
                .map_err(|_| mismatch())
        }
        "GOOG4-HMAC-SHA256" => {
            let key = keys
                .hmac
                .as_ref()
                .filter(|key| key.access_id() == access_id)
                .ok_or_else(|| {
                    StoreError::access_denied(format!(
                        "{access_id} is not an HMAC key this store knows"
                    ))
                })?;
            let expected = key.sign(day, message.as_bytes());
            if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        other => Err(StoreError::bad_request(
            "AuthorizationQueryParametersError",
            format!("unsupported X-Goog-Algorithm {other}"),
        )),
    }
}

/// `YYYYMMDDTHHMMSSZ`
pub fn parse_timestamp(value: &str) -> Result<OffsetDateTime, StoreError> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value, format)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            StoreError::bad_request("AuthorizationQueryParametersError", "malformed X-Goog-Date")
        })
}

/// The query as raw (still encoded) name/value pairs.
pub fn query_pairs(raw_query: Option<&str>) -> Vec<(String, String)> {
    raw_query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

pub fn percent_decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

fn form_decode(value: &str) -> String {
    percent_decode(&value.replace('+', " "))
}

/// A header's values joined with `,`, white space folded, as canonical headers want them.
pub fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn strip_port(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host.clone(), |(ip, _)| format!("{ip}]"));
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    }
}
