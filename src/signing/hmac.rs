//! GOOG4-HMAC-SHA256: signing with a GCS HMAC key instead of the service account's RSA key.
//!
//! The signing key is derived from the secret for each date (`auto` location, `storage`
//! service), as in <https://cloud.google.com/storage/docs/authentication/signatures#signing-process>:
//!
//! ```text
//! key_date    = HMAC-SHA256("GOOG4" + secret, YYYYMMDD)
//! key_region  = HMAC-SHA256(key_date, "auto")
//! key_service = HMAC-SHA256(key_region, "storage")
//! key_signing = HMAC-SHA256(key_service, "goog4_request")
//! signature   = hex(HMAC-SHA256(key_signing, string_to_sign))
//! ```

use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::SignedUrl;
use super::v4::{self, HMAC_ALGORITHM, V4Request};

/// A GCS HMAC key. `Debug` prints the access id only.
pub struct HmacKey {
    access_id: String,
    secret: Zeroizing<String>,
    /// The signing key of the last date used: it changes once a day, so deriving it (four
    /// HMACs) is done once a day rather than for every URL.
    derived: Mutex<Option<(String, hmac::Key)>>,
}

impl HmacKey {
    pub fn new(access_id: impl Into<String>, secret: Zeroizing<String>) -> Self {
        Self {
            access_id: access_id.into(),
            secret,
            derived: Mutex::new(None),
        }
    }

    pub fn access_id(&self) -> &str {
        &self.access_id
    }

    /// Hex HMAC signature of `message` with the key derived for `date` (`YYYYMMDD`).
    pub fn sign(&self, date: &str, message: &[u8]) -> String {
        let key = {
            let mut derived = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
            match &*derived {
                Some((day, key)) if day == date => key.clone(),
                _ => {
                    let key = self.derive(date);
                    *derived = Some((date.to_owned(), key.clone()));
                    key
                }
            }
        };
        hex::encode(hmac::sign(&key, message))
    }

    fn derive(&self, date: &str) -> hmac::Key {
        let seed = Zeroizing::new(format!("GOOG4{}", self.secret.as_str()));
        let mut key = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes()),
            date.as_bytes(),
        );
        for part in ["auto", "storage", "goog4_request"] {
            key = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
                part.as_bytes(),
            );
        }
        hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())
    }
}

impl Clone for HmacKey {
    fn clone(&self) -> Self {
        Self::new(self.access_id.clone(), self.secret.clone())
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("access_id", &self.access_id)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Signs a V4 URL with an HMAC key: no RSA operation.
pub fn sign_url(request: &V4Request<'_>, key: &HmacKey) -> SignedUrl {
    let prepared = v4::prepare(request, HMAC_ALGORITHM, key.access_id());
    let date = &v4::request_timestamp(request.timestamp)[..8];
    prepared.signed_url(&key.sign(date, prepared.string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_key_is_replaced_when_the_date_changes() {
        let key = HmacKey::new("id", Zeroizing::new("secret".into()));
        let first = key.sign("20260101", b"m");
        assert_eq!(key.sign("20260101", b"m"), first);
        let next_day = key.sign("20260102", b"m");
        assert_ne!(next_day, first);
        assert_eq!(key.sign("20260101", b"m"), first);
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = HmacKey::new("GOOG1EXAMPLE", Zeroizing::new("s3cr3t-value".into()));
        let debug = format!("{key:?}");
        assert!(debug.contains("GOOG1EXAMPLE"));
        assert!(!debug.contains("s3cr3t"));
    }
}
