#!/usr/bin/env bash
# ./cf bench: every figure next to a ceiling measured in the same run.
#  1. validator events/s vs a bare librdkafka consume->produce loop, same
#     generated webhooks fed live into a fresh development broker each;
#  2. per-record cost of the pure transforms (Google Benchmark);
#  3. webhook-ingest requests/s and p99 at saturation (wrk) vs nginx
#     answering a fixed 200 on the same box.
#  4. inventory-velocity events/s (changelog writes included) vs the bare
#     loop over the same inventory events, and state restore speed from the
#     changelog alone and from a 1M-key local snapshot plus a changelog tail.
#  6. postgres-sink rows/s vs a raw COPY of the same rows into the same
#     schema; end-to-end latency from the ingest's 200 to the row in
#     PostgreSQL at a steady webhook rate (--e2e-rate, default 2500/s: the
#     highest the load generator sustains here while the whole pipeline,
#     PostgreSQL and the broker share the same two cores).
#  8. order saga: sagas/s with zero-latency participants next to the bare
#     loop, p50/p99 saga duration at a steady rate, and sagas in flight with
#     200 ms participants.
#  9. channel-api: TikTok notifications enriched per second from a backlog
#     with a zero-latency API stub, next to the bare loop; Get Order Detail
#     calls per 1,000 notifications (backlog and steady rate); read ->
#     enriched latency at a steady rate with 100 ms API latency.
# 10. realtime-gateway: 10,000 WebSocket clients (--gateway-connections)
#     over 500 creators, 2,000 deltas/s written to realtime.push: delivered
#     messages/s, latency written -> received, a reconnect storm with cursors,
#     memory per connection; next to a bare Beast broadcast of the same
#     messages to the same number of connections.
# Usage: run_bench.sh BIN_DIR [--records N] [--http-seconds S] [--e2e-rate R] [--gateway-connections N]
#        [--only pipeline|transforms|http|velocity|sink|saga|enrich|gateway]
set -euo pipefail
BIN="$1"; shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
records=600000 http_seconds=10 only=all connections=64 e2e_rate=2500 gw_connections=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --records) records="$2"; shift 2 ;;
    --http-seconds) http_seconds="$2"; shift 2 ;;
    --e2e-rate) e2e_rate="$2"; shift 2 ;;
    --gateway-connections) gw_connections="$2"; shift 2 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=../lib/processes.sh
. "$ROOT/tools/lib/processes.sh"
WORK="$(mktemp -d /tmp/cf-bench.XXXXXX)"
cleanup() {
  cf_stop_children
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -d "$WORK/postgres" ] && "$ROOT/tools/lib/embedded_postgres.sh" stop "$WORK/postgres"
  rm -rf "$WORK"
}
trap cleanup EXIT
export CF_SCHEMA_DIR="$ROOT/schemas"

start_broker() { cf_start_broker "$BIN" "$WORK" "$@"; b="$BROKERS"; }
stop_broker() { kill -TERM "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; }

if [ "$only" = all ] || [ "$only" = pipeline ]; then
echo "== 1. validator vs bare consume->produce loop ($records webhooks, ~400 B, fed live) =="
start_broker bare --extra-topic bench.input:12 --extra-topic bench.output:12
bare=$("$BIN/cf-bench" --brokers "$b" --mode passthrough --records "$records" 2>"$WORK/bare.err" | tail -1)
stop_broker
start_broker runtime --extra-topic bench.input:12 --extra-topic bench.output:12
runtime=$("$BIN/cf-bench" --brokers "$b" --mode runtime --records "$records" 2>"$WORK/runtime.err" | tail -1)
stop_broker
start_broker validator
val=$("$BIN/cf-bench" --brokers "$b" --mode validator --records "$records" 2>"$WORK/validator.err" | tail -1)
stop_broker
echo "  ceiling  $bare"
echo "  runtime  $runtime   (worker loop, copy-through handler)"
echo "  measured $val"
bare_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$bare")
val_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$val")
echo "  validator = $((100 * val_rate / bare_rate))% of the bare loop (target >= 50%)"

fi
if [ "$only" = all ] || [ "$only" = velocity ]; then
echo
vrecords=$(( records / 2 ))
echo "== 4. inventory-velocity vs bare consume->produce loop ($vrecords inventory events, fed live) =="
start_broker vbare
vbare=$("$BIN/cf-bench" --brokers "$b" --mode velocity-passthrough --records "$vrecords" 2>"$WORK/vbare.err" | tail -1)
stop_broker
start_broker velocity
vel=$("$BIN/cf-bench" --brokers "$b" --mode velocity --records "$vrecords" 2>"$WORK/velocity.err" | tail -1)
stop_broker
echo "  ceiling  $vbare"
echo "  measured $vel"
vbare_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$vbare")
vel_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$vel")
echo "  inventory-velocity = $((100 * vel_rate / vbare_rate))% of the bare loop (target >= 30%)"
echo "== 5. state restore (12 changelog partitions x 80000 records; 1M-key snapshot + tail) =="
start_broker restore
"$BIN/cf-bench" --brokers "$b" --mode restore --records 80000 2>"$WORK/restore.err" | sed 's/^/  /'
stop_broker
fi
if [ "$only" = all ] || [ "$only" = sink ]; then
echo
echo "== 6. postgres-sink vs raw COPY of the same 60000 events (one run, same data) =="
"$ROOT/tools/lib/embedded_postgres.sh" start "$WORK/postgres" >"$WORK/pg.url"
start_broker sinkbench
"$BIN/cf-bench-sink" --brokers "$b" --postgres-url-file "$WORK/pg.url" --sink-bin "$BIN/postgres-sink" \
  --migrations-dir "$ROOT/migrations" --records 60000 2>"$WORK/sinkbench.err" | sed 's/^/  /' | tee "$WORK/sinkbench.out"
copy_rate=$(sed -nE 's/.*copy .*rows_per_s=([0-9]+).*/\1/p' "$WORK/sinkbench.out")
sink_rate=$(sed -nE 's/.*sink .*rows_per_s=([0-9]+).*/\1/p' "$WORK/sinkbench.out")
[ -n "$copy_rate" ] && [ -n "$sink_rate" ] && echo "  sink = $((100 * sink_rate / copy_rate))% of COPY (target >= 50%)"
stop_broker
echo "== 7. end to end: ingest 200 -> row visible in PostgreSQL, steady $e2e_rate webhooks/s for 20 s =="
start_broker e2e
"$BIN/cf-loadgen" --write-shops-file "$WORK/shops.json" --write-secrets-file "$WORK/secrets.json" \
  --write-sku-mapping-file "$WORK/skus.json"
psql "$(cat "$WORK/pg.url")" -qc "DROP DATABASE IF EXISTS cf_e2e" -c "CREATE DATABASE cf_e2e" >/dev/null
printf '%s dbname=cf_e2e' "$(cat "$WORK/pg.url")" >"$WORK/e2e.url"
port=$(cf_free_port)
setsid "$BIN/webhook-ingest" --brokers "$b" --port "$port" --secrets-file "$WORK/secrets.json" \
  --rate-per-shop 100000 --burst-per-shop 100000 >"$WORK/e2e-ingest.log" 2>&1 & cf_pids+=($!)
setsid "$BIN/validator" --brokers "$b" --shops-file "$WORK/shops.json" --schema-dir "$ROOT/schemas" \
  --metrics-port -1 --state-dir "$WORK/state" >"$WORK/e2e-validator.log" 2>&1 & cf_pids+=($!)
setsid "$BIN/reconciler" --brokers "$b" --sku-mapping "$WORK/skus.json" --metrics-port -1 \
  --state-dir "$WORK/state" >"$WORK/e2e-reconciler.log" 2>&1 & cf_pids+=($!)
setsid "$BIN/postgres-sink" --brokers "$b" --postgres-url-file "$WORK/e2e.url" --migrations-dir "$ROOT/migrations" \
  --metrics-port -1 --batch-max-ms 20 >"$WORK/e2e-sink.log" 2>&1 & cf_pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 6  # consumer groups form (~3 s each on the development broker)
"$BIN/cf-loadgen" --target "127.0.0.1:$port" --rate "$e2e_rate" --duration 20 --connections 32 \
  --start-time "$(date +%s)" --event-seconds-per-webhook "$(awk -v r="$e2e_rate" 'BEGIN { print 1 / r }')" \
  2>&1 | sed 's/^/  /'
sleep 10 || true
psql "$(cat "$WORK/e2e.url")" -At -F ' ' -c "
  WITH l AS (SELECT extract(epoch FROM processed_at - (metadata->>'received_at')::timestamptz) * 1000 AS ms,
                    (metadata->>'received_at')::timestamptz AS received
             FROM events WHERE metadata ? 'received_at'),
       steady AS (SELECT * FROM l WHERE received >= (SELECT min(received) + interval '5 s' FROM l)
                                    AND received <= (SELECT max(received) - interval '5 s' FROM l))
  SELECT 'rows=' || count(*), 'p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
         'p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
         'max_ms=' || round(max(ms)::numeric, 1) FROM steady" | sed 's/^/  steady middle 10 s: /'
cf_stop_children  # workers first (newest first), then the broker
fi
if [ "$only" = all ] || [ "$only" = saga ]; then
echo
echo "== 8. order saga: sagas/s next to the bare loop, duration, in flight at 200 ms participant latency =="
# One fresh topology per run: broker, participant stub, order-saga, saga-http,
# inventory-velocity (reserve/release) and ticks on orders.events. Orders are
# the reconciler's paid order events of generated webhooks.
saga_run() (  # saga_run NAME LATENCY_MS ORDERS RATE -> the bench's line (a subshell: its
  trap cf_stop_children EXIT  # processes stop with it, whatever happens)
  cf_pids=()
  local name="$1" latency="$2" orders="$3" rate="$4" stub_port m1 m2 m3
  start_broker "$name"
  stub_port=$(cf_free_port)
  setsid "$BIN/cf-participant-stub" --port "$stub_port" >"$WORK/$name-stub.log" 2>&1 & cf_pids+=($!)
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$stub_port/stats" && break; sleep 0.1; done
  for p in payment shipping channel; do
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$stub_port/faults" -d "{\"participant\":\"$p\",\"latency_ms\":$latency}"
  done
  m1=$(cf_free_port)
  m2=$(cf_free_port)
  m3=$(cf_free_port)
  setsid "$BIN/order-saga" --brokers "$b" --metrics-port "$m1" --state-dir "$WORK/$name-state" \
    >"$WORK/$name-saga.log" 2>&1 & cf_pids+=($!)
  CF_SAGA_PAYMENT_URL="http://127.0.0.1:$stub_port" CF_SAGA_SHIPPING_URL="http://127.0.0.1:$stub_port" \
    CF_SAGA_CHANNEL_URL="http://127.0.0.1:$stub_port" \
    setsid "$BIN/saga-http" --brokers "$b" --metrics-port "$m2" >"$WORK/$name-http.log" 2>&1 & cf_pids+=($!)
  setsid "$BIN/inventory-velocity" --brokers "$b" --metrics-port "$m3" --state-dir "$WORK/$name-state" \
    >"$WORK/$name-velocity.log" 2>&1 & cf_pids+=($!)
  setsid "$BIN/cf-ticker" --brokers "$b" --topic orders.events --interval-ms 200 >"$WORK/$name-ticker.log" 2>&1 & cf_pids+=($!)
  for port in "$m1" "$m2" "$m3"; do  # consumer groups formed, state restored
    for _ in $(seq 300); do
      curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -qE '^cf_assigned_partitions [1-9]' && break
      sleep 0.1
    done
  done
  "$BIN/cf-bench-saga" --brokers "$b" --orders "$orders" --rate "$rate" 2>"$WORK/$name-bench.err" | tail -1
)
# 2,000 sagas: each writes about 7 changelog and 7 saga.events records of 1-3
# KiB, which stays within the development broker's ~5 MiB per partition.
start_broker sagabare --extra-topic bench.input:12 --extra-topic bench.output:12
sbare=$("$BIN/cf-bench" --brokers "$b" --mode passthrough --records "$records" 2>"$WORK/sagabare.err" | tail -1)
stop_broker
echo "  ceiling             $sbare"
fast=$(saga_run sagafast 0 2000 0)
echo "  as fast as possible $fast"
steady=$(saga_run sagasteady 0 1000 100)
echo "  steady 100/s        $steady"
slow=$(saga_run sagaslow 200 3000 0)
echo "  200 ms participants $slow"
bare_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$sbare")
fast_rate=$(sed -E 's/.* sagas_per_s=([0-9]+).*/\1/' <<<"$fast")
[ -n "$fast_rate" ] && awk -v s="$fast_rate" -v b="$bare_rate" 'BEGIN {
  printf "  sagas/s = %.2f%% of the bare loop'"'"'s records/s; a saga moves about 30 records through 4 processes\n", 100 * s / b
  printf "  (order, 2 inventory and 3 participant commands and replies, ~7 changelog and ~7 saga.events records)\n" }'
fi
if [ "$only" = all ] || [ "$only" = enrich ]; then
echo
echo "== 9. channel-api: notifications enriched/s next to the bare loop, calls per 1,000, latency at 100 ms API latency =="
# enrich_run NAME LATENCY_MS COUNT RATE BACKLOG -> one line of figures (a subshell:
# its processes stop with it). BACKLOG=1: every notification (and its order at
# the stub) is written before channel-api starts, and the rate is the backlog
# over the time from the first enriched record to the last.
enrich_run() (
  trap cf_stop_children EXIT
  cf_pids=()
  local name="$1" latency="$2" count="$3" rate="$4" backlog="$5" stub_port m first last n
  start_broker "$name"
  "$BIN/cf-loadgen" --write-shops-file "$WORK/$name-shops.json" --write-secrets-file "$WORK/$name-secrets.json" \
    --write-channel-tokens-file "$WORK/$name-channel.json"
  stub_port=$(cf_free_port)
  setsid "$BIN/cf-participant-stub" --port "$stub_port" --tiktok-secrets-file "$WORK/$name-secrets.json" \
    --tiktok-shops-file "$WORK/$name-channel.json" >"$WORK/$name-stub.log" 2>&1 & cf_pids+=($!)
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$stub_port/tiktok/stats" && break; sleep 0.1; done
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$stub_port/tiktok/faults" -d "{\"latency_ms\":$latency}"
  # TikTok order notifications only, as TikTok sends them; no invalid ones.
  feed=("$BIN/cf-loadgen" --to-kafka --raw-tiktok --tiktok-api "127.0.0.1:$stub_port" --brokers "$b"
        --count "$count" --rate "$rate" --shipping-share 0 --stock-sync-share 0 --shopify-share 0
        --duplicates 0 --bad-signatures 0 --malformed 0 --schema-invalid 0)
  [ "$backlog" = 1 ] && "${feed[@]}" >"$WORK/$name-feed.log" 2>&1
  m=$(cf_free_port)
  setsid "$BIN/channel-api" --brokers "$b" --metrics-port "$m" --secrets-file "$WORK/$name-secrets.json" \
    --shops-file "$WORK/$name-channel.json" --tiktok-api-url "http://127.0.0.1:$stub_port" \
    --shop-calls-per-second 1000 --app-calls-per-second 10000 >"$WORK/$name-channel.log" 2>&1 & cf_pids+=($!)
  if [ "$backlog" != 1 ]; then
    for _ in $(seq 300); do
      curl -fs "http://127.0.0.1:$m/metrics" 2>/dev/null | grep -qE '^cf_assigned_partitions [1-9]' && break
      sleep 0.1
    done
    "${feed[@]}" >"$WORK/$name-feed.log" 2>&1 &
  fi
  first="" last=""
  for _ in $(seq 3000); do  # up to 150 s
    n=$(cf_metric "http://127.0.0.1:$m/metrics" cf_channel_api_enrichment_seconds_count)
    if [ "${n:-0}" -gt 0 ] && [ -z "$first" ]; then first=$(date +%s.%N); fi
    if [ "${n:-0}" -ge "$count" ]; then last=$(date +%s.%N); break; fi
    sleep 0.05
  done
  local url="http://127.0.0.1:$m/metrics"
  awk -v n="${n:-0}" -v f="${first:-0}" -v l="${last:-0}" -v c="$(cf_metric "$url" 'cf_channel_api_calls_total{api="order_detail"')" \
      -v p50="$(cf_quantile "$url" cf_channel_api_enrichment_seconds 0.5)" \
      -v p99="$(cf_quantile "$url" cf_channel_api_enrichment_seconds 0.99)" 'BEGIN {
    printf "enriched=%d notifications_per_s=%.0f calls=%d calls_per_1000=%.1f read_to_enriched_p50_s<=%s p99_s<=%s\n",
      n, (l > f ? (n - 1) / (l - f) : 0), c, (n ? 1000 * c / n : 0), p50, p99 }'
)
start_broker enrichbare --extra-topic bench.input:12 --extra-topic bench.output:12
ebare=$("$BIN/cf-bench" --brokers "$b" --mode passthrough --records "$records" 2>"$WORK/enrichbare.err" | tail -1)
stop_broker
echo "  ceiling                      $ebare"
# 30,000 enriched records of ~0.9 KiB stay within the broker's ~5 MiB per partition.
backlog=$(enrich_run enrichfast 0 30000 0 1)
echo "  backlog, 0 ms API            $backlog"
steady=$(enrich_run enrichsteady 100 10000 500 0)
echo "  steady 500/s, 100 ms API     $steady"
bare_rate=$(sed -E 's/.* records_per_s=([0-9]+).*/\1/' <<<"$ebare")
fast_rate=$(sed -E 's/.* notifications_per_s=([0-9]+).*/\1/' <<<"$backlog")
[ -n "$fast_rate" ] && awk -v s="$fast_rate" -v b="$bare_rate" 'BEGIN {
  printf "  enrichment = %.1f%% of the bare loop'"'"'s records/s\n", 100 * s / b }'
fi
if [ "$only" = all ] || [ "$only" = gateway ]; then
echo
echo "== 10. realtime-gateway: $gw_connections WebSocket clients over 500 creators, next to a bare Beast broadcast =="
# The gateway reads realtime.push from the development broker, answers every
# new client with a snapshot from PostgreSQL (migrated, empty), then fans the
# deltas out; the ceiling routes the same messages to the same number of
# connections in one process with nothing else to do.
gw_run() (
  trap cf_stop_children EXIT
  cf_pids=()
  start_broker gateway
  "$ROOT/tools/lib/embedded_postgres.sh" start "$WORK/postgres" >"$WORK/pg.url"
  "$BIN/postgres-sink" --migrate-only --postgres-url-file "$WORK/pg.url" --migrations-dir "$ROOT/migrations" \
    --brokers "$b" >"$WORK/migrate.log" 2>&1
  head -c 32 /dev/urandom | base64 >"$WORK/jwt.secret"
  local port
  port=$(cf_free_port)
  setsid "$BIN/realtime-gateway" --brokers "$b" --port "$port" --start end --jwt-secret-file "$WORK/jwt.secret" \
    --postgres-url-file "$WORK/pg.url" --max-connections 50000 --log-level warn >"$WORK/gateway.log" 2>&1 & cf_pids+=($!)
  local gw_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  "$BIN/cf-bench-gateway" --brokers "$b" --mode gateway --port "$port" --gateway-pid "$gw_pid" \
    --jwt-secret-file "$WORK/jwt.secret" --connections "$gw_connections" --creators 500 --messages 20000 --rate 2000 \
    2>"$WORK/gw-bench.err"
  "$ROOT/tools/lib/embedded_postgres.sh" stop "$WORK/postgres"
)
gw_run | sed 's/^/  /'
bare_port=$(cf_free_port)
setsid "$BIN/cf-bench-gateway" --mode bare-server --port "$bare_port" --connections "$gw_connections" \
  --creators 500 --messages 20000 --rate 2000 >"$WORK/gw-bare-server.log" 2>&1 & cf_pids+=($!)
sleep 0.5
"$BIN/cf-bench-gateway" --mode bare --port "$bare_port" --connections "$gw_connections" --creators 500 \
  --messages 20000 --rate 2000 2>"$WORK/gw-bare.err" | sed 's/^/  /'
fi
if [ "$only" = all ] || [ "$only" = transforms ]; then
echo
echo "== 2. pure transforms, one core (Google Benchmark) =="
"$BIN/cf-bench-transforms" --benchmark_min_time=0.5 2>/dev/null | grep -E '^BM_' | sed 's/^/  /'
fi
[ "$only" = all ] || [ "$only" = http ] || exit 0

echo
echo "== 3. webhook-ingest vs nginx fixed 200, wrk -t2 -c${connections} ${http_seconds}s on the same box =="
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  echo "  skipped: wrk and nginx are needed (./cf installs them)"; exit 0
fi
port_nginx=18991 port_ingest=18992
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port_nginx;
    location / { return 200 '{"status":"accepted"}'; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf"
"$BIN/cf-loadgen" --write-shops-file "$WORK/shops.json" --write-secrets-file "$WORK/secrets.json"
body='{"type":1,"tts_notification_id":"bench-1","shop_id":"shop-7000","timestamp":1795000000,"data":{"order_id":"5700001","order_status":"AWAITING_SHIPMENT","update_time":1795000000,"line_items":[{"sku_id":"17300001","seller_sku":"CF-1","quantity":1,"sale_price":"19.99","currency":"USD"}],"payment":{"total_amount":"19.99","currency":"USD","paid_time":1795000000}}}'
signature=$(printf '%s%s' "cf-dev-app" "$body" | openssl dgst -sha256 -hmac "cf-dev-app-secret" -r | cut -d' ' -f1)
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "$signature"
LUA
start_broker http
"$BIN/webhook-ingest" --brokers "$b" --port "$port_ingest" --secrets-file "$WORK/secrets.json" \
  --rate-per-shop 10000000 --burst-per-shop 10000000 --threads 2 --log-level warn ${CF_BENCH_INGEST_ARGS:-} >"$WORK/ingest.log" 2>&1 &
cf_pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port_ingest/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -X POST -H "Authorization: $signature" -d "$body" "http://127.0.0.1:$port_ingest/webhooks/tiktok" >/dev/null \
  || { echo "  ingest refused the benchmark request"; exit 1; }
summarise() {  # wrk output on stdin -> "N req/s, p50 X, p99 Y, non-2xx Z"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$5}
       END {printf "%s req/s, p50 %s, p99 %s, non-2xx %s", rps, p50, p99, (bad==""?0:bad)}'
}
nginx_line=$(wrk -t2 -c"$connections" -d"${http_seconds}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$port_nginx/webhooks/tiktok" | summarise)
ingest_line=$(wrk -t2 -c"$connections" -d"${http_seconds}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$port_ingest/webhooks/tiktok" | summarise)
echo "  nginx (ceiling)  $nginx_line"
echo "  webhook-ingest   $ingest_line (each 200 waited for acks=all from the broker)"
n=$(cut -d' ' -f1 <<<"$nginx_line"); i=$(cut -d' ' -f1 <<<"$ingest_line")
awk -v n="$n" -v i="$i" 'BEGIN {printf "  webhook-ingest = %.0f%% of nginx (target >= 25%%)\n", 100*i/n}'
