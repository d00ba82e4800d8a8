//! Start-up: building the services from the settings, binding the listener, serving,
//! reloading on SIGHUP and on a rotated key file, and stopping gracefully.

mod dev;
mod files;
mod serve;
mod services;
pub mod stores;
mod tasks;
mod tls;
mod watchdog;

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use services::{Services, load_access};

use crate::app::{App, AppState, RequestLimits};
use crate::config::{ConnectionSettings, RateSettings, Settings};
use crate::http;
use crate::issuing::{Backends, Rules};
use crate::key_watch::{FilesWatch, KeyWatch};
use crate::limiter::Rate;
use crate::signing::Signer as _;
use crate::signing_threads::SigningThreads;
use tasks::{Reload, Signals, WatchIntervals};
use tls::TlsFiles;

/// The service, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    /// `METRICS_PORT`'s listener: `/metrics` and the probes, apart from the API.
    metrics_listener: Option<TcpListener>,
    connections: ConnectionSettings,
    summary_interval: Duration,
    app: AppState,
    reload: Arc<Reload>,
    watch_intervals: WatchIntervals,
    shutdown_drain: Duration,
    /// Turns true when the service starts shutting down (the dev store follows it).
    shutdown: tokio::sync::watch::Sender<bool>,
    /// HTTPS, when configured.
    tls: Option<Arc<TlsFiles>>,
    /// SIGHUP and SIGTERM, listened for from before the service says it is listening.
    signals: Signals,
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
        let metrics_listener = match settings.metrics_port {
            Some(port) => {
                let address = SocketAddr::new(settings.listen.ip(), port);
                Some(TcpListener::bind(address).await.with_context(|| {
                    format!("cannot listen on {address} for /metrics (METRICS_PORT)")
                })?)
            }
            None => None,
        };
        let http = crate::jwks::http_client()
            .map_err(|problem| tracing::error!(problem, "identity provider keys cannot be fetched"))
            .ok();
        let reload = Reload {
            key_watch: settings.key_file().cloned().map(KeyWatch::new),
            files: FilesWatch::new(services.access_files),
            access: settings.access,
            key_caches: services.key_caches,
            http,
            tls: services.tls.clone(),
        };
        let backends = Backends::new(services.issuer, services.stores.stores);
        let bucket_backends = backends.kinds();
        let mut app = App::new(
            backends,
            services.authenticator,
            Rules {
                known_buckets: settings.known_buckets,
                default_ttl: settings.secrets_ttl,
                default_version: settings.signing.default_version,
                backends: bucket_backends,
            },
            services.audit.start(),
            RequestLimits {
                max_concurrent_requests: settings.max_concurrent_requests,
                request_timeout: settings.request_timeout,
                cors: settings.cors,
                refusals: rate(settings.refusals.rate),
            },
            NonZeroUsize::new(settings.signing_threads)
                .map(SigningThreads::start)
                .transpose()
                .context("cannot start the signing threads")?,
            settings.dev_mode,
        );
        app.validator = services.validator;
        Ok(Self {
            listener,
            metrics_listener,
            connections: settings.connections,
            summary_interval: settings.refusals.summary_interval,
            app: Arc::new(app),
            reload: Arc::new(reload),
            watch_intervals: WatchIntervals {
                key: settings.key_watch_interval,
                config: settings.config_watch_interval,
            },
            shutdown_drain: settings.shutdown_drain,
            shutdown: tokio::sync::watch::Sender::new(false),
            tls: services.tls,
            signals: Signals::listen(),
        })
    }

    /// `https` when the service serves TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The audit trail's handle, to close it (its final checkpoint) once serving ends.
    pub fn audit(&self) -> crate::audit::Auditor {
        self.app.audit.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the `METRICS_PORT` listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop_signal =
            tasks::spawn_background(&self.app, &self.reload, self.watch_intervals, self.signals);
        tasks::spawn_audit_summary(&self.app, self.summary_interval);
        let app = Arc::clone(&self.app);
        let shutdown = self.shutdown;
        let drain = self.shutdown_drain;
        let metrics = Arc::clone(&self.app.metrics);
        let with_metrics = self.metrics_listener.is_none();
        if let Some(listener) = self.metrics_listener {
            let router = http::operations_router(Arc::clone(&self.app));
            let metrics = Arc::clone(&metrics);
            let mut stopped = shutdown.subscribe();
            tokio::spawn(serve::serve(
                listener,
                None,
                router,
                METRICS_CONNECTIONS,
                metrics,
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ));
        }
        let router = http::router(Arc::clone(&self.app), with_metrics);
        serve::serve(
            self.listener,
            self.tls,
            router,
            self.connections,
            metrics,
            async move {
                stop_signal.await;
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
            },
        )
        .await;
        // What the limits turned away since the last summary goes on record too.
        self.app.record_summary(self.summary_interval).await;
        Ok(())
    }
}

/// The metrics listener's few connections: scrapers and probes.
const METRICS_CONNECTIONS: ConnectionSettings = ConnectionSettings {
    max_connections: 64,
    header_read_timeout: Duration::from_secs(10),
    keep_alive_timeout: Duration::from_secs(60),
};

fn rate(settings: RateSettings) -> Rate {
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Rate {
        per_minute: at_least_one(settings.per_minute),
        burst: at_least_one(settings.burst),
    }
}

/// Starts the service described by `settings` and runs it until it is told to stop.
pub async fn serve(mut settings: Settings, mut services: Services) -> anyhow::Result<()> {
    let dev_mode = settings.dev_mode;
    let store = match (&settings.dev_store, services.issuer.as_mut()) {
        (Some(store_settings), Some(issuer)) => {
            Some(dev::bind_store(&settings, store_settings, issuer).await?)
        }
        _ => None,
    };
    if let Some(store) = &store
        && settings.access.clients_config_path.is_none()
    {
        // The demo's end users, signed in at the dev store's stand-in identity provider.
        settings.access.dev_issuer = Some(store.dev_issuer());
        let loaded = load_access(&settings.access, &services.key_caches)?;
        services.authenticator = loaded.authenticator;
        services.access_files = loaded.files;
    }
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
        metrics_address = application.metrics_addr().map(|a| a.to_string()),
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
    let audit = application.audit();
    application.run_until_stopped().await?;
    // The final signed checkpoint, after the last request was answered.
    audit.close().await;
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
