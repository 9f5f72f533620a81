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
  for _ in $(seq 100); do [ -s "$work/$name.bootstrap" ] && break; sleep 0.1; done
  [ -s "$work/$name.bootstrap" ] || { echo "development broker did not start: $(cat "$work/$name.log")" >&2; exit 1; }
  BROKERS="$(cat "$work/$name.bootstrap")"
}

# A free TCP port on 127.0.0.1.
cf_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
