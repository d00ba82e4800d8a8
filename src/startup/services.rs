//! Building the services from the settings: reading the key, HMAC key, clients and JWKS
//! files, opening the audit sink, setting up IAM. Start-up runs this once, and SIGHUP reuses
//! `load_access`. A problem names the variable it comes from, as settings errors do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::access::{
    self, ANONYMOUS, Client, ENV_ISSUER_ID, EndUserMapping, IssuerConfig, JwksSource,
    ResourcePattern, Rule, clients_file,
};
use crate::audit::checkpoint::CheckpointKey;
use crate::audit::postgres::DatabaseUrl;
use crate::audit::{self, PreparedAudit};
use crate::auth::jwt::KeySet;
use crate::auth::{Authenticator, IssuerKeys, TrustedIssuer};
use crate::config::{
    AccessSettings, AuditSettings, ConfigError, DEV_CLIENT_EMAIL, DEV_ISSUER_ID, DevIssuer,
    HmacSource, JwtSettings, Settings, SignerSettings,
};
use crate::domain::Action;
use crate::iam::IamSigner;
use crate::issuing::{Issuer, RsaSigner};
use crate::jwks::KeyCaches;
use crate::key::ServiceAccountKey;
use crate::signing::hmac::HmacKey;

use super::files::{read_secret, read_text};
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
    /// Opened; its writer starts with the service.
    pub audit: PreparedAudit,
    /// HTTPS, when configured.
    pub tls: Option<Arc<TlsFiles>>,
    /// The fetched keys of identity providers, kept across reloads.
    pub key_caches: Arc<KeyCaches>,
    /// The clients file and JWKS files read, to watch for changes.
    pub access_files: Vec<PathBuf>,
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
        let key_caches = Arc::new(KeyCaches::new(settings.access.jwks_min_refresh_interval));
        let access = load_access(&settings.access, &key_caches)?;
        let mut stores = stores;
        let audit = open_audit(
            &settings.audit,
            issuer.as_ref().map(|issuer| &issuer.signer),
            &mut stores.warnings,
        )?;
        Ok(Self {
            issuer,
            stores,
            authenticator: access.authenticator,
            audit,
            tls,
            key_caches,
            access_files: access.files,
            validator,
        })
    }
}

/// Without a GCS bucket there may be no service-account key to sign the audit checkpoints:
/// unless `AUDIT_SIGNING_KEY_PATH` names one (`needed` false), a key made now signs them, and
/// start-up logs its public key (checkpoints of earlier runs need theirs).
fn checkpoint_key_of_this_run(
    needed: bool,
    warnings: &mut Vec<String>,
) -> Result<CheckpointKey, ConfigError> {
    let key =
        ServiceAccountKey::generate("audit-checkpoints@storage-signer.invalid").map_err(|e| {
            ConfigError::new(
                "AUDIT_SIGNING_KEY_PATH",
                "--audit-signing-key",
                e.to_string(),
            )
        })?;
    let key = CheckpointKey::Local(Arc::new(key));
    if needed {
        warnings.push(format!(
            "no service-account key (no bucket is a GCS bucket) and no AUDIT_SIGNING_KEY_PATH: the audit checkpoints of this run are signed by a key made at start-up, which dies with the process; keep its public key to verify them (storage-signer audit verify --public-key), or set AUDIT_SIGNING_KEY_PATH: {}",
            key.public_key_pem().unwrap_or_default()
        ));
    }
    Ok(key)
}

/// `bucket "a" is` or `buckets "a", "b" are`.
fn describe_buckets(buckets: &[String]) -> String {
    let quoted: Vec<String> = buckets.iter().map(|b| format!("{b:?}")).collect();
    match quoted.as_slice() {
        [one] => format!("bucket {one} is"),
        more => format!("buckets {} are", more.join(", ")),
    }
}

/// The callers and rules, and the files they were read from (to watch for changes).
#[derive(Debug)]
pub struct LoadedAccess {
    pub authenticator: Authenticator,
    pub files: Vec<PathBuf>,
}

/// Reads the clients file, its issuers and their JWKS files. Used at start-up, on SIGHUP and
/// when a watched file changes. Remote key sets come from `caches` (the same caches across
/// reloads, so fetched keys survive them).
pub fn load_access(
    settings: &AccessSettings,
    caches: &KeyCaches,
) -> Result<LoadedAccess, ConfigError> {
    let mut issuers: Vec<IssuerConfig> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(jwt) = &settings.jwt {
        issuers.push(env_issuer(jwt));
    }
    let outside: Vec<&str> = issuers.iter().map(|i| i.id.as_str()).collect();
    let (clients, allow_anonymous) = match &settings.clients_config_path {
        None => {
            // Open mode, as the settings allowed; in dev mode with the demo's end users.
            let mut clients = vec![access::open_mode_client(settings.default_ttl)];
            if let Some(dev) = &settings.dev_issuer {
                issuers.push(dev_issuer_config(dev));
                clients.push(dev_demo_client(settings.default_ttl));
            }
            (clients, true)
        }
        Some(file) => {
            let path = file.display().to_string();
            let error =
                |problem: String| ConfigError::new("CLIENTS_CONFIG_PATH", "--clients", problem);
            let text = read_text(file, error)?;
            let parsed = clients_file::parse(&text, settings.default_ttl, &outside)
                .map_err(|problem| error(format!("{path:?}: {problem}")))?;
            files.push(file.clone());
            check_clients(settings, &parsed.clients, &path)?;
            issuers.extend(parsed.issuers);
            (parsed.clients, settings.allow_anonymous != Some(false))
        }
    };
    let mut used_caches = Vec::new();
    let mut trusted = Vec::with_capacity(issuers.len());
    for issuer in &issuers {
        let keys = match (&issuer.jwks, &settings.dev_issuer) {
            (JwksSource::File(path), _) => {
                files.push(path.clone());
                IssuerKeys::Fixed(Arc::new(load_jwks_file(issuer, path)?))
            }
            (_, Some(dev)) if issuer.issuer == dev.issuer => IssuerKeys::Fixed(Arc::new(
                KeySet::from_jwks(&dev.jwks).map_err(|problem| {
                    ConfigError::new("--dev", "--dev", format!("the dev issuer's keys {problem}"))
                })?,
            )),
            _ => {
                let cache = caches
                    .for_issuer(issuer)
                    .expect("remote key sources have a cache");
                used_caches.push(Arc::clone(&cache));
                IssuerKeys::Fetched(cache)
            }
        };
        trusted.push(TrustedIssuer::new(
            issuer,
            keys,
            settings.max_token_lifetime,
        ));
    }
    caches.retain(&used_caches);
    Ok(LoadedAccess {
        authenticator: Authenticator::new(clients, trusted, allow_anonymous),
        files,
    })
}

/// What the clients file must agree on with the environment.
fn check_clients(
    settings: &AccessSettings,
    clients: &[Client],
    path: &str,
) -> Result<(), ConfigError> {
    let env_subject = clients
        .iter()
        .any(|c| c.jwt_subject.is_some() && c.jwt_issuer.is_none());
    if settings.jwt.is_none() && env_subject {
        return Err(ConfigError::new(
            "JWT_JWKS_PATH",
            "--jwt-jwks",
            "not set, but the clients file has a jwt_subject without jwt_issuer; set JWT_JWKS_PATH, JWT_ISSUER and JWT_AUDIENCE, or name an [[issuers]] entry",
        ));
    }
    if settings.allow_anonymous == Some(false) && clients.iter().any(|c| c.id == ANONYMOUS) {
        return Err(ConfigError::new(
            "ALLOW_ANONYMOUS",
            "--allow-anonymous",
            format!("is false, but {path:?} defines the {ANONYMOUS:?} client; remove one of them"),
        ));
    }
    Ok(())
}

/// The issuer of `JWT_JWKS_PATH`, `JWT_ISSUER` and `JWT_AUDIENCE`.
fn env_issuer(jwt: &JwtSettings) -> IssuerConfig {
    issuer_config(
        ENV_ISSUER_ID,
        &jwt.issuer,
        &jwt.audience,
        JwksSource::File(jwt.jwks_path.clone()),
    )
}

/// An issuer configured outside the clients file: one audience in `aud`, the defaults.
fn issuer_config(id: &str, issuer: &str, audience: &str, jwks: JwksSource) -> IssuerConfig {
    IssuerConfig {
        id: id.to_owned(),
        issuer: issuer.to_owned(),
        audiences: vec![audience.to_owned()],
        audience_claim: "aud".to_owned(),
        jwks,
        max_token_lifetime: None,
        jwks_max_stale: None,
    }
}

fn dev_issuer_config(dev: &DevIssuer) -> IssuerConfig {
    issuer_config(
        DEV_ISSUER_ID,
        &dev.issuer,
        &dev.audience,
        JwksSource::Discovery,
    )
}

/// Dev mode's demo web app: the end users of the stand-in provider may read and write their
/// own folder, `users/{sub}/`, of any known bucket, and nothing else.
fn dev_demo_client(default_ttl: u32) -> Client {
    Client {
        id: "demo-app".to_owned(),
        api_key_sha256: None,
        jwt_subject: None,
        jwt_issuer: None,
        end_users: Some(EndUserMapping {
            issuer: DEV_ISSUER_ID.to_owned(),
            audiences: None,
            authorized_parties: None,
        }),
        max_ttl: default_ttl,
        rate_limit: None,
        allow: vec![
            Rule {
                methods: vec![
                    Action::Get,
                    Action::Head,
                    Action::Put,
                    Action::Resumable,
                    Action::Delete,
                ],
                resources: vec![
                    ResourcePattern::parse("/*/users/{sub}/**").expect("valid pattern"),
                ],
                ..Rule::default()
            }
            .with_every_option(),
        ],
    }
}

fn load_jwks_file(issuer: &IssuerConfig, path: &Path) -> Result<KeySet, ConfigError> {
    let error = |problem: String| {
        if issuer.id == ENV_ISSUER_ID {
            ConfigError::new("JWT_JWKS_PATH", "--jwt-jwks", problem)
        } else {
            ConfigError::new(
                "CLIENTS_CONFIG_PATH",
                "--clients",
                format!("issuer {:?}: jwks_path {problem}", issuer.id),
            )
        }
    };
    let shown = path.display().to_string();
    let text = read_text(path, error)?;
    KeySet::from_jwks(&text).map_err(|problem| error(format!("{shown:?} {problem}")))
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
    let bytes = read_secret(file, error)?;
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
    let text = read_secret(file, error)?;
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

/// The audit sink, opened (a file is locked and its chain read here, so a problem stops
/// start-up before the service listens); its writer starts with the service. Checkpoints are
/// signed by `AUDIT_SIGNING_KEY_PATH`, or by the signer of URLs.
fn open_audit(
    settings: &AuditSettings,
    signer: Option<&RsaSigner>,
    warnings: &mut Vec<String>,
) -> Result<PreparedAudit, ConfigError> {
    let database_url = settings
        .database_url
        .as_ref()
        .map(|url| {
            DatabaseUrl::parse(&url.0)
                .and_then(|url| url.with_ca_file(settings.database_ca_file.as_deref()))
        })
        .transpose()
        .map_err(|problem| {
            ConfigError::new("AUDIT_DATABASE_URL", "--audit-database-url", problem)
        })?;
    let audit = audit::AuditSettings {
        log_path: settings.path.clone(),
        database_url,
        fsync: settings.fsync,
        timeout: settings.timeout,
        queue: settings.queue,
        checkpoint_records: settings.checkpoint_records,
        checkpoint_every: settings.checkpoint_every,
        signing_key_path: settings.signing_key_path.clone(),
    };
    let service_key = match signer {
        Some(RsaSigner::Key(key)) => CheckpointKey::Local(Arc::clone(key)),
        Some(RsaSigner::Iam(iam)) => CheckpointKey::Iam(Arc::clone(iam)),
        None => checkpoint_key_of_this_run(settings.signing_key_path.is_none(), warnings)?,
    };
    let key = audit.checkpoint_key(service_key).map_err(|problem| {
        ConfigError::new("AUDIT_SIGNING_KEY_PATH", "--audit-signing-key", problem)
    })?;
    let (variable, flag) = settings.sink_variable();
    audit
        .open(key)
        .map_err(|problem| ConfigError::new(variable, flag, problem))
}
