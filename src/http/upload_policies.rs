//! `POST /upload_policies`: a signed V4 POST policy for a browser form upload, with the same
//! authentication, policy and audit as URLs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::json_body::JsonBody;
use super::policy_request::{KeyRequest, PolicyRequest};
use super::request_log::RequestId;
use super::secrets::{Meta, answer_after_audit, authenticate, lifetime_error, no_store, refuse};
use super::{AppState, api_doc};
use crate::audit::{AuditEvent, Decision};
use crate::domain::{Action, ContentType};
use crate::error::{ApiError, ErrorBody};
use crate::issuing::{IssuedPolicy, PolicyGrant};
use crate::policy::{Access, Client, ContentTypeAccess};
use crate::signing::post_policy::Key;
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
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody, headers(("www-authenticate" = String))),
        (status = 403, description = "No rule of the caller allows this form", body = ErrorBody),
        (status = 408, description = "The request was not complete in time", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields, each listed", body = ErrorBody),
        (status = 500, description = "Our fault", body = ErrorBody),
        (status = 503, description = "Nothing was issued: too many requests in flight, or the audit record could not be written, or IAM did not sign", body = ErrorBody, headers(("retry-after" = String))),
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
    audit.action = Some(Action::Post.as_str());
    let outcome = authenticate(&state, &headers, &mut audit).and_then(|client| {
        let JsonBody(body) = body.map_err(|e| refuse(&mut audit, Decision::Invalid, e))?;
        decide(
            &state,
            &client,
            &body,
            &mut audit,
            OffsetDateTime::now_utc(),
        )
    });
    answer_after_audit(&state, audit, || match outcome {
        Ok((policy, issued)) => created(&request_id, &policy, issued),
        Err(error) => error.into_response(),
    })
    .await
}

fn decide(
    state: &AppState,
    client: &Client,
    body: &serde_json::Value,
    audit: &mut AuditEvent,
    now: OffsetDateTime,
) -> Result<(PolicyRequest, IssuedPolicy), ApiError> {
    let policy = PolicyRequest::from_json(body, &state.known_buckets)
        .map_err(|entries| refuse(audit, Decision::Invalid, ApiError::Validation(entries)))?;
    let (key_path, is_prefix) = match &policy.key {
        KeyRequest::Exact(name) => (name.as_str(), false),
        KeyRequest::Prefix(prefix) => (prefix.as_str(), true),
    };
    audit.bucket = Some(policy.bucket.to_string());
    audit.object = Some(if is_prefix {
        format!("{key_path}*")
    } else {
        key_path.to_owned()
    });

    let lifetime = client
        .lifetime(policy.expires_in, state.secrets_ttl)
        .map_err(|too_long| {
            refuse(
                audit,
                Decision::Invalid,
                lifetime_error("$.policy", too_long.max_ttl),
            )
        })?;
    let path = format!("/{}/{key_path}", policy.bucket);
    let content_type = match (&policy.content_type, &policy.content_type_prefix) {
        (Some(exact), _) => Some(ContentTypeAccess::Exact(exact.as_str())),
        (None, Some(prefix)) => Some(ContentTypeAccess::Prefix(prefix.as_str())),
        (None, None) => None,
    };
    let access = Access {
        path_is_prefix: is_prefix,
        content_type,
        content_length_range: policy.content_length_range,
        ..Access::object(Action::Post, &path)
    };
    let grant = client
        .authorize(&access)
        .map_err(|denial| refuse(audit, Decision::Denied, ApiError::Forbidden(denial)))?;

    let mut fields: Vec<(&str, &str)> = policy
        .metadata
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Some(redirect) = &policy.success_action_redirect {
        fields.push(("success_action_redirect", redirect));
    }
    if let Some(status) = policy.success_action_status {
        fields.push(("success_action_status", status));
    }
    let policy_grant = PolicyGrant {
        bucket: policy.bucket.as_str(),
        key: if is_prefix {
            Key::Prefix(key_path)
        } else {
            Key::Exact(key_path)
        },
        content_type: policy.content_type.as_ref().map(ContentType::as_str),
        content_type_prefix: policy.content_type_prefix.as_ref().map(ContentType::as_str),
        content_length_range: grant.content_length_range,
        fields: &fields,
        lifetime,
    };
    let started = Instant::now();
    let issued = state
        .issuer()
        .issue_policy(&policy_grant, now)
        .map_err(|e| refuse(audit, Decision::Failed, e.into()))?;
    state
        .metrics
        .observe_signing(issued.kind, started.elapsed());
    audit.expires_at = Some(timestamp::iso8601(issued.expires_at));
    audit.decide(
        Decision::Issued,
        format!(
            "form upload allowed by rule {} of client {:?}",
            grant.rule, client.id
        ),
    );
    Ok((policy, issued))
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

fn created(request_id: &RequestId, policy: &PolicyRequest, issued: IssuedPolicy) -> Response {
    let (key, key_prefix) = match &policy.key {
        KeyRequest::Exact(name) => (Some(name.to_string()), None),
        KeyRequest::Prefix(prefix) => (None, Some(prefix.clone())),
    };
    let body = PolicyResponse {
        meta: Meta {
            code: StatusCode::CREATED.as_u16(),
            kind: "object",
            request_id,
        },
        data: PolicyData {
            bucket: policy.bucket.to_string(),
            key,
            key_prefix,
            url: issued.url,
            fields: issued.fields.into_iter().collect(),
            expires_at: timestamp::iso8601(issued.expires_at),
            inserted_at: timestamp::iso8601(issued.inserted_at),
        },
    };
    no_store(StatusCode::CREATED, Json(body))
}
