#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks (these machines run everything as
# root, and postgres refuses root, so the server runs as the system user `postgres`).
#
#   scripts/lib/postgres.sh install            Debian's postgresql, if no server binaries yet
#   scripts/lib/postgres.sh start DIR PORT     a new cluster in DIR on 127.0.0.1:PORT (trust
#                                              authentication, loopback only); prints its URL
#   scripts/lib/postgres.sh stop DIR           stops it (fast shutdown); DIR stays
#   scripts/lib/postgres.sh restart DIR        starts a stopped cluster again
#   scripts/lib/postgres.sh ssl DIR CERT KEY   serves TLS with CERT and KEY from the next start
#
# Pick PORT below 32768: ports in the ephemeral range can collide with client sockets.
set -euo pipefail

pg_bin() {
  if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_postgres() { runuser -u postgres -- "$@"; }

install_postgres() {
  if [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ]; then return; fi
  echo "postgres.sh: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends postgresql >/dev/null; }
}

ensure_user() {
  id postgres >/dev/null 2>&1 ||
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

start_server() {
  local dir=$1 port
  port=$(cat "$dir/port")
  as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
}

case ${1:-} in
  install)
    install_postgres
    ;;
  start)
    dir=$2 port=$3
    install_postgres
    ensure_user
    mkdir -p "$dir"
    # postgres must reach DIR: let it through a private parent (a test's temporary dir).
    chmod a+x "$(dirname "$dir")"
    chown postgres: "$dir"
    chmod 700 "$dir"
    as_postgres "$(pg_bin)/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log"
    echo "$port" >"$dir/port"
    start_server "$dir"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_postgres "$(pg_bin)/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
    ;;
  restart)
    start_server "$2"
    ;;
  ssl)
    dir=$2
    install -o postgres -g postgres -m 0600 "$3" "$dir/data/server.crt"
    install -o postgres -g postgres -m 0600 "$4" "$dir/data/server.key"
    printf "ssl = on\n" >>"$dir/data/postgresql.conf"
    ;;
  *)
    echo "usage: $0 install | start DIR PORT | stop DIR | restart DIR | ssl DIR CERT KEY" >&2
    exit 2
    ;;
esac
