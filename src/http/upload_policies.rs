//! `POST /upload_policies`: a signed V4 POST policy for a browser form upload, with the same
//! authentication, policy and audit as URLs.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
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
use crate::issuing::{self, IssuedForm};
use crate::request::{FormKey, FormRequest};
use crate::timestamp;

/// Issue a form upload policy
///
/// A V4 POST policy: the URL and the form fields for a browser `<form>` upload, with the same
/// authentication, rules and audit as URLs. A rule must list the method `POST`.
#[utoipa::path(
    post,
    path = "/upload_policies",
    operation_id = "issue_upload_policy",
    tag = "signing",
    request_body(content = api_doc::PolicyBody, content_type = "application/json"),
    security((), ("api_key" = []), ("jwt" = [])),
    responses(
        (status = 201, description = "Where to POST the form, and its fields", body = PolicyResponse,
         headers(("x-request-id" = String), ("cache-control" = String, description = "no-store"))),
        (status = 400, description = "The body is not JSON, or an object in it names a member twice", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody, headers(("www-authenticate" = String))),
        (status = 403, description = "No rule of the caller allows this form", body = ErrorBody),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields, each listed", body = ErrorBody),
        (status = 429, description = "Rate limited: the client's `rate_limit`, or too many refused requests from this source address or client", body = ErrorBody,
         headers(("retry-after" = String, description = "Seconds to wait"))),
        (status = 500, description = "Our fault", body = ErrorBody),
        (status = 503, description = "Nothing was issued: too many requests in flight, or the audit record could not be written, or IAM did not sign", body = ErrorBody, headers(("retry-after" = String))),
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
    let form = body.and_then(|JsonBody(body)| {
        FormRequest::from_json(&body, &app.rules.known_buckets).map_err(ApiError::Validation)
    });
    let outcome = issuing::decide_form(&app.rules, &origin(&ids, remote), caller, form);
    let outcome = app.sign_form(outcome, OffsetDateTime::now_utc()).await;
    after_audit(&app, remote.ip(), outcome, |issued| {
        created(&request_id, issued)
    })
    .await
}

/// A signed form: `201` of `POST /upload_policies`.
#[derive(Serialize, ToSchema)]
pub struct PolicyResponse<'a> {
    meta: Meta<'a>,
    data: PolicyData,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyData {
    bucket: String,
    key: Option<String>,
    key_prefix: Option<String>,
    /// Where the form POSTs to.
    url: String,
    /// The form fields, to send before the `file` field.
    fields: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    inserted_at: String,
}

fn created(request_id: &RequestId, IssuedForm { request, policy }: IssuedForm) -> Response {
    let (key, key_prefix) = match request.key {
        FormKey::Exact(name) => (Some(name.to_string()), None),
        FormKey::Prefix(prefix) => (None, Some(prefix)),
    };
    let body = PolicyResponse {
        meta: Meta {
            code: StatusCode::CREATED.as_u16(),
            kind: "object",
            request_id,
        },
        data: PolicyData {
            bucket: request.bucket.to_string(),
            key,
            key_prefix,
            url: policy.url,
            fields: policy.fields.into_iter().collect(),
            expires_at: timestamp::iso8601(policy.expires_at),
            inserted_at: timestamp::iso8601(policy.inserted_at),
        },
    };
    no_store(StatusCode::CREATED, &body)
}
