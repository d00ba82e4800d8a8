# Sourced by scripts/bench-instructions and scripts/bench-profile, after bench-setup.sh.
#
# callgrind_service DIR NAME KIND COUNT [VAR=VALUE ...]
#   runs the service (BINARY, the profiling build by default; one worker) under callgrind with
#   the production environment of bench_setup plus VAR=VALUE, sends COUNT requests of KIND
#   (benches/load/client.py: healthz, v2, v4, hmac, get, batch, s3, swift) over one connection, stops it
#   with SIGTERM and leaves DIR/NAME.cg. The audit file starts empty on each run, so every run
#   writes the same records.
callgrind_service() {
  local dir=$1 name=$2 kind=$3 count=$4 port=${PORT:-4097}
  shift 4
  rm -f "$dir/audit.log"
  env "${SERVICE_ENV[@]}" HOST=127.0.0.1 PORT="$port" TOKIO_WORKER_THREADS=1 "$@" \
    valgrind --tool=callgrind --callgrind-out-file="$dir/$name.cg" \
    "${BINARY:-./target/profiling/storage-signer}" serve >"$dir/$name.log" 2>"$dir/$name.valgrind" &
  local pid=$!
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$port/healthz" -o /dev/null 2>&1 && break
    sleep 0.1
  done
  python3 benches/load/client.py "$kind" "$count" "$port"
  kill -TERM "$pid"
  wait "$pid"
}

# callgrind_total FILE: the instructions of a whole callgrind run
callgrind_total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
