//! Signed URLs and forms for object storage, sans I/O: Google Cloud Storage (V2, V4 RSA and
//! HMAC, POST policies), S3 and S3-compatible stores (SigV4 presigned URLs and POST
//! policies) and OpenStack Swift (TempURLs).
//!
//! Nothing here reads the clock, the environment, files or the network: callers pass the
//! expiry (and, for V4, the request time) in. One file per step or specification; one SigV4
//! implementation (`v4.rs`, `hmac.rs`) serves GCS and S3.

pub mod encoding;
pub mod headers;
pub mod hmac;
pub mod post_policy;
pub mod s3;
pub mod s3_post;
pub mod swift;
pub mod v2;
pub mod v4;

use std::fmt;

/// Something that can produce an RSA-SHA256 (PKCS#1 v1.5) signature for a service account.
///
/// Implemented by the in-memory service-account key; a remote signer (IAM `signBlob`) can use
/// the two-step functions (`string_to_sign`, then `signed_url`) instead.
pub trait Signer {
    /// The service account's e-mail, sent as `GoogleAccessId` / in the V4 credential.
    fn google_access_id(&self) -> &str;

    /// Signs `message` with RSASSA-PKCS1-v1_5 using SHA-256.
    fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing key failed to produce a signature")]
    KeyFailure,
    /// The remote signer (IAM) did not sign in time; the caller may try again. The reason is
    /// for the operator's log (it never holds key material or tokens).
    #[error("the remote signer is unavailable: {0}")]
    Unavailable(String),
}

/// An issued URL. It is a bearer credential: `Debug` does not print it, and it is only ever
/// handed to the caller who asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedUrl(String);

impl SignedUrl {
    pub(crate) fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL itself. Call this only to return it to the caller.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedUrl(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_debug_does_not_print_the_url() {
        let url = SignedUrl::new("https://storage.example/b/o?Signature=c2VjcmV0".into());
        let debug = format!("{url:?} {:?}", Some(&url));
        assert!(!debug.contains("Signature"), "{debug}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }
}
