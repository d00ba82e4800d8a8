//! Dev mode's local verifying store: bound before the service, so issued URLs point at it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{DevIssuer, DevStoreSettings, Settings};
use crate::dev_key::dev_key_path;
use crate::dev_store::idp::{self, DevIdp};
use crate::dev_store::{self, DevStore, Keys, Objects};
use crate::issuing::Issuer;

/// The store's listener and state, waiting for the service's address (for CORS).
pub struct BoundStore {
    listener: TcpListener,
    store: Arc<DevStore>,
    idp: Arc<DevIdp>,
    cors_origins: Vec<String>,
}

/// Binds the store and, unless `STORAGE_BASE_URL` says otherwise, points issued URLs at it.
pub async fn bind_store(
    settings: &Settings,
    store: &DevStoreSettings,
    issuer: &mut Issuer,
) -> anyhow::Result<BoundStore> {
    let address = SocketAddr::new(settings.listen.ip(), store.port);
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!("cannot listen on {address} for the dev store (DEV_STORE_PORT)")
    })?;
    let base_url = format!("http://{}", listener.local_addr()?);
    if store.is_storage_base_url {
        issuer.storage_base_url.clone_from(&base_url);
    }
    if store.key_is_generated {
        save_dev_key(issuer, &base_url);
    }
    let objects = match &store.dir {
        Some(dir) => Objects::in_directory(dir.clone()).with_context(|| {
            format!(
                "cannot use {} for the dev store (DEV_STORE_DIR)",
                dir.display()
            )
        })?,
        None => Objects::in_memory(),
    };
    let key = issuer.local_key().context(
        "the dev store verifies with the service-account key; it cannot run with SIGNER=iam",
    )?;
    let keys = Keys {
        client_email: key.client_email().to_owned(),
        rsa_public_key: key.public_key_der().to_vec(),
        hmac: issuer.hmac.clone(),
    };
    let buckets = settings
        .known_buckets
        .iter()
        .map(ToString::to_string)
        .collect();
    let idp = Arc::new(DevIdp::generate(&base_url)?);
    Ok(BoundStore {
        listener,
        store: Arc::new(DevStore::new(keys, buckets, objects, base_url)),
        idp,
        cors_origins: store.cors_origins.clone(),
    })
}

impl BoundStore {
    /// The stand-in identity provider, as the service trusts it in dev mode.
    pub fn dev_issuer(&self) -> DevIssuer {
        DevIssuer {
            issuer: self.idp.issuer().to_owned(),
            audience: idp::AUDIENCE.to_owned(),
            jwks: self.idp.jwks(),
        }
    }

    /// Serves the store until the service shuts down. CORS allows the service's own origin
    /// unless `DEV_STORE_CORS_ORIGINS` names others.
    pub fn start(
        self,
        service: SocketAddr,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        let origins = if self.cors_origins.is_empty() {
            vec![
                format!("http://{service}"),
                format!("http://localhost:{}", service.port()),
            ]
        } else {
            self.cors_origins
        };
        tracing::info!(
            %address,
            objects = self.store.objects.describe(),
            cors_origins = origins.join(","),
            identity_provider = self.idp.issuer(),
            "dev store listening: it checks every signature, expiry and signed condition"
        );
        let router = dev_store::router(self.store, self.idp, &origins);
        tokio::spawn(async move {
            let stopped = async move {
                let _ = shutdown.wait_for(|stopping| *stopping).await;
            };
            if let Err(error) = axum::serve(self.listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(%error, "the dev store stopped");
            }
        });
        Ok(())
    }
}

/// Saves the throw-away dev key (mode 0600) with the store's URL, so that the `sign` command
/// can make URLs this dev server's store accepts. Failing to save only loses that convenience.
fn save_dev_key(issuer: &Issuer, storage_base_url: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

    let path = dev_key_path();
    // The pid lets `sign --dev-key` say whether the server that saved the key still runs.
    let pid = std::process::id().to_string();
    let Some(Ok(document)) = issuer
        .local_key()
        .map(|key| key.to_json_with(&[("storage_base_url", storage_base_url), ("pid", &pid)]))
    else {
        return;
    };
    let saved = path
        .parent()
        .map_or(Ok(()), |dir| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
        })
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
        })
        .and_then(|mut file| file.write_all(document.as_bytes()));
    match saved {
        Ok(()) => {
            tracing::info!(path = %path.display(), "dev key saved for `storage-signer sign --dev-key`");
        }
        Err(error) => tracing::warn!(%error, path = %path.display(), "could not save the dev key"),
    }
}
