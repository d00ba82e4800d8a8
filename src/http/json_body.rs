//! The JSON body extractor: checks the media type and size before parsing (with
//! `request::parse_json`, which refuses an ambiguous document), and turns every failure into
//! the service's error shape.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::domain::limits::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::request::parse_json;

/// Up to this much of a too-large body is read before answering 413.
const DRAIN_BYTES: usize = 1024 * 1024;

/// A request body that is a JSON document of at most `MAX` bytes, not yet validated.
#[derive(Debug)]
pub struct JsonBody<const MAX: usize = MAX_BODY_BYTES>(pub Value);

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for JsonBody<MAX> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body somewhat over the limit is still read (and dropped) before the 413 goes out:
        // closing a connection with unread data makes the kernel reset it, and the client would
        // see a broken pipe instead of the answer. Far larger bodies are cut off at once.
        let drain = MAX.max(DRAIN_BYTES);
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > drain as u64) {
            return Err(ApiError::PayloadTooLarge { limit: MAX });
        }
        let bytes = axum::body::to_bytes(request.into_body(), drain)
            .await
            .map_err(|error| {
                if is_length_limit(&error) {
                    ApiError::PayloadTooLarge { limit: MAX }
                } else {
                    ApiError::MalformedJson {
                        detail: "the body could not be read".into(),
                    }
                }
            })?;
        if bytes.len() > MAX {
            return Err(ApiError::PayloadTooLarge { limit: MAX });
        }
        // serde_json's syntax errors give a position, never the input, so they are safe to
        // return.
        parse_json(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::MalformedJson {
                detail: error.to_string(),
            })
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
