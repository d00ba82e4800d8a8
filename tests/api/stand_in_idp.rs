//! A stand-in identity provider for the tests, run in the test's own runtime on port 0.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A stand-in identity provider: `/{tenant}/.well-known/openid-configuration` names the
/// issuer `{base}/{tenant}` (with a trailing slash for `auth0`, as Auth0's issuers have) and
/// `{base}/jwks`, which serves whatever key sets the test puts there.
pub struct Provider {
    base: String,
    state: Arc<ProviderState>,
}

struct ProviderState {
    base: Mutex<String>,
    jwks: Mutex<String>,
    status: AtomicU16,
    cache_control: Mutex<&'static str>,
    fetches: AtomicUsize,
}

impl Provider {
    pub async fn start(keys: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProviderState {
            base: Mutex::new(base.clone()),
            jwks: Mutex::new(keys),
            status: AtomicU16::new(200),
            cache_control: Mutex::new("public, max-age=3600"),
            fetches: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/{tenant}/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(serve_jwks))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, state }
    }

    pub fn issuer(&self, tenant: &str) -> String {
        issuer_of(&self.base, tenant)
    }

    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    pub fn serve_keys(&self, jwks: String) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub fn fail_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn cache_control(&self, value: &'static str) {
        *self.state.cache_control.lock().unwrap() = value;
    }
}

fn issuer_of(base: &str, tenant: &str) -> String {
    if tenant == "auth0" {
        format!("{base}/{tenant}/")
    } else {
        format!("{base}/{tenant}")
    }
}

async fn discovery(
    State(state): State<Arc<ProviderState>>,
    Path(tenant): Path<String>,
) -> Response {
    let base = state.base.lock().unwrap().clone();
    axum::Json(json!({"issuer": issuer_of(&base, &tenant), "jwks_uri": format!("{base}/jwks")}))
        .into_response()
}

async fn serve_jwks(State(state): State<Arc<ProviderState>>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    if status != StatusCode::OK {
        return status.into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(*state.cache_control.lock().unwrap()),
    );
    (headers, state.jwks.lock().unwrap().clone()).into_response()
}
