//! The JSON body extractor: checks the media type and size before parsing, and turns every
//! failure into the service's error shape.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::error::ApiError;

/// A request body that is a JSON document, not yet validated.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // The size limit itself is `DefaultBodyLimit` on the router.
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    BytesRejection::FailedToBufferBody(failed)
                        if failed.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                    {
                        ApiError::PayloadTooLarge
                    }
                    other => ApiError::MalformedJson {
                        detail: format!("the body could not be read: {}", other.body_text()),
                    },
                })?;
        // serde_json's syntax errors give a position, never the input, so they are safe to
        // return.
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::MalformedJson {
                detail: error.to_string(),
            })
    }
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
