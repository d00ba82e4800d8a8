//! `POST /media_content_storage_secrets` and its batch form: authenticate, validate,
//! authorise, sign, audit, respond. Every decision is audited; a URL leaves only after its
//! record is written.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::answer::{admit, after_audit, no_store, no_store_json, recorded_batch};
use super::api_doc;
use super::error::{self, ErrorBody, ErrorDetail, ErrorNotes};
use super::json_body::JsonBody;
use super::request_log::{RequestId, RequestIds};
use crate::app::AppState;
use crate::domain::limits::MAX_BATCH_BODY_BYTES;
use crate::error::ApiError;
use crate::issuing::{self, IssuedSecret, Origin, Unreadable};
use crate::request::SecretRequest;
use crate::timestamp;

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
        (status = 400, description = "The body is not JSON, or an object in it names a member twice", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody,
         headers(("www-authenticate" = String, description = "Bearer realm=\"storage-signer\"")),
         example = json!(api_doc::examples::unauthenticated())),
        (status = 403, description = "No rule of the caller allows this", body = ErrorBody, example = json!(api_doc::examples::forbidden())),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields, each listed", body = ErrorBody, example = json!(api_doc::examples::validation_failed())),
        (status = 429, description = "Rate limited: the client's `rate_limit`, or too many refused requests from this source address or client; no audit record of its own (counted in the audit summary)", body = ErrorBody,
         headers(("retry-after" = String, description = "Seconds to wait"))),
        (status = 500, description = "Our fault; the request id finds it in our logs", body = ErrorBody),
        (status = 503, description = "No URL was issued: too many requests in flight (`overloaded`), or the audit record could not be written or IAM did not sign (`service_unavailable`)", body = ErrorBody,
         headers(("retry-after" = String, description = "Seconds to wait"))),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(ids): Extension<RequestIds>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let caller = app.authenticate(authorization(&headers)).await;
    let _slot = match admit(&app, &caller, remote.ip(), 1) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let secret = body.map_err(Unreadable::from).and_then(|JsonBody(body)| {
        SecretRequest::from_json(&body, &app.rules.known_buckets).map_err(Unreadable::from)
    });
    let outcome = issuing::decide_secret(&app.rules, &origin(&ids, remote), caller, secret);
    let outcome = app.sign_secret(outcome, OffsetDateTime::now_utc()).await;
    after_audit(&app, remote.ip(), outcome, |issued| {
        created(&request_id, issued)
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
        (status = 400, description = "The body is not JSON, or an object in it names a member twice", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody, headers(("www-authenticate" = String))),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 512 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "`secrets` is missing, not an array, empty or over 100", body = ErrorBody),
        (status = 429, description = "Rate limited: the client's `rate_limit` (a batch counts one per secret), or too many refused requests from this source; refused items past the refusal limit get status 429 inside a 200", body = ErrorBody,
         headers(("retry-after" = String, description = "Seconds to wait"))),
        (status = 500, description = "Our fault", body = ErrorBody),
        (status = 503, description = "Too many requests in flight, or the audit record of the refusal could not be written", body = ErrorBody, headers(("retry-after" = String))),
    )
)]
pub async fn batch(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(ids): Extension<RequestIds>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody<MAX_BATCH_BODY_BYTES>, ApiError>,
) -> Response {
    let caller = app.authenticate(authorization(&headers)).await;
    let secrets: Result<Vec<_>, ApiError> = body.and_then(|JsonBody(body)| {
        SecretRequest::batch_from_json(&body, &app.rules.known_buckets)
            .map(|items| {
                items
                    .into_iter()
                    .map(|item| item.map_err(Unreadable::from))
                    .collect()
            })
            .map_err(|entry| ApiError::Validation(vec![entry]))
    });
    // The rate limit counts URLs: a batch takes one per secret.
    let urls = secrets.as_ref().map_or(1, Vec::len);
    let _slot = match admit(&app, &caller, remote.ip(), urls) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let origin = origin(&ids, remote);
    let outcomes = match issuing::decide_batch(&app.rules, &origin, caller, secrets) {
        Ok(outcomes) => outcomes,
        Err(refused) => {
            return after_audit(
                &app,
                remote.ip(),
                *refused,
                |never: Infallible| match never {},
            )
            .await;
        }
    };
    let signed = app.sign_secrets(outcomes, OffsetDateTime::now_utc()).await;
    // One write for the whole batch: every item's record is durable, or none is issued.
    let results = recorded_batch(&app, remote.ip(), signed).await;
    let mut notes = ErrorNotes::default();
    let items: Vec<BatchItem> = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| batch_item(index, result, &mut notes))
        .collect();
    let mut response = batch_response(&request_id, items);
    if !notes.is_empty() {
        response.extensions_mut().insert(notes);
    }
    response
}

/// The raw `Authorization` header, if any.
pub(super) fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes)
}

pub(super) fn origin(ids: &RequestIds, remote: SocketAddr) -> Origin {
    Origin {
        request_id: ids.own.to_string(),
        caller_request_id: ids.caller.as_ref().map(ToString::to_string),
        remote_addr: Some(remote.to_string()),
    }
}

fn batch_item(
    index: usize,
    result: Result<IssuedSecret, ApiError>,
    notes: &mut ErrorNotes,
) -> BatchItem {
    match result {
        Ok(issued) => BatchItem {
            index,
            status: StatusCode::CREATED.as_u16(),
            data: Some(secret_data(issued)),
            error: None,
        },
        Err(refused) => {
            notes.item(index, &refused);
            BatchItem {
                index,
                status: error::status(&refused).as_u16(),
                data: None,
                error: Some(error::detail(&refused)),
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Meta<'a> {
    pub(super) code: u16,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) request_id: &'a RequestId,
}

/// A signed URL: `201` of `POST /media_content_storage_secrets`.
#[derive(Serialize, ToSchema)]
pub struct SecretResponse<'a> {
    pub(super) meta: Meta<'a>,
    pub(super) data: SecretData,
}

#[derive(Serialize, ToSchema)]
pub struct SecretData {
    pub(super) action: &'static str,
    pub(super) bucket: String,
    pub(super) resource_id: String,
    pub(super) resource_name: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) content_md5: Option<String>,
    /// The signed URL: a bearer credential until `expires_at`.
    pub(super) secret_url: String,
    /// `secret_url` again, under the name uploader libraries use (Uppy's `@uppy/aws-s3`
    /// `getUploadParameters` takes `{method, url, fields, headers}`: return `data` itself).
    pub(super) url: String,
    /// The HTTP method to send to `url`: `GET`, `HEAD`, `PUT`, `DELETE`, or `POST` (which starts
    /// a resumable upload).
    pub(super) method: &'static str,
    /// Form fields: always empty for a signed URL (the upload is the body), present for
    /// uploader libraries that expect it.
    pub(super) fields: BTreeMap<String, String>,
    /// When the URL expires (ISO 8601 UTC, whole seconds).
    #[schema(format = DateTime)]
    pub(super) expires_at: String,
    /// When it was issued; `expires_at` minus the lifetime.
    #[schema(format = DateTime)]
    pub(super) inserted_at: String,
    /// How it was signed: `v2` or `v4` (GCS), `v4` (S3, Signature Version 4), `tempurl`
    /// (Swift).
    pub(super) version: &'static str,
    /// The store that checks the URL: `gcs`, `s3` or `swift`.
    pub(super) backend: &'static str,
    /// The headers the request must send, exactly: pass them to `fetch` as they are. (Swift
    /// signs none: its `Content-Type` is what the upload should send, unenforced.)
    pub(super) headers: BTreeMap<String, String>,
}

/// One secret of a batch: `data` when it was issued (`status` 201), `error` otherwise.
#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    pub(super) index: usize,
    pub(super) status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<SecretData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<ErrorDetail>,
}

/// `200` of `POST /media_content_storage_secrets/batch`.
#[derive(Serialize, ToSchema)]
pub struct BatchResponse<'a> {
    pub(super) meta: Meta<'a>,
    pub(super) data: Vec<BatchItem>,
}

fn secret_data(IssuedSecret { request, url, .. }: IssuedSecret) -> SecretData {
    let (version, backend) = (url.process(), url.backend.as_str());
    SecretData {
        action: request.action.as_str(),
        bucket: request.bucket.to_string(),
        resource_id: request.resource_id,
        resource_name: request.resource_name,
        content_type: request.content_type.map(|ct| ct.as_str().to_owned()),
        content_md5: request.content_md5.map(|md5| md5.as_str().to_owned()),
        url: url.url.expose().to_owned(),
        secret_url: url.url.into_inner(),
        method: request.action.http_method(),
        fields: BTreeMap::new(),
        expires_at: timestamp::iso8601(url.expires_at),
        inserted_at: timestamp::iso8601(url.inserted_at),
        version,
        backend,
        headers: url.headers.into_iter().collect(),
    }
}

fn created(request_id: &RequestId, issued: IssuedSecret) -> Response {
    let body = SecretResponse {
        meta: Meta {
            code: StatusCode::CREATED.as_u16(),
            kind: "object",
            request_id,
        },
        data: secret_data(issued),
    };
    no_store_json(StatusCode::CREATED, body.to_json())
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
    match body.to_json() {
        Some(json) => no_store_json(StatusCode::OK, json),
        None => no_store(StatusCode::OK, &body),
    }
}
