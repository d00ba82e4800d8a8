//! Browser form uploads (`POST /bucket/` with a V4 POST policy), checked as GCS does: the
//! signature over the base64 policy, its expiry, and every condition against the form.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{self, StoreError};
use super::objects::Object;
use super::verify::{Keys, parse_timestamp, verify_v4_signature};
use super::{DevStore, new_object, stored_response};
use crate::signing::encoding::encode_query_component;

/// What a verified form uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormUpload {
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub success_action_redirect: Option<String>,
    pub success_action_status: Option<String>,
}

/// Fields that need no condition of their own.
const UNCONDITIONED: [&str; 3] = ["x-goog-signature", "policy", "file"];

/// `POST /bucket/` with `multipart/form-data`: the policy's fields, then the file.
pub async fn upload(
    store: &DevStore,
    bucket: &str,
    request: Request,
) -> Result<Response, StoreError> {
    let form = read_form(request).await?;
    let now = OffsetDateTime::now_utc();
    let upload = verify_form(
        &store.keys,
        bucket,
        &form.fields,
        &form.file_name,
        form.data.len() as u64,
        now,
    )?;
    let mut object = new_object(
        form.data.to_vec(),
        upload.content_type.clone().or(form.file_type),
        &HeaderMap::new(),
        now,
    );
    object.metadata.clone_from(&upload.metadata);
    let stored = store
        .objects
        .put(bucket, &upload.key, object, None)
        .map_err(|reason| StoreError::not_stored(&reason))?;
    Ok(answer(bucket, &upload, &stored))
}

/// A form as sent: the fields before the file, and the file.
struct Form {
    fields: Vec<(String, String)>,
    file_name: String,
    file_type: Option<String>,
    data: Bytes,
}

async fn read_form(request: Request) -> Result<Form, StoreError> {
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|_| {
        StoreError::bad_request(
            "InvalidArgument",
            "A form upload must be multipart/form-data.",
        )
    })?;
    let mut fields = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| StoreError::bad_request("InvalidArgument", "The form could not be read."))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let file_type = field.content_type().map(str::to_owned);
            let data = field.bytes().await.map_err(|_| {
                StoreError::bad_request("EntityTooLarge", "The file could not be read.")
            })?;
            // GCS ignores fields after the file.
            return Ok(Form {
                fields,
                file_name,
                file_type,
                data,
            });
        }
        let value = field
            .text()
            .await
            .map_err(|_| StoreError::bad_request("InvalidArgument", "A form field is not text."))?;
        fields.push((name, value));
    }
    Err(StoreError::bad_request(
        "InvalidArgument",
        "The form has no file field.",
    ))
}

/// What GCS answers a stored form upload with: a redirect, or the status the form asked for.
fn answer(bucket: &str, upload: &FormUpload, stored: &Object) -> Response {
    if let Some(redirect) = &upload.success_action_redirect {
        let separator = if redirect.contains('?') { '&' } else { '?' };
        let target = format!(
            "{redirect}{separator}bucket={}&key={}&etag={}",
            encode_query_component(bucket),
            encode_query_component(&upload.key),
            stored.md5
        );
        return Redirect::to(&target).into_response();
    }
    match upload.success_action_status.as_deref() {
        Some("200") => stored_response(StatusCode::OK, stored),
        Some("201") => {
            let xml = format!(
                "<?xml version='1.0' encoding='UTF-8'?><PostResponse><Bucket>{}</Bucket><Key>{}</Key><ETag>\"{}\"</ETag></PostResponse>",
                error::escape(bucket),
                error::escape(&upload.key),
                hex::encode(BASE64.decode(&stored.md5).unwrap_or_default())
            );
            let mut response = stored_response(StatusCode::CREATED, stored);
            *response.body_mut() = axum::body::Body::from(xml);
            response
        }
        _ => stored_response(StatusCode::NO_CONTENT, stored),
    }
}

/// Checks the form `fields` (names as sent) for an upload of `file_len` bytes named
/// `file_name` into `bucket`.
pub fn verify_form(
    keys: &Keys,
    bucket: &str,
    fields: &[(String, String)],
    file_name: &str,
    file_len: u64,
    now: OffsetDateTime,
) -> Result<FormUpload, StoreError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str| {
        field(name).ok_or_else(|| {
            StoreError::bad_request("InvalidArgument", format!("the form has no {name} field"))
        })
    };
    let policy = required("policy")?;
    verify_policy_signature(
        keys,
        policy,
        required("x-goog-algorithm")?,
        required("x-goog-credential")?,
        required("x-goog-date")?,
        required("x-goog-signature")?,
    )?;
    let document: Value = BASE64
        .decode(policy)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            StoreError::bad_request("InvalidPolicyDocument", "the policy is not base64 JSON")
        })?;
    let expiration = document["expiration"]
        .as_str()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        .ok_or_else(|| {
            StoreError::bad_request("InvalidPolicyDocument", "the policy has no expiration")
        })?;
    if now > expiration {
        return Err(StoreError::expired());
    }
    let key = required("key")?.replace("${filename}", file_name);
    check_gcs_object_name(&key)?;
    let value_of = |name: &str| -> Option<String> {
        match name {
            "bucket" => Some(bucket.to_owned()),
            "key" => Some(key.clone()),
            _ => field(name).map(str::to_owned),
        }
    };
    let conditioned = check_conditions(&document, &value_of, file_len)?;
    // Every field the form sends must be covered by the policy.
    for (name, _) in fields {
        let name = name.to_ascii_lowercase();
        if !UNCONDITIONED.contains(&name.as_str())
            && !name.starts_with("x-ignore-")
            && !conditioned.contains(&name)
        {
            return Err(StoreError::new(
                axum::http::StatusCode::FORBIDDEN,
                "AccessDenied",
                format!("Invalid according to Policy: Extra input fields: {name}"),
            ));
        }
    }
    Ok(FormUpload {
        key,
        content_type: field("content-type").map(str::to_owned),
        metadata: fields
            .iter()
            .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-goog-meta-"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect(),
        success_action_redirect: field("success_action_redirect").map(str::to_owned),
        success_action_status: field("success_action_status").map(str::to_owned),
    })
}

/// The names GCS itself refuses (its object naming rules): empty, `.` or `..`, a carriage
/// return or line feed, over 1024 bytes, or under `.well-known/acme-challenge/`. Anything else
/// is stored under exactly that name: GCS does not resolve `..` segments, so
/// `forms/1/../../admin/x` is an object inside `forms/1/`, not `admin/x`. (A policy cannot
/// forbid `..` either: its `starts-with` condition sees the name as text.)
fn check_gcs_object_name(name: &str) -> Result<(), StoreError> {
    let refused = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['\r', '\n'])
        || name.len() > crate::domain::MAX_OBJECT_NAME_BYTES
        || name.starts_with(".well-known/acme-challenge/");
    if refused {
        return Err(StoreError::bad_request(
            "InvalidObjectName",
            "The object name is not valid in Cloud Storage.",
        ));
    }
    Ok(())
}

/// Checks every condition of the policy `document` against the form; returns the names of
/// the fields the conditions cover.
fn check_conditions(
    document: &Value,
    value_of: &dyn Fn(&str) -> Option<String>,
    file_len: u64,
) -> Result<Vec<String>, StoreError> {
    let failed = |condition: &Value| {
        StoreError::new(
            axum::http::StatusCode::FORBIDDEN,
            "AccessDenied",
            format!("Invalid according to Policy: Policy Condition failed: {condition}"),
        )
    };
    let mut conditioned: Vec<String> = vec!["bucket".into()];
    for condition in document["conditions"].as_array().into_iter().flatten() {
        match condition {
            Value::Object(pairs) => {
                for (name, expected) in pairs {
                    conditioned.push(name.to_ascii_lowercase());
                    if value_of(&name.to_ascii_lowercase()).as_deref() != expected.as_str() {
                        return Err(failed(condition));
                    }
                }
            }
            Value::Array(items) => match items.first().and_then(Value::as_str) {
                Some("content-length-range") => {
                    let min = items.get(1).and_then(Value::as_u64).unwrap_or(0);
                    let max = items.get(2).and_then(Value::as_u64).unwrap_or(0);
                    if !(min..=max).contains(&file_len) {
                        return Err(StoreError::bad_request(
                            "EntityTooLarge",
                            format!(
                                "Your proposed upload of {file_len} bytes is outside the allowed range {min}..={max}."
                            ),
                        ));
                    }
                }
                Some(operator @ ("starts-with" | "eq")) => {
                    let name = items.get(1).and_then(Value::as_str).unwrap_or_default();
                    let name = name.trim_start_matches('$').to_ascii_lowercase();
                    let expected = items.get(2).and_then(Value::as_str).unwrap_or_default();
                    conditioned.push(name.clone());
                    let actual = value_of(&name).unwrap_or_default();
                    let holds = if operator == "eq" {
                        actual == expected
                    } else {
                        actual.starts_with(expected)
                    };
                    if !holds {
                        return Err(failed(condition));
                    }
                }
                _ => {
                    return Err(StoreError::bad_request(
                        "InvalidPolicyDocument",
                        format!("unknown condition {condition}"),
                    ));
                }
            },
            _ => {
                return Err(StoreError::bad_request(
                    "InvalidPolicyDocument",
                    format!("unknown condition {condition}"),
                ));
            }
        }
    }
    Ok(conditioned)
}

fn verify_policy_signature(
    keys: &Keys,
    policy: &str,
    algorithm: &str,
    credential: &str,
    date: &str,
    signature: &str,
) -> Result<(), StoreError> {
    parse_timestamp(date)?;
    let (access_id, _scope) = credential
        .split_once('/')
        .ok_or_else(|| StoreError::bad_request("InvalidArgument", "malformed x-goog-credential"))?;
    if !matches!(algorithm, "GOOG4-RSA-SHA256" | "GOOG4-HMAC-SHA256") {
        return Err(StoreError::access_denied(format!(
            "{access_id} is not a key this store knows"
        )));
    }
    let mismatch = || StoreError::signature_mismatch().with_detail("StringToSign", policy);
    verify_v4_signature(
        keys,
        algorithm,
        access_id,
        &date[..8],
        policy,
        signature,
        mismatch,
    )
}
