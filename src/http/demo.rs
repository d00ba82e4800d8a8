//! The pages: dev mode's upload demo (pick a file, upload it straight to the local store, read
//! it back), and the API reference rendered from `/openapi.json` (served in production too).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use crate::app::AppState;
use crate::config::DEV_ISSUER_ID;

const PAGE: &str = include_str!("../../static/index.html");
const API_PAGE: &str = include_str!("../../static/api.html");

pub async fn page(State(state): State<AppState>) -> impl IntoResponse {
    // Bucket names are lower-case letters, digits, `-`, `_` and `.`: safe in a JS string.
    let bucket = state
        .rules
        .known_buckets
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    // Dev mode's stand-in identity provider, when the demo's users are configured.
    let idp = state
        .authenticator()
        .issuers()
        .iter()
        .find(|issuer| issuer.id == DEV_ISSUER_ID)
        .map(|issuer| issuer.policy.issuer.clone())
        .unwrap_or_default();
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(PAGE.replace("{{BUCKET}}", &bucket).replace("{{IDP}}", &idp)),
    )
}

/// The API described by `/openapi.json`, rendered in the page itself.
pub async fn api_page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(API_PAGE))
}
