//! Who makes the RSA signatures of GCS URLs: the service-account key file, the dev key, IAM,
//! or nobody (when no bucket is a GCS bucket).

use std::path::PathBuf;

use super::parse::{parse_endpoint, parse_seconds};
use super::{ConfigError, ServeArgs, SignerSettings, StoreArgs};
use crate::iam::{self, IamSettings};

/// The service-account key file, the dev key, or IAM.
pub(super) fn signer(args: &ServeArgs) -> Result<SignerSettings, ConfigError> {
    match args.signer.as_deref().map(str::trim) {
        None | Some("key") => {
            if args.iam_service_account.is_some() {
                return Err(ConfigError::new(
                    "IAM_SERVICE_ACCOUNT",
                    "--iam-service-account",
                    "is set, but SIGNER is not iam; set SIGNER=iam to sign through IAM",
                ));
            }
            match (args.service_account_key_path.as_deref(), args.dev) {
                (Some(path), _) => Ok(SignerSettings::Key(Some(PathBuf::from(path)))),
                (None, true) => Ok(SignerSettings::Key(None)),
                // Every bucket is GCS's: as in ael.api, the key is needed.
                (None, false) if serves_gcs_only(&args.stores) => Err(ConfigError::new(
                    "SERVICE_ACCOUNT_KEY_PATH",
                    "--key",
                    "not set; point it at a service-account JSON key file (GCS buckets need one: OBJECT_STORAGE_BACKEND or BACKENDS_CONFIG_PATH give buckets other backends), or run `storage-signer serve --dev` to try the service without one",
                )),
                // Needed only if a bucket is served by GCS: start-up checks that, once the
                // backends file is read.
                (None, false) => Ok(SignerSettings::Unset),
            }
        }
        Some("iam") => iam_settings(args).map(SignerSettings::Iam),
        Some(other) => Err(ConfigError::new(
            "SIGNER",
            "--signer",
            format!("must be key or iam; got {other:?}"),
        )),
    }
}

/// Whether every bucket is a GCS bucket: GCS is the default backend and no backends file
/// gives a bucket another one.
fn serves_gcs_only(stores: &StoreArgs) -> bool {
    let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    !given(&stores.backends_config_path)
        && stores
            .object_storage_backend
            .as_deref()
            .is_none_or(|backend| backend.trim() == "gcs")
}

/// `SIGNER=iam`: signBlob for `IAM_SERVICE_ACCOUNT`, with the metadata server's token.
fn iam_settings(args: &ServeArgs) -> Result<IamSettings, ConfigError> {
    if args.service_account_key_path.is_some() {
        return Err(ConfigError::new(
            "SERVICE_ACCOUNT_KEY_PATH",
            "--key",
            "is set, but SIGNER=iam signs without a key file; unset one of them",
        ));
    }
    if args.dev {
        return Err(ConfigError::new(
            "SIGNER",
            "--signer",
            "iam cannot be used with --dev (the dev store verifies with a local key)",
        ));
    }
    let error =
        |problem: &str| ConfigError::new("IAM_SERVICE_ACCOUNT", "--iam-service-account", problem);
    let service_account = args
        .iam_service_account
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| {
            error("not set; SIGNER=iam needs the e-mail of the service account that signs")
        })?;
    let plausible = service_account
        .split_once('@')
        .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'))
        && service_account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_".contains(&b));
    if !plausible {
        return Err(error(&format!(
            "must be a service-account e-mail such as signer@project.iam.gserviceaccount.com; got {service_account:?}"
        )));
    }
    Ok(IamSettings {
        service_account: service_account.to_owned(),
        iam_endpoint: parse_endpoint(
            ("IAM_ENDPOINT", "--iam-endpoint"),
            args.iam_endpoint.as_deref(),
            iam::DEFAULT_IAM_ENDPOINT,
        )?,
        metadata_endpoint: parse_endpoint(
            ("METADATA_ENDPOINT", "--metadata-endpoint"),
            args.metadata_endpoint.as_deref(),
            iam::DEFAULT_METADATA_ENDPOINT,
        )?,
        timeout: parse_seconds(
            ("IAM_TIMEOUT", "--iam-timeout"),
            args.iam_timeout.as_deref(),
            iam::DEFAULT_IAM_TIMEOUT,
            1..=60,
        )?,
    })
}
