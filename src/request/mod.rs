//! The requests callers send, read from JSON and validated field by field into domain types.
//! Every invalid field is collected, so a 422 lists them all. Pure: no HTTP, no clock.

pub mod fields;
mod form;
mod json;
mod secret;
mod store_options;
mod validate;

pub use fields::Fields;
pub use form::{FormKey, FormRequest};
pub use json::parse_json;
pub use secret::{InvalidSecret, SecretRequest};
pub use store_options::StoreOptions;
pub use validate::{FieldRule, ValidateRequest};

/// Entry points for the fuzz targets in `fuzz/`: a request body through the same steps as the
/// handlers take (size limit, bytes to JSON, the member object, field by field validation),
/// without HTTP, authentication or signing. Not part of the service's API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    use super::fields::Fields;
    pub use super::{FormKey, FormRequest, SecretRequest};
    use crate::domain::{BucketName, InvalidEntry, limits::MAX_BODY_BYTES};

    /// Why a body was refused, as the handler would answer.
    #[derive(Debug)]
    pub enum Refused {
        /// Over `MAX_BODY_BYTES`: 413.
        TooLarge,
        /// Not a JSON document: 400.
        MalformedJson,
        /// Invalid fields, each listed: 422.
        Invalid(Vec<InvalidEntry>),
    }

    fn json(bytes: &[u8]) -> Result<Value, Refused> {
        if bytes.len() > MAX_BODY_BYTES {
            return Err(Refused::TooLarge);
        }
        super::parse_json(bytes).map_err(|_| Refused::MalformedJson)
    }

    /// The body of `POST /media_content_storage_secrets`: `{"secret": {...}}`.
    pub fn parse_secret_body(
        bytes: &[u8],
        known_buckets: &[BucketName],
    ) -> Result<SecretRequest, Refused> {
        let body = json(bytes)?;
        let fields =
            Fields::member(&body, "secret").map_err(|entry| Refused::Invalid(vec![entry]))?;
        SecretRequest::from_fields(fields, known_buckets)
            .map_err(|invalid| Refused::Invalid(invalid.entries))
    }

    /// The body of `POST /upload_policies`: `{"policy": {...}}`.
    pub fn parse_policy_body(
        bytes: &[u8],
        known_buckets: &[BucketName],
    ) -> Result<FormRequest, Refused> {
        let body = json(bytes)?;
        FormRequest::from_json(&body, known_buckets).map_err(Refused::Invalid)
    }
}
