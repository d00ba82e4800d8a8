//! `POST /validate_signed_entity`: ael.api's endpoint. Authenticate, read the body and find the
//! object its URL names, decide (the caller must be allowed to `GET` it), read and check the
//! document, audit, answer `{"data": {"is_valid": ...}}`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::answer::{admit, after_audit, no_store};
use super::api_doc;
use super::error::ErrorBody;
use super::json_body::JsonBody;
use super::request_log::{RequestId, RequestIds};
use super::secrets::{Meta, authorization, origin};
use crate::app::AppState;
use crate::error::ApiError;
use crate::issuing::{self, Validation};
use crate::validator::{self, Verdict};

/// Validate a signed document
///
/// Reads the document at `url` (an object of a known bucket, which the caller may `GET`),
/// has the digital-signature service check it, and answers whether it carries exactly one
/// valid signature and every rule holds. ael.api's endpoint and shapes.
#[utoipa::path(
    post,
    path = "/validate_signed_entity",
    operation_id = "validate_signed_entity",
    tag = "signing",
    request_body(content = api_doc::ValidateBody, content_type = "application/json"),
    security((), ("api_key" = []), ("jwt" = [])),
    responses(
        (status = 200, description = "The verdict: `is_valid` false when the document is not signed once, validly, or a rule does not hold", body = ValidationResponse,
         headers(("x-request-id" = String), ("cache-control" = String, description = "no-store"))),
        (status = 400, description = "The body is not JSON, or an object in it names a member twice", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody, headers(("www-authenticate" = String))),
        (status = 403, description = "The caller may not read the object", body = ErrorBody),
        (status = 404, description = "Validation is not configured (`DIGITAL_SIGNATURE_ENDPOINT`)", body = ErrorBody),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields, each listed: a `url` that is not a storage URL of a known bucket, a document over `MAX_DOCUMENT_SIZE`, malformed rules", body = ErrorBody),
        (status = 500, description = "Our fault", body = ErrorBody),
        (status = 502, description = "The storage or the digital-signature service failed; no verdict", body = ErrorBody),
        (status = 503, description = "Too many requests in flight, or the audit record could not be written", body = ErrorBody, headers(("retry-after" = String))),
    )
)]
pub async fn validate(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(ids): Extension<RequestIds>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let Some(validator) = &app.validator else {
        return ApiError::ValidationDisabled.into_response();
    };
    let caller = app.authenticate(authorization(&headers)).await;
    // Held through the read and the signature check: it bounds the documents in memory too.
    let _slot = match admit(&app, &caller, remote.ip(), 1) {
        Ok(slot) => slot,
        Err(refused) => return refused.into_response(),
    };
    let backends = app.backends();
    let validation = body
        .and_then(|JsonBody(body)| Validation::read(&body, &backends, &app.rules.known_buckets));
    let outcome = issuing::decide_validation(&origin(&ids, remote), caller, validation);
    let outcome =
        validator::conclude(outcome, &backends, validator, OffsetDateTime::now_utc()).await;
    after_audit(&app, remote.ip(), outcome, |verdict| {
        validated(&request_id, verdict)
    })
    .await
}

/// The verdict: `200` of `POST /validate_signed_entity`.
#[derive(Serialize, ToSchema)]
pub struct ValidationResponse<'a> {
    meta: Meta<'a>,
    data: ValidationData,
}

#[derive(Serialize, ToSchema)]
pub struct ValidationData {
    /// Exactly one valid signature, and every rule holds.
    is_valid: bool,
    /// Why (never the document's content): `the document has 2 signatures; ...`,
    /// `rule 0 (legal_entity.edrpou eq) does not hold`, ...
    reason: String,
}

fn validated(request_id: &RequestId, verdict: Verdict) -> Response {
    let body = ValidationResponse {
        meta: Meta {
            code: StatusCode::OK.as_u16(),
            kind: "object",
            request_id,
        },
        data: ValidationData {
            is_valid: verdict.is_valid,
            reason: verdict.reason,
        },
    };
    no_store(StatusCode::OK, &body)
}
