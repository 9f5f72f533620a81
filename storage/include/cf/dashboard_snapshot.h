#pragma once
// A creator's whole dashboard read from the PostgreSQL read models, in the
// shape of realtime-push's channels (processors/realtime-push/push_model.h):
// what the gateway sends a client whose cursor is no longer in the log (or
// who has none), and what the tests compare a page against.
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace cf {

struct SnapshotOptions {
  double critical_hours = 24;         ///< as realtime-push's --critical-hours
  std::vector<std::string> channels;  ///< empty: every channel
};

/// {"type":"snapshot","creator_id":...,"channels":{"order_metrics":[{"entity",
/// "fields"}...], "critical_stock":[...], "inventory_alerts":[...],
/// "sync_status":[...]}, "kpis":{"automation_health", "avg_processing_ms",
/// and the same of the previous day}}. Built by the escaping builder.
std::string dashboard_snapshot_json(pqxx::connection& connection, const std::string& creator_id,
                                    const SnapshotOptions& options);

}  // namespace cf
