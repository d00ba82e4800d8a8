//! Reading a document from storage, and only from storage: through a URL the service signed
//! itself for a known bucket's object (so the host is a configured endpoint), without
//! following redirects or proxies, within a time and a size limit.

use std::time::Duration;

use crate::signing::SignedUrl;

/// Why a document was not read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the storage has no such object (404)")]
    NotFound,
    #[error("the document is larger than {max} bytes")]
    TooLarge { max: u64 },
    /// Redirects are never followed: one could lead anywhere.
    #[error("the storage answered a redirect ({0}), which is not followed")]
    Redirected(u16),
    #[error("the storage answered {0}")]
    Status(u16),
    /// Connection refused, timed out, TLS failed... (the URL is not part of it).
    #[error("the storage could not be read: {0}")]
    Unreachable(String),
}

/// An HTTP client for storage reads.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(timeout: Duration, max_bytes: u64) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // HTTP(S)_PROXY would send storage reads somewhere else.
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(Self { client, max_bytes })
    }

    /// The object behind `url`, a URL the service signed for `GET`.
    pub async fn fetch(&self, url: &SignedUrl) -> Result<Vec<u8>, FetchError> {
        let response = self
            .client
            .get(url.expose())
            .send()
            .await
            .map_err(unreachable)?;
        match response.status().as_u16() {
            200 => read_capped(response, self.max_bytes)
                .await
                .map_err(|error| match error {
                    Capped::TooLarge => FetchError::TooLarge {
                        max: self.max_bytes,
                    },
                    Capped::Broken(error) => unreachable(error),
                }),
            404 => Err(FetchError::NotFound),
            status @ 300..=399 => Err(FetchError::Redirected(status)),
            status => Err(FetchError::Status(status)),
        }
    }
}

/// Why a body was not read whole.
pub(super) enum Capped {
    TooLarge,
    Broken(reqwest::Error),
}

/// The body of `response`, unless it is over `max` bytes (by its `Content-Length`, or as it
/// arrives).
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    max: u64,
) -> Result<Vec<u8>, Capped> {
    if response.content_length().is_some_and(|length| length > max) {
        return Err(Capped::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Broken)? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error, without the URL (a signed URL is a credential).
fn unreachable(error: reqwest::Error) -> FetchError {
    FetchError::Unreachable(describe(error))
}

/// A reqwest error and its causes, without the URL (a signed URL is a credential).
pub fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
