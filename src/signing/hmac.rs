//! HMAC signing keys for SigV4: a GCS HMAC key (GOOG4-HMAC-SHA256) or an S3 access key
//! (AWS4-HMAC-SHA256). Both derive the signing key from the secret the same way, with the
//! names of their [`Dialect`]
//! (<https://cloud.google.com/storage/docs/authentication/signatures#signing-process>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>):
//!
//! ```text
//! key_date    = HMAC-SHA256(secret_prefix + secret, YYYYMMDD)     "GOOG4" / "AWS4"
//! key_region  = HMAC-SHA256(key_date, region)                    "auto" / the bucket's region
//! key_service = HMAC-SHA256(key_region, service)                 "storage" / "s3"
//! key_signing = HMAC-SHA256(key_service, terminator)             "goog4_request" / "aws4_request"
//! signature   = hex(HMAC-SHA256(key_signing, string_to_sign))
//! ```

use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::SignedUrl;
use super::encoding::lower_hex;
use super::v4::{self, Dialect, HMAC_ALGORITHM, V4Request};

/// How many derived keys are kept: one per (day, region) in use. A service signs for a
/// handful of regions at most; the oldest entry goes first.
const CACHED_SCOPES: usize = 4;

/// An HMAC access key: a GCS HMAC key or an S3 access key (with the session token of
/// temporary credentials, if any). `Debug` prints the access id only.
pub struct HmacKey {
    access_id: String,
    secret: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    /// The signing keys of the scopes used last: a scope changes once a day, so deriving
    /// its key (four HMACs) is done once a day rather than for every URL.
    derived: Mutex<Vec<Derived>>,
}

/// A derived signing key and the scope it signs for.
struct Derived {
    /// With the service, tells the dialects apart (`storage`/`goog4_request`, `s3`/`aws4_request`).
    service: &'static str,
    terminator: &'static str,
    date: String,
    region: String,
    key: hmac::Key,
}

impl HmacKey {
    pub fn new(access_id: impl Into<String>, secret: Zeroizing<String>) -> Self {
        Self {
            access_id: access_id.into(),
            secret,
            session_token: None,
            derived: Mutex::new(Vec::with_capacity(CACHED_SCOPES)),
        }
    }

    /// The same key with the session token of temporary credentials (STS), sent as
    /// `X-Amz-Security-Token` (S3 only).
    #[must_use]
    pub fn with_session_token(mut self, token: Zeroizing<String>) -> Self {
        self.session_token = Some(token);
        self
    }

    pub fn access_id(&self) -> &str {
        &self.access_id
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_ref().map(|token| token.as_str())
    }

    /// Hex GOOG4-HMAC-SHA256 signature of `message` with the key derived for `date`
    /// (`YYYYMMDD`).
    pub fn sign(&self, date: &str, message: &[u8]) -> String {
        self.sign_in(&Dialect::GCS, date, message)
    }

    /// Hex HMAC-SHA256 signature of `message` with the key derived for `date` (`YYYYMMDD`)
    /// in `dialect`'s scope.
    pub fn sign_in(&self, dialect: &Dialect<'_>, date: &str, message: &[u8]) -> String {
        lower_hex(hmac::sign(&self.signing_key(dialect, date), message).as_ref())
    }

    fn signing_key(&self, dialect: &Dialect<'_>, date: &str) -> hmac::Key {
        let mut derived = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = derived.iter().find(|cached| {
            cached.service == dialect.service
                && cached.terminator == dialect.terminator
                && cached.date == date
                && cached.region == dialect.region
        }) {
            return cached.key.clone();
        }
        let key = derive(dialect, self.secret.as_str(), date);
        if derived.len() == CACHED_SCOPES {
            derived.remove(0);
        }
        derived.push(Derived {
            service: dialect.service,
            terminator: dialect.terminator,
            date: date.to_owned(),
            region: dialect.region.to_owned(),
            key: key.clone(),
        });
        key
    }
}

/// `key_signing` of the module documentation.
fn derive(dialect: &Dialect<'_>, secret: &str, date: &str) -> hmac::Key {
    let seed = Zeroizing::new(format!("{}{secret}", dialect.secret_prefix));
    let mut key = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes()),
        date.as_bytes(),
    );
    for part in [dialect.region, dialect.service, dialect.terminator] {
        key = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
            part.as_bytes(),
        );
    }
    hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())
}

impl Clone for HmacKey {
    fn clone(&self) -> Self {
        Self {
            session_token: self.session_token.clone(),
            ..Self::new(self.access_id.clone(), self.secret.clone())
        }
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("access_id", &self.access_id)
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Signs a GCS V4 URL with an HMAC key: no RSA operation.
pub fn sign_url(request: &V4Request<'_>, key: &HmacKey) -> SignedUrl {
    let prepared = v4::prepare(request, HMAC_ALGORITHM, key.access_id());
    prepared.signed_url(&key.sign(prepared.date(), prepared.string_to_sign.as_bytes()))
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
    fn regions_and_dialects_have_keys_of_their_own() {
        let key = HmacKey::new("id", Zeroizing::new("secret".into()));
        let gcs = key.sign("20260101", b"m");
        let east = key.sign_in(&Dialect::s3("us-east-1"), "20260101", b"m");
        let west = key.sign_in(&Dialect::s3("us-west-2"), "20260101", b"m");
        assert_ne!(gcs, east);
        assert_ne!(east, west);
        // Served from the cache, still right.
        for _ in 0..2 * CACHED_SCOPES {
            assert_eq!(
                key.sign_in(&Dialect::s3("us-east-1"), "20260101", b"m"),
                east
            );
            assert_eq!(
                key.sign_in(&Dialect::s3("us-west-2"), "20260101", b"m"),
                west
            );
        }
    }

    #[test]
    fn aws_signing_key_of_the_published_example() {
        // AWS's "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"
        // example (sigv4-query-string-auth.html): this string to sign, signed with the key
        // derived from the example secret for 20130524/us-east-1/s3, gives the published
        // signature.
        let key = HmacKey::new(
            "AKIAIOSFODNN7EXAMPLE",
            Zeroizing::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
        );
        let string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n\
                              20130524/us-east-1/s3/aws4_request\n\
                              3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04";
        assert_eq!(
            key.sign_in(
                &Dialect::s3("us-east-1"),
                "20130524",
                string_to_sign.as_bytes()
            ),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let key = HmacKey::new("GOOG1EXAMPLE", Zeroizing::new("s3cr3t-value".into()))
            .with_session_token(Zeroizing::new("t0ken-value".into()));
        let debug = format!("{key:?} {:?}", key.clone());
        assert!(debug.contains("GOOG1EXAMPLE"));
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(!debug.contains("t0ken"), "{debug}");
    }
}
