use std::process::ExitCode;

fn main() -> ExitCode {
    storage_signer::cli::run()
}
