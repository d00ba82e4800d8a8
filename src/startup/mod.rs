//! Binding the listener, serving, reloading on SIGHUP, and stopping gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::issuing::RsaSigner;
use crate::signing::Signer as _;

mod dev;

pub use dev::dev_key_path;

/// How often an unavailable IAM signer is retried.
const IAM_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The service, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    /// Turns true when the service starts shutting down (the dev store follows it).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        Ok(Self {
            listener,
            state: Arc::new(AppState::new(settings)),
            shutdown: tokio::sync::watch::Sender::new(false),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tokio::spawn(reload_on_sighup(Arc::clone(&self.state)));
        if let Some(interval) = self.state.key_watch_interval {
            tokio::spawn(watch_key_file(Arc::clone(&self.state), interval));
        }
        tokio::spawn(check_iam(Arc::clone(&self.state)));
        let state = Arc::clone(&self.state);
        let shutdown = self.shutdown;
        axum::serve(
            self.listener,
            http::router(self.state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            state.begin_shutdown();
            // Readiness now fails; keep accepting while load balancers notice, so no request
            // routed here in the meantime meets a closed port.
            if !state.shutdown_drain.is_zero() {
                tracing::info!(
                    seconds = state.shutdown_drain.as_secs(),
                    "draining: /readyz answers 503, still accepting"
                );
                tokio::time::sleep(state.shutdown_drain).await;
            }
            tracing::info!("closing the listener: finishing in-flight requests");
            shutdown.send_replace(true);
        })
        .await
    }
}

/// Starts the service described by `settings` and runs it until it is told to stop.
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    let dev_mode = settings.dev_mode;
    let store = match settings.dev_store.take() {
        Some(store_settings) => Some(dev::bind_store(&mut settings, store_settings).await?),
        None => None,
    };
    let summary = StartupSummary::of(&settings);
    let app = Application::build(settings).await?;
    let address = app.local_addr()?;
    if let Some(store) = store {
        store.start(address, app.shutdown.subscribe())?;
    }
    tracing::info!(
        %address,
        client_email = summary.client_email,
        private_key_id = summary.private_key_id,
        known_buckets = summary.known_buckets,
        secrets_ttl = summary.secrets_ttl,
        storage_base_url = summary.storage_base_url,
        clients = summary.clients,
        anonymous_callers = summary.anonymous,
        audit_log = summary.audit_log,
        "listening"
    );
    if summary.open_mode {
        tracing::warn!(
            "OPEN MODE (no clients file): ANY caller that can reach this service gets a signed URL for ANY object of the known buckets, as with ael.api. Set CLIENTS_CONFIG_PATH to require credentials."
        );
    }
    if dev_mode {
        warn_dev_mode(address, &summary);
    }
    let audit = app.state.audit.clone();
    app.run_until_stopped().await?;
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
}

impl StartupSummary {
    fn of(settings: &Settings) -> Self {
        Self {
            client_email: settings.issuer.signer.google_access_id().to_owned(),
            private_key_id: settings.issuer.signer.key_id().unwrap_or("none").to_owned(),
            known_buckets: settings
                .known_buckets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            secrets_ttl: settings.secrets_ttl,
            storage_base_url: settings.issuer.storage_base_url.clone(),
            clients: settings.authenticator.client_count(),
            anonymous: settings.authenticator.has_anonymous(),
            open_mode: settings.access.is_open_mode(),
            audit_log: settings.audit.description().to_owned(),
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
}

#[cfg(unix)]
async fn reload_on_sighup(state: Arc<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the clients file will not be reloaded");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the clients file and the key file");
        let state = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || {
            state.reload_access();
            state.reload_key();
        })
        .await;
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_state: Arc<AppState>) {}

/// Checks the key file every `interval` for a rotated key.
async fn watch_key_file(state: Arc<AppState>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let state = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || state.reload_key()).await;
    }
}

/// With IAM signing: gets a token at start-up, then keeps checking while signing fails, so
/// readiness follows the metadata server and IAM without traffic.
async fn check_iam(state: Arc<AppState>) {
    let mut ticks = tokio::time::interval(IAM_CHECK_INTERVAL);
    loop {
        ticks.tick().await;
        let issuer = state.issuer();
        let RsaSigner::Iam(iam) = &issuer.signer else {
            return;
        };
        if !iam.is_healthy()
            && let Err(error) = iam.check().await
        {
            tracing::warn!(%error, "IAM signing is not available yet");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: /readyz now answers 503");
}
