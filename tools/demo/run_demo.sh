#!/usr/bin/env bash
# The main job: the whole topology on the development broker, fed by the load
# generator, then a summary read back from the topics. Usage:
#   run_demo.sh BIN_DIR [--duration SECONDS] [--forever] [--rate N] [--keep]
set -euo pipefail
BIN="$1"; shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
duration=30 rate=2000 forever=0 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --forever) forever=1; shift ;;
    --keep) keep=1; shift ;;
    *) echo "demo: unknown option $1 (use --duration S, --rate N, --forever, --keep)" >&2; exit 2 ;;
  esac
done

# shellcheck source=../lib/processes.sh
. "$ROOT/tools/lib/processes.sh"
WORK="$(mktemp -d /tmp/cf-demo.XXXXXX)"
cleanup() {
  cf_stop_children
  [ -n "${PG_DIR:-}" ] && "$ROOT/tools/lib/embedded_postgres.sh" stop "$PG_DIR"
  if [ -n "${CF_KEEP_LOGS:-}" ]; then echo "demo: logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; stop=1' INT TERM
stop=0

# channel-api's figures from one scrape of its /metrics (it is still running:
# separate scrapes would mix moments).
channel_api_summary() {
  local url enriched calls ids
  curl -fs "$1" >"$WORK/channel-api.metrics" || true
  url="file://$WORK/channel-api.metrics"
  enriched=$(cf_metric "$url" cf_channel_api_enrichment_seconds_count)
  calls=$(cf_metric "$url" 'cf_channel_api_calls_total{api="order_detail"')
  ids=$(cf_metric "$url" cf_channel_api_order_ids_requested_total)
  echo "channel-api: $enriched order notifications enriched, $(cf_metric "$url" cf_channel_api_passed_through_total) other TikTok records passed on"
  awk -v c="$calls" -v i="$ids" -v n="$enriched" 'BEGIN {
    printf "  %d Get Order Detail calls for %d order ids (%.1f ids per call, %.0f calls per 1,000 notifications)\n",
      c, i, c ? i / c : 0, n ? 1000 * c / n : 0 }'
  curl -fs "$url" | awk '/^cf_channel_api_calls_total/ { printf "  %s %d\n", $1, $2 }'
  echo "  read -> enriched p50 <= $(cf_quantile "$url" cf_channel_api_enrichment_seconds 0.5) s," \
       "p99 <= $(cf_quantile "$url" cf_channel_api_enrichment_seconds 0.99) s;" \
       "$(cf_metric "$url" cf_channel_api_order_retries_total) refetches," \
       "$(cf_metric "$url" cf_dead_letters_total) dead-lettered to dlq.channel-api"
  echo "  inventory sync: $(cf_metric "$url" 'cf_channel_api_sync_rounds_total{outcome="completed"')" \
       "shop rounds completed, $(cf_metric "$url" 'cf_channel_api_sync_rounds_total{outcome="failed"') failed," \
       "$(cf_metric "$url" cf_channel_api_sync_counts_total) stock counts written," \
       "$(cf_metric "$url" 'cf_channel_api_calls_total{api="products_search"') Search Products and" \
       "$(cf_metric "$url" 'cf_channel_api_calls_total{api="inventory_search"') Inventory Search calls (TikTok);" \
       "$(cf_metric "$url" 'cf_channel_api_calls_total{api="shopify_inventory_levels"') inventory level and" \
       "$(cf_metric "$url" 'cf_channel_api_calls_total{api="shopify_inventory_items"') inventory item calls (Shopify)"
}

echo "demo: logs in $WORK"
cf_start_broker "$BIN" "$WORK" broker
echo "demo: development broker (3 brokers, librdkafka mock cluster) at $BROKERS"

# PostgreSQL: a throwaway cluster unless CF_POSTGRES_URL names one.
if [ -n "${CF_POSTGRES_URL:-}" ]; then
  printf '%s' "$CF_POSTGRES_URL" >"$WORK/pg.url"
  echo "demo: PostgreSQL from CF_POSTGRES_URL"
else
  PG_DIR="$WORK/postgres"
  "$ROOT/tools/lib/embedded_postgres.sh" start "$PG_DIR" >"$WORK/pg.url"
  echo "demo: throwaway PostgreSQL at $(cat "$WORK/pg.url")"
fi

"$BIN/cf-loadgen" --write-shops-file "$WORK/shops.json" --write-secrets-file "$WORK/secrets.json" \
  --write-sku-mapping-file "$WORK/skus.json" --write-channel-tokens-file "$WORK/channel-shops.json"
PORT=$(cf_free_port)
VALIDATOR_METRICS=$(cf_free_port)
setsid "$BIN/webhook-ingest" --brokers "$BROKERS" --port "$PORT" --secrets-file "$WORK/secrets.json" --shops-file "$WORK/shops.json" \
  --rate-per-shop 5000 --burst-per-shop 10000 >"$WORK/ingest.log" 2>&1 &
cf_pids+=($!)
setsid "$BIN/validator" --brokers "$BROKERS" --shops-file "$WORK/shops.json" --schema-dir "$ROOT/schemas" \
  --metrics-port "$VALIDATOR_METRICS" >"$WORK/validator.log" 2>&1 &
cf_pids+=($!)
# TikTok's API (played by the participant stub, which also plays the saga's
# participants below): order notifications carry no line items, so
# channel-api fetches each order's detail before the validator sees it, and
# reads every TikTok shop's and Shopify store's stock every 10 s (ticks on
# channel.sync.commands).
STUB_PORT=$(cf_free_port)
setsid "$BIN/cf-participant-stub" --port "$STUB_PORT" --seed "$RANDOM" \
  --tiktok-secrets-file "$WORK/secrets.json" --tiktok-shops-file "$WORK/channel-shops.json" \
  >"$WORK/participant-stub.log" 2>&1 &
cf_pids+=($!)
CHANNEL_METRICS=$(cf_free_port)
setsid "$BIN/channel-api" --brokers "$BROKERS" --metrics-port "$CHANNEL_METRICS" \
  --secrets-file "$WORK/secrets.json" --shops-file "$WORK/channel-shops.json" --schema-dir "$ROOT/schemas" \
  --tiktok-api-url "http://127.0.0.1:$STUB_PORT" --shopify-api-url "http://127.0.0.1:$STUB_PORT/shopify/{shop}" \
  --sync-interval-s 10 >"$WORK/channel-api.log" 2>&1 &
cf_pids+=($!)
# The stateful heart: reconciler -> inventory-velocity -> stockout-predictor,
# their local snapshots under $WORK/state, and ticks on inventory.events.
STATEFUL_METRICS=()
for worker in reconciler inventory-velocity stockout-predictor; do
  port=$(cf_free_port)
  STATEFUL_METRICS+=("$port")
  extra=()
  [ "$worker" = reconciler ] && extra=(--sku-mapping "$WORK/skus.json")
  setsid "$BIN/$worker" --brokers "$BROKERS" --metrics-port "$port" --state-dir "$WORK/state/$worker" \
    "${extra[@]}" >"$WORK/$worker.log" 2>&1 &
  cf_pids+=($!)
done
SINK_METRICS=$(cf_free_port)
STATEFUL_METRICS+=("$SINK_METRICS")
setsid "$BIN/postgres-sink" --brokers "$BROKERS" --postgres-url-file "$WORK/pg.url" \
  --migrations-dir "$ROOT/migrations" --metrics-port "$SINK_METRICS" >"$WORK/postgres-sink.log" 2>&1 &
cf_pids+=($!)
# The order saga: orchestrator, participant connector, and the participant
# stub playing payment provider, shipping provider and channel API (10% of
# payment calls fail transiently, as real providers do now and then).
SAGA_METRICS=$(cf_free_port)
STATEFUL_METRICS+=("$SAGA_METRICS")
setsid "$BIN/order-saga" --brokers "$BROKERS" --metrics-port "$SAGA_METRICS" --state-dir "$WORK/state/order-saga" \
  >"$WORK/order-saga.log" 2>&1 &
cf_pids+=($!)
SAGA_HTTP_METRICS=$(cf_free_port)
STATEFUL_METRICS+=("$SAGA_HTTP_METRICS")
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$STUB_PORT/stats" && break; sleep 0.1; done
curl -fs -o /dev/null -X POST "http://127.0.0.1:$STUB_PORT/faults" \
  -d '{"participant":"payment","error_rate":0.1,"max_errors_per_key":2}'
CF_SAGA_PAYMENT_URL="http://127.0.0.1:$STUB_PORT" CF_SAGA_SHIPPING_URL="http://127.0.0.1:$STUB_PORT" \
  CF_SAGA_CHANNEL_URL="http://127.0.0.1:$STUB_PORT" \
  setsid "$BIN/saga-http" --brokers "$BROKERS" --metrics-port "$SAGA_HTTP_METRICS" >"$WORK/saga-http.log" 2>&1 &
cf_pids+=($!)
# The live dashboard: realtime-push turns the output topics into per-creator
# deltas, realtime-gateway serves them and the page (a development secret).
PUSH_METRICS=$(cf_free_port)
STATEFUL_METRICS+=("$PUSH_METRICS")
setsid "$BIN/realtime-push" --brokers "$BROKERS" --metrics-port "$PUSH_METRICS" \
  --state-dir "$WORK/state/realtime-push" >"$WORK/realtime-push.log" 2>&1 &
cf_pids+=($!)
head -c 32 /dev/urandom | base64 >"$WORK/jwt.secret"
GATEWAY_PORT="${CF_GATEWAY_PORT:-$(cf_free_port)}"
setsid "$BIN/realtime-gateway" --brokers "$BROKERS" --port "$GATEWAY_PORT" --start beginning \
  --jwt-secret-file "$WORK/jwt.secret" --postgres-url-file "$WORK/pg.url" \
  >"$WORK/realtime-gateway.log" 2>&1 &
cf_pids+=($!)
setsid "$BIN/cf-ticker" --brokers "$BROKERS" --topic inventory.events --topic events.validated \
  --topic orders.events --topic channel.sync.commands \
  --interval-ms 1000 \
  >"$WORK/ticker.log" 2>&1 &
cf_pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# The validator is ready once its consumer group formed (~3 s on this broker) and state is restored.
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$VALIDATOR_METRICS/metrics" 2>/dev/null | grep -qE '^cf_assigned_partitions [1-9]' && break
  sleep 0.1
done
echo "demo: webhook-ingest on http://127.0.0.1:$PORT (metrics at /metrics), validator metrics on :$VALIDATOR_METRICS"
# The busiest creator of the generator's shops (creator-100 .. creator-119).
DASHBOARD_URL="http://127.0.0.1:$GATEWAY_PORT/?token=$("$BIN/cf-token" --creator creator-100 --ttl-s 86400 \
  --jwt-secret-file "$WORK/jwt.secret")"
echo "demo: live dashboard of creator-100 at $DASHBOARD_URL"
echo "      (another creator: $BIN/cf-token --creator creator-1NN --jwt-secret-file $WORK/jwt.secret)"

run_for=$duration how_long="for ${duration}s"
if [ "$forever" = 1 ]; then run_for=31536000 how_long="until Ctrl-C"; fi
echo "demo: posting generated TikTok Shop, Shopify and shipping webhooks at $rate/s $how_long" \
     "(duplicates, bad signatures, malformed, oversize included)"
"$BIN/cf-loadgen" --target "127.0.0.1:$PORT" --rate "$rate" --duration "$run_for" --connections 16 \
  --oversize 0.005 --report "$WORK/report.jsonl" --seed "$RANDOM" --start-time "$(date +%s)" \
  --tiktok-api "127.0.0.1:$STUB_PORT" \
  --event-seconds-per-webhook "$(awk -v r="$rate" 'BEGIN { print 1 / r }')" &
loadgen=$!
cf_pids+=("$loadgen")
# A Ctrl-C also interrupts this sleep; `|| true` keeps set -e from ending the
# script before the summary.
while kill -0 "$loadgen" 2>/dev/null && [ "$stop" = 0 ]; do sleep 0.2 || true; done
kill -TERM "$loadgen" 2>/dev/null || true
wait "$loadgen" 2>/dev/null || true

# Let every stage drain what is in flight (consumer lag reaches zero), in order.
for port in "$CHANNEL_METRICS" "$VALIDATOR_METRICS" "${STATEFUL_METRICS[@]}"; do
  for _ in $(seq 100); do
    lag=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '/^cf_consumer_lag/ {s+=$2} END {print s+0}')
    [ "${lag:-1}" = 0 ] && break
    sleep 0.2 || true
  done
done
sleep 2 || true  # the sink writes every 100 ms; the last velocity ticks flush
"$BIN/cf-pipeline-report" --brokers "$BROKERS" --loadgen-report "$WORK/report.jsonl" \
  --postgres-url-file "$WORK/pg.url"
channel_api_summary "http://127.0.0.1:$CHANNEL_METRICS/metrics"
echo "shipping: $(grep -c '"kind":"shipping","expect":"valid","status":200' "$WORK/report.jsonl" || true)" \
     "AfterShip tracking updates accepted;" \
     "$(cf_metric "http://127.0.0.1:$VALIDATOR_METRICS/metrics" cf_validator_shipment_updates_waiting_total)" \
     "waited in the validator for the label their order's saga records (shipping.labels)"
echo
echo "Look further (while the broker runs, e.g. with --keep):"
echo "  $BIN/cf-tap --brokers $BROKERS --topic events.validated --event-type payment.completed --max 5"
echo "  $BIN/cf-tap --brokers $BROKERS --topic webhooks.rejected --headers --max 5"
echo "  $BIN/cf-tap --brokers $BROKERS --topic inventory.alerts --max 5"
echo "  $BIN/cf-tap --brokers $BROKERS --topic conflicts.audit --max 5"
echo "  $BIN/cf-tap --brokers $BROKERS --topic dlq.channel-api --headers --max 5"
if [ "$keep" = 1 ]; then
  echo "demo: topology kept running; Ctrl-C to stop"
  stop=0
  while [ "$stop" = 0 ]; do sleep 1 || true; done
fi
