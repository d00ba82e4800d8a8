//! CORS for the API: pages on the configured origins may call it from a browser. Preflights
//! (`OPTIONS` with `Access-Control-Request-Method`) are answered here, before routing and
//! without authentication; every response says `Vary: Origin`. A disallowed origin gets no
//! `Access-Control-Allow-*` header, so its page cannot read the answer. The API takes bearer
//! tokens, never cookies, so `Access-Control-Allow-Credentials` is never sent.

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{CorsOrigins, CorsSettings};

/// The layer for `settings`.
pub fn layer(settings: &CorsSettings) -> CorsLayer {
    let origins = match &settings.origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    let headers: Vec<HeaderName> = settings
        .headers
        .iter()
        .filter_map(|name| HeaderName::try_from(name.as_str()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers)
        // What a page may read of a response besides the simple headers.
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(settings.max_age)
}
