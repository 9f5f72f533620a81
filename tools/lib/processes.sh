# Shared by the demo and the benchmark: child processes that are always
# stopped (SIGTERM, up to 10 s for a graceful exit, then SIGKILL), and the
# development broker. Children run under setsid so a Ctrl-C reaches only the
# script, which then stops them in order (load first, topology last).
cf_pids=()

# Newest first: load generators, then workers, then the broker, so every
# worker can still commit and leave its group while it stops.
cf_stop_children() {
  local i pid
  for ((i = ${#cf_pids[@]} - 1; i >= 0; i--)); do
    pid="${cf_pids[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1 || true; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# cf_start_broker BIN_DIR WORK_DIR NAME [broker args...]: sets broker_pid and
# BROKERS (the bootstrap address).
cf_start_broker() {
  local bin="$1" work="$2" name="$3"
  shift 3
  rm -f "$work/$name.bootstrap"
  setsid "$bin/cf-dev-broker" --bootstrap-file "$work/$name.bootstrap" --catalog "$ROOT/topics/catalog.json" "$@" \
    >"$work/$name.log" 2>&1 &
  broker_pid=$!
  cf_pids+=("$broker_pid")
  # Creating the catalog's topics on the mock cluster takes 1-15 s on a busy 2-core machine.
  for _ in $(seq 600); do [ -s "$work/$name.bootstrap" ] && break; sleep 0.1; done
  [ -s "$work/$name.bootstrap" ] || { echo "development broker did not start: $(cat "$work/$name.log")" >&2; exit 1; }
  BROKERS="$(cat "$work/$name.bootstrap")"
}

# A free TCP port on 127.0.0.1.
cf_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# cf_metric URL NAME: the sum of a metric's samples at a /metrics URL, every
# label set of NAME, or those starting with NAME when it holds labels
# ('name{key="v"' sums every sample with that label first).
cf_metric() {
  curl -fs "$1" | awk -v n="$2" '
    $1 == n || index($1, n "{") == 1 || (index(n, "{") && index($1, n) == 1) { s += $2 }
    END { print s + 0 }'
}
# cf_quantile URL HISTOGRAM Q: the upper bound (seconds) of the bucket that
# holds quantile Q of a histogram at a /metrics URL ("-" when empty).
cf_quantile() {
  curl -fs "$1" | awk -v n="$2_bucket" -v q="$3" '
    index($1, n) == 1 { match($1, /le="[^"]+"/); le[k] = substr($1, RSTART + 4, RLENGTH - 5); c[k++] = $2 }
    END { if (k && c[k - 1] > 0) for (i = 0; i < k; i++) if (c[i] >= q * c[k - 1]) { print le[i]; exit }
          print "-" }'
}
