//! Command-line interface. Every `serve` flag can also be given as the environment variable
//! ael.api used; a flag wins over its variable.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::auth::api_key;
use crate::config::Settings;
use crate::sign_command::{self, SignArgs};
use crate::{startup, telemetry};

#[derive(Debug, Parser)]
#[command(name = "storage-signer", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service that issues signed URLs.
    Serve(Box<ServeArgs>),
    /// Create API keys for the clients file.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Work with audit trails.
    #[command(subcommand)]
    Audit(crate::audit::commands::AuditCommand),
    /// Print signed URLs for objects, like `gsutil signurl`.
    Sign(SignArgs),
    /// Print the `OpenAPI` 3.1 description of the HTTP API (as served at `/openapi.json`).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Generate a random API key; prints the key (give it to the client) and the line for the
    /// clients file (only the hash is stored).
    New,
    /// Print the SHA-256 of an API key read from standard input.
    Hash,
}

/// Raw `serve` settings. They stay strings here so that `config` can name the variable and
/// the problem in one line when a value is wrong.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: an in-memory key, bucket `dev-bucket`, 127.0.0.1:4000, a local
    /// verifying object store on the next port, and a demo page. Never in production.
    #[arg(long)]
    pub dev: bool,

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

    /// Seconds between SIGTERM and closing the listener, while /readyz answers 503 so load
    /// balancers stop sending traffic, 0 to 60 [default: 0].
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", value_name = "SECONDS")]
    pub shutdown_drain_seconds: Option<String>,

    /// Comma-separated buckets that URLs may be issued for.
    #[arg(long, env = "KNOWN_BUCKETS", value_name = "BUCKETS")]
    pub known_buckets: Option<String>,

    /// Lifetime of an issued URL in seconds (1 to 604800) [default: 600].
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

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
        Command::ApiKey(ApiKeyCommand::New) => new_api_key(),
        Command::ApiKey(ApiKeyCommand::Hash) => hash_api_key(),
        Command::Audit(command) => crate::audit::commands::run(command),
        Command::Sign(args) => sign_command::run(&args),
        Command::Openapi => print_openapi(),
    }
}

fn print_openapi() -> ExitCode {
    match crate::http::api_doc::document().to_pretty_json() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("storage-signer: cannot write the OpenAPI document: {error}");
            ExitCode::FAILURE
        }
    }
}

fn new_api_key() -> ExitCode {
    let key = api_key::generate();
    println!("API key (give it to the client; it is not stored anywhere):");
    println!("  {key}");
    println!("For the clients file:");
    println!(
        "  api_key_sha256 = \"{}\"",
        hex::encode(api_key::sha256(&key))
    );
    ExitCode::SUCCESS
}

fn hash_api_key() -> ExitCode {
    let mut key = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut key) {
        eprintln!("storage-signer: cannot read the key from standard input: {error}");
        return ExitCode::FAILURE;
    }
    let key = key.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        eprintln!("storage-signer: no key on standard input");
        return ExitCode::FAILURE;
    }
    println!("{}", hex::encode(api_key::sha256(key)));
    ExitCode::SUCCESS
}

/// Exit status for a configuration the service refuses to start with.
const EXIT_CONFIG: u8 = 2;

fn serve(args: &ServeArgs) -> ExitCode {
    let settings = match Settings::from_args(args) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("storage-signer: configuration error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _log_writer = telemetry::init(settings.log_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(startup::serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "server stopped with an error");
            ExitCode::FAILURE
        }
    }
}
