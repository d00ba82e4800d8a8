//! Errors of the local store, answered as GCS answers them: an XML `<Error>` document with a
//! `Code` and a `Message`, and for signature mismatches what the store signed, so a developer
//! can see where the client and the signer disagree.

use std::fmt::Write as _;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `StringToSign` (and for V4 `CanonicalRequest`) as this store computed them.
    pub details: Vec<(&'static str, String)>,
}

impl StoreError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn signature_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.",
        )
    }

    pub fn expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired. Request signature expired.",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    }

    /// Why an object was not stored, as GCS would say it.
    pub fn not_stored(reason: &super::objects::NotStored) -> Self {
        match reason {
            super::objects::NotStored::Precondition => Self::precondition_failed(),
            super::objects::NotStored::Full => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                "The dev store holds as much as it may in memory; delete objects, or use DEV_STORE_DIR.",
            ),
        }
    }

    pub fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub fn no_such_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
    }
}

impl IntoResponse for StoreError {
    fn into_response(self) -> Response {
        let mut xml = format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{}</Code><Message>{}</Message>",
            self.code,
            escape(&self.message)
        );
        for (name, value) in &self.details {
            let _ = write!(xml, "<{name}>{}</{name}>", escape(value));
        }
        xml.push_str("</Error>");
        (
            self.status,
            [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")],
            xml,
        )
            .into_response()
    }
}

/// XML text escaping.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}
