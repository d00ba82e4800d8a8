# syntax=docker/dockerfile:1
# Build: a static (glibc, static-pie) release binary, so the runtime image needs nothing else.
# getrandom's default Linux backend finds getrandom(2) through dlsym, which a static binary
# lacks, and then falls back to /dev/urandom; the cfg makes it call getrandom(2) directly, so
# request ids never depend on a device node being mounted.
#
# The build stage copies exactly what `cargo build` reads: the manifest and lock file, the
# sources, the benchmark target Cargo.toml names, and the pages `include_str!` embeds.
# scripts/check-dockerfile-context (run by CI) builds from exactly these COPY lines, with these
# RUN lines, in an empty directory, so a missing one fails CI.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY static ./static
RUN RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu

# Runtime: the binary alone, as an unprivileged user. No shell, no package manager.
FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/storage-signer /storage-signer
# CA certificates for HTTPS to IAM Credentials (SIGNER=iam); the service's own HTTPS
# (TLS_CERT_PATH) needs none of them.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENV HOST=0.0.0.0 PORT=4000
EXPOSE 4000
ENTRYPOINT ["/storage-signer", "serve"]
