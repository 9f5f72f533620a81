#include "cf/sink_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <pqxx/stream_to>

#include "cf/read_models.h"
#include "cf/time_format.h"

namespace cf {
namespace {

std::string ts(pqxx::work& txn, int64_t ms) {
  return txn.quote(format_rfc3339_ms(ms)) + "::timestamptz";
}

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

// Keyword-form connection strings get timeouts and TCP keepalives, so a
// server that vanishes without closing the socket is noticed within seconds
// instead of a write blocking forever (URI forms are used as given).
std::string with_liveness_options(const std::string& conninfo) {
  if (conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0)
    return conninfo;
  std::string out = conninfo;
  for (const char* option :
       {"connect_timeout=10", "keepalives=1", "keepalives_idle=5", "keepalives_interval=2",
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

std::map<std::pair<std::string, int32_t>, int64_t> read_sink_offsets(pqxx::work& txn,
                                                                     const std::string& group) {
  std::map<std::pair<std::string, int32_t>, int64_t> offsets;
  for (const auto& row :
       txn.exec("SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = " +
                txn.quote(group))) {
    offsets[{row[0].as<std::string>(), row[1].as<int32_t>()}] = row[2].as<int64_t>();
  }
  return offsets;
}

void reset_sink_offset(pqxx::work& txn, const std::string& group, const std::string& topic,
                       int32_t partition, int64_t next_offset) {
  txn.exec("INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) VALUES (" +
           txn.quote(group) + "," + txn.quote(topic) + "," + std::to_string(partition) + "," +
           std::to_string(next_offset) +
           ") ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = "
           "EXCLUDED.next_offset");
}

std::map<std::pair<std::string, int32_t>, int64_t> SinkStore::stored_offsets() {
  pqxx::work txn(*connection_);
  auto offsets = read_sink_offsets(txn, group_);
  txn.commit();
  return offsets;
}

void SinkStore::ensure_partitions(pqxx::work& txn, const std::vector<EventRow>& events) {
  std::set<int64_t> months;
  for (const auto& e : events) months.insert(month_start_ms(e.occurred_at_ms));
  for (int64_t month : months) {
    if (months_ready_.count(month)) continue;
    txn.exec("SELECT cf_ensure_event_partition(" +
             txn.quote(format_rfc3339_ms(month).substr(0, 10)) + "::date)");
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
    spdlog::debug("batch stage {} took {} us", stage,
                  std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count());
    t0 = now;
  };
  try {
    pqxx::work txn(*connection_);
    // Fence: lock this group's positions for the transaction and refuse a
    // batch that starts behind one of them. Sinks of one group thus write
    // one after the other, and a replaced instance's batch never lands twice
    // (which would double counters such as dead_letter_counts).
    if (!batch.first_offsets.empty()) {
      for (const auto& row : txn.exec(
               "SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = " +
               txn.quote(group_) + " FOR UPDATE")) {
        auto it = batch.first_offsets.find({row[0].as<std::string>(), row[1].as<int32_t>()});
        if (it != batch.first_offsets.end() && row[2].as<int64_t>() > it->second) {
          throw BatchFenced("stored position " + row[2].as<std::string>() + " of " +
                            it->first.first + "/" + std::to_string(it->first.second) +
                            " is past the batch's first offset " + std::to_string(it->second));
        }
      }
    }
    ensure_partitions(txn, batch.events);

    // Event store: look up which events are stored already, COPY the new ones
    // straight into `events`, and give the read models only those: a
    // re-delivered event (a processor's output repeated after a crash) changes
    // nothing and is counted once.
    create_new_events_table(txn);
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
        for (const auto& r :
             txn.exec("SELECT e.id::text FROM events e JOIN unnest(" + txn.quote(times + "}") +
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
                             std::vector<std::string>{"id", "aggregate_id", "aggregate_type",
                                                      "event_type", "creator_id", "event_data",
                                                      "metadata", "version", "occurred_at"});
        for (const EventRow* e : fresh) {
          copy << std::make_tuple(e->id, e->aggregate_id, e->aggregate_type, e->event_type,
                                  e->creator_id, e->event_data, e->metadata, e->version,
                                  format_rfc3339_ms(e->occurred_at_ms));
        }
        copy.complete();
        stage_new_events(txn, fresh);
      }
      lap("copy");
      project_new_events(txn);
    }

    if (!batch.levels.empty()) {
      std::string sql =
          "INSERT INTO inventory_levels AS t (creator_id, product_sku, total, reserved, sold, "
          "available, counted, "
          "sales_1h, sales_24h, velocity_1h, velocity_24h, spike_ratio, viral, version, as_of) "
          "VALUES ";
      bool first = true;
      for (const auto& [key, r] : batch.levels) {
        sql += (first ? "(" : ",(") + txn.quote(r.creator_id) + "," + txn.quote(r.product_sku) +
               "," + std::to_string(r.total) + "," + std::to_string(r.reserved) + "," +
               std::to_string(r.sold) + "," + std::to_string(r.available) + "," +
               (r.counted ? "true" : "false") + "," + std::to_string(r.sales_1h) + "," +
               std::to_string(r.sales_24h) + "," + txn.quote(r.velocity_1h) + "::numeric," +
               txn.quote(r.velocity_24h) + "::numeric," + txn.quote(r.spike_ratio) + "::numeric," +
               (r.viral ? "true" : "false") + "," + std::to_string(r.version) + "," +
               ts(txn, r.as_of_ms) + ")";
        first = false;
      }
      sql +=
          " ON CONFLICT (creator_id, product_sku) DO UPDATE SET total = EXCLUDED.total, reserved = "
          "EXCLUDED.reserved, "
          "sold = EXCLUDED.sold, available = EXCLUDED.available, counted = EXCLUDED.counted, "
          "sales_1h = EXCLUDED.sales_1h, sales_24h = EXCLUDED.sales_24h, velocity_1h = "
          "EXCLUDED.velocity_1h, "
          "velocity_24h = EXCLUDED.velocity_24h, spike_ratio = EXCLUDED.spike_ratio, viral = "
          "EXCLUDED.viral, "
          "version = EXCLUDED.version, as_of = EXCLUDED.as_of "
          "WHERE (t.version, t.as_of) < (EXCLUDED.version, EXCLUDED.as_of)";
      txn.exec(sql);
    }
    if (!batch.predictions.empty()) {
      std::string sql =
          "INSERT INTO stockout_predictions AS t (creator_id, product_sku, available, "
          "rate_per_hour, "
          "time_to_stockout_hours, interval_low_hours, interval_high_hours, reorder_quantity, "
          "version, as_of) VALUES ";
      bool first = true;
      for (const auto& [key, r] : batch.predictions) {
        sql += (first ? "(" : ",(") + txn.quote(r.creator_id) + "," + txn.quote(r.product_sku) +
               "," + std::to_string(r.available) + "," + txn.quote(r.rate_per_hour) + "::numeric," +
               optional_number(txn, r.hours) + "," + optional_number(txn, r.low_hours) + "," +
               optional_number(txn, r.high_hours) + "," + std::to_string(r.reorder_quantity) + "," +
               std::to_string(r.version) + "," + ts(txn, r.as_of_ms) + ")";
        first = false;
      }
      sql +=
          " ON CONFLICT (creator_id, product_sku) DO UPDATE SET available = EXCLUDED.available, "
          "rate_per_hour = EXCLUDED.rate_per_hour, time_to_stockout_hours = "
          "EXCLUDED.time_to_stockout_hours, "
          "interval_low_hours = EXCLUDED.interval_low_hours, interval_high_hours = "
          "EXCLUDED.interval_high_hours, "
          "reorder_quantity = EXCLUDED.reorder_quantity, version = EXCLUDED.version, as_of = "
          "EXCLUDED.as_of "
          "WHERE (t.version, t.as_of) < (EXCLUDED.version, EXCLUDED.as_of)";
      txn.exec(sql);
    }
    for (const auto& [key, a] : batch.alerts) {
      const bool raised = a.state == "raised";
      txn.exec(
          "INSERT INTO alerts AS t (creator_id, product_sku, alert, state, severity, raised_at, "
          "cleared_at, "
          "last_alert_id, as_of) VALUES (" +
          txn.quote(a.creator_id) + "," + txn.quote(a.product_sku) + "," + txn.quote(a.alert) +
          "," + txn.quote(a.state) + "," + txn.quote(a.severity) + "," +
          (raised ? ts(txn, a.as_of_ms) : "NULL") + "," + (raised ? "NULL" : ts(txn, a.as_of_ms)) +
          "," + txn.quote(a.alert_id) + "::uuid," + ts(txn, a.as_of_ms) +
          ") "
          "ON CONFLICT (creator_id, product_sku, alert) DO UPDATE SET state = EXCLUDED.state, "
          "severity = EXCLUDED.severity, last_alert_id = EXCLUDED.last_alert_id, as_of = "
          "EXCLUDED.as_of, "
          "raised_at = CASE WHEN EXCLUDED.state = 'raised' THEN EXCLUDED.raised_at ELSE "
          "t.raised_at END, "
          "cleared_at = CASE WHEN EXCLUDED.state = 'cleared' THEN EXCLUDED.cleared_at ELSE NULL "
          "END "
          "WHERE t.as_of <= EXCLUDED.as_of AND t.last_alert_id <> EXCLUDED.last_alert_id");
    }
    for (const auto& c : batch.conflicts) store_conflict(txn, c);
    store_sagas(txn, batch.sagas);
    for (const auto& [key, n] : batch.dead_letters) {
      txn.exec("INSERT INTO dead_letter_counts AS d (topic, reason, records) VALUES (" +
               txn.quote(key.first) + "," + txn.quote(key.second) + "," + std::to_string(n) +
               ") ON CONFLICT (topic, reason) DO UPDATE SET "
               "records = d.records + EXCLUDED.records");
    }
    for (const auto& [tp, next] : batch.next_offsets) {
      txn.exec("INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) VALUES (" +
               txn.quote(group_) + "," + txn.quote(tp.first) + "," + std::to_string(tp.second) +
               "," + std::to_string(next) +
               ") ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
               "next_offset = EXCLUDED.next_offset WHERE sink_offsets.next_offset <= "
               "EXCLUDED.next_offset");
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
    if (is_data_error(e))
      throw RowRejected(std::string("PostgreSQL refused the batch: ") + e.what());
    throw;
  }
}

}  // namespace cf
