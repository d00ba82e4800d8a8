//! Building the stores of S3 and Swift buckets from the settings: the backends file is read,
//! its secrets are resolved from the variables and files it names, and each bucket of
//! `KNOWN_BUCKETS` gets its store (the backends file's, or `OBJECT_STORAGE_BACKEND`'s). Also
//! used by `storage-signer sign` for `s3://` and `swift://` objects.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::files::read_text;
use crate::config::backends_file::{self, BackendEntry};
use crate::config::{
    BackendSettings, ConfigError, S3Settings, Settings, StoreSecret, SwiftSettings,
};
use crate::domain::BucketName;
use crate::issuing::{BucketStyle, S3Store, Store, SwiftStore};
use crate::signing::hmac::HmacKey;
use crate::signing::s3::AddressingStyle;
use crate::signing::swift::{Digest, TempUrlKey};

const FILE_VARIABLE: (&str, &str) = ("BACKENDS_CONFIG_PATH", "--backends");

/// Every bucket's store.
#[derive(Debug, Default)]
pub struct LoadedStores {
    /// The buckets of S3 and Swift.
    pub stores: HashMap<String, Store>,
    /// The buckets GCS serves.
    pub gcs_buckets: Vec<String>,
    /// For the log once it is set up (SHA-1 in use, say).
    pub warnings: Vec<String>,
}

/// Reads the backends file (if any) and gives every known bucket its store.
pub fn load_stores(settings: &Settings) -> Result<LoadedStores, ConfigError> {
    let entries = match &settings.stores.backends_file {
        Some(path) => read_backends_file(path)?,
        None => Vec::new(),
    };
    let known: Vec<&str> = settings
        .known_buckets
        .iter()
        .map(BucketName::as_str)
        .collect();
    let mut loaded = LoadedStores::default();
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    for entry in &entries {
        let at = format!("backends {:?}", entry.name);
        let in_file = |problem: String| {
            ConfigError::new(FILE_VARIABLE.0, FILE_VARIABLE.1, format!("{at}: {problem}"))
        };
        for bucket in &entry.buckets {
            if !known.contains(&bucket.as_str()) {
                return Err(in_file(format!(
                    "bucket {bucket:?} is not in KNOWN_BUCKETS (list it there too)"
                )));
            }
            claimed.insert(bucket, &entry.name);
        }
        let place = |loaded: &mut LoadedStores, store: &dyn Fn(&str) -> Store| {
            for bucket in &entry.buckets {
                loaded.stores.insert(bucket.clone(), store(bucket));
            }
        };
        match &entry.backend {
            BackendSettings::Gcs => loaded.gcs_buckets.extend(entry.buckets.iter().cloned()),
            BackendSettings::S3(s3) => {
                let store = Arc::new(s3_store(s3).map_err(in_file)?);
                let style = s3.style();
                place(&mut loaded, &|_| Store::S3 {
                    store: Arc::clone(&store),
                    style,
                });
            }
            BackendSettings::Swift(swift) => {
                let store = Arc::new(swift_store(swift).map_err(in_file)?);
                loaded.warn_sha1(&store, &at);
                place(&mut loaded, &|_| Store::Swift(Arc::clone(&store)));
            }
        }
    }
    let unclaimed: Vec<&str> = known
        .iter()
        .copied()
        .filter(|bucket| !claimed.contains_key(bucket))
        .collect();
    place_default(settings, &unclaimed, &mut loaded)?;
    check_gcs_only_settings(settings, &loaded, &claimed)?;
    Ok(loaded)
}

/// The buckets no backends file names get `OBJECT_STORAGE_BACKEND`'s store.
fn place_default(
    settings: &Settings,
    buckets: &[&str],
    loaded: &mut LoadedStores,
) -> Result<(), ConfigError> {
    let styles = &settings.signing.bucket_styles;
    match &settings.stores.default {
        BackendSettings::Gcs => loaded
            .gcs_buckets
            .extend(buckets.iter().map(|b| (*b).to_owned())),
        BackendSettings::S3(s3) => {
            let store = Arc::new(s3_store(s3).map_err(|problem| {
                ConfigError::new("AWS_SECRET_ACCESS_KEY", "--aws-secret-access-key", problem)
            })?);
            for bucket in buckets {
                let style = match styles.get(*bucket) {
                    None => s3.style(),
                    Some(BucketStyle::Path) => AddressingStyle::Path,
                    Some(BucketStyle::VirtualHosted) => AddressingStyle::VirtualHosted,
                    Some(BucketStyle::BucketBound(_)) => {
                        return Err(ConfigError::new(
                            "BUCKET_URL_STYLES",
                            "--bucket-url-styles",
                            format!("{bucket:?} is an S3 bucket: it takes path or virtual-hosted"),
                        ));
                    }
                };
                loaded.stores.insert(
                    (*bucket).to_owned(),
                    Store::S3 {
                        store: Arc::clone(&store),
                        style,
                    },
                );
            }
        }
        BackendSettings::Swift(swift) => {
            let store = Arc::new(swift_store(swift).map_err(|problem| {
                ConfigError::new("SWIFT_TEMP_URL_KEY", "--swift-temp-url-key", problem)
            })?);
            if !buckets.is_empty() {
                loaded.warn_sha1(&store, "OBJECT_STORAGE_BACKEND=swift");
            }
            for bucket in buckets {
                loaded
                    .stores
                    .insert((*bucket).to_owned(), Store::Swift(Arc::clone(&store)));
            }
        }
    }
    Ok(())
}

/// GCS's per-bucket settings name GCS buckets only (and `BUCKET_URL_STYLES` the S3 buckets
/// of `OBJECT_STORAGE_BACKEND=s3` too; the backends file has its own `url_style`).
fn check_gcs_only_settings(
    settings: &Settings,
    loaded: &LoadedStores,
    claimed: &HashMap<&str, &str>,
) -> Result<(), ConfigError> {
    let signing = &settings.signing;
    if let Some(bucket) = signing
        .hmac_buckets
        .iter()
        .find(|bucket| loaded.stores.contains_key(*bucket))
    {
        return Err(ConfigError::new(
            "HMAC_BUCKETS",
            "--hmac-buckets",
            format!("{bucket:?} is not a GCS bucket; the HMAC key signs GCS URLs only"),
        ));
    }
    let misplaced = signing
        .bucket_styles
        .keys()
        .find(|bucket| match loaded.stores.get(*bucket) {
            Some(Store::Swift(_)) => true,
            Some(Store::S3 { .. }) => claimed.contains_key(bucket.as_str()),
            None => false,
        });
    if let Some(bucket) = misplaced {
        return Err(ConfigError::new(
            "BUCKET_URL_STYLES",
            "--bucket-url-styles",
            format!(
                "{bucket:?} is a Swift bucket or an S3 bucket of the backends file (whose url_style says its style)"
            ),
        ));
    }
    Ok(())
}

impl LoadedStores {
    fn warn_sha1(&mut self, store: &SwiftStore, source: &str) {
        if store.digest == Digest::Sha1 {
            self.warnings.push(format!(
                "{source}: Swift TempURLs are signed with HMAC-SHA1, as ael.api signed them; SHA-1 is deprecated in Swift and a future release will refuse it by default. Once the cluster accepts sha256 (Swift 2.15 and later), set SWIFT_TEMP_URL_DIGEST=sha256 (digest = \"sha256\" in the backends file)"
            ));
        }
    }
}

/// Reads and parses the backends file.
pub fn read_backends_file(path: &Path) -> Result<Vec<BackendEntry>, ConfigError> {
    let shown = path.display().to_string();
    let error = |problem: String| ConfigError::new(FILE_VARIABLE.0, FILE_VARIABLE.1, problem);
    let text = read_text(path, error)?;
    backends_file::parse(&text).map_err(|problem| error(format!("{shown:?}: {problem}")))
}

/// An S3 store with its secrets resolved.
pub fn s3_store(settings: &S3Settings) -> Result<S3Store, String> {
    let access_id = resolve(&settings.access_key_id, "access_key_id")?;
    let secret = resolve(&settings.secret_access_key, "secret_access_key")?;
    let mut key = HmacKey::new(access_id.as_str(), secret);
    if let Some(token) = &settings.session_token {
        key = key.with_session_token(resolve(token, "session_token")?);
    }
    Ok(S3Store {
        endpoint: settings.endpoint.clone(),
        region: settings.region.clone(),
        key,
    })
}

/// A Swift store with its key resolved.
pub fn swift_store(settings: &SwiftSettings) -> Result<SwiftStore, String> {
    Ok(SwiftStore {
        endpoint: settings.endpoint.clone(),
        account: settings.account.clone(),
        key: TempUrlKey::new(resolve(&settings.temp_url_key, "temp_url_key")?),
        digest: settings.digest,
        expiry_format: settings.expiry_format,
    })
}

/// The value of a secret; errors name where it was looked for, never what was found.
fn resolve(secret: &StoreSecret, field: &str) -> Result<Zeroizing<String>, String> {
    let value = match secret {
        StoreSecret::Given(value) => value.clone(),
        StoreSecret::Env(variable) => Zeroizing::new(std::env::var(variable).map_err(|_| {
            format!("{field}_env names {variable}, which is not set (or not UTF-8)")
        })?),
        StoreSecret::File(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{field}_file: cannot read {:?}: {e}", path.display()))?,
            );
            // A mounted Secret often ends in a newline.
            Zeroizing::new(text.trim().to_owned())
        }
    };
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(value)
}
