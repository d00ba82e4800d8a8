//! Resumable uploads: a signed `POST` with `x-goog-resumable: start` opens a session, and a
//! `PUT` to the session URI (the capability, as with GCS) sends the data.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::PoisonError;
use time::OffsetDateTime;

use super::verify::header_value;
use super::{
    DevStore, StoreError, check_length, new_object, parse_range, read_body, stored_response,
};

/// How long a resumable upload session stays open: a week, as GCS's session URIs (a limit of
/// its own, not the signed-URL lifetime).
const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Open sessions the store keeps at once; each is small, but they are free to open.
const MAX_SESSIONS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Session {
    bucket: String,
    name: String,
    content_type: String,
    /// The signed headers of the start that the object keeps (metadata, cache control).
    object_headers: HeaderMap,
    if_generation_match: Option<u64>,
    length_range: Option<(u64, u64)>,
    expires: OffsetDateTime,
}

pub fn start(
    store: &DevStore,
    raw_path: &str,
    bucket: String,
    name: String,
    headers: &HeaderMap,
    if_generation_match: Option<u64>,
    now: OffsetDateTime,
) -> Result<Response, StoreError> {
    let length_range = header_value(headers, "x-goog-content-length-range")
        .map(|range| parse_range(&range))
        .transpose()?;
    let upload_id = uuid::Uuid::new_v4().simple().to_string();
    let mut sessions = store
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    sessions.retain(|_, session| session.expires > now);
    if sessions.len() >= MAX_SESSIONS {
        return Err(StoreError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManySessions",
            "The dev store has as many open upload sessions as it keeps; finish some first.",
        ));
    }
    let session = Session {
        bucket,
        name,
        content_type: header_value(headers, "content-type")
            .unwrap_or_else(|| "application/octet-stream".into()),
        object_headers: headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("x-goog-meta-")
                    || name == "cache-control"
                    || name == "content-disposition"
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        if_generation_match,
        length_range,
        expires: now + SESSION_LIFETIME,
    };
    sessions.insert(upload_id.clone(), session);
    drop(sessions);
    let location = format!("{}{raw_path}?upload_id={upload_id}", store.base_url);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// A `PUT` to a session URI: the session id is the capability, as with GCS.
pub async fn finish(
    store: &DevStore,
    upload_id: &str,
    request: Request,
) -> Result<Response, StoreError> {
    if request.method() != Method::PUT {
        return Err(StoreError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Send the data with PUT.",
        ));
    }
    let session = store
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(upload_id)
        .filter(|session| session.expires > OffsetDateTime::now_utc())
        .ok_or_else(|| {
            StoreError::new(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The upload session does not exist or has expired.",
            )
        })?;
    let body = read_body(request).await?;
    if let Some(range) = session.length_range {
        check_length(range, body.len() as u64)?;
    }
    let object = new_object(
        body.to_vec(),
        Some(session.content_type),
        &session.object_headers,
        OffsetDateTime::now_utc(),
    );
    let stored = store
        .objects
        .put(
            &session.bucket,
            &session.name,
            object,
            session.if_generation_match,
        )
        .map_err(|reason| StoreError::not_stored(&reason))?;
    Ok(stored_response(StatusCode::OK, &stored))
}
