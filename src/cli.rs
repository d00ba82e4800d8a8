//! Command-line interface. Every `serve` flag can also be given as the environment variable
//! ael.api used; a flag wins over its variable.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::api_key;
use crate::config::{ServeArgs, Settings};
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
    Audit(Box<crate::audit::commands::AuditCommand>),
    /// Print signed URLs for objects, like `gsutil signurl`.
    Sign(Box<SignArgs>),
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

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
        Command::ApiKey(ApiKeyCommand::New) => new_api_key(),
        Command::ApiKey(ApiKeyCommand::Hash) => hash_api_key(),
        Command::Audit(command) => crate::audit::commands::run(*command),
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
    let built = Settings::from_args(args).and_then(|settings| {
        startup::Services::build(&settings).map(|services| (settings, services))
    });
    let (settings, services) = match built {
        Ok(built) => built,
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
    match runtime.block_on(startup::serve(settings, services)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "server stopped with an error");
            // Also plainly, for a person at a terminal (a busy port, say).
            eprintln!("storage-signer: {error:#}");
            ExitCode::FAILURE
        }
    }
}
