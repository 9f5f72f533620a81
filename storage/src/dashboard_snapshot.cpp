#include "cf/dashboard_snapshot.h"

#include <algorithm>
#include <map>

#include "cf/json_builder.h"

namespace cf {
namespace {

bool wanted(const SnapshotOptions& o, const char* channel) {
  return o.channels.empty() ||
         std::find(o.channels.begin(), o.channels.end(), channel) != o.channels.end();
}

// A numeric column as a JSON number (null when SQL NULL).
void number_field(JsonBuilder& w, const char* name, const pqxx::field& f) {
  w.key(name);
  if (f.is_null()) {
    w.null();
  } else {
    w.real(f.as<double>());
  }
}

}  // namespace

std::string dashboard_snapshot_json(pqxx::connection& connection, const std::string& creator_id,
                                    const SnapshotOptions& options) {
  // One read-only transaction: every channel from the same moment.
  pqxx::read_transaction txn(connection);
  JsonBuilder w(4096);
  w.begin_object();
  w.key("type").string("snapshot");
  w.key("creator_id").string(creator_id);
  w.key("channels").begin_object();
  if (wanted(options, "order_metrics")) {
    // The two newest days: orders (first seen that day) and gross revenue
    // per currency, as realtime-push's order_metrics entities.
    std::map<std::string, std::map<std::string, int64_t>> days;
    for (const auto& row : txn.exec_params(
             "SELECT day::text, orders FROM creator_daily_metrics WHERE creator_id = $1 "
             "ORDER BY day DESC LIMIT 2",
             creator_id)) {
      days[row[0].as<std::string>()]["orders"] = row[1].as<int64_t>();
    }
    for (const auto& row : txn.exec_params(
             "SELECT day::text, currency, gross_minor FROM creator_daily_revenue WHERE creator_id "
             "= $1 AND day >= (SELECT max(day) - 1 FROM creator_daily_revenue WHERE creator_id = "
             "$1)",
             creator_id)) {
      days[row[0].as<std::string>()]["revenue_minor." + row[1].as<std::string>()] =
          row[2].as<int64_t>();
    }
    w.key("order_metrics").begin_array();
    for (const auto& [day, fields] : days) {
      w.begin_object();
      w.key("entity").string(day);
      w.key("fields").begin_object();
      for (const auto& [name, value] : fields) w.escaped_key(name).number(value);
      w.end_object();
      w.end_object();
    }
    w.end_array();
  }
  if (wanted(options, "critical_stock")) {
    w.key("critical_stock").begin_array();
    for (const auto& row : txn.exec_params(
             "SELECT p.product_sku, p.available, p.rate_per_hour, p.time_to_stockout_hours, "
             "p.interval_low_hours, p.interval_high_hours, p.reorder_quantity, "
             "EXISTS (SELECT 1 FROM alerts a WHERE a.creator_id = p.creator_id AND a.product_sku "
             "= p.product_sku AND a.alert = 'viral_spike' AND a.state = 'raised') "
             "FROM stockout_predictions p WHERE p.creator_id = $1 AND p.time_to_stockout_hours < "
             "$2 ORDER BY p.time_to_stockout_hours LIMIT 200",
             creator_id, options.critical_hours)) {
      w.begin_object();
      w.key("entity").string(row[0].as<std::string>());
      w.key("fields").begin_object();
      w.key("available").number(row[1].as<int64_t>());
      number_field(w, "rate_per_hour", row[2]);
      number_field(w, "hours", row[3]);
      number_field(w, "low_hours", row[4]);
      number_field(w, "high_hours", row[5]);
      w.key("reorder_quantity").number(row[6].as<int64_t>());
      w.key("viral").boolean(row[7].as<bool>());
      w.end_object();
      w.end_object();
    }
    w.end_array();
  }
  if (wanted(options, "inventory_alerts")) {
    w.key("inventory_alerts").begin_array();
    for (const auto& row : txn.exec_params(
             "SELECT product_sku, alert, severity, (extract(epoch FROM raised_at) * 1000)::bigint "
             "FROM alerts WHERE creator_id = $1 AND state = 'raised' ORDER BY raised_at DESC "
             "LIMIT 500",
             creator_id)) {
      w.begin_object();
      w.key("entity").string(row[0].as<std::string>() + "|" + row[1].as<std::string>());
      w.key("fields").begin_object();
      w.key("sku").string(row[0].as<std::string>());
      w.key("alert").string(row[1].as<std::string>());
      w.key("severity").string(row[2].as<std::string>());
      w.key("raised_ms");
      if (row[3].is_null()) {
        w.null();
      } else {
        w.number(row[3].as<int64_t>());
      }
      w.end_object();
      w.end_object();
    }
    w.end_array();
  }
  if (wanted(options, "sync_status")) {
    w.key("sync_status").begin_array();
    for (const auto& row : txn.exec_params(
             "SELECT source, (extract(epoch FROM date_trunc('second', last_event_at)) * "
             "1000)::bigint FROM sync_status WHERE creator_id = $1",
             creator_id)) {
      w.begin_object();
      w.key("entity").string(row[0].as<std::string>());
      w.key("fields").begin_object();
      w.key("last_event_ms").number(row[1].as<int64_t>());
      w.end_object();
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
  // Figures only the read models have (from sagas): not in the deltas yet.
  w.key("kpis").begin_object();
  const auto kpis = txn.exec_params(
      "SELECT day::text, automation_health, avg_processing_ms FROM creator_daily_dashboard "
      "WHERE creator_id = $1 ORDER BY day DESC LIMIT 2",
      creator_id);
  for (size_t i = 0; i < kpis.size(); ++i) {
    w.key(i == 0 ? "today" : "previous").begin_object();
    w.key("day").string(kpis[i][0].as<std::string>());
    number_field(w, "automation_health", kpis[i][1]);
    number_field(w, "avg_processing_ms", kpis[i][2]);
    w.end_object();
  }
  w.end_object();
  w.end_object();
  return w.take();
}

}  // namespace cf
