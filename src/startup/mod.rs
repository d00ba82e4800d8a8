//! Start-up: building the services from the settings, binding the listener, serving,
//! reloading on SIGHUP and on a rotated key file, and stopping gracefully.

mod dev;
mod services;
pub mod stores;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

pub use services::{Services, load_access};

use crate::app::{App, AppState, RequestLimits};
use crate::config::Settings;
use crate::http;
use crate::issuing::{Backends, Rules};
use crate::key_watch::KeyWatch;
use crate::signing::Signer as _;
use tasks::Reload;
use tls::TlsFiles;

/// The service, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    app: AppState,
    reload: Arc<Reload>,
    key_watch_interval: Option<Duration>,
    shutdown_drain: Duration,
    /// Turns true when the service starts shutting down (the dev store follows it).
    shutdown: tokio::sync::watch::Sender<bool>,
    /// HTTPS, when configured.
    tls: Option<Arc<TlsFiles>>,
}

impl Application {
    pub async fn build(settings: Settings, services: Services) -> anyhow::Result<Self> {
        tls::warn_if_plain_http(settings.listen, services.tls.is_some(), settings.dev_mode);
        let listener = TcpListener::bind(settings.listen).await.with_context(|| {
            format!(
                "cannot listen on {} (HOST and PORT, --host and --port; PORT=0 picks a free port)",
                settings.listen
            )
        })?;
        let reload = Reload {
            key_watch: settings.key_file().cloned().map(KeyWatch::new),
            access: settings.access,
        };
        let backends = Backends::new(services.issuer, services.stores.stores);
        let bucket_backends = backends.kinds();
        let mut app = App::new(
            backends,
            services.authenticator,
            Rules {
                known_buckets: settings.known_buckets,
                default_ttl: settings.secrets_ttl,
                backends: bucket_backends,
            },
            services.audit,
            RequestLimits {
                max_concurrent_requests: settings.max_concurrent_requests,
                request_timeout: settings.request_timeout,
            },
            settings.dev_mode,
        );
        app.validator = services.validator;
        Ok(Self {
            listener,
            app: Arc::new(app),
            reload: Arc::new(reload),
            key_watch_interval: settings.key_watch_interval,
            shutdown_drain: settings.shutdown_drain,
            shutdown: tokio::sync::watch::Sender::new(false),
            tls: services.tls,
        })
    }

    /// `https` when the service serves TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tasks::spawn_background(&self.app, &self.reload, self.key_watch_interval);
        let app = Arc::clone(&self.app);
        let shutdown = self.shutdown;
        let drain = self.shutdown_drain;
        let router = http::router(self.app).into_make_service_with_connect_info::<SocketAddr>();
        let stopped = async move {
            tasks::shutdown_signal().await;
            app.begin_shutdown();
            // Readiness now fails; keep accepting while load balancers notice, so no request
            // routed here in the meantime meets a closed port.
            if !drain.is_zero() {
                tracing::info!(
                    seconds = drain.as_secs(),
                    "draining: /readyz answers 503, still accepting"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("closing the listener: finishing in-flight requests");
            shutdown.send_replace(true);
        };
        match self.tls {
            None => {
                axum::serve(self.listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }
            Some(files) => {
                tls::spawn_reloading(Arc::clone(&files), self.key_watch_interval);
                // `tap_io` only so that axum hands the peer address to `ConnectInfo`.
                let listener = tls::TlsListener::new(self.listener, files, tls::HANDSHAKE_TIMEOUT)?
                    .tap_io(|_| {});
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }
        }
    }
}

/// Starts the service described by `settings` and runs it until it is told to stop.
pub async fn serve(settings: Settings, mut services: Services) -> anyhow::Result<()> {
    let dev_mode = settings.dev_mode;
    let store = match (&settings.dev_store, services.issuer.as_mut()) {
        (Some(store_settings), Some(issuer)) => {
            Some(dev::bind_store(&settings, store_settings, issuer).await?)
        }
        _ => None,
    };
    let summary = StartupSummary::of(&settings, &services);
    let warnings = std::mem::take(&mut services.stores.warnings);
    let application = Application::build(settings, services).await?;
    let address = application.local_addr()?;
    if let Some(store) = store {
        store.start(address, application.shutdown.subscribe())?;
    }
    tracing::info!(
        %address,
        scheme = application.scheme(),
        client_email = summary.client_email,
        private_key_id = summary.private_key_id,
        known_buckets = summary.known_buckets,
        secrets_ttl = summary.secrets_ttl,
        storage_base_url = summary.storage_base_url,
        clients = summary.clients,
        anonymous_callers = summary.anonymous,
        audit_log = summary.audit_log,
        backends = summary.backends,
        validate_signed_entity = summary.validator,
        "listening"
    );
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    if summary.open_mode {
        tracing::warn!(
            "OPEN MODE (no clients file): ANY caller that can reach this service gets a signed URL for ANY object of the known buckets, as with ael.api. Set CLIENTS_CONFIG_PATH to require credentials."
        );
    }
    if dev_mode {
        warn_dev_mode(address, &summary);
    }
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// What start-up logs about the configuration (never the key).
struct StartupSummary {
    client_email: String,
    private_key_id: String,
    known_buckets: String,
    secrets_ttl: u32,
    storage_base_url: String,
    clients: usize,
    anonymous: bool,
    open_mode: bool,
    audit_log: String,
    /// `bucket=backend` for every bucket (no endpoint, no credential).
    backends: String,
    /// Whether `/validate_signed_entity` is on.
    validator: bool,
}

impl StartupSummary {
    fn of(settings: &Settings, services: &Services) -> Self {
        let signer = services.issuer.as_ref().map(|issuer| &issuer.signer);
        let kinds = Backends::new(None, services.stores.stores.clone()).kinds();
        Self {
            client_email: signer.map_or("none", |s| s.google_access_id()).to_owned(),
            private_key_id: signer.and_then(|s| s.key_id()).unwrap_or("none").to_owned(),
            known_buckets: settings
                .known_buckets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            secrets_ttl: settings.secrets_ttl,
            storage_base_url: services.issuer.as_ref().map_or_else(
                || "none".to_owned(),
                |issuer| issuer.storage_base_url.clone(),
            ),
            clients: services.authenticator.client_count(),
            anonymous: services.authenticator.has_anonymous(),
            open_mode: settings.access.is_open_mode(),
            audit_log: services.audit.description().to_owned(),
            backends: settings
                .known_buckets
                .iter()
                .map(|bucket| format!("{bucket}={}", kinds.kind(bucket.as_str()).as_str()))
                .collect::<Vec<_>>()
                .join(","),
            validator: services.validator.is_some(),
        }
    }
}

fn warn_dev_mode(address: SocketAddr, summary: &StartupSummary) {
    let bucket = summary.known_buckets.split(',').next().unwrap_or_default();
    let try_it = format!(
        "curl -s -X POST http://{address}/media_content_storage_secrets -H 'content-type: application/json' -d '{{\"secret\":{{\"action\":\"PUT\",\"bucket\":\"{bucket}\",\"resource_id\":\"hello\",\"resource_name\":\"world.txt\",\"content_type\":\"text/plain\"}}}}'"
    );
    tracing::warn!(
        "DEVELOPMENT MODE: signing with a throw-away key generated in memory unless SERVICE_ACCOUNT_KEY_PATH is set; its URLs are not accepted by Google. Never run --dev in production."
    );
    tracing::warn!(try_it, "ask for a signed upload URL");
    // The JSON log escapes the quotes of the command; stderr gets it as it pastes.
    eprintln!(
        "\nstorage-signer serve --dev: http://{address}/ (demo page). Ask for a signed upload URL:\n\n{try_it}\n"
    );
}
