//! What runs beside the server: reloading on SIGHUP, on a rotated key file and on changed
//! clients or JWKS files, fetching identity providers' keys, keeping an eye on IAM and a
//! failed audit sink (readiness follows them without traffic), and waiting for the signal to
//! stop.

use std::sync::Arc;
use std::time::Duration;

use super::services::load_access;
use super::tls::TlsFiles;
use crate::app::AppState;
use crate::config::AccessSettings;
use crate::issuing::RsaSigner;
use crate::jwks::KeyCaches;
use crate::key_watch::{FilesWatch, KeyChange, KeyWatch};

/// How often an unavailable IAM signer is retried.
const IAM_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Where the reloadable parts come from.
#[derive(Debug)]
pub struct Reload {
    /// The key file, when there is one to watch.
    pub key_watch: Option<KeyWatch>,
    pub access: AccessSettings,
    /// The clients file and JWKS files in use.
    pub files: FilesWatch,
    /// Identity providers' fetched keys, and the client that fetches them.
    pub key_caches: Arc<KeyCaches>,
    pub http: Option<reqwest::Client>,
    /// The HTTPS certificate and key, when the service serves TLS itself.
    pub tls: Option<Arc<TlsFiles>>,
}

impl Reload {
    /// Checks the key file and, when it holds a new valid key, makes it the one that signs
    /// new requests. An invalid file is logged and the key in use stays.
    fn key(&self, app: &AppState) {
        let Some(watch) = &self.key_watch else {
            return;
        };
        match watch.check() {
            KeyChange::Unchanged => {}
            KeyChange::Rotated(key) => app.use_key(key),
            KeyChange::Invalid(problem) => {
                tracing::error!(
                    path = %watch.path().display(),
                    problem,
                    "key file not reloaded: the key in use stays"
                );
            }
        }
    }

    /// Re-reads the clients file and JWKS files. A broken file is logged and the rules in
    /// force stay.
    fn access(&self, app: &AppState) {
        match load_access(&self.access, &self.key_caches) {
            Ok(loaded) => {
                self.files.watch(loaded.files);
                app.use_authenticator(loaded.authenticator);
                self.start_fetchers();
            }
            Err(error) => {
                tracing::error!(%error, "clients not reloaded: the previous rules stay in force");
            }
        }
    }

    /// Starts fetching the keys of identity providers new to the configuration.
    fn start_fetchers(&self) {
        if let Some(http) = &self.http {
            self.key_caches.start_fetchers(http);
        }
    }
}

/// The signals the service answers, listened for from start-up on: a signal that came before
/// its handler is installed would get the default action (SIGHUP and SIGTERM end the process
/// at once), so they are installed before the service says it is listening.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let hangup = signal(SignalKind::hangup())
                .map_err(|error| {
                    tracing::warn!(%error, "cannot listen for SIGHUP: nothing is reloaded on it");
                })
                .ok();
            let terminate = signal(SignalKind::terminate())
                .map_err(|error| tracing::warn!(%error, "cannot listen for SIGTERM"))
                .ok();
            Self { hangup, terminate }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

/// How often each watched file is checked; `None`: that kind only on SIGHUP.
#[derive(Debug, Clone, Copy)]
pub struct WatchIntervals {
    pub key: Option<Duration>,
    pub config: Option<Duration>,
}

/// Starts the background tasks; returns what waits for SIGTERM (or Ctrl-C).
pub fn spawn_background(
    app: &AppState,
    reload: &Arc<Reload>,
    intervals: WatchIntervals,
    signals: Signals,
) -> impl std::future::Future<Output = ()> + use<> {
    reload.start_fetchers();
    #[cfg(unix)]
    if let Some(hangups) = signals.hangup {
        tokio::spawn(reload_on_sighup(
            Arc::clone(app),
            Arc::clone(reload),
            hangups,
        ));
    }
    if let Some(interval) = intervals.key {
        // The key file, for a rotated key.
        tokio::spawn(every(
            Arc::clone(app),
            Arc::clone(reload),
            interval,
            |reload, app| {
                reload.key(app);
            },
        ));
    }
    if let Some(interval) = intervals.config {
        // The clients file and JWKS files: a change reloads them all.
        tokio::spawn(every(
            Arc::clone(app),
            Arc::clone(reload),
            interval,
            |reload, app| {
                if reload.files.changed() {
                    tracing::info!("the clients file or a JWKS file changed: reloading");
                    reload.access(app);
                }
            },
        ));
    }
    if let (Some(interval), Some(files)) = (intervals.key, &reload.tls) {
        // The TLS certificate and key, checked as often as the service key.
        let files = Arc::clone(files);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let files = Arc::clone(&files);
                let _ = tokio::task::spawn_blocking(move || files.reload()).await;
            }
        });
    }
    tokio::spawn(check_iam(Arc::clone(app)));
    #[cfg(unix)]
    let terminate = signals.terminate;
    #[cfg(not(unix))]
    let terminate = ();
    shutdown_signal(terminate)
}

/// Runs `check` (file reads: off the async executor) every `interval`, the first time one
/// interval after start-up.
async fn every(
    app: AppState,
    reload: Arc<Reload>,
    interval: Duration,
    check: fn(&Reload, &AppState),
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (app, reload) = (Arc::clone(&app), Arc::clone(&reload));
        let _ = tokio::task::spawn_blocking(move || check(&reload, &app)).await;
    }
}

#[cfg(unix)]
async fn reload_on_sighup(
    app: AppState,
    reload: Arc<Reload>,
    mut hangups: tokio::signal::unix::Signal,
) {
    while hangups.recv().await.is_some() {
        tracing::info!(
            "SIGHUP: reloading the clients file, JWKS files, the key file and the TLS files"
        );
        let (app, reload) = (Arc::clone(&app), Arc::clone(&reload));
        let _ = tokio::task::spawn_blocking(move || {
            reload.access(&app);
            reload.key(&app);
            if let Some(files) = &reload.tls {
                files.reload();
            }
        })
        .await;
    }
}

/// With IAM signing: gets a token at start-up, then keeps checking while signing fails, so
/// readiness follows the metadata server and IAM without traffic. Each check runs as a task
/// of its own: should one ever panic, the next check still comes.
async fn check_iam(app: AppState) {
    let mut ticks = tokio::time::interval(IAM_CHECK_INTERVAL);
    loop {
        ticks.tick().await;
        let Some(issuer) = app.issuer() else {
            return;
        };
        let RsaSigner::Iam(iam) = &issuer.signer else {
            return;
        };
        if iam.is_healthy() {
            continue;
        }
        let iam = Arc::clone(iam);
        match tokio::spawn(async move { iam.check().await }).await {
            Ok(Ok(())) => tracing::info!("IAM signing is available"),
            Ok(Err(error)) => tracing::warn!(%error, "IAM signing is not available yet"),
            Err(failure) => {
                tracing::error!(%failure, "the IAM check failed; trying again");
            }
        }
    }
}

/// Every `interval`, a summary record of what the rate limits turned away (if anything was).
pub fn spawn_audit_summary(app: &AppState, interval: Duration) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            app.record_summary(interval).await;
        }
    });
}

#[cfg(unix)]
async fn shutdown_signal(terminate: Option<tokio::signal::unix::Signal>) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match terminate {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: /readyz now answers 503");
}

#[cfg(not(unix))]
async fn shutdown_signal((): ()) {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: /readyz now answers 503");
}
