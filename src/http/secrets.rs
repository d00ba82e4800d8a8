//! `POST /media_content_storage_secrets` and its batch form: authenticate, validate,
//! authorise, sign, audit, respond. Every decision is audited; a URL leaves only after its
//! record is written.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::fields::Fields;
use super::json_body::JsonBody;
use super::request_log::{DecisionLogFields, RequestId};
use super::secret_request::SecretRequest;
use super::{AppState, api_doc};
use crate::audit::{AuditEvent, AuditUnavailable, Decision};
use crate::domain::{ContentMd5, ContentType, Violation};
use crate::error::{ApiError, ErrorBody, ErrorDetail, InvalidEntry, MAX_BATCH_BODY_BYTES};
use crate::issuing::{IssuedUrl, UrlGrant};
use crate::policy::{Access, Client, ContentTypeAccess};
use crate::timestamp;

/// Most secrets in one batch.
pub const MAX_BATCH: usize = 100;

/// Issue a signed URL
///
/// Authenticates the caller, validates the secret, checks the caller's rules, signs the URL,
/// writes the audit record, and answers. ael.api's endpoint and shapes.
#[utoipa::path(
    post,
    path = "/media_content_storage_secrets",
    operation_id = "issue_secret",
    tag = "signing",
    request_body(content = api_doc::SecretBody, content_type = "application/json"),
    security((), ("api_key" = []), ("jwt" = [])),
    responses(
        (status = 201, description = "The signed URL and the headers to send with it", body = SecretResponse,
         headers(("x-request-id" = String, description = "The request id (yours, if sane)"), ("cache-control" = String, description = "no-store")),
         example = json!(api_doc::examples::secret_created())),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody,
         headers(("www-authenticate" = String, description = "Bearer realm=\"storage-signer\"")),
         example = json!(api_doc::examples::unauthenticated())),
        (status = 403, description = "No rule of the caller allows this", body = ErrorBody, example = json!(api_doc::examples::forbidden())),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields, each listed", body = ErrorBody, example = json!(api_doc::examples::validation_failed())),
        (status = 500, description = "Our fault; the request id finds it in our logs", body = ErrorBody),
        (status = 503, description = "No URL was issued: too many requests in flight (`overloaded`), or the audit record could not be written or IAM did not sign (`service_unavailable`)", body = ErrorBody,
         headers(("retry-after" = String, description = "Seconds to wait"))),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let mut audit = AuditEvent::new(request_id.as_str(), Some(remote.to_string()));
    let outcome = authenticate(&state, &headers, &mut audit).and_then(|client| {
        let JsonBody(body) = body.map_err(|e| refuse(&mut audit, Decision::Invalid, e))?;
        let fields = Fields::member(&body, "secret").map_err(|entry| {
            refuse(
                &mut audit,
                Decision::Invalid,
                ApiError::Validation(vec![entry]),
            )
        })?;
        decide(
            &state,
            &client,
            fields,
            &mut audit,
            OffsetDateTime::now_utc(),
        )
    });
    answer_after_audit(&state, audit, || match outcome {
        Ok((secret, issued)) => created(&request_id, &secret, issued),
        Err(error) => error.into_response(),
    })
    .await
}

/// `POST /media_content_storage_secrets/batch`: `{"secrets": [...]}`, up to 100. The caller
/// is authenticated once; each secret is validated, authorised, signed and audited on its
/// own (audit `request_id` `<id>#<index>`), and one refusal does not fail the others.
#[utoipa::path(
    post,
    path = "/media_content_storage_secrets/batch",
    operation_id = "issue_secrets",
    tag = "signing",
    request_body(content = api_doc::BatchBody, content_type = "application/json"),
    security((), ("api_key" = []), ("jwt" = [])),
    responses(
        (status = 200, description = "One item per secret, in order, each with its own status", body = BatchResponse,
         headers(("x-request-id" = String), ("cache-control" = String, description = "no-store"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody, headers(("www-authenticate" = String))),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 512 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "`secrets` is missing, not an array, empty or over 100", body = ErrorBody),
        (status = 500, description = "Our fault", body = ErrorBody),
        (status = 503, description = "Too many requests in flight, or the audit record of the refusal could not be written", body = ErrorBody, headers(("retry-after" = String))),
    )
)]
pub async fn batch(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody<MAX_BATCH_BODY_BYTES>, ApiError>,
) -> Response {
    let mut audit = AuditEvent::new(request_id.as_str(), Some(remote.to_string()));
    let prepared = authenticate(&state, &headers, &mut audit).and_then(|client| {
        let JsonBody(body) = body.map_err(|e| refuse(&mut audit, Decision::Invalid, e))?;
        match batch_items(&body) {
            Ok(_) => Ok((client, body)),
            Err(entry) => Err(refuse(
                &mut audit,
                Decision::Invalid,
                ApiError::Validation(vec![entry]),
            )),
        }
    });
    let (client, body) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            return answer_after_audit(&state, audit, || error.into_response()).await;
        }
    };
    // Up to 100 RSA signatures and audit writes: off the async executor.
    let remote = remote.to_string();
    let worker_state = Arc::clone(&state);
    let worker_id = request_id.clone();
    let decided = tokio::task::spawn_blocking(move || {
        let secrets = batch_items(&body).unwrap_or_default();
        decide_batch(&worker_state, &client, &worker_id, &remote, secrets)
    })
    .await;
    let Ok((events, outcomes)) = decided else {
        return ApiError::Internal(anyhow::anyhow!("the batch worker failed")).into_response();
    };
    // One write for the whole batch: every item's record is durable, or none is issued.
    let recorded = state.record_audit(events).await;
    batch_response(&request_id, batch_answers(outcomes, recorded.is_ok()))
}

fn batch_items(body: &Value) -> Result<&[Value], InvalidEntry> {
    let Some(body) = body.as_object() else {
        return Err(InvalidEntry::json_property("$", Violation::cast("object")));
    };
    match body.get("secrets") {
        None | Some(Value::Null) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::required(),
        )),
        Some(Value::Array(items)) if (1..=MAX_BATCH).contains(&items.len()) => Ok(items),
        Some(Value::Array(_)) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::new("length", format!("must hold 1 to {MAX_BATCH} secrets"))
                .with_params(serde_json::json!({"min": 1, "max": MAX_BATCH})),
        )),
        Some(_) => Err(InvalidEntry::json_property(
            "$.secrets",
            Violation::cast("array"),
        )),
    }
}

/// Decides and signs each secret; returns the audit events and the outcomes, in order.
fn decide_batch(
    state: &AppState,
    client: &Client,
    request_id: &RequestId,
    remote: &str,
    secrets: &[Value],
) -> (Vec<AuditEvent>, Vec<BatchOutcome>) {
    let now = OffsetDateTime::now_utc();
    secrets
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let mut audit =
                AuditEvent::new(format!("{request_id}#{index}"), Some(remote.to_owned()));
            audit.client_id = Some(client.id.clone());
            let outcome = Fields::at(Some(value), format!("$.secrets[{index}]"))
                .map_err(|entry| {
                    refuse(
                        &mut audit,
                        Decision::Invalid,
                        ApiError::Validation(vec![entry]),
                    )
                })
                .and_then(|fields| decide(state, client, fields, &mut audit, now));
            (audit, outcome)
        })
        .unzip()
}

type BatchOutcome = Result<(SecretRequest, IssuedUrl), ApiError>;

/// The batch's items once its records are written (`recorded`), or a 503 for each.
fn batch_answers(outcomes: Vec<BatchOutcome>, recorded: bool) -> Vec<BatchItem> {
    outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            let outcome = if recorded {
                outcome
            } else {
                Err(ApiError::from(AuditUnavailable))
            };
            match outcome {
                Ok((secret, issued)) => BatchItem {
                    index,
                    status: StatusCode::CREATED.as_u16(),
                    data: Some(secret_data(&secret, issued)),
                    error: None,
                },
                Err(error) => BatchItem {
                    index,
                    status: error.status().as_u16(),
                    data: None,
                    error: Some(error.detail()),
                },
            }
        })
        .collect()
}

/// The client that the `Authorization` header identifies; a refusal is recorded in `audit`.
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    audit: &mut AuditEvent,
) -> Result<Arc<Client>, ApiError> {
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
    Ok(client)
}

/// Decides one secret for `client`, filling `audit` with what was decided and why.
fn decide(
    state: &AppState,
    client: &Client,
    fields: Fields<'_>,
    audit: &mut AuditEvent,
    now: OffsetDateTime,
) -> Result<(SecretRequest, IssuedUrl), ApiError> {
    let path = fields.path().to_owned();
    let secret = SecretRequest::from_fields(fields, &state.known_buckets)
        .map_err(|entries| refuse(audit, Decision::Invalid, ApiError::Validation(entries)))?;
    audit.action = Some(secret.action.as_str());
    audit.bucket = Some(secret.bucket.to_string());
    audit.object = Some(secret.object.to_string());

    let lifetime = client
        .lifetime(secret.expires_in, state.secrets_ttl)
        .map_err(|too_long| {
            refuse(
                audit,
                Decision::Invalid,
                lifetime_error(&path, too_long.max_ttl),
            )
        })?;
    let path = format!("/{}/{}", secret.bucket, secret.object);
    let access = Access {
        content_type: secret
            .content_type
            .as_ref()
            .map(|ct| ContentTypeAccess::Exact(ct.as_str())),
        content_length_range: secret.content_length_range,
        if_generation_match: secret.if_generation_match,
        ..Access::object(secret.action, &path)
    };
    let grant = client
        .authorize(&access)
        .map_err(|denial| refuse(audit, Decision::Denied, ApiError::Forbidden(denial)))?;

    let url_grant = UrlGrant {
        action: secret.action,
        bucket: secret.bucket.as_str(),
        object: secret.object.as_str(),
        version: secret.version,
        content_type: secret.content_type.as_ref().map(ContentType::as_str),
        content_md5: secret.content_md5.as_ref().map(ContentMd5::as_str),
        if_generation_match: grant.if_generation_match,
        content_length_range: grant.content_length_range,
        lifetime,
    };
    let started = Instant::now();
    let issued = state
        .issuer()
        .issue_url(&url_grant, now)
        .map_err(|e| refuse(audit, Decision::Failed, e.into()))?;
    state
        .metrics
        .observe_signing(issued.kind, started.elapsed());
    audit.expires_at = Some(timestamp::iso8601(issued.expires_at));
    audit.decide(
        Decision::Issued,
        format!("allowed by rule {} of client {:?}", grant.rule, client.id),
    );
    Ok((secret, issued))
}

/// The 422 for an `expires_in` (of the object at `path`) above the client's `max_ttl`.
pub fn lifetime_error(path: &str, max_ttl: u32) -> ApiError {
    let violation = Violation::new(
        "number",
        format!("must be at most {max_ttl} seconds for this client"),
    )
    .with_params(serde_json::json!({"less_than_or_equal_to": max_ttl}));
    ApiError::Validation(vec![InvalidEntry::json_property(
        format!("{path}.expires_in"),
        violation,
    )])
}

pub fn refuse(audit: &mut AuditEvent, decision: Decision, error: ApiError) -> ApiError {
    audit.decide(decision, error.audit_reason());
    error
}

/// Writes the decision's audit record, then answers with `respond()`, or 503 when the record
/// could not be written (fail closed: nothing is issued without its record). The request log
/// gets the decision's fields either way.
pub async fn answer_after_audit(
    state: &Arc<AppState>,
    audit: AuditEvent,
    respond: impl FnOnce() -> Response,
) -> Response {
    let log_fields = DecisionLogFields::from(&audit);
    let mut response = match record(state, audit).await {
        Err(unavailable) => ApiError::from(unavailable).into_response(),
        Ok(()) => respond(),
    };
    response.extensions_mut().insert(log_fields);
    response
}

/// Writes the audit record (the writer task does the I/O; this waits at most `AUDIT_TIMEOUT`).
async fn record(state: &Arc<AppState>, event: AuditEvent) -> Result<(), AuditUnavailable> {
    state.record_audit(vec![event]).await
}

#[derive(Serialize, ToSchema)]
pub struct Meta<'a> {
    pub code: u16,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub request_id: &'a RequestId,
}

/// A signed URL: `201` of `POST /media_content_storage_secrets`.
#[derive(Serialize, ToSchema)]
pub struct SecretResponse<'a> {
    meta: Meta<'a>,
    data: SecretData,
}

#[derive(Serialize, ToSchema)]
pub struct SecretData {
    action: &'static str,
    bucket: String,
    resource_id: String,
    resource_name: Option<String>,
    content_type: Option<String>,
    content_md5: Option<String>,
    /// The signed URL: a bearer credential until `expires_at`.
    secret_url: String,
    /// When the URL expires (ISO 8601 UTC, whole seconds).
    #[schema(format = DateTime)]
    expires_at: String,
    /// When it was issued; `expires_at` minus the lifetime.
    #[schema(format = DateTime)]
    inserted_at: String,
    /// `v2` or `v4`.
    version: &'static str,
    /// The headers the request must send, exactly: pass them to `fetch` as they are.
    headers: BTreeMap<&'static str, String>,
}

/// One secret of a batch: `data` when it was issued (`status` 201), `error` otherwise.
#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    index: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<SecretData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

/// `200` of `POST /media_content_storage_secrets/batch`.
#[derive(Serialize, ToSchema)]
pub struct BatchResponse<'a> {
    meta: Meta<'a>,
    data: Vec<BatchItem>,
}

fn secret_data(secret: &SecretRequest, issued: IssuedUrl) -> SecretData {
    SecretData {
        action: secret.action.as_str(),
        bucket: secret.bucket.to_string(),
        resource_id: secret.resource_id.clone(),
        resource_name: secret.resource_name.clone(),
        content_type: secret
            .content_type
            .as_ref()
            .map(|ct| ct.as_str().to_owned()),
        content_md5: secret
            .content_md5
            .as_ref()
            .map(|md5| md5.as_str().to_owned()),
        secret_url: issued.url.into_inner(),
        expires_at: timestamp::iso8601(issued.expires_at),
        inserted_at: timestamp::iso8601(issued.inserted_at),
        version: issued.version.as_str(),
        headers: issued.headers.into_iter().collect(),
    }
}

fn created(request_id: &RequestId, secret: &SecretRequest, issued: IssuedUrl) -> Response {
    let body = SecretResponse {
        meta: Meta {
            code: StatusCode::CREATED.as_u16(),
            kind: "object",
            request_id,
        },
        data: secret_data(secret, issued),
    };
    no_store(StatusCode::CREATED, Json(body))
}

fn batch_response(request_id: &RequestId, items: Vec<BatchItem>) -> Response {
    let body = BatchResponse {
        meta: Meta {
            code: StatusCode::OK.as_u16(),
            kind: "list",
            request_id,
        },
        data: items,
    };
    no_store(StatusCode::OK, Json(body))
}

/// Issued URLs are bearer credentials: no cache may keep a response that holds them.
pub fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
}
