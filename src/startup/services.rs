//! Building the services from the settings: reading the key, HMAC key, clients and JWKS
//! files, opening the audit sink, setting up IAM. Start-up runs this once, and SIGHUP reuses
//! `load_access`. A problem names the variable it comes from, as settings errors do.

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::access::{self, ANONYMOUS, clients_file};
use crate::audit::AuditSink;
use crate::auth::Authenticator;
use crate::auth::jwt::JwtVerifier;
use crate::config::{
    AccessSettings, AuditSettings, ConfigError, DEV_CLIENT_EMAIL, HmacSource, JwtSettings,
    Settings, SignerSettings,
};
use crate::iam::IamSigner;
use crate::issuing::{Issuer, RsaSigner};
use crate::key::ServiceAccountKey;
use crate::signing::hmac::HmacKey;

use super::stores::{LoadedStores, load_stores};
use super::tls::TlsFiles;
use crate::validator::Validator;

/// What the settings describe, built.
#[derive(Debug)]
pub struct Services {
    /// GCS's signer; `None` when no bucket is a GCS bucket and no key is configured.
    pub issuer: Option<Issuer>,
    /// The buckets of S3 and Swift, with their stores.
    pub stores: LoadedStores,
    pub authenticator: Authenticator,
    pub audit: AuditSink,
    /// HTTPS, when configured.
    pub tls: Option<Arc<TlsFiles>>,
    /// `/validate_signed_entity`'s clients, when configured.
    pub validator: Option<Validator>,
}

impl Services {
    pub fn build(settings: &Settings) -> Result<Self, ConfigError> {
        let stores = load_stores(settings)?;
        let signer = match &settings.signer {
            SignerSettings::Key(path) => Some(RsaSigner::Key(Arc::new(service_account_key(
                path.as_deref(),
            )?))),
            SignerSettings::Iam(iam) => Some(RsaSigner::Iam(Arc::new(
                IamSigner::new(iam.clone())
                    .map_err(|e| ConfigError::new("SIGNER", "--signer", e.to_string()))?,
            ))),
            SignerSettings::Unset if stores.gcs_buckets.is_empty() => None,
            SignerSettings::Unset => {
                return Err(ConfigError::new(
                    "SERVICE_ACCOUNT_KEY_PATH",
                    "--key",
                    format!(
                        "not set, but {} served by GCS (OBJECT_STORAGE_BACKEND is gcs unless set); point it at a service-account JSON key file, give the buckets another backend, or run `storage-signer serve --dev` to try the service without one",
                        describe_buckets(&stores.gcs_buckets)
                    ),
                ));
            }
        };
        let signing = &settings.signing;
        let issuer = signer
            .map(|signer| {
                Ok::<_, ConfigError>(Issuer {
                    signer,
                    hmac: settings.hmac.as_ref().map(load_hmac_key).transpose()?,
                    storage_base_url: signing.storage_base_url.clone(),
                    default_version: signing.default_version,
                    bucket_styles: signing.bucket_styles.clone(),
                    hmac_buckets: signing.hmac_buckets.iter().cloned().collect(),
                })
            })
            .transpose()?;
        let tls = settings
            .tls
            .clone()
            .map(|tls| {
                TlsFiles::load(tls)
                    .map(Arc::new)
                    .map_err(|problem| ConfigError::new("TLS_CERT_PATH", "--tls-cert", problem))
            })
            .transpose()?;
        let validator = settings
            .validator
            .as_ref()
            .map(|validator| {
                Validator::new(
                    &validator.digital_signature_endpoint,
                    validator.digital_signature_timeout,
                    validator.fetch_timeout,
                    validator.max_document_bytes,
                )
                .map_err(|e| {
                    ConfigError::new(
                        "DIGITAL_SIGNATURE_ENDPOINT",
                        "--digital-signature-endpoint",
                        format!("cannot build the HTTP client: {e}"),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            issuer,
            stores,
            authenticator: load_access(&settings.access)?,
            audit: open_audit(&settings.audit)?,
            tls,
            validator,
        })
    }
}

/// `bucket "a" is` or `buckets "a", "b" are`.
fn describe_buckets(buckets: &[String]) -> String {
    let quoted: Vec<String> = buckets.iter().map(|b| format!("{b:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("bucket {one} is"),
        more => format!("buckets {} are", more.join(", ")),
    }
}

/// Reads the clients file and the JWKS. Used at start-up and on SIGHUP.
pub fn load_access(settings: &AccessSettings) -> Result<Authenticator, ConfigError> {
    let jwt = settings.jwt.as_ref().map(load_jwks).transpose()?;
    let Some(file) = &settings.clients_config_path else {
        // Open mode, as the settings allowed.
        let open_client = access::open_mode_client(settings.default_ttl);
        return Ok(Authenticator::new(vec![open_client], jwt, true));
    };
    let path = file.display().to_string();
    let error = |problem: String| ConfigError::new("CLIENTS_CONFIG_PATH", "--clients", problem);
    let text =
        std::fs::read_to_string(file).map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
    let clients = clients_file::parse(&text, settings.default_ttl)
        .map_err(|problem| error(format!("{path:?}: {problem}")))?;
    if jwt.is_none() && clients.iter().any(|c| c.jwt_subject.is_some()) {
        return Err(ConfigError::new(
            "JWT_JWKS_PATH",
            "--jwt-jwks",
            "not set, but the clients file has a jwt_subject; set JWT_JWKS_PATH, JWT_ISSUER and JWT_AUDIENCE",
        ));
    }
    if settings.allow_anonymous == Some(false) && clients.iter().any(|c| c.id == ANONYMOUS) {
        return Err(ConfigError::new(
            "ALLOW_ANONYMOUS",
            "--allow-anonymous",
            format!("is false, but {path:?} defines the {ANONYMOUS:?} client; remove one of them"),
        ));
    }
    Ok(Authenticator::new(
        clients,
        jwt,
        settings.allow_anonymous != Some(false),
    ))
}

fn load_jwks(settings: &JwtSettings) -> Result<JwtVerifier, ConfigError> {
    let error = |problem: String| ConfigError::new("JWT_JWKS_PATH", "--jwt-jwks", problem);
    let path = settings.jwks_path.display().to_string();
    let text = std::fs::read_to_string(&settings.jwks_path)
        .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
    JwtVerifier::from_jwks(&text, &settings.issuer, &settings.audience)
        .map_err(|problem| error(format!("{path:?} {problem}")))
}

/// The key file, or in dev mode (`None`) a key generated in memory; either must sign.
fn service_account_key(path: Option<&Path>) -> Result<ServiceAccountKey, ConfigError> {
    let error = |problem: String| ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", problem);
    let key = match path {
        Some(path) => load_key(path)?,
        None => ServiceAccountKey::generate(DEV_CLIENT_EMAIL).map_err(|e| error(e.to_string()))?,
    };
    key.self_check().map_err(|e| error(e.to_string()))?;
    Ok(key)
}

fn load_key(file: &Path) -> Result<ServiceAccountKey, ConfigError> {
    let path = file.display().to_string();
    let error = |problem: String| ConfigError::new("SERVICE_ACCOUNT_KEY_PATH", "--key", problem);
    let bytes = std::fs::read(file)
        .map(Zeroizing::new)
        .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
    ServiceAccountKey::from_json(&bytes).map_err(|e| error(format!("{path:?} {e}")))
}

/// The HMAC key file (the JSON `gcloud storage hmac create` prints, or `{"accessId",
/// "secret"}`), or the key given directly.
fn load_hmac_key(source: &HmacSource) -> Result<HmacKey, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        access_id: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct KeyFile {
        access_id: Option<String>,
        metadata: Option<Metadata>,
        secret: Option<String>,
    }
    let file = match source {
        HmacSource::Given { access_id, secret } => {
            return Ok(HmacKey::new(access_id.clone(), secret.clone()));
        }
        HmacSource::File(file) => file,
    };
    let path = file.display().to_string();
    let error = |problem: String| ConfigError::new("HMAC_KEY_PATH", "--hmac-key", problem);
    let text = std::fs::read(file)
        .map(Zeroizing::new)
        .map_err(|e| error(format!("cannot read {path:?}: {e}")))?;
    let file: KeyFile = serde_json::from_slice(&text).map_err(|e| {
        error(format!(
            "{path:?} is not an HMAC key file (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let access_id = file.access_id.or(file.metadata.map(|m| m.access_id));
    match (access_id, file.secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok(HmacKey::new(id, Zeroizing::new(secret)))
        }
        _ => Err(error(format!("{path:?} needs an accessId and a secret"))),
    }
}

fn open_audit(settings: &AuditSettings) -> Result<AuditSink, ConfigError> {
    match &settings.path {
        None => Ok(AuditSink::stdout(settings.fsync)),
        Some(path) => AuditSink::open_file(path, settings.fsync)
            .map_err(|problem| ConfigError::new("AUDIT_LOG_PATH", "--audit-log", problem)),
    }
}
