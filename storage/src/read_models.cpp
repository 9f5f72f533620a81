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
  txn.exec(R"(
    INSERT INTO sync_status AS s (creator_id, source, last_event_at, last_written_at)
    SELECT creator_id, source, max(occurred_at), now() FROM new_events GROUP BY 1, 2
    ON CONFLICT (creator_id, source) DO UPDATE SET
      last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at), last_written_at = now())");
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
  for (auto& t : tables) {
    t.live = qualified(t.name);
    t.rebuilt = "pg_temp." + t.name;
    txn.exec("CREATE TEMP TABLE " + t.name + " (LIKE " + t.live + " INCLUDING ALL) ON COMMIT DROP");
  }
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
