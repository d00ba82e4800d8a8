//! `POST /media_content_storage_secrets`: validate, sign, respond.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;

use super::AppState;
use super::json_body::JsonBody;
use super::request_log::{IssuedLogFields, RequestId};
use super::secret_request::SecretRequest;
use crate::domain::{ContentMd5, ContentType};
use crate::error::ApiError;
use crate::signing::{self, SignedUrl};
use crate::timestamp;

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let secret =
        SecretRequest::from_json(&body, &state.known_buckets).map_err(ApiError::Validation)?;
    let issued = issue(&state, &secret, OffsetDateTime::now_utc())?;
    Ok(created(request_id, secret, issued))
}

struct Issued {
    url: SignedUrl,
    inserted_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// Signs a V2 URL that expires `SECRETS_TTL` seconds after `now` (whole seconds, like
/// `Expires`).
fn issue(
    state: &AppState,
    secret: &SecretRequest,
    now: OffsetDateTime,
) -> Result<Issued, ApiError> {
    let inserted_at = timestamp::whole_seconds(now);
    let expires_at = inserted_at + time::Duration::seconds(state.secrets_ttl.into());
    let expires = u64::try_from(expires_at.unix_timestamp())
        .map_err(|_| anyhow::anyhow!("the clock is before 1970"))?;
    let request = signing::v2::V2Request {
        method: secret.action.as_str(),
        bucket: secret.bucket.as_str(),
        object: secret.object.as_str(),
        content_md5: secret.content_md5.as_ref().map(ContentMd5::as_str),
        content_type: secret.content_type.as_ref().map(ContentType::as_str),
        extension_headers: &[],
        expires,
    };
    let url = signing::v2::sign(&state.storage_base_url, &request, &state.key)
        .map_err(anyhow::Error::from)?;
    Ok(Issued {
        url,
        inserted_at,
        expires_at,
    })
}

#[derive(Serialize)]
struct SecretResponse {
    meta: Meta,
    data: SecretData,
}

#[derive(Serialize)]
struct Meta {
    code: u16,
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: RequestId,
}

#[derive(Serialize)]
struct SecretData {
    action: &'static str,
    bucket: String,
    resource_id: String,
    resource_name: Option<String>,
    content_type: Option<String>,
    content_md5: Option<String>,
    secret_url: String,
    expires_at: String,
    inserted_at: String,
}

fn created(request_id: RequestId, secret: SecretRequest, issued: Issued) -> Response {
    let expires_at = timestamp::iso8601(issued.expires_at);
    let log_fields = IssuedLogFields {
        action: secret.action.as_str(),
        bucket: secret.bucket.to_string(),
        object: secret.object.to_string(),
        expires_at: expires_at.clone(),
    };
    let body = SecretResponse {
        meta: Meta {
            code: StatusCode::CREATED.as_u16(),
            kind: "object",
            request_id,
        },
        data: SecretData {
            action: secret.action.as_str(),
            bucket: secret.bucket.to_string(),
            resource_id: secret.resource_id,
            resource_name: secret.resource_name,
            content_type: secret.content_type.map(|ct| ct.as_str().to_owned()),
            content_md5: secret.content_md5.map(|md5| md5.as_str().to_owned()),
            secret_url: issued.url.into_inner(),
            expires_at,
            inserted_at: timestamp::iso8601(issued.inserted_at),
        },
    };
    // The URL is a bearer credential: no cache may keep the response.
    let mut response = (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response();
    response.extensions_mut().insert(log_fields);
    response
}
