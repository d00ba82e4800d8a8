//! The raw `serve` settings: every flag, each with the environment variable ael.api used. A
//! flag wins over its variable. They stay strings here so that the settings can name the
//! variable and the problem in one line when a value is wrong.

use clap::Args;
use zeroize::Zeroizing;

/// Raw `serve` settings.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: an in-memory key, bucket `dev-bucket`, 127.0.0.1:4000, a local
    /// verifying object store on the next port, and a demo page. Never in production.
    #[arg(long)]
    pub dev: bool,

    /// Dev mode: use `SERVICE_ACCOUNT_KEY_PATH` anyway. Dev mode gives URLs to anyone who can
    /// reach it, and V2 URLs do not sign the host, so a real key's URLs work at Google
    /// [default: false].
    #[arg(long, env = "DEV_ALLOW_KEY_FILE", value_name = "BOOL")]
    pub dev_allow_key_file: Option<String>,

    /// Dev mode: port of the local object store [default: PORT + 1].
    #[arg(long, env = "DEV_STORE_PORT", value_name = "PORT")]
    pub store_port: Option<String>,

    /// Dev mode: keep the local store's objects in this directory [default: in memory].
    #[arg(long, env = "DEV_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Dev mode: origins the local store allows (CORS), comma-separated, or `*`
    /// [default: the service's own origin].
    #[arg(long, env = "DEV_STORE_CORS_ORIGINS", value_name = "ORIGINS")]
    pub store_cors_origins: Option<String>,

    /// Service-account JSON key file (`client_email`, PKCS#8 `private_key`).
    #[arg(long = "key", env = "SERVICE_ACCOUNT_KEY_PATH", value_name = "FILE")]
    pub service_account_key_path: Option<String>,

    /// Seconds between checks of the key file for a new key (0: only on SIGHUP)
    /// [default: 10].
    #[arg(long, env = "KEY_WATCH_INTERVAL", value_name = "SECONDS")]
    pub key_watch_interval: Option<String>,

    /// Who signs with the service account's RSA key: `key` (the key file) or `iam` (IAM
    /// Credentials signBlob, no key file) [default: key].
    #[arg(long, env = "SIGNER", value_name = "SIGNER")]
    pub signer: Option<String>,

    /// SIGNER=iam: the e-mail of the service account that signs.
    #[arg(long, env = "IAM_SERVICE_ACCOUNT", value_name = "EMAIL")]
    pub iam_service_account: Option<String>,

    /// SIGNER=iam: IAM Credentials endpoint [default: `https://iamcredentials.googleapis.com`].
    #[arg(long, env = "IAM_ENDPOINT", value_name = "URL")]
    pub iam_endpoint: Option<String>,

    /// SIGNER=iam: metadata server that gives the access token
    /// [default: `http://metadata.google.internal`].
    #[arg(long, env = "METADATA_ENDPOINT", value_name = "URL")]
    pub metadata_endpoint: Option<String>,

    /// SIGNER=iam: seconds one signature may take, retries included, 1 to 60 [default: 5].
    #[arg(long, env = "IAM_TIMEOUT", value_name = "SECONDS")]
    pub iam_timeout: Option<String>,

    /// Requests handled at once; more get 503 with Retry-After [default: 256].
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", value_name = "N")]
    pub max_concurrent_requests: Option<String>,

    /// Threads that make the RSA signatures, off the threads that serve connections, 0 to
    /// 256; 0 signs on the connections' threads [default: the CPUs this process may use].
    #[arg(long, env = "SIGNING_THREADS", value_name = "N")]
    pub signing_threads: Option<String>,

    /// Connections open at once; past this new ones get 503 and are closed, while open ones
    /// keep being served [default: 2048].
    #[arg(long, env = "MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<String>,

    /// Seconds a connection may take to send a request head (and a new connection its first
    /// request), 1 to 300 [default: 10].
    #[arg(long, env = "HEADER_READ_TIMEOUT", value_name = "SECONDS")]
    pub header_read_timeout: Option<String>,

    /// Seconds an idle keep-alive connection stays open, 1 to 3600 [default: 60].
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", value_name = "SECONDS")]
    pub keep_alive_timeout: Option<String>,

    /// Refused requests per minute, per source address and per client, that are audited one
    /// by one; more get 429 and are counted in the audit summary [default: 60].
    #[arg(long, env = "REFUSALS_PER_MINUTE", value_name = "N")]
    pub refusals_per_minute: Option<String>,

    /// Refused requests in a burst before `REFUSALS_PER_MINUTE` applies [default: 30].
    #[arg(long, env = "REFUSAL_BURST", value_name = "N")]
    pub refusal_burst: Option<String>,

    /// Seconds between audit summaries of what the rate limits turned away [default: 60].
    #[arg(long, env = "AUDIT_SUMMARY_INTERVAL", value_name = "SECONDS")]
    pub audit_summary_interval: Option<String>,

    /// Serve /metrics (and /healthz, /readyz) on this port instead of the API's [default:
    /// with the API].
    #[arg(long, env = "METRICS_PORT", value_name = "PORT")]
    pub metrics_port: Option<String>,

    /// Seconds between SIGTERM and closing the listener, while /readyz answers 503 so load
    /// balancers stop sending traffic, 0 to 60 [default: 0].
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", value_name = "SECONDS")]
    pub shutdown_drain_seconds: Option<String>,

    /// Comma-separated buckets that URLs may be issued for.
    #[arg(long, env = "KNOWN_BUCKETS", value_name = "BUCKETS")]
    pub known_buckets: Option<String>,

    /// Lifetime of an issued URL in seconds (1 to 604800, 7 days) [default: 600].
    #[arg(long, env = "SECRETS_TTL", value_name = "SECONDS")]
    pub secrets_ttl: Option<String>,

    /// Address to bind [default: 0.0.0.0, or 127.0.0.1 with --dev].
    #[arg(long, env = "HOST", value_name = "IP")]
    pub host: Option<String>,

    /// Port to listen on; 0 picks a free one [default: 4000].
    #[arg(long, env = "PORT")]
    pub port: Option<String>,

    /// Scheme, host and optional path prefix of the storage endpoint in issued URLs
    /// [default: `https://storage.googleapis.com`].
    #[arg(long, env = "STORAGE_BASE_URL", value_name = "URL")]
    pub storage_base_url: Option<String>,

    /// Signing process of URLs whose secret names none: v2 or v4 [default: v2].
    #[arg(long, env = "SIGNING_VERSION", value_name = "VERSION")]
    pub signing_version: Option<String>,

    /// Per-bucket URL style for V4 URLs and forms: `bucket=path`, `bucket=virtual-hosted` or
    /// `bucket=https://host` (a bucket-bound hostname), comma-separated [default: path].
    #[arg(long, env = "BUCKET_URL_STYLES", value_name = "LIST")]
    pub bucket_url_styles: Option<String>,

    /// Buckets whose V4 URLs and forms are signed with the HMAC key, comma-separated.
    #[arg(long, env = "HMAC_BUCKETS", value_name = "BUCKETS")]
    pub hmac_buckets: Option<String>,

    /// HMAC key file: the JSON `gcloud storage hmac create` prints, or {"accessId", "secret"}.
    #[arg(long = "hmac-key", env = "HMAC_KEY_PATH", value_name = "FILE")]
    pub hmac_key_path: Option<String>,

    /// HMAC key access id (with `HMAC_SECRET`), instead of `HMAC_KEY_PATH`.
    #[arg(long, env = "HMAC_ACCESS_ID", value_name = "ID")]
    pub hmac_access_id: Option<String>,

    /// HMAC key secret (with `HMAC_ACCESS_ID`).
    #[arg(
        long,
        env = "HMAC_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub hmac_secret: Option<Secret>,

    /// Seconds before an unanswered request gets a 408, 1 to 300 [default: 10].
    #[arg(long, env = "REQUEST_TIMEOUT", value_name = "SECONDS")]
    pub request_timeout: Option<String>,

    /// Clients file (TOML): callers, their credentials and what each may do.
    #[arg(long = "clients", env = "CLIENTS_CONFIG_PATH", value_name = "FILE")]
    pub clients_config_path: Option<String>,

    /// true: callers without credentials act as the `anonymous` client, or, without a clients
    /// file, get ael.api's open mode. false: every request needs credentials.
    #[arg(long, env = "ALLOW_ANONYMOUS", value_name = "BOOL")]
    pub allow_anonymous: Option<String>,

    /// JWKS file with the keys that sign accepted JWTs (RS256, ES256).
    #[arg(long = "jwt-jwks", env = "JWT_JWKS_PATH", value_name = "FILE")]
    pub jwt_jwks_path: Option<String>,

    /// Required `iss` of accepted JWTs.
    #[arg(long, env = "JWT_ISSUER", value_name = "ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` of accepted JWTs.
    #[arg(long, env = "JWT_AUDIENCE", value_name = "AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Origins whose pages may call the API (CORS), comma-separated, such as
    /// `https://app.example.com`; `*` for any [default: none, no CORS headers].
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "ORIGINS")]
    pub cors_allowed_origins: Option<String>,

    /// Request headers a cross-origin page may send, comma-separated
    /// [default: authorization,content-type,x-request-id].
    #[arg(long, env = "CORS_ALLOWED_HEADERS", value_name = "HEADERS")]
    pub cors_allowed_headers: Option<String>,

    /// Seconds a browser may cache a preflight answer, 0 to 86400 [default: 600].
    #[arg(long, env = "CORS_MAX_AGE", value_name = "SECONDS")]
    pub cors_max_age: Option<String>,

    /// Seconds between checks of the clients file and JWKS files for changes (0: only on
    /// SIGHUP) [default: 10].
    #[arg(long, env = "CONFIG_WATCH_INTERVAL", value_name = "SECONDS")]
    pub config_watch_interval: Option<String>,

    /// Longest lifetime (`exp` minus `iat`) of an accepted JWT, in seconds; an issuer of the
    /// clients file may set its own [default: 86400].
    #[arg(long, env = "JWT_MAX_TOKEN_LIFETIME", value_name = "SECONDS")]
    pub jwt_max_token_lifetime: Option<String>,

    /// Fewest seconds between two fetches of an identity provider's JWKS (a floor for its
    /// caching headers, and the rate limit of fetches for unknown key ids), 1 to 3600
    /// [default: 30].
    #[arg(long, env = "JWKS_MIN_REFRESH_INTERVAL", value_name = "SECONDS")]
    pub jwks_min_refresh_interval: Option<String>,

    /// File the audit trail is appended to; `-` or unset: stdout.
    #[arg(long = "audit-log", env = "AUDIT_LOG_PATH", value_name = "FILE")]
    pub audit_log_path: Option<String>,

    /// Sync each audit record to disk before answering [default: false].
    #[arg(long, env = "AUDIT_FSYNC", value_name = "BOOL")]
    pub audit_fsync: Option<String>,

    /// PostgreSQL for the audit trail of many replicas: `postgres://user:password@host/db`.
    #[arg(
        long,
        env = "AUDIT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub audit_database_url: Option<Secret>,

    /// PEM file of the CA(s) that sign the audit database's certificate [default: the
    /// system's roots]; TLS itself follows the URL's sslmode.
    #[arg(long, env = "AUDIT_DATABASE_CA_FILE", value_name = "FILE")]
    pub audit_database_ca_file: Option<String>,

    /// Seconds a request waits for its audit record before it gets 503, 1 to 60 [default: 3].
    #[arg(long, env = "AUDIT_TIMEOUT", value_name = "SECONDS")]
    pub audit_timeout: Option<String>,

    /// Requests waiting for the audit writer at most [default: 4096].
    #[arg(long, env = "AUDIT_QUEUE", value_name = "N")]
    pub audit_queue: Option<String>,

    /// A signed checkpoint at least every this many records [default: 1000].
    #[arg(long, env = "AUDIT_CHECKPOINT_RECORDS", value_name = "N")]
    pub audit_checkpoint_records: Option<String>,

    /// ... and at least every this many seconds [default: 60].
    #[arg(long, env = "AUDIT_CHECKPOINT_SECONDS", value_name = "SECONDS")]
    pub audit_checkpoint_seconds: Option<String>,

    /// Service-account JSON key that signs audit checkpoints [default: the signing key, or
    /// IAM signBlob with SIGNER=iam].
    #[arg(
        long = "audit-signing-key",
        env = "AUDIT_SIGNING_KEY_PATH",
        value_name = "FILE"
    )]
    pub audit_signing_key_path: Option<String>,

    /// error, warn, info, debug or trace [default: info].
    #[arg(long, env = "LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// HTTPS: `TLS_CERT_PATH`, `TLS_KEY_PATH`, `TLS_CLIENT_CA_PATH`.
    #[command(flatten)]
    pub tls: super::TlsArgs,

    /// Backends: `OBJECT_STORAGE_BACKEND`, `BACKENDS_CONFIG_PATH`, `MINIO_ENDPOINT`, `AWS_*`,
    /// `SWIFT_*`.
    #[command(flatten)]
    pub stores: super::StoreArgs,

    /// `/validate_signed_entity`: `DIGITAL_SIGNATURE_*`, `DOCUMENT_FETCH_TIMEOUT`,
    /// `MAX_DOCUMENT_SIZE`.
    #[command(flatten)]
    pub validator: super::ValidatorArgs,
}

/// A secret given on the command line or in the environment: `Debug` does not print it.
#[derive(Clone)]
pub struct Secret(pub Zeroizing<String>);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(Zeroizing::new(value.to_owned())))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
