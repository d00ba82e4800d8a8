//! The digital-signature service (`edenlabllc/digital_signature.api`, ael.api's
//! `DIGITAL_SIGNATURE_ENDPOINT`): `POST /digital_signatures` with
//! `{"signed_content": <base64>, "signed_content_encoding": "base64"}`, answered with the
//! document's signatures and its content:
//!
//! ```json
//! {"data": {"content": {...}, "signatures": [{"is_valid": true, "validation_error_message": "", "signer": {...}}]}}
//! ```
//!
//! An older version of the service answered `{"data": {"is_valid": true, "content": {...}}}`
//! (what Nebo15's ael.api read); both are understood. Unlike ael.api, the request says
//! `Content-Type: application/json`, which the service's parser needs.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::fetch::{Capped, describe, read_capped};

/// What the service found in a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Examined {
    /// Every signature layer it checked (outermost first), and the innermost content.
    Checked {
        signatures: Vec<SignatureCheck>,
        content: Value,
    },
    /// It refused the document (a 422: not a signed JSON document, say).
    Refused(String),
}

/// One signature's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub is_valid: bool,
    /// The service's reason when it is not valid (`matching ROOT certificate not found`).
    pub message: String,
}

/// A client of the service.
#[derive(Debug)]
pub struct DigitalSignatures {
    client: reqwest::Client,
    /// `<endpoint>/digital_signatures`
    url: String,
    /// Largest answer read: the service echoes the document, base64, beside its content.
    max_answer_bytes: u64,
}

impl DigitalSignatures {
    pub fn new(
        endpoint: &str,
        timeout: Duration,
        max_document_bytes: u64,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            url: format!("{endpoint}/digital_signatures"),
            max_answer_bytes: max_document_bytes.saturating_mul(4) + 64 * 1024,
        })
    }

    /// Sends `document` to be checked; `Err` when the service did not answer usefully.
    pub async fn check(&self, document: &[u8]) -> Result<Examined, String> {
        let body = json!({
            "signed_content": BASE64.encode(document),
            "signed_content_encoding": "base64",
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        let answer =
            read_capped(response, self.max_answer_bytes)
                .await
                .map_err(|error| match error {
                    Capped::TooLarge => {
                        format!("its answer is over {} bytes", self.max_answer_bytes)
                    }
                    Capped::Broken(error) => describe(error),
                })?;
        interpret(status, &answer)
    }
}

/// The service's answer, read; `Err` says why it is no answer at all.
pub fn interpret(status: u16, body: &[u8]) -> Result<Examined, String> {
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    match status {
        200 | 201 | 204 => {
            let data = answer
                .as_ref()
                .and_then(|answer| answer.get("data"))
                .ok_or_else(|| format!("it answered {status} without a JSON `data` object"))?;
            let content = data.get("content").cloned().unwrap_or(Value::Null);
            let signatures = match (data.get("signatures"), data.get("is_valid")) {
                (Some(Value::Array(entries)), _) => entries.iter().map(signature).collect(),
                (None, Some(Value::Bool(is_valid))) => vec![SignatureCheck {
                    is_valid: *is_valid,
                    message: String::new(),
                }],
                _ => return Err(format!("its answer ({status}) lists no signatures")),
            };
            Ok(Examined::Checked {
                signatures,
                content,
            })
        }
        // The document is not what the service checks (not base64, not JSON inside).
        422 => {
            let kind = answer
                .as_ref()
                .and_then(|answer| answer["error"]["type"].as_str())
                .unwrap_or("unprocessable");
            Ok(Examined::Refused(format!(
                "the digital-signature service refused the document ({kind})"
            )))
        }
        status => Err(format!("it answered {status}")),
    }
}

fn signature(entry: &Value) -> SignatureCheck {
    SignatureCheck {
        is_valid: entry["is_valid"] == Value::Bool(true),
        message: entry["validation_error_message"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(body: &Value) -> Examined {
        interpret(200, body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn reads_the_signatures_and_content_of_the_current_answer() {
        let answer = json!({"meta": {"code": 200}, "data": {"signed_content": "…", "content": {"a": 1},
            "signatures": [{"is_valid": false, "validation_error_message": "matching ROOT certificate not found", "signer": {}}]}});
        assert_eq!(
            checked(&answer),
            Examined::Checked {
                signatures: vec![SignatureCheck {
                    is_valid: false,
                    message: "matching ROOT certificate not found".into()
                }],
                content: json!({"a": 1})
            }
        );
    }

    #[test]
    fn reads_the_older_single_verdict() {
        let Examined::Checked { signatures, .. } =
            checked(&json!({"data": {"is_valid": true, "content": {}}}))
        else {
            panic!()
        };
        assert!(signatures[0].is_valid);
    }

    #[test]
    fn a_422_is_a_refused_document_and_other_answers_are_failures() {
        let refused = interpret(422, br#"{"error": {"type": "request_malformed"}}"#).unwrap();
        assert_eq!(
            refused,
            Examined::Refused(
                "the digital-signature service refused the document (request_malformed)".into()
            )
        );
        assert!(interpret(500, b"{}").is_err());
        assert!(interpret(200, b"<html>").is_err());
        assert!(interpret(200, br#"{"data": {"content": {}}}"#).is_err());
        // `is_valid` must be the boolean true, not a truthy value.
        let Examined::Checked { signatures, .. } =
            checked(&json!({"data": {"signatures": [{"is_valid": "true"}]}}))
        else {
            panic!()
        };
        assert!(!signatures[0].is_valid);
    }
}
