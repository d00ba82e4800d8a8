use std::process::ExitCode;

// mimalloc: a request allocates many small strings; measured with callgrind, glibc's malloc
// and free were about a fifth of the instructions of an HMAC-signed URL (see README,
// Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    storage_signer::cli::run()
}
