//! Dev mode's settings: where it may listen, which key it may hold, and its local store.

use std::net::IpAddr;

use super::parse::parse_bool;
use super::{ConfigError, DevStoreSettings, ServeArgs};

/// Dev mode runs open mode and a demo for whoever can reach it: only on a loopback address,
/// and with a real key only when asked for. (V2 URLs do not sign the host, so a dev server
/// holding a real key hands out URLs that work at storage.googleapis.com.)
pub(super) fn check_dev_mode(args: &ServeArgs, host: IpAddr) -> Result<(), ConfigError> {
    if !host.is_loopback() {
        return Err(ConfigError::new(
            "HOST",
            "--host",
            format!(
                "--dev listens on a loopback address only (127.0.0.1 or ::1): it gives URLs to anyone who can reach it; got {host}"
            ),
        ));
    }
    let allow_key_file = parse_bool(
        "DEV_ALLOW_KEY_FILE",
        "--dev-allow-key-file",
        args.dev_allow_key_file.as_deref(),
    )?
    .unwrap_or(false);
    if args.service_account_key_path.is_some() && !allow_key_file {
        return Err(ConfigError::new(
            "SERVICE_ACCOUNT_KEY_PATH",
            "--key",
            "is set with --dev, which gives URLs to anyone who can reach it (and V2 URLs signed with a real key work at storage.googleapis.com); unset it to use a throw-away key, or set DEV_ALLOW_KEY_FILE=true to use this key anyway",
        ));
    }
    Ok(())
}

pub(super) fn dev_store(args: &ServeArgs, port: u16) -> Result<DevStoreSettings, ConfigError> {
    let default_port = if port == 0 { 0 } else { port.saturating_add(1) };
    let store_port = match args.store_port.as_deref() {
        None => default_port,
        Some(value) => value.trim().parse().map_err(|_| {
            ConfigError::new(
                "DEV_STORE_PORT",
                "--store-port",
                format!("must be a port number from 0 to 65535; got {value:?}"),
            )
        })?,
    };
    let cors_origins = args
        .store_cors_origins
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(DevStoreSettings {
        port: store_port,
        dir: args.store_dir.as_deref().map(std::path::PathBuf::from),
        cors_origins,
        is_storage_base_url: args.storage_base_url.is_none(),
        key_is_generated: args.service_account_key_path.is_none(),
    })
}
