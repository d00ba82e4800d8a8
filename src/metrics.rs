//! Prometheus metrics, served at `GET /metrics` (OpenMetrics text).
//!
//! Every label has a small, fixed set of values, whatever callers send: known methods or
//! `other`, route patterns or `unmatched`, the clients file's ids or `-`. Anything a caller
//! can invent would make a series per value and grow the registry without bound.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route (`/media_content_storage_secrets`), or `unmatched`.
    pub route: String,
    /// One of [`METHODS`], or `other`.
    pub method: &'static str,
    pub status: u16,
}

/// The methods that get a label value of their own (RFC 9110's, and PATCH).
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// The label value of a request method: itself if it is one of [`METHODS`], else `other`.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `client`: a client's `rate_limit`; `refusals`: refused requests per source or client.
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub action: String,
    pub client: String,
    /// `issued`, `denied`, `invalid`, `unauthenticated`, `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SigningLabels {
    /// `v2-rsa`, `v4-rsa`, `v4-hmac`, `policy-rsa`, `policy-hmac`; `-iam` when IAM signs.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    pub key_id: String,
    pub client_email: String,
}

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
    pub signing_duration: Family<SigningLabels, Histogram>,
    pub audit_write_failures: Counter,
    pub overload_rejections: Counter,
    /// Read URLs handed out again within their reuse window, with no signature.
    pub reused_urls: Counter,
    /// Requests answered 429, by the limit that refused them.
    pub rate_limited: Family<LimitLabels, Counter>,
    /// Connections open now.
    pub open_connections: Gauge,
    /// Connections closed at once because `MAX_CONNECTIONS` were open.
    pub connections_refused: Counter,
    key_info: Family<KeyLabels, Gauge>,
    key_age_seconds: Gauge<f64, AtomicU64>,
    key: Mutex<(KeyLabels, Instant)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new(key_id: &str, client_email: &str) -> Self {
        let mut registry = Registry::with_prefix("storage_signer");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions on signing requests by action, client and outcome",
            decisions.clone(),
        );
        let request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by route",
            request_duration.clone(),
        );
        let signing_duration = Family::<SigningLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_01, 2.0, 20))
        });
        registry.register(
            "signing_duration_seconds",
            "Time spent signing one URL or form, by kind",
            signing_duration.clone(),
        );
        let audit_write_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Audit records that could not be written (each refused a request)",
            audit_write_failures.clone(),
        );
        let reused_urls = Counter::default();
        registry.register(
            "reused_urls",
            "Read URLs handed out again within their rule's reuse_window, signed once for an identical grant",
            reused_urls.clone(),
        );
        let overload_rejections = Counter::default();
        registry.register(
            "overload_rejections",
            "Requests refused with 503 because MAX_CONCURRENT_REQUESTS were in flight",
            overload_rejections.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429, by limit (client: a client's rate_limit; refusals: refused requests per source address or client)",
            rate_limited.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Connections open now",
            open_connections.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections closed at once because MAX_CONNECTIONS were open",
            connections_refused.clone(),
        );
        let key_info = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "key_info",
            "The signing key in use (value 1)",
            key_info.clone(),
        );
        let key_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "key_age_seconds",
            "Seconds since the signing key in use was loaded",
            key_age_seconds.clone(),
        );
        let labels = KeyLabels {
            key_id: key_id.to_owned(),
            client_email: client_email.to_owned(),
        };
        key_info.get_or_create(&labels).set(1);
        Self {
            registry,
            requests,
            decisions,
            request_duration,
            signing_duration,
            audit_write_failures,
            overload_rejections,
            reused_urls,
            rate_limited,
            open_connections,
            connections_refused,
            key_info,
            key_age_seconds,
            key: Mutex::new((labels, Instant::now())),
        }
    }

    pub fn count_decision(&self, action: &str, client: &str, outcome: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                action: action.to_owned(),
                client: client.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn observe_signing(&self, kind: &str, elapsed: Duration) {
        self.signing_duration
            .get_or_create(&SigningLabels {
                kind: kind.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A request refused with 429 by `limit` (`client` or `refusals`).
    pub fn count_rate_limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// A new key took over: `key_info` names it and its age starts again.
    pub fn key_loaded(&self, key_id: &str, client_email: &str) {
        let labels = KeyLabels {
            key_id: key_id.to_owned(),
            client_email: client_email.to_owned(),
        };
        let mut key = self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.key_info.remove(&key.0);
        self.key_info.get_or_create(&labels).set(1);
        *key = (labels, Instant::now());
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let loaded = self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1;
        self.key_age_seconds.set(loaded.elapsed().as_secs_f64());
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
