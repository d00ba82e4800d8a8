//! What runs beside the server: reloading on SIGHUP and on a rotated key file, keeping an
//! eye on IAM and a failed audit sink (readiness follows them without traffic), and waiting
//! for the signal to stop.

use std::sync::Arc;
use std::time::Duration;

use super::services::load_access;
use crate::app::AppState;
use crate::config::AccessSettings;
use crate::issuing::RsaSigner;
use crate::key_watch::{KeyChange, KeyWatch};

/// How often a failed audit sink is retried while no request comes (readiness depends on it).
const AUDIT_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How often an unavailable IAM signer is retried.
const IAM_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Where the reloadable parts come from.
#[derive(Debug)]
pub struct Reload {
    /// The key file, when there is one to watch.
    pub key_watch: Option<KeyWatch>,
    pub access: AccessSettings,
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

    /// Re-reads the clients file and JWKS. A broken file is logged and the rules in force
    /// stay.
    fn access(&self, app: &AppState) {
        match load_access(&self.access) {
            Ok(authenticator) => app.use_authenticator(authenticator),
            Err(error) => {
                tracing::error!(%error, "clients not reloaded: the previous rules stay in force");
            }
        }
    }
}

pub fn spawn_background(app: &AppState, reload: &Arc<Reload>, key_watch: Option<Duration>) {
    tokio::spawn(reload_on_sighup(Arc::clone(app), Arc::clone(reload)));
    tokio::spawn(retry_audit_sink(Arc::clone(app)));
    if let Some(interval) = key_watch {
        tokio::spawn(watch_key_file(
            Arc::clone(app),
            Arc::clone(reload),
            interval,
        ));
    }
    tokio::spawn(check_iam(Arc::clone(app)));
}

#[cfg(unix)]
async fn reload_on_sighup(app: AppState, reload: Arc<Reload>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the clients file will not be reloaded");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the clients file and the key file");
        let (app, reload) = (Arc::clone(&app), Arc::clone(&reload));
        let _ = tokio::task::spawn_blocking(move || {
            reload.access(&app);
            reload.key(&app);
        })
        .await;
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_app: AppState, _reload: Arc<Reload>) {}

/// Checks the key file every `interval` for a rotated key.
async fn watch_key_file(app: AppState, reload: Arc<Reload>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (app, reload) = (Arc::clone(&app), Arc::clone(&reload));
        let _ = tokio::task::spawn_blocking(move || reload.key(&app)).await;
    }
}

/// With IAM signing: gets a token at start-up, then keeps checking while signing fails, so
/// readiness follows the metadata server and IAM without traffic.
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
        if !iam.is_healthy()
            && let Err(error) = iam.check().await
        {
            tracing::warn!(%error, "IAM signing is not available yet");
        }
    }
}

/// While the audit sink is failing, keep trying it, so readiness recovers without traffic.
async fn retry_audit_sink(app: AppState) {
    let mut interval = tokio::time::interval(AUDIT_RETRY_INTERVAL);
    loop {
        interval.tick().await;
        if !app.audit.is_healthy() {
            let app = Arc::clone(&app);
            let _ = tokio::task::spawn_blocking(move || app.audit.resume()).await;
        }
    }
}

pub async fn shutdown_signal() {
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
