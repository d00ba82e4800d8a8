//! `POST /media_content_storage_secrets`: authenticate, validate, authorise, sign, audit,
//! respond. Every outcome is audited; a URL leaves only after its record is written.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;

use super::AppState;
use super::json_body::JsonBody;
use super::request_log::{DecisionLogFields, RequestId};
use super::secret_request::SecretRequest;
use crate::audit::{AuditEvent, AuditUnavailable, Decision};
use crate::domain::{ContentMd5, ContentType, Violation};
use crate::error::{ApiError, InvalidEntry};
use crate::policy::Access;
use crate::signing::{self, SignedUrl};
use crate::timestamp;

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let mut audit = AuditEvent::new(request_id.as_str(), Some(remote.to_string()));
    let outcome = decide(&state, &headers, body, &mut audit);
    let log_fields = DecisionLogFields::from(&audit);
    let mut response = match record(&state, audit).await {
        Err(unavailable) => ApiError::from(unavailable).into_response(),
        Ok(()) => match outcome {
            Ok((secret, issued)) => created(request_id, secret, issued),
            Err(error) => error.into_response(),
        },
    };
    response.extensions_mut().insert(log_fields);
    response
}

struct Issued {
    url: SignedUrl,
    inserted_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// Decides the request, filling `audit` with what was decided and why.
fn decide(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<JsonBody, ApiError>,
    audit: &mut AuditEvent,
) -> Result<(SecretRequest, Issued), ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let client = state
        .authenticator()
        .authenticate(authorization)
        .map_err(|e| {
            refuse(
                audit,
                Decision::Unauthenticated,
                ApiError::Unauthenticated(e),
            )
        })?;
    audit.client_id = Some(client.id.clone());

    let JsonBody(body) = body.map_err(|e| refuse(audit, Decision::Invalid, e))?;
    let secret = SecretRequest::from_json(&body, &state.known_buckets)
        .map_err(|entries| refuse(audit, Decision::Invalid, ApiError::Validation(entries)))?;
    audit.action = Some(secret.action.as_str());
    audit.bucket = Some(secret.bucket.to_string());
    audit.object = Some(secret.object.to_string());

    let lifetime = client
        .lifetime(secret.expires_in, state.secrets_ttl)
        .map_err(|too_long| {
            let violation = Violation::new("number", too_long.to_string())
                .with_params(serde_json::json!({"less_than_or_equal_to": too_long.max_ttl}));
            let entry = InvalidEntry::json_property("$.secret.expires_in", violation);
            refuse(audit, Decision::Invalid, ApiError::Validation(vec![entry]))
        })?;
    let path = format!("/{}/{}", secret.bucket, secret.object);
    let access = Access {
        action: secret.action,
        path: &path,
        content_type: secret.content_type.as_ref().map(ContentType::as_str),
    };
    let rule = client
        .authorize(&access)
        .map_err(|denial| refuse(audit, Decision::Denied, ApiError::Forbidden(denial)))?;

    let issued = sign(state, &secret, lifetime, OffsetDateTime::now_utc())
        .map_err(|e| refuse(audit, Decision::Failed, e))?;
    audit.expires_at = Some(timestamp::iso8601(issued.expires_at));
    audit.decide(
        Decision::Issued,
        format!("allowed by rule {rule} of client {:?}", client.id),
    );
    Ok((secret, issued))
}

fn refuse(audit: &mut AuditEvent, decision: Decision, error: ApiError) -> ApiError {
    audit.decide(decision, error.audit_reason());
    error
}

/// Writes the audit record; slow synced writes run off the async executor.
async fn record(state: &Arc<AppState>, event: AuditEvent) -> Result<(), AuditUnavailable> {
    if state.audit.syncs() {
        let state = Arc::clone(state);
        tokio::task::spawn_blocking(move || state.audit.record(&event))
            .await
            .unwrap_or(Err(AuditUnavailable))
    } else {
        state.audit.record(&event)
    }
}

/// Signs a V2 URL that expires `lifetime` seconds after `now` (whole seconds, like `Expires`).
fn sign(
    state: &AppState,
    secret: &SecretRequest,
    lifetime: u32,
    now: OffsetDateTime,
) -> Result<Issued, ApiError> {
    let inserted_at = timestamp::whole_seconds(now);
    let expires_at = inserted_at + time::Duration::seconds(lifetime.into());
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
            expires_at: timestamp::iso8601(issued.expires_at),
            inserted_at: timestamp::iso8601(issued.inserted_at),
        },
    };
    // The URL is a bearer credential: no cache may keep the response.
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}
