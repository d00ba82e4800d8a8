//! Request ids and the one log line per request. Errors are logged here too, under the
//! request id (see `error::finish`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use super::error;
use crate::app::App;
use crate::audit::{AuditEvent, Decision};
use crate::error::ApiError;
use crate::metrics;

const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 128;
/// Paths longer than this are cut in the log line.
const MAX_LOGGED_PATH_LEN: usize = 512;

/// The id that ties a response to its log lines: taken from `x-request-id` when the caller
/// sends a sane one (so ids follow a request across services), generated otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    fn from_header(value: &HeaderValue) -> Option<Self> {
        // Only characters that are harmless in logs and headers; anything else is replaced
        // rather than echoed.
        let value = value.to_str().ok()?;
        let sane = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b));
        sane.then(|| Self(value.to_owned()))
    }

    /// A version-4 UUID made of a random base drawn once per process and a counter: unique
    /// across replicas (122 random bits) without a `getrandom` system call per request.
    /// Request ids identify, they do not authorise, so they need not be unpredictable.
    pub(super) fn generate() -> Self {
        // The variant's two bits; the counter runs in the other 62 bits of the low half.
        const VARIANT: u64 = 0b11 << 62;
        static BASE: OnceLock<(u64, u64)> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (high, low) = *BASE.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let low = (low & VARIANT) | (low.wrapping_add(n) & !VARIANT);
        Self(uuid::Uuid::from_u64_pair(high, low).to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ids of one request: the service's own (`request_id` in logs and audit records), and
/// the caller's `x-request-id` when it sent a sane one (`caller_request_id`). Kept apart so a
/// caller cannot make its records pass for another request's, or for the service's own
/// records (`-`). Responses carry the caller's id when there is one, as ael.api did, and the
/// service's otherwise.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub own: RequestId,
    pub caller: Option<RequestId>,
}

impl RequestIds {
    /// The id responses carry.
    pub fn answer(&self) -> &RequestId {
        self.caller.as_ref().unwrap_or(&self.own)
    }
}

/// What a handler adds to the request's log line about its decision. Never the URL.
#[derive(Debug, Clone)]
pub struct DecisionLogFields {
    pub client_id: Option<String>,
    pub decision: Decision,
    pub action: Option<&'static str>,
    pub bucket: Option<String>,
    pub object: Option<String>,
    pub expires_at: Option<String>,
}

impl From<&AuditEvent> for DecisionLogFields {
    fn from(event: &AuditEvent) -> Self {
        Self {
            client_id: event.client_id.clone(),
            decision: event.decision,
            action: event.action,
            bucket: event.bucket.clone(),
            object: event.object.clone(),
            expires_at: event.expires_at.clone(),
        }
    }
}

/// Middleware: assigns the request id, returns it in `x-request-id`, and writes one JSON log
/// line when the response is ready.
pub async fn track(State(state): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ids = RequestIds {
        own: RequestId::generate(),
        caller: request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(RequestId::from_header),
    };
    let request_id = ids.answer().clone();
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(ids.clone());
    // Only known methods get further: an invented one (of any length) is answered here, and
    // counted as `other`, so callers cannot add label values to the metrics.
    let method = metrics::method_label(request.method().as_str());
    // The route pattern, not the path: one series per route whatever the callers send.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let path: String = request
        .uri()
        .path()
        .chars()
        .take(MAX_LOGGED_PATH_LEN)
        .collect();

    let response = if method == "other" {
        ApiError::MethodNotAllowed.into_response()
    } else {
        next.run(request).await
    };
    let mut response = error::finish(response, &ids);

    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(&route, method, status, elapsed);
    // Whole microseconds: the clock's nanoseconds would print as 17 digits of noise.
    let latency_ms = f64::from(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)) / 1000.0;
    // Fields that are `None` are left out of the line.
    let decided = response.extensions().get::<DecisionLogFields>();
    tracing::info!(
        request_id = %ids.own,
        caller_request_id = ids.caller.as_ref().map(RequestId::as_str),
        method,
        path,
        status,
        latency_ms,
        client_id = decided.and_then(|d| d.client_id.as_deref()),
        decision = decided.map(|d| d.decision.as_str()),
        action = decided.and_then(|d| d.action),
        bucket = decided.and_then(|d| d.bucket.as_deref()),
        object = decided.and_then(|d| d.object.as_deref()),
        expires_at = decided.and_then(|d| d.expires_at.as_deref()),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_request_id() {
        let id = RequestId::from_header(&HeaderValue::from_static("abc-123_x.y:z")).unwrap();
        assert_eq!(id.as_str(), "abc-123_x.y:z");
    }

    #[test]
    fn replaces_request_ids_that_could_forge_log_lines() {
        for value in ["", "a b", "a\"b", "{}", &"a".repeat(129)] {
            let header = HeaderValue::from_str(value).unwrap();
            assert!(RequestId::from_header(&header).is_none(), "{value:?}");
        }
    }

    #[test]
    fn generated_ids_are_distinct_version_4_uuids() {
        let ids: Vec<RequestId> = (0..1000).map(|_| RequestId::generate()).collect();
        let distinct: std::collections::HashSet<&str> = ids.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
