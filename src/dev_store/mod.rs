//! A local object store for development: the XML API requests that signed URLs and form
//! policies make (PUT, GET with Range, HEAD, DELETE, resumable uploads, form POST), with every
//! signature, expiry and signed condition checked as GCS checks them. Started by
//! `serve --dev` on its own port; nothing unsigned gets in or out.

mod error;
mod form;
pub mod idp;
mod objects;
mod resumable;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest as _, Md5};
use time::OffsetDateTime;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use error::StoreError;
pub use objects::Objects;
pub use verify::Keys;

use objects::Object;
use verify::{SignedRequest, header_value, percent_decode, query_pairs};

/// Largest object the dev store accepts.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;
/// The store's state: keys to check signatures with, buckets, objects, upload sessions.
#[derive(Debug)]
pub struct DevStore {
    pub keys: Keys,
    pub buckets: Vec<String>,
    pub objects: Objects,
    /// `http://host:port` of the store, for the `Location` of resumable sessions.
    pub base_url: String,
    sessions: Mutex<HashMap<String, resumable::Session>>,
}

impl DevStore {
    pub fn new(keys: Keys, buckets: Vec<String>, objects: Objects, base_url: String) -> Self {
        Self {
            keys,
            buckets,
            objects,
            base_url,
            sessions: Mutex::new(HashMap::new()),
        }
    }
}

/// The store's routes, with CORS for `cors_origins` (`*` for any), as a bucket's CORS
/// configuration would allow them; with the stand-in identity provider under `/_idp/`.
pub fn router(store: Arc<DevStore>, idp: Arc<idp::DevIdp>, cors_origins: &[String]) -> Router {
    let origins = if cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let cors = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::CONTENT_RANGE,
            header::CONTENT_DISPOSITION,
            header::CACHE_CONTROL,
            HeaderName::from_static("x-goog-generation"),
            HeaderName::from_static("x-goog-hash"),
        ])
        .max_age(Duration::from_secs(3600));
    Router::new()
        .nest_service(idp::PATH, idp::router(idp))
        .fallback(handle)
        .layer(cors)
        .with_state(store)
}

async fn handle(State(store): State<Arc<DevStore>>, request: Request) -> Response {
    match serve(&store, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(store: &DevStore, request: Request) -> Result<Response, StoreError> {
    let raw_path = request.uri().path().to_owned();
    let raw_query = request.uri().query().map(str::to_owned);
    let (bucket, object) = split_path(&raw_path)?;
    if !store.buckets.contains(&bucket) {
        return Err(StoreError::no_such_bucket());
    }
    if request.method() == Method::POST && object.is_empty() {
        return form::upload(store, &bucket, request).await;
    }
    if let Some(upload_id) = query_pairs(raw_query.as_deref())
        .into_iter()
        .find(|(name, _)| name == "upload_id")
        .map(|(_, value)| value)
    {
        return resumable::finish(store, &upload_id, request).await;
    }
    let name = object_name(&object)?;
    let now = OffsetDateTime::now_utc();
    verify::verify(
        &store.keys,
        &SignedRequest {
            method: request.method(),
            raw_path: &raw_path,
            raw_query: raw_query.as_deref(),
            headers: request.headers(),
            now,
        },
    )?;
    let headers = request.headers().clone();
    let generation = if_generation_match(&headers)?;
    match request.method().clone() {
        Method::GET | Method::HEAD => read(
            store,
            &bucket,
            &name,
            &headers,
            raw_query.as_deref(),
            request.method() == Method::HEAD,
        ),
        Method::PUT => {
            let body = read_body(request).await?;
            let content_type = header_value(&headers, "content-type");
            check_upload(&headers, &body)?;
            let object = new_object(body.to_vec(), content_type, &headers, now);
            let stored = store
                .objects
                .put(&bucket, &name, object, generation)
                .map_err(|reason| StoreError::not_stored(&reason))?;
            Ok(stored_response(StatusCode::OK, &stored))
        }
        Method::DELETE => match store.objects.delete(&bucket, &name, generation) {
            Ok(true) => Ok(StatusCode::NO_CONTENT.into_response()),
            Ok(false) => Err(StoreError::no_such_key()),
            Err(_) => Err(StoreError::precondition_failed()),
        },
        Method::POST if header_value(&headers, "x-goog-resumable").as_deref() == Some("start") => {
            resumable::start(store, &raw_path, bucket, name, &headers, generation, now)
        }
        _ => Err(StoreError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The method is not allowed here.",
        )),
    }
}

/// `/bucket/object` into the bucket (decoded) and the object part (still encoded).
fn split_path(raw_path: &str) -> Result<(String, String), StoreError> {
    let rest = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::access_denied(
            "Listing buckets is not supported here.",
        ));
    }
    Ok((percent_decode(bucket), object.to_owned()))
}

fn object_name(encoded: &str) -> Result<String, StoreError> {
    if encoded.is_empty() {
        return Err(StoreError::access_denied(
            "Listing objects is not supported here.",
        ));
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| StoreError::bad_request("InvalidArgument", "The object name is not UTF-8."))
}

fn if_generation_match(headers: &HeaderMap) -> Result<Option<u64>, StoreError> {
    header_value(headers, "x-goog-if-generation-match")
        .map(|value| {
            value.parse().map_err(|_| {
                StoreError::bad_request(
                    "InvalidArgument",
                    "x-goog-if-generation-match is not a number",
                )
            })
        })
        .transpose()
}

/// `x-goog-content-length-range` and `Content-MD5`, when the request carries them.
fn check_upload(headers: &HeaderMap, body: &[u8]) -> Result<(), StoreError> {
    if let Some(range) = header_value(headers, "x-goog-content-length-range") {
        check_length(parse_range(&range)?, body.len() as u64)?;
    }
    if let Some(expected) = header_value(headers, "content-md5")
        && expected != BASE64.encode(Md5::digest(body))
    {
        return Err(StoreError::bad_request(
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}

fn parse_range(value: &str) -> Result<(u64, u64), StoreError> {
    value
        .split_once(',')
        .and_then(|(min, max)| Some((min.trim().parse().ok()?, max.trim().parse().ok()?)))
        .ok_or_else(|| {
            StoreError::bad_request(
                "InvalidArgument",
                "x-goog-content-length-range must be min,max",
            )
        })
}

fn check_length((min, max): (u64, u64), length: u64) -> Result<(), StoreError> {
    if (min..=max).contains(&length) {
        Ok(())
    } else {
        Err(StoreError::bad_request(
            "EntityTooLarge",
            format!(
                "Your proposed upload of {length} bytes is outside the allowed range {min}..={max}."
            ),
        ))
    }
}

async fn read_body(request: Request) -> Result<Bytes, StoreError> {
    axum::body::to_bytes(request.into_body(), MAX_OBJECT_BYTES)
        .await
        .map_err(|_| {
            StoreError::bad_request(
                "EntityTooLarge",
                format!("The dev store keeps objects up to {MAX_OBJECT_BYTES} bytes."),
            )
        })
}

fn new_object(
    data: Vec<u8>,
    content_type: Option<String>,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Object {
    let metadata = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| name.starts_with("x-goog-meta-"))
        .filter_map(|name| Some((name.to_owned(), header_value(headers, name)?)))
        .collect();
    Object {
        md5: BASE64.encode(Md5::digest(&data)),
        data,
        content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
        generation: 0,
        metadata,
        cache_control: header_value(headers, "cache-control"),
        content_disposition: header_value(headers, "content-disposition"),
        updated: now.unix_timestamp(),
    }
}

fn object_headers(object: &Object) -> Vec<(HeaderName, String)> {
    let md5 = BASE64.decode(&object.md5).unwrap_or_default();
    let mut headers = vec![
        (header::ETAG, format!("\"{}\"", hex::encode(md5))),
        (
            HeaderName::from_static("x-goog-generation"),
            object.generation.to_string(),
        ),
        (
            HeaderName::from_static("x-goog-hash"),
            format!("md5={}", object.md5),
        ),
    ];
    for (name, value) in &object.metadata {
        if let Ok(name) = HeaderName::try_from(name.as_str()) {
            headers.push((name, value.clone()));
        }
    }
    if let Some(value) = &object.cache_control {
        headers.push((header::CACHE_CONTROL, value.clone()));
    }
    if let Some(value) = &object.content_disposition {
        headers.push((header::CONTENT_DISPOSITION, value.clone()));
    }
    headers
}

/// `response-content-type` and `response-content-disposition` of a read: they replace the
/// stored headers in the response, as GCS does.
fn response_overrides(raw_query: Option<&str>) -> Vec<(HeaderName, String)> {
    query_pairs(raw_query)
        .into_iter()
        .filter_map(|(name, value)| {
            let header = match percent_decode(&name).as_str() {
                "response-content-type" => header::CONTENT_TYPE,
                "response-content-disposition" => header::CONTENT_DISPOSITION,
                _ => return None,
            };
            // V2 URLs form-encode the value (a space is `+`), V4 URLs percent-encode it.
            Some((header, percent_decode(&value.replace('+', "%20"))))
        })
        .collect()
}

fn stored_response(status: StatusCode, object: &Object) -> Response {
    let mut response = status.into_response();
    for (name, value) in object_headers(object) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn read(
    store: &DevStore,
    bucket: &str,
    name: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    head: bool,
) -> Result<Response, StoreError> {
    let object = store
        .objects
        .get(bucket, name)
        .ok_or_else(StoreError::no_such_key)?;
    if if_generation_match(headers)?.is_some_and(|wanted| wanted != object.generation) {
        return Err(StoreError::precondition_failed());
    }
    let total = object.data.len();
    let (status, range) = match header_value(headers, "range") {
        None => (StatusCode::OK, 0..total),
        Some(spec) => (StatusCode::PARTIAL_CONTENT, byte_range(&spec, total)?),
    };
    let mut response = if head {
        status.into_response()
    } else {
        (status, object.data[range.clone()].to_vec()).into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&object.content_type) {
        response_headers.insert(header::CONTENT_TYPE, value);
    }
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(range.len()));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!(
            "bytes {}-{}/{total}",
            range.start,
            range.end.saturating_sub(1)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(header::CONTENT_RANGE, value);
        }
    }
    for (name, value) in object_headers(&object)
        .into_iter()
        .chain(response_overrides(raw_query))
    {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(name, value);
        }
    }
    Ok(response)
}

/// One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`.
fn byte_range(spec: &str, total: usize) -> Result<std::ops::Range<usize>, StoreError> {
    let unsatisfiable = || {
        StoreError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range cannot be satisfied.",
        )
    };
    let spec = spec.strip_prefix("bytes=").ok_or_else(unsatisfiable)?;
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().map_err(|_| unsatisfiable())?;
            total.saturating_sub(n)..total
        }
        (start, "") => start.parse().map_err(|_| unsatisfiable())?..total,
        (start, end) => {
            let start: usize = start.parse().map_err(|_| unsatisfiable())?;
            let end: usize = end.parse().map_err(|_| unsatisfiable())?;
            start..(end.saturating_add(1)).min(total)
        }
    };
    if range.start >= total || range.start >= range.end {
        return Err(unsatisfiable());
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range("bytes=0-3", 10).unwrap(), 0..4);
        assert_eq!(byte_range("bytes=5-", 10).unwrap(), 5..10);
        assert_eq!(byte_range("bytes=-3", 10).unwrap(), 7..10);
        assert_eq!(byte_range("bytes=8-100", 10).unwrap(), 8..10);
        for bad in ["bytes=10-", "bytes=5-2", "items=0-1", "bytes=x-1"] {
            assert_eq!(
                byte_range(bad, 10).unwrap_err().status,
                StatusCode::RANGE_NOT_SATISFIABLE,
                "{bad}"
            );
        }
    }
}
