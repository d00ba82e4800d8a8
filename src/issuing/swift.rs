//! Signing a grant for OpenStack Swift: a TempURL (`signing::swift`, as python-swiftclient
//! signs and Swift's `tempurl` middleware checks).
//!
//! A TempURL signs the method, the path and the expiry, nothing else: the decision refuses
//! the conditions it cannot carry. A prefix grant (`"prefix": true`) signs
//! `temp_url_prefix=<object>/`, good for every object under that folder.

use time::OffsetDateTime;

use super::backend::BackendKind;
use super::issuer::{IssuedUrl, UrlGrant};
use crate::domain::SigningVersion;
use crate::request::StoreOptions;
use crate::signing::swift::{
    self, Digest, ExpiryFormat, Scope, SwiftError, TempUrlKey, TempUrlRequest,
};
use crate::timestamp;

/// A Swift account and its `Temp-URL-Key`. `Debug` shows no key.
#[derive(Debug)]
pub struct SwiftStore {
    /// `scheme://host[:port][/path]`; `/v1/<account>/...` follows.
    pub endpoint: String,
    pub account: String,
    pub key: TempUrlKey,
    pub digest: Digest,
    pub expiry_format: ExpiryFormat,
}

impl SwiftStore {
    /// The metrics' kind of its URLs: one per digest.
    pub fn kind(&self) -> &'static str {
        match self.digest {
            Digest::Sha1 => "swift-sha1",
            Digest::Sha256 => "swift-sha256",
            Digest::Sha512 => "swift-sha512",
        }
    }

    /// A TempURL for `grant` (its bucket is the container), at `now` (whole seconds).
    pub fn issue_url(
        &self,
        grant: &UrlGrant<'_>,
        options: &StoreOptions,
        now: OffsetDateTime,
    ) -> Result<IssuedUrl, SwiftError> {
        let inserted_at = timestamp::whole_seconds(now);
        let expires_at = inserted_at + time::Duration::seconds(grant.lifetime.into());
        let folder = format!("{}/", grant.object);
        let scope = if options.prefix {
            Scope::Prefix(&folder)
        } else {
            Scope::Object(grant.object)
        };
        let url = swift::temp_url(
            &TempUrlRequest {
                method: grant.action.http_method(),
                endpoint: &self.endpoint,
                account: &self.account,
                container: grant.bucket,
                scope,
                expires_at,
                expiry_format: self.expiry_format,
                digest: self.digest,
                ip_range: None,
                filename: options.filename.as_deref(),
                inline: options.inline,
            },
            &self.key,
        )?;
        // Not signed (a TempURL signs no header), but what the uploader should send so that
        // Swift stores the type; ael.api's clients ask for it.
        let headers = grant
            .content_type
            .map(|content_type| vec![("Content-Type".to_owned(), content_type.to_owned())])
            .unwrap_or_default();
        Ok(IssuedUrl {
            url,
            // Not a GCS process: `IssuedUrl::process` says `tempurl`.
            version: SigningVersion::V4,
            kind: self.kind(),
            headers,
            inserted_at,
            expires_at,
            backend: BackendKind::Swift,
        })
    }
}
