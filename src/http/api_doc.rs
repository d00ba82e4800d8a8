//! The `OpenAPI` 3.1 description of the API, generated from the code (`utoipa`): the response
//! types are the ones the handlers serialise; the request types below describe what the
//! handlers' field-by-field validation accepts. Served at `/openapi.json`, printed by
//! `storage-signer openapi`; tests check real responses against it and schemathesis fuzzes the
//! running service with it.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::{ErrorBody, ErrorDetail, ErrorMeta};
use super::secrets::{BatchItem, BatchResponse, Meta, SecretData, SecretResponse};
use super::upload_policies::{PolicyData, PolicyResponse};
use super::validate::{ValidationData, ValidationResponse};
use crate::domain::InvalidEntry;
use crate::domain::Violation;

/// The request for one signed URL.
#[derive(ToSchema)]
#[schema(example = json!({"secret": {"action": "PUT", "bucket": "dev-bucket", "resource_id": "declarations/42", "resource_name": "scan 1.pdf", "content_type": "application/pdf", "version": "v4", "if_generation_match": 0, "max_size": 10_485_760}}))]
pub struct SecretBody {
    pub secret: Secret,
}

/// What a signed URL may do. Unknown fields are ignored, as ael.api ignored them.
#[derive(ToSchema)]
pub struct Secret {
    pub action: ActionName,
    /// A bucket listed in `KNOWN_BUCKETS`.
    #[schema(
        pattern = r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
        example = "dev-bucket"
    )]
    pub bucket: String,
    /// The object name, or its first part: no control characters, no empty, `.` or `..`
    /// segments, at most 1024 bytes of UTF-8 with `resource_name`.
    #[schema(min_length = 1, max_length = 1024, example = "declarations/42")]
    pub resource_id: String,
    /// Appended as `resource_id/resource_name` when present and non-empty.
    #[schema(max_length = 1024, example = "scan 1.pdf")]
    pub resource_name: Option<String>,
    /// Signed: the request must send exactly this `Content-Type` (visible ASCII).
    #[schema(max_length = 256, example = "application/pdf")]
    pub content_type: Option<String>,
    /// Signed: base64 of the body's 16-byte MD5 (`""` or `null`: none).
    #[schema(
        pattern = r"^([A-Za-z0-9+/]{22}==)?$",
        example = "1B2M2Y8AsgTpgAmY7PhCfg=="
    )]
    pub content_md5: Option<String>,
    /// Lifetime in seconds; default `SECRETS_TTL`; above the caller's `max_ttl` a 422.
    // utoipa takes only a literal here: `expires_in_maximum_is_the_lifetime_limit` ties it to
    // `MAX_URL_LIFETIME_SECS`.
    #[schema(minimum = 1, maximum = 604_800)]
    pub expires_in: Option<u32>,
    pub version: Option<VersionName>,
    /// Signs `x-goog-if-generation-match`: `0` creates but never replaces.
    #[schema(minimum = 0)]
    pub if_generation_match: Option<u64>,
    /// Uploads only: `[min, max]` bytes, signed as `x-goog-content-length-range`.
    #[schema(min_items = 2, max_items = 2)]
    pub content_length_range: Option<Vec<u64>>,
    /// Uploads only: shorthand for `content_length_range: [0, max_size]`.
    #[schema(minimum = 0)]
    pub max_size: Option<u64>,
    /// `GET`/`HEAD` only: the `Content-Type` the download is served with
    /// (`response-content-type`), where a rule of the caller lists it.
    #[schema(max_length = 256, example = "application/pdf")]
    pub response_content_type: Option<String>,
    /// `GET`/`HEAD` only: the `Content-Disposition` the download is served with
    /// (`response-content-disposition`), e.g. to save it under a name; visible ASCII, starting
    /// with a disposition type the caller's rule lists.
    #[schema(max_length = 1024, example = "attachment; filename=\"scan 1.pdf\"")]
    pub response_content_disposition: Option<String>,
    /// `PUT`/`RESUMABLE` only: custom metadata, signed as `x-goog-meta-<name>` headers (names:
    /// a-z 0-9 - _; values visible ASCII), where a rule of the caller lists the names.
    pub metadata: Option<BTreeMap<String, String>>,
    /// `PUT`/`RESUMABLE` with V4 only: the `Cache-Control` to sign (visible ASCII).
    #[schema(max_length = 1024, example = "public, max-age=3600")]
    pub cache_control: Option<String>,
    /// `PUT`/`RESUMABLE` with V4 only: the `Content-Disposition` to sign.
    #[schema(max_length = 1024, example = "attachment; filename=\"report.pdf\"")]
    pub content_disposition: Option<String>,
    /// Swift buckets: the URL covers every object under `resource_id[/resource_name]/`
    /// (`temp_url_prefix`).
    pub prefix: Option<bool>,
    /// Swift buckets, downloads: the file name of the response's `Content-Disposition`.
    #[schema(max_length = 255, example = "scan.pdf")]
    pub filename: Option<String>,
    /// Swift buckets, downloads: `Content-Disposition: inline` rather than `attachment`.
    pub inline: Option<bool>,
}

/// The HTTP method the URL allows; `RESUMABLE` starts a resumable upload (`POST` with
/// `x-goog-resumable: start` signed).
#[derive(ToSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ActionName {
    GET,
    HEAD,
    PUT,
    DELETE,
    RESUMABLE,
}

/// Signing process; default `SIGNING_VERSION` (`v2`).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum VersionName {
    V2,
    V4,
}

/// Up to 100 secrets, each decided on its own.
#[derive(ToSchema)]
#[schema(example = json!({"secrets": [{"action": "GET", "bucket": "dev-bucket", "resource_id": "a.jpg"}, {"action": "GET", "bucket": "dev-bucket", "resource_id": "b.jpg", "version": "v4"}]}))]
pub struct BatchBody {
    #[schema(min_items = 1, max_items = 100)]
    pub secrets: Vec<Secret>,
}

/// The request for a browser form upload (a V4 POST policy).
#[derive(ToSchema)]
#[schema(example = json!({"policy": {"bucket": "dev-bucket", "key_prefix": "uploads/42/", "content_type": "image/png", "max_size": 10_485_760, "metadata": {"owner": "user-42"}, "success_action_status": 201}}))]
pub struct PolicyBody {
    pub policy: Policy,
}

/// Conditions of a form upload; give `key` or `key_prefix`.
#[derive(ToSchema)]
pub struct Policy {
    #[schema(
        pattern = r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$",
        example = "dev-bucket"
    )]
    pub bucket: String,
    /// The exact object name.
    #[schema(max_length = 1024)]
    pub key: Option<String>,
    /// Any object name starting with this (the form's `key` is `prefix${filename}`).
    #[schema(max_length = 1024)]
    pub key_prefix: Option<String>,
    /// Exact `Content-Type` of the upload: one media type, `type/subtype` with optional
    /// `; name=value` parameters (tokens only, no commas or quotes).
    pub content_type: Option<String>,
    /// The upload's `Content-Type` must start with this (tokens and one `/`). Granted only
    /// where the caller's rule lists no `content_types`: a prefix admits whatever starts with
    /// it, `image/svg+xml` for `image/`.
    pub content_type_prefix: Option<String>,
    #[schema(min_items = 2, max_items = 2)]
    pub content_length_range: Option<Vec<u64>>,
    #[schema(minimum = 0)]
    pub max_size: Option<u64>,
    /// Custom metadata, sent as `x-goog-meta-<name>` fields (names: a-z 0-9 - _).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Where GCS redirects after the upload (http or https).
    pub success_action_redirect: Option<String>,
    /// The status GCS answers the upload with: 200, 201 or 204 (string or number).
    pub success_action_status: Option<SuccessStatus>,
    // utoipa takes only a literal here: `expires_in_maximum_is_the_lifetime_limit` ties it to
    // `MAX_URL_LIFETIME_SECS`.
    #[schema(minimum = 1, maximum = 604_800)]
    pub expires_in: Option<u32>,
}

/// `200`, `201` or `204`, as a string or a number.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the JSON only
pub enum SuccessStatus {
    Text(String),
    Number(u16),
}

/// ael.api's validation request: the signed document at `url` must carry exactly one valid
/// signature, and every rule must hold on its signed content.
#[derive(ToSchema)]
#[schema(example = json!({"url": "http://127.0.0.1:4001/dev-bucket/declarations/42/signed.p7s", "rules": [{"field": ["legal_entity", "edrpou"], "type": "eq", "value": "12345678"}]}))]
pub struct ValidateBody {
    /// A storage URL of a known bucket's object (an issued URL, or the object's plain URL):
    /// only its bucket and object are used.
    #[schema(max_length = 8192)]
    pub url: String,
    #[schema(min_items = 1, max_items = 100)]
    pub rules: Vec<FieldRuleBody>,
}

/// The value at `field` (keys into the signed JSON) must equal `value` (numbers and booleans
/// compare by their JSON text; a missing field never matches).
#[derive(ToSchema)]
pub struct FieldRuleBody {
    #[schema(min_items = 1, max_items = 32, example = json!(["legal_entity", "edrpou"]))]
    pub field: Vec<String>,
    pub r#type: RuleKind,
    #[schema(example = "12345678")]
    pub value: String,
}

/// The only comparison, as in ael.api.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RuleKind {
    Eq,
}

/// `GET /healthz`
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz`
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unready`.
    #[schema(example = "ready")]
    pub status: String,
    /// Why the service is not ready (`the audit log cannot be written`, `shutting down`, IAM
    /// signing unavailable).
    pub reasons: Option<Vec<String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "storage-signer",
        description = "Short-lived signed URLs and form policies for Google Cloud Storage, S3-compatible stores and OpenStack Swift, behind per-client policies and an audit trail; validation of signed documents. Drop-in successor of Nebo15/ael.api.",
        license(name = "Apache-2.0")
    ),
    paths(
        super::secrets::create,
        super::secrets::batch,
        super::upload_policies::create,
        super::validate::validate,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        openapi_json,
    ),
    components(schemas(
        SecretBody, Secret, ActionName, VersionName, BatchBody, PolicyBody, Policy, Health, Readiness,
        SecretResponse, SecretData, BatchResponse, BatchItem, PolicyResponse, PolicyData, Meta,
        ValidateBody, FieldRuleBody, RuleKind, ValidationResponse, ValidationData,
        ErrorBody, ErrorMeta, ErrorDetail, InvalidEntry, Violation,
    )),
    modifiers(&BearerSchemes),
    tags(
        (name = "signing", description = "Signed URLs and form policies"),
        (name = "operations", description = "Probes and this document")
    )
)]
pub struct ApiDoc;

/// The two ways to authenticate: `Authorization: Bearer <API key>` or `Bearer <JWT>`.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .description(Some("An API key whose SHA-256 is in the clients file (`storage-signer api-key new`)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An RS256 or ES256 JWT: a workload's (e.g. a Kubernetes service-account token) whose `sub` is a client's `jwt_subject`, or an end user's token from an identity provider of the clients file (`[[issuers]]`), acting as the client whose `end_users` takes it."))
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This API description (OpenAPI 3.1)
// The doc comment is the operation's summary in the document, so no Markdown backticks.
#[allow(clippy::doc_markdown)]
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Json(document()))
}

/// Examples of real responses, used in the document and checked by the tests.
pub mod examples {
    use serde_json::{Value, json};

    pub fn secret_created() -> Value {
        json!({"meta": {"code": 201, "type": "object", "request_id": "0b4a3c9e-6f0e-4a55-9d1c-2f5c0c7f1e21"},
               "data": {"action": "PUT", "bucket": "dev-bucket", "resource_id": "declarations/42", "resource_name": "scan 1.pdf",
                        "content_type": "application/pdf", "content_md5": null,
                        "secret_url": "http://127.0.0.1:4001/dev-bucket/declarations/42/scan%201.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=storage-signer-dev%40dev.invalid%2F20261128%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261128T100223Z&X-Goog-Expires=600&X-Goog-SignedHeaders=content-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-if-generation-match&X-Goog-Signature=5ece7a4c…",
                        "url": "http://127.0.0.1:4001/dev-bucket/declarations/42/scan%201.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=storage-signer-dev%40dev.invalid%2F20261128%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261128T100223Z&X-Goog-Expires=600&X-Goog-SignedHeaders=content-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-if-generation-match&X-Goog-Signature=5ece7a4c…",
                        "method": "PUT", "fields": {},
                        "expires_at": "2026-11-28T10:12:23Z", "inserted_at": "2026-11-28T10:02:23Z", "version": "v4", "backend": "gcs",
                        "headers": {"Content-Type": "application/pdf", "x-goog-content-length-range": "0,10485760", "x-goog-if-generation-match": "0"}}})
    }

    pub fn validation_failed() -> Value {
        json!({"meta": {"code": 422, "request_id": "0b4a3c9e-6f0e-4a55-9d1c-2f5c0c7f1e21"},
               "error": {"type": "validation_failed", "message": "Validation failed: 1 invalid field(s); see `invalid` for each field and rule.",
                         "invalid": [{"entry": "$.secret.action", "entry_type": "json_data_property",
                                      "rules": [{"rule": "inclusion", "params": ["GET", "HEAD", "PUT", "DELETE", "RESUMABLE"], "description": "must be one of GET, HEAD, PUT, DELETE, RESUMABLE"}]}]}})
    }

    pub fn forbidden() -> Value {
        json!({"meta": {"code": 403, "request_id": "0b4a3c9e-6f0e-4a55-9d1c-2f5c0c7f1e21"},
               "error": {"type": "forbidden", "message": "Not allowed: path /dev-bucket/private/x.pdf is not allowed for PUT for this client."}})
    }

    pub fn unauthenticated() -> Value {
        json!({"meta": {"code": 401, "request_id": "0b4a3c9e-6f0e-4a55-9d1c-2f5c0c7f1e21"},
               "error": {"type": "access_denied", "message": "Authentication failed: the API key is not valid."}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MAX_URL_LIFETIME_SECS;

    #[test]
    fn expires_in_maximum_is_the_lifetime_limit() {
        let document = serde_json::to_value(document()).unwrap();
        let schemas = &document["components"]["schemas"];
        for schema in ["Secret", "Policy"] {
            assert_eq!(
                schemas[schema]["properties"]["expires_in"]["maximum"], MAX_URL_LIFETIME_SECS,
                "{schema}"
            );
        }
    }
}
