#include "cf/read_models.h"

#include <pqxx/stream_to>

#include "cf/time_format.h"

namespace cf {
namespace {

std::string ts(pqxx::work& txn, int64_t ms) {
  return txn.quote(format_rfc3339_ms(ms)) + "::timestamptz";
}

// Counts the conflicts in a CTE named `inserted` (creator_id, detected_at).
constexpr const char* kCountConflicts =
    "INSERT INTO creator_daily_metrics AS m (creator_id, day, conflicts) "
    "SELECT creator_id, (detected_at AT TIME ZONE 'UTC')::date, count(*) FROM inserted GROUP BY 1, "
    "2 "
    "ON CONFLICT (creator_id, day) DO UPDATE SET conflicts = m.conflicts + EXCLUDED.conflicts";

// Adds the refunds in a CTE named `refunded` (creator_id, refunded_at,
// currency, amount_minor) to creator_daily_revenue.
constexpr const char* kCountRefunds =
    "INSERT INTO creator_daily_revenue AS r (creator_id, day, currency, refunded_minor) "
    "SELECT creator_id, (refunded_at AT TIME ZONE 'UTC')::date, currency, sum(amount_minor) "
    "FROM refunded GROUP BY 1, 2, 3 "
    "ON CONFLICT (creator_id, day, currency) DO UPDATE SET "
    "refunded_minor = r.refunded_minor + EXCLUDED.refunded_minor";

// The event store's rows as the sink stages them (sink_projection: missing
// strings are '', numbers only when they are integers).
constexpr const char* kStageStoredEvents = R"(
  INSERT INTO new_events
  SELECT aggregate_id, event_type, creator_id, version, occurred_at,
         coalesce(metadata->>'source', ''), coalesce(event_data->>'status', ''),
         coalesce(event_data->>'channel', ''), coalesce(event_data->>'currency', ''),
         CASE WHEN jsonb_typeof(event_data->'total_minor') = 'number' AND event_data->>'total_minor' ~ '^-?[0-9]+$'
              THEN (event_data->>'total_minor')::bigint END,
         CASE WHEN jsonb_typeof(event_data->'amount_minor') = 'number' AND event_data->>'amount_minor' ~ '^-?[0-9]+$'
              THEN (event_data->>'amount_minor')::bigint END
  FROM )";

}  // namespace

void create_new_events_table(pqxx::work& txn) {
  txn.exec(
      "CREATE TEMP TABLE IF NOT EXISTS new_events (aggregate_id text, event_type text, creator_id "
      "text, "
      "version bigint, occurred_at timestamptz, source text, status text, channel text, currency "
      "text, "
      "total_minor bigint, amount_minor bigint) ON COMMIT DELETE ROWS");
}

void stage_new_events(pqxx::work& txn, const std::vector<const EventRow*>& events) {
  pqxx::stream_to slim(
      txn, "new_events",
      std::vector<std::string>{"aggregate_id", "event_type", "creator_id", "version", "occurred_at",
                               "source", "status", "channel", "currency", "total_minor",
                               "amount_minor"});
  for (const EventRow* e : events) {
    slim << std::make_tuple(e->aggregate_id, e->event_type, e->creator_id, e->version,
                            format_rfc3339_ms(e->occurred_at_ms), e->source, e->status, e->channel,
                            e->currency, e->total_minor, e->amount_minor);
  }
  slim.complete();
}

void project_new_events(pqxx::work& txn) {
  // An order's row: the newest version's fields, the first time it was seen,
  // and its status history; an older version arriving later changes nothing.
  txn.exec(R"(
    INSERT INTO orders AS o (aggregate_id, creator_id, channel, status, total_minor, currency, version,
                             first_seen_at, updated_at, status_history)
    SELECT DISTINCT ON (creator_id, aggregate_id) aggregate_id, creator_id, channel, status,
           total_minor, coalesce(currency, ''), version,
           min(occurred_at) OVER (PARTITION BY creator_id, aggregate_id), occurred_at,
           jsonb_agg(jsonb_build_object('status', status, 'at', occurred_at, 'version', version))
             OVER (PARTITION BY creator_id, aggregate_id ORDER BY version
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    FROM new_events WHERE event_type = 'order.status_changed'
    ORDER BY creator_id, aggregate_id, version DESC
    ON CONFLICT (creator_id, aggregate_id) DO UPDATE SET
      status = EXCLUDED.status, total_minor = EXCLUDED.total_minor, version = EXCLUDED.version,
      updated_at = EXCLUDED.updated_at, status_history = o.status_history || EXCLUDED.status_history
    WHERE o.version < EXCLUDED.version)");
  // Daily counters per creator (UTC days): sums, so each event is added once.
  txn.exec(R"(
    INSERT INTO creator_daily_metrics AS m (creator_id, day, revenue_minor, orders, orders_completed,
                                            processing_ms_sum, events)
    SELECT e.creator_id, (e.occurred_at AT TIME ZONE 'UTC')::date,
           coalesce(sum(e.amount_minor) FILTER (WHERE e.event_type = 'order.payment_completed'), 0),
           count(*) FILTER (WHERE e.event_type = 'order.status_changed' AND e.version = 1),
           count(*) FILTER (WHERE e.event_type = 'order.status_changed' AND e.status = 'COMPLETED'),
           coalesce(sum((extract(epoch FROM e.occurred_at - o.first_seen_at) * 1000)::bigint)
                    FILTER (WHERE e.event_type = 'order.status_changed' AND e.status = 'COMPLETED'), 0),
           count(*)
    FROM new_events e LEFT JOIN orders o ON o.creator_id = e.creator_id AND o.aggregate_id = e.aggregate_id
                                         AND e.event_type = 'order.status_changed' AND e.status = 'COMPLETED'
    GROUP BY 1, 2
    ON CONFLICT (creator_id, day) DO UPDATE SET
      revenue_minor = m.revenue_minor + EXCLUDED.revenue_minor, orders = m.orders + EXCLUDED.orders,
      orders_completed = m.orders_completed + EXCLUDED.orders_completed,
      processing_ms_sum = m.processing_ms_sum + EXCLUDED.processing_ms_sum,
      events = m.events + EXCLUDED.events)");
  // Revenue per currency: completed payments in, refunds out. An order
  // cancelled after its payment completed is refunded, once per order
  // (order_refunds), whether a saga's refund_payment or the cancellation
  // reported it first.
  txn.exec(R"(
    INSERT INTO creator_daily_revenue AS r (creator_id, day, currency, gross_minor)
    SELECT creator_id, (occurred_at AT TIME ZONE 'UTC')::date, currency, sum(amount_minor)
    FROM new_events WHERE event_type = 'order.payment_completed' AND amount_minor IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (creator_id, day, currency) DO UPDATE SET
      gross_minor = r.gross_minor + EXCLUDED.gross_minor)");
  txn.exec(std::string(R"(
    WITH refunded AS (
      INSERT INTO order_refunds (creator_id, aggregate_id, currency, amount_minor, refunded_at, source)
      SELECT DISTINCT ON (c.creator_id, c.aggregate_id) c.creator_id, c.aggregate_id, p.currency,
             p.amount_minor, c.occurred_at, 'order_cancelled'
      FROM new_events c
      JOIN LATERAL (
        SELECT coalesce(e.event_data->>'currency', '') AS currency,
               (e.event_data->>'amount_minor')::bigint AS amount_minor
        FROM events e
        WHERE e.creator_id = c.creator_id AND e.aggregate_id = c.aggregate_id
          AND e.event_type = 'order.payment_completed'
          AND jsonb_typeof(e.event_data->'amount_minor') = 'number'
          AND e.event_data->>'amount_minor' ~ '^-?[0-9]+$'
        ORDER BY e.occurred_at LIMIT 1) p ON true
      WHERE c.event_type = 'order.status_changed' AND c.status = 'CANCELLED'
      ORDER BY c.creator_id, c.aggregate_id, c.occurred_at
      ON CONFLICT DO NOTHING
      RETURNING creator_id, refunded_at, currency, amount_minor) )") +
           kCountRefunds);
  txn.exec(R"(
    INSERT INTO sync_status AS s (creator_id, source, last_event_at, last_written_at)
    SELECT creator_id, source, max(occurred_at), now() FROM new_events GROUP BY 1, 2
    ON CONFLICT (creator_id, source) DO UPDATE SET
      last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at), last_written_at = now())");
}

void store_sagas(pqxx::work& txn,
                 const std::map<std::pair<std::string, std::string>, SagaRow>& sagas) {
  if (sagas.empty()) return;
  std::string values;
  std::string refunds;
  for (const auto& [key, s] : sagas) {
    values += (values.empty() ? "(" : ",(") + txn.quote(s.creator_id) + "," + txn.quote(s.saga_id) +
              "," + txn.quote(s.channel) + "," + txn.quote(s.order_id) + "," + txn.quote(s.status) +
              "," + txn.quote(s.step) + "," + std::to_string(s.attempts) + "," +
              std::to_string(s.attempts_total) + "," + (s.manual ? "true" : "false") + "," +
              ts(txn, s.started_ms) + "," + (s.finished_ms ? ts(txn, *s.finished_ms) : "NULL") +
              "," + (s.finished_ms ? std::to_string(*s.finished_ms - s.started_ms) : "NULL") + "," +
              txn.quote(s.failure) + "," + txn.quote(s.currency) + "," +
              std::to_string(s.amount_minor) + "," + (s.captured ? "true" : "false") + "," +
              (s.refunded ? "true" : "false") + "," + std::to_string(s.version) + "," +
              ts(txn, s.event_ms) + "," + txn.quote(s.history) + "::jsonb)";
    if (s.refunded) {
      refunds += (refunds.empty() ? "(" : ",(") + txn.quote(s.creator_id) + "," +
                 txn.quote(s.channel + ":" + s.order_id) + "," + txn.quote(s.currency) + "," +
                 std::to_string(s.amount_minor) + "," + ts(txn, s.event_ms) + ",'saga')";
    }
  }
  txn.exec(
      "INSERT INTO sagas AS t (creator_id, saga_id, channel, order_id, status, step, attempts, "
      "attempts_total, manual, started_at, finished_at, duration_ms, failure, currency, "
      "amount_minor, payment_captured, payment_refunded, version, updated_at, history) VALUES " +
      values +
      " ON CONFLICT (creator_id, saga_id) DO UPDATE SET status = EXCLUDED.status, step = "
      "EXCLUDED.step, attempts = EXCLUDED.attempts, attempts_total = EXCLUDED.attempts_total, "
      "manual = EXCLUDED.manual, finished_at = EXCLUDED.finished_at, duration_ms = "
      "EXCLUDED.duration_ms, failure = EXCLUDED.failure, payment_captured = "
      "EXCLUDED.payment_captured, payment_refunded = EXCLUDED.payment_refunded, version = "
      "EXCLUDED.version, updated_at = EXCLUDED.updated_at, history = EXCLUDED.history "
      "WHERE t.version < EXCLUDED.version");
  if (refunds.empty()) return;
  // A saga's refund: once per order (order_refunds), counted when new.
  txn.exec(
      "WITH refunded AS (INSERT INTO order_refunds (creator_id, aggregate_id, currency, "
      "amount_minor, refunded_at, source) VALUES " +
      refunds +
      " ON CONFLICT DO NOTHING RETURNING creator_id, refunded_at, currency, amount_minor) " +
      kCountRefunds);
}

void store_conflict(pqxx::work& txn, const ConflictRow& c) {
  txn.exec(
      "WITH inserted AS (INSERT INTO conflicts (conflict_id, creator_id, kind, entity_type, "
      "entity_id, "
      "strategy, winner, escalated, detected_at, resolved_at, record) VALUES (" +
      txn.quote(c.conflict_id) + "::uuid," + txn.quote(c.creator_id) + "," + txn.quote(c.kind) +
      "," + txn.quote(c.entity_type) + "," + txn.quote(c.entity_id) + "," + txn.quote(c.strategy) +
      "," + txn.quote(c.winner) + "," + (c.escalated ? "true" : "false") + "," +
      ts(txn, c.detected_at_ms) + "," + (c.resolved_at_ms ? ts(txn, *c.resolved_at_ms) : "NULL") +
      "," + txn.quote(c.record) +
      "::jsonb) ON CONFLICT DO NOTHING RETURNING creator_id, detected_at) " + kCountConflicts);
}

std::vector<RebuiltTable> rebuild_read_models(pqxx::work& txn) {
  std::vector<RebuiltTable> tables = {
      {"orders", "", "",
       "aggregate_id, creator_id, channel, status, total_minor, currency, version, first_seen_at, "
       "updated_at, "
       "status_history",
       "creator_id, aggregate_id"},
      {"creator_daily_metrics", "", "",
       "creator_id, day, revenue_minor, orders, orders_completed, processing_ms_sum, events, "
       "conflicts",
       "creator_id, day"},
      {"sync_status", "", "", "creator_id, source, last_event_at", "creator_id, source"},
      {"creator_daily_revenue", "", "", "creator_id, day, currency, gross_minor, refunded_minor",
       "creator_id, day, currency"},
      {"order_refunds", "", "", "creator_id, aggregate_id, currency, amount_minor, source",
       "creator_id, aggregate_id"},
  };
  // Resolve the live tables (and the sources) before the temporary tables
  // shadow their names.
  auto qualified = [&](const std::string& name) {
    return txn
        .exec1(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = " +
            txn.quote(name) + "::regclass")[0]
        .as<std::string>();
  };
  const std::string events = qualified("events"), conflicts = qualified("conflicts");
  const std::string live_refunds = qualified("order_refunds");
  for (auto& t : tables) {
    t.live = qualified(t.name);
    t.rebuilt = "pg_temp." + t.name;
    txn.exec("CREATE TEMP TABLE " + t.name + " (LIKE " + t.live + " INCLUDING ALL) ON COMMIT DROP");
  }
  // Refunds the sagas reported are not in the event store: carried over from
  // the live table (with their amounts) before the events are projected.
  txn.exec("WITH refunded AS (INSERT INTO order_refunds SELECT * FROM " + live_refunds +
           " WHERE source = 'saga' RETURNING creator_id, refunded_at, currency, amount_minor) " +
           kCountRefunds);
  create_new_events_table(txn);
  txn.exec("DELETE FROM new_events");
  txn.exec(std::string(kStageStoredEvents) + events);
  project_new_events(txn);
  txn.exec("WITH inserted AS (SELECT creator_id, detected_at FROM " + conflicts + ") " +
           kCountConflicts);
  return tables;
}

std::string table_checksum(pqxx::work& txn, const std::string& table,
                           const RebuiltTable& compared) {
  return txn
      .exec1(
          "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(row_text, '|' ORDER BY k)), "
          "'-') "
          "FROM (SELECT (" +
          compared.columns + ")::text AS row_text, (" + compared.order + ")::text AS k FROM " +
          table + ") s")[0]
      .as<std::string>();
}

}  // namespace cf
