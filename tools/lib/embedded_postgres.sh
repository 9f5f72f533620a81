#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the demo and the tests.
#   embedded_postgres.sh start DIR   initdb (once) and start on a free port;
#                                    prints the libpq connection string
#   embedded_postgres.sh stop DIR    fast shutdown
#   embedded_postgres.sh restart DIR stop, then start on the same port
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# `postgres` user; DIR must be writable by that user (it is chowned).
set -euo pipefail
cmd="$1" dir="$2"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/pg_ctl" ] || { echo "embedded_postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      chown postgres: "$dir"; chmod 700 "$dir"
      # The postgres user must reach DIR: let it through our own parent
      # directories (search permission only, no listing).
      parent="$(cd "$dir/.." && pwd)"
      while [ "$parent" != / ]; do
        [ -O "$parent" ] && chmod o+x "$parent"
        parent="$(dirname "$parent")"
      done
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if [ -f "$dir/port" ]; then
      port=$(cat "$dir/port")
    else
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
             || echo $((30000 + RANDOM % 20000)))
      echo "$port" >"$dir/port"
    fi
    # Development settings: durability traded for speed (throwaway cluster).
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
      >/dev/null || { tail -20 "$dir/postgres.log" >&2; exit 1; }
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
    ;;
  restart)
    "$0" stop "$dir"
    "$0" start "$dir"
    ;;
  *) echo "usage: embedded_postgres.sh start|stop|restart DIR" >&2; exit 2 ;;
esac
