#include "sink_store.h"

#include <pqxx/stream_to>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "cf/time_format.h"

namespace cf {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ts(pqxx::work& txn, int64_t ms) { return txn.quote(format_rfc3339_ms(ms)) + "::timestamptz"; }

std::string optional_number(pqxx::work& txn, const std::optional<std::string>& v) {
  return v ? txn.quote(*v) + "::numeric" : "NULL";
}

int64_t month_start_ms(int64_t ms) {
  std::string day = format_rfc3339_ms(ms).substr(0, 7) + "-01T00:00:00Z";
  return *parse_rfc3339_ms(day);
}

// SQLSTATE classes 22 (data exception) and 23 (integrity constraint): the
// rows are at fault, not the connection.
bool is_data_error(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  return state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0;
}

}  // namespace

std::vector<int> apply_migrations(pqxx::connection& connection, const std::string& directory) {
  std::vector<std::pair<int, std::filesystem::path>> files;
  const std::regex name(R"((\d{4})_[a-z0-9_]+\.sql)");
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    std::smatch m;
    std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name)) files.emplace_back(std::stoi(m[1]), entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error("no migrations (NNNN_name.sql) in " + directory);
  std::vector<int> applied;
  pqxx::work txn(connection);
  txn.exec("SELECT pg_advisory_xact_lock(727274)");  // one applier at a time
  txn.exec("CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
  std::set<int> done;
  for (const auto& row : txn.exec("SELECT version FROM schema_version")) done.insert(row[0].as<int>());
  for (const auto& [version, path] : files) {
    if (done.count(version)) continue;
    txn.exec(read_all(path));
    txn.exec("INSERT INTO schema_version (version, name) VALUES (" + std::to_string(version) + ", " +
             txn.quote(path.filename().string()) + ")");
    applied.push_back(version);
  }
  txn.commit();
  return applied;
}

namespace {
// Keyword-form connection strings get timeouts and TCP keepalives, so a
// server that vanishes without closing the socket is noticed within seconds
// instead of a write blocking forever (URI forms are used as given).
std::string with_liveness_options(const std::string& conninfo) {
  if (conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0) return conninfo;
  std::string out = conninfo;
  for (const char* option : {"connect_timeout=10", "keepalives=1", "keepalives_idle=5", "keepalives_interval=2",
                             "keepalives_count=3", "tcp_user_timeout=15000"}) {
    std::string key = std::string(option).substr(0, std::string(option).find('=') + 1);
    if (out.find(key) == std::string::npos) out += std::string(" ") + option;
  }
  return out;
}
}  // namespace

SinkStore::SinkStore(std::string connection_string, std::string consumer_group)
    : connection_string_(with_liveness_options(connection_string)),
      group_(std::move(consumer_group)),
      connection_(std::make_unique<pqxx::connection>(connection_string_)) {}

std::map<std::pair<std::string, int32_t>, int64_t> SinkStore::stored_offsets() {
  std::map<std::pair<std::string, int32_t>, int64_t> offsets;
  pqxx::work txn(*connection_);
  for (const auto& row : txn.exec("SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = " +
                                  txn.quote(group_))) {
    offsets[{row[0].as<std::string>(), row[1].as<int32_t>()}] = row[2].as<int64_t>();
  }
  txn.commit();
  return offsets;
}

void SinkStore::ensure_partitions(pqxx::work& txn, const std::vector<EventRow>& events) {
  std::set<int64_t> months;
  for (const auto& e : events) months.insert(month_start_ms(e.occurred_at_ms));
  for (int64_t month : months) {
    if (months_ready_.count(month)) continue;
    txn.exec("SELECT cf_ensure_event_partition(" + txn.quote(format_rfc3339_ms(month).substr(0, 10)) + "::date)");
  }
}

void SinkStore::write(const SinkBatch& batch) {
  if (!connection_->is_open()) connection_ = std::make_unique<pqxx::connection>(connection_string_);
  std::set<int64_t> months_now;
  for (const auto& e : batch.events) months_now.insert(month_start_ms(e.occurred_at_ms));
  bool found_stored = false;
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](const char* stage) {
    if (!spdlog::should_log(spdlog::level::debug)) return;
    auto now = std::chrono::steady_clock::now();
    spdlog::debug("batch stage {} took {} us", stage, std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count());
    t0 = now;
  };
  try {
    pqxx::work txn(*connection_);
    // Fence: lock this group's positions for the transaction and refuse a
    // batch that starts behind one of them. Sinks of one group thus write
    // one after the other, and a replaced instance's batch never lands twice
    // (which would double counters such as dead_letter_counts).
    if (!batch.first_offsets.empty()) {
      for (const auto& row : txn.exec("SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = " +
                                      txn.quote(group_) + " FOR UPDATE")) {
        auto it = batch.first_offsets.find({row[0].as<std::string>(), row[1].as<int32_t>()});
        if (it != batch.first_offsets.end() && row[2].as<int64_t>() > it->second) {
          throw BatchFenced("stored position " + row[2].as<std::string>() + " of " + it->first.first + "/" +
                            std::to_string(it->first.second) + " is past the batch's first offset " +
                            std::to_string(it->second));
        }
      }
    }
    ensure_partitions(txn, batch.events);

    // Event store: look up which events are stored already, COPY the new ones
    // straight into `events`, and give the read models only those: a
    // re-delivered event (a processor's output repeated after a crash) changes
    // nothing and is counted once.
    txn.exec("CREATE TEMP TABLE IF NOT EXISTS new_events (aggregate_id text, event_type text, creator_id text, "
             "version bigint, occurred_at timestamptz, source text, status text, channel text, currency text, "
             "total_minor bigint, amount_minor bigint) ON COMMIT DELETE ROWS");
    if (!batch.events.empty()) {
      // The lookup costs a join per batch; it is needed only when events may be
      // stored already: after a start, or after a batch met stored events.
      std::set<std::string> stored;
      if (look_up_stored_) {
        std::string times = "{", ids = "{";
        for (size_t i = 0; i < batch.events.size(); ++i) {
          times += (i ? ",\"" : "\"") + format_rfc3339_ms(batch.events[i].occurred_at_ms) + "\"";
          ids += (i ? "," : "") + batch.events[i].id;
        }
        for (const auto& r : txn.exec("SELECT e.id::text FROM events e JOIN unnest(" + txn.quote(times + "}") +
                                      "::timestamptz[], " + txn.quote(ids + "}") +
                                      "::uuid[]) AS b(t, i) ON e.occurred_at = b.t AND e.id = b.i")) {
          stored.insert(r[0].as<std::string>());
        }
        found_stored = !stored.empty();
      }
      lap("lookup");
      std::vector<const EventRow*> fresh;
      for (const auto& e : batch.events) {
        if (stored.insert(e.id).second) fresh.push_back(&e);  // also drops repeats within the batch
      }
      if (!fresh.empty()) {
        pqxx::stream_to copy(txn, "events",
                             std::vector<std::string>{"id", "aggregate_id", "aggregate_type", "event_type",
                                                      "creator_id", "event_data", "metadata", "version",
                                                      "occurred_at"});
        for (const EventRow* e : fresh) {
          copy << std::make_tuple(e->id, e->aggregate_id, e->aggregate_type, e->event_type, e->creator_id,
                                  e->event_data, e->metadata, e->version, format_rfc3339_ms(e->occurred_at_ms));
        }
        copy.complete();
        pqxx::stream_to slim(txn, "new_events",
                             std::vector<std::string>{"aggregate_id", "event_type", "creator_id", "version",
                                                      "occurred_at", "source", "status", "channel", "currency",
                                                      "total_minor", "amount_minor"});
        for (const EventRow* e : fresh) {
          slim << std::make_tuple(e->aggregate_id, e->event_type, e->creator_id, e->version,
                                  format_rfc3339_ms(e->occurred_at_ms), e->source, e->status, e->channel,
                                  e->currency, e->total_minor, e->amount_minor);
        }
        slim.complete();
      }
      lap("copy");
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
      lap("orders");
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
      lap("metrics");
      txn.exec(R"(
        INSERT INTO sync_status AS s (creator_id, source, last_event_at, last_written_at)
        SELECT creator_id, source, max(occurred_at), now() FROM new_events GROUP BY 1, 2
        ON CONFLICT (creator_id, source) DO UPDATE SET
          last_event_at = greatest(s.last_event_at, EXCLUDED.last_event_at), last_written_at = now())");
    }

    if (!batch.levels.empty()) {
      std::string sql =
          "INSERT INTO inventory_levels AS t (creator_id, product_sku, total, reserved, sold, available, counted, "
          "sales_1h, sales_24h, velocity_1h, velocity_24h, spike_ratio, viral, version, as_of) VALUES ";
      bool first = true;
      for (const auto& [key, r] : batch.levels) {
        sql += (first ? "(" : ",(") + txn.quote(r.creator_id) + "," + txn.quote(r.product_sku) + "," +
               std::to_string(r.total) + "," + std::to_string(r.reserved) + "," + std::to_string(r.sold) + "," +
               std::to_string(r.available) + "," + (r.counted ? "true" : "false") + "," +
               std::to_string(r.sales_1h) + "," + std::to_string(r.sales_24h) + "," + txn.quote(r.velocity_1h) +
               "::numeric," + txn.quote(r.velocity_24h) + "::numeric," + txn.quote(r.spike_ratio) + "::numeric," +
               (r.viral ? "true" : "false") + "," + std::to_string(r.version) + "," + ts(txn, r.as_of_ms) + ")";
        first = false;
      }
      sql += " ON CONFLICT (creator_id, product_sku) DO UPDATE SET total = EXCLUDED.total, reserved = EXCLUDED.reserved, "
             "sold = EXCLUDED.sold, available = EXCLUDED.available, counted = EXCLUDED.counted, "
             "sales_1h = EXCLUDED.sales_1h, sales_24h = EXCLUDED.sales_24h, velocity_1h = EXCLUDED.velocity_1h, "
             "velocity_24h = EXCLUDED.velocity_24h, spike_ratio = EXCLUDED.spike_ratio, viral = EXCLUDED.viral, "
             "version = EXCLUDED.version, as_of = EXCLUDED.as_of "
             "WHERE (t.version, t.as_of) < (EXCLUDED.version, EXCLUDED.as_of)";
      txn.exec(sql);
    }
    if (!batch.predictions.empty()) {
      std::string sql =
          "INSERT INTO stockout_predictions AS t (creator_id, product_sku, available, rate_per_hour, "
          "time_to_stockout_hours, interval_low_hours, interval_high_hours, reorder_quantity, version, as_of) VALUES ";
      bool first = true;
      for (const auto& [key, r] : batch.predictions) {
        sql += (first ? "(" : ",(") + txn.quote(r.creator_id) + "," + txn.quote(r.product_sku) + "," +
               std::to_string(r.available) + "," + txn.quote(r.rate_per_hour) + "::numeric," +
               optional_number(txn, r.hours) + "," + optional_number(txn, r.low_hours) + "," +
               optional_number(txn, r.high_hours) + "," + std::to_string(r.reorder_quantity) + "," +
               std::to_string(r.version) + "," + ts(txn, r.as_of_ms) + ")";
        first = false;
      }
      sql += " ON CONFLICT (creator_id, product_sku) DO UPDATE SET available = EXCLUDED.available, "
             "rate_per_hour = EXCLUDED.rate_per_hour, time_to_stockout_hours = EXCLUDED.time_to_stockout_hours, "
             "interval_low_hours = EXCLUDED.interval_low_hours, interval_high_hours = EXCLUDED.interval_high_hours, "
             "reorder_quantity = EXCLUDED.reorder_quantity, version = EXCLUDED.version, as_of = EXCLUDED.as_of "
             "WHERE (t.version, t.as_of) < (EXCLUDED.version, EXCLUDED.as_of)";
      txn.exec(sql);
    }
    for (const auto& [key, a] : batch.alerts) {
      const bool raised = a.state == "raised";
      txn.exec("INSERT INTO alerts AS t (creator_id, product_sku, alert, state, severity, raised_at, cleared_at, "
               "last_alert_id, as_of) VALUES (" + txn.quote(a.creator_id) + "," + txn.quote(a.product_sku) + "," +
               txn.quote(a.alert) + "," + txn.quote(a.state) + "," + txn.quote(a.severity) + "," +
               (raised ? ts(txn, a.as_of_ms) : "NULL") + "," + (raised ? "NULL" : ts(txn, a.as_of_ms)) + "," +
               txn.quote(a.alert_id) + "::uuid," + ts(txn, a.as_of_ms) + ") "
               "ON CONFLICT (creator_id, product_sku, alert) DO UPDATE SET state = EXCLUDED.state, "
               "severity = EXCLUDED.severity, last_alert_id = EXCLUDED.last_alert_id, as_of = EXCLUDED.as_of, "
               "raised_at = CASE WHEN EXCLUDED.state = 'raised' THEN EXCLUDED.raised_at ELSE t.raised_at END, "
               "cleared_at = CASE WHEN EXCLUDED.state = 'cleared' THEN EXCLUDED.cleared_at ELSE NULL END "
               "WHERE t.as_of <= EXCLUDED.as_of AND t.last_alert_id <> EXCLUDED.last_alert_id");
    }
    for (const auto& c : batch.conflicts) {
      txn.exec("WITH inserted AS (INSERT INTO conflicts (conflict_id, creator_id, kind, entity_type, entity_id, "
               "strategy, winner, escalated, detected_at, resolved_at, record) VALUES (" +
               txn.quote(c.conflict_id) + "::uuid," + txn.quote(c.creator_id) + "," + txn.quote(c.kind) + "," +
               txn.quote(c.entity_type) + "," + txn.quote(c.entity_id) + "," + txn.quote(c.strategy) + "," +
               txn.quote(c.winner) + "," + (c.escalated ? "true" : "false") + "," + ts(txn, c.detected_at_ms) + "," +
               (c.resolved_at_ms ? ts(txn, *c.resolved_at_ms) : "NULL") + "," + txn.quote(c.record) +
               "::jsonb) ON CONFLICT DO NOTHING RETURNING creator_id, detected_at) "
               "INSERT INTO creator_daily_metrics AS m (creator_id, day, conflicts) "
               "SELECT creator_id, (detected_at AT TIME ZONE 'UTC')::date, 1 FROM inserted "
               "ON CONFLICT (creator_id, day) DO UPDATE SET conflicts = m.conflicts + 1");
    }
    for (const auto& [key, n] : batch.dead_letters) {
      txn.exec("INSERT INTO dead_letter_counts AS d (topic, reason, records) VALUES (" + txn.quote(key.first) + "," +
               txn.quote(key.second) + "," + std::to_string(n) + ") ON CONFLICT (topic, reason) DO UPDATE SET "
               "records = d.records + EXCLUDED.records");
    }
    for (const auto& [tp, next] : batch.next_offsets) {
      txn.exec("INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) VALUES (" +
               txn.quote(group_) + "," + txn.quote(tp.first) + "," + std::to_string(tp.second) + "," +
               std::to_string(next) + ") ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
               "next_offset = EXCLUDED.next_offset WHERE sink_offsets.next_offset <= EXCLUDED.next_offset");
    }
    lap("read models");
    txn.commit();
    lap("commit");
    months_ready_.insert(months_now.begin(), months_now.end());
    if (look_up_stored_ && !found_stored && !batch.events.empty()) look_up_stored_ = false;
  } catch (const pqxx::unique_violation& e) {
    // Some events are stored already (a re-delivery, or another sink during
    // a rebalance): the retry looks them up first.
    look_up_stored_ = true;
    throw BatchRaced(e.what());
  } catch (const pqxx::sql_error& e) {
    if (is_data_error(e)) throw RowRejected(std::string("PostgreSQL refused the batch: ") + e.what());
    throw;
  }
}

}  // namespace cf
