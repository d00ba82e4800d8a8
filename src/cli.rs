//! Command-line interface. Every `serve` flag can also be given as the environment variable
//! ael.api used; a flag wins over its variable.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
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
    Serve(ServeArgs),
}

/// Raw `serve` settings. They stay strings here so that `config` can name the variable and
/// the problem in one line when a value is wrong.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: an in-memory key, bucket `dev-bucket`, 127.0.0.1:4000. Never in production.
    #[arg(long)]
    pub dev: bool,

    /// Service-account JSON key file (`client_email`, PKCS#8 `private_key`).
    #[arg(long = "key", env = "SERVICE_ACCOUNT_KEY_PATH", value_name = "FILE")]
    pub service_account_key_path: Option<String>,

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

    /// Seconds before an unanswered request gets a 408, 1 to 300 [default: 10].
    #[arg(long, env = "REQUEST_TIMEOUT", value_name = "SECONDS")]
    pub request_timeout: Option<String>,

    /// error, warn, info, debug or trace [default: info].
    #[arg(long, env = "LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
    }
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
    telemetry::init(settings.log_level);
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
