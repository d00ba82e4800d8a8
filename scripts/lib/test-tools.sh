# Sourced by scripts/test (from the repository root). Installs, once and cached, the tools the
# tests use beyond cargo's own:
#   ensure_test_venv  .venv with tests/oracle/requirements.txt and tests/servers/requirements.txt,
#                     reinstalled only when either file changes (a stamp holds their digest);
#                     exports STORAGE_SIGNER_ORACLE_PYTHON (the tests' Python, servers included)
#   ensure_s3s_fs     s3s-fs, the S3 server that verifies SigV4 (tests/servers/s3_server.py),
#                     built with cargo install only when no s3s-fs is on PATH or in ~/.cargo/bin;
#                     exports S3S_FS_BIN and STORAGE_SIGNER_S3S_FS (read by tests/s3_server.rs)
# Neither starts a server: tests/servers/README.md has the command lines a test runs.

test_requirements=(tests/oracle/requirements.txt tests/servers/requirements.txt)

ensure_test_venv() {
  local stamp=.venv/.requirements.sha256 wanted args=() file
  wanted=$(cat "${test_requirements[@]}" | sha256sum | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "scripts/test: installing the Python test oracle and test servers into .venv"
    python3 -m venv .venv
    for file in "${test_requirements[@]}"; do args+=(-r "$file"); done
    .venv/bin/pip install --quiet --disable-pip-version-check "${args[@]}"
    echo "$wanted" >"$stamp"
  fi
  export STORAGE_SIGNER_ORACLE_PYTHON="$PWD/.venv/bin/python"
}

s3s_fs_version=0.14.1  # 0.15+ needs a newer rustc than 1.95

ensure_s3s_fs() {
  local bin started
  bin=$(command -v s3s-fs || true)
  if [ -z "$bin" ] && [ -x "$HOME/.cargo/bin/s3s-fs" ]; then
    bin=$HOME/.cargo/bin/s3s-fs
  fi
  if [ -z "$bin" ]; then
    echo "scripts/test: building s3s-fs $s3s_fs_version (cargo install, a few minutes, once)"
    started=$SECONDS
    cargo install --locked --quiet "s3s-fs@$s3s_fs_version" --features binary
    echo "scripts/test: s3s-fs built in $((SECONDS - started)) s"
    bin=$HOME/.cargo/bin/s3s-fs
  fi
  export S3S_FS_BIN=$bin STORAGE_SIGNER_S3S_FS=$bin
}
