//! Checking a signed document for `POST /validate_signed_entity`, after the decision allowed
//! it: read the object from its store through a short-lived URL the service signs itself,
//! send it to the digital-signature service, and require exactly one valid signature and
//! every rule (`verdict.rs`).
//!
//! The I/O clients are built at start-up from `ValidatorSettings`. Only a known bucket's
//! configured endpoint is ever contacted for the document: the caller's URL names the
//! object, and nothing else of it is used (`issuing::locate`).

mod digital_signature;
mod fetch;
mod verdict;

pub use digital_signature::{Examined, SignatureCheck, interpret};
pub use fetch::{FetchError, describe as describe_http_error};
pub use verdict::{Verdict, verdict};

use std::time::Duration;

use time::OffsetDateTime;

use crate::audit::Decision;
use crate::domain::{Action, InvalidEntry, Violation};
use crate::error::ApiError;
use crate::issuing::{Backends, Outcome, UrlExtras, UrlGrant, ValidationGrant};
use crate::request::{FieldRule, StoreOptions};
use crate::signing::SignedUrl;
use digital_signature::DigitalSignatures;
use fetch::Fetcher;

/// Lifetime of the URL the service reads a document through: the read starts at once.
const FETCH_URL_LIFETIME: u32 = 60;

/// The storage reader and the digital-signature client.
#[derive(Debug)]
pub struct Validator {
    fetcher: Fetcher,
    signatures: DigitalSignatures,
}

impl Validator {
    /// Documents of up to `max_document_bytes`, read within `fetch_timeout`, checked by the
    /// service at `digital_signature_endpoint` within `digital_signature_timeout`.
    pub fn new(
        digital_signature_endpoint: &str,
        digital_signature_timeout: Duration,
        fetch_timeout: Duration,
        max_document_bytes: u64,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            fetcher: Fetcher::new(fetch_timeout, max_document_bytes)?,
            signatures: DigitalSignatures::new(
                digital_signature_endpoint,
                digital_signature_timeout,
                max_document_bytes,
            )?,
        })
    }

    /// The verdict on the document behind `url` (signed by the service) against `rules`.
    pub async fn examine(&self, url: &SignedUrl, rules: &[FieldRule]) -> Result<Verdict, ApiError> {
        let document = match self.fetcher.fetch(url).await {
            Ok(document) => document,
            // ael.api sent whatever came back to the signature service, which found no
            // signature in it: not valid.
            Err(FetchError::NotFound) => {
                return Ok(Verdict::invalid("the storage has no object at this URL"));
            }
            Err(FetchError::TooLarge { max }) => {
                return Err(ApiError::Validation(vec![InvalidEntry::json_property(
                    "$.url",
                    Violation::new(
                        "size",
                        format!("names a document larger than {max} bytes, the limit (MAX_DOCUMENT_SIZE)"),
                    )
                    .with_params(serde_json::json!({"max": max})),
                )]));
            }
            Err(other) => {
                return Err(ApiError::BadGateway {
                    service: "storage",
                    detail: other.to_string(),
                });
            }
        };
        let examined =
            self.signatures
                .check(&document)
                .await
                .map_err(|detail| ApiError::BadGateway {
                    service: "digital-signature service",
                    detail,
                })?;
        Ok(verdict(&examined, rules))
    }
}

/// The verdict of a granted validation, its record completed: `validated` (valid or not),
/// `invalid` (the document is over the limit) or `failed` (a service did not answer).
pub async fn conclude(
    outcome: Outcome<ValidationGrant>,
    backends: &Backends,
    validator: &Validator,
    now: OffsetDateTime,
) -> Outcome<Verdict> {
    let Outcome { mut record, result } = outcome;
    let grant = match result {
        Ok(grant) => grant,
        Err(error) => {
            return Outcome {
                record,
                result: Err(error),
            };
        }
    };
    let read = UrlGrant {
        action: Action::Get,
        bucket: grant.located.bucket.as_str(),
        object: grant.located.object.as_str(),
        version: None,
        content_type: None,
        content_md5: None,
        if_generation_match: None,
        content_length_range: None,
        lifetime: FETCH_URL_LIFETIME,
        extras: UrlExtras::default(),
    };
    let result = match backends.issue_url(&read, &StoreOptions::default(), now) {
        Ok(issued) => validator.examine(&issued.url, &grant.rules).await,
        Err(error) => Err(error),
    };
    let allowed = std::mem::take(&mut record.reason);
    match &result {
        Ok(verdict) => {
            let outcome = if verdict.is_valid {
                "valid"
            } else {
                "not valid"
            };
            record.decide(
                Decision::Validated,
                format!("{outcome}: {}; {allowed}", verdict.reason),
            );
        }
        Err(error @ ApiError::Validation(_)) => {
            record.decide(Decision::Invalid, error.audit_reason());
        }
        Err(error) => record.decide(Decision::Failed, error.audit_reason()),
    }
    Outcome { record, result }
}
