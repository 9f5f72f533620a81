#pragma once
// What the read models and the event store hold, as plain data: event-store
// rows, read-model rows, and a SinkBatch (rows of many records plus the
// consumed positions) that SinkStore writes in one transaction.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cf {

struct EventRow {
  std::string id;
  std::string aggregate_id;
  std::string aggregate_type;
  std::string event_type;
  std::string creator_id;
  std::string event_data;  ///< JSON
  std::string metadata;    ///< JSON: correlation, causation, user, source
  int64_t version = 0;
  int64_t occurred_at_ms = 0;
  // Fields the read models use, taken from the envelope and data once here.
  std::string source, status, channel, currency;
  std::optional<int64_t> total_minor, amount_minor;
};

struct InventoryLevelRow {
  std::string creator_id, product_sku;
  int64_t total = 0, reserved = 0, sold = 0, available = 0;
  bool counted = false;
  int64_t sales_1h = 0, sales_24h = 0;
  std::string velocity_1h, velocity_24h, spike_ratio;  ///< decimal text as sent
  bool viral = false;
  int64_t version = 0, as_of_ms = 0;
};

struct PredictionRow {
  std::string creator_id, product_sku;
  int64_t available = 0;
  std::string rate_per_hour;
  std::optional<std::string> hours, low_hours, high_hours;
  int64_t reorder_quantity = 0;
  int64_t version = 0, as_of_ms = 0;
};

struct AlertRow {
  std::string creator_id, product_sku, alert, state, severity, alert_id;
  int64_t as_of_ms = 0;
};

struct ConflictRow {
  std::string conflict_id, creator_id, kind, entity_type, entity_id, strategy, winner;
  bool escalated = false;
  int64_t detected_at_ms = 0;
  std::optional<int64_t> resolved_at_ms;
  std::string record;  ///< the whole JSON
};

struct SagaRow {
  std::string creator_id, saga_id, channel, order_id, status, step, failure, currency;
  int64_t attempts = 0, attempts_total = 0, amount_minor = 0, version = 0;
  bool manual = false, captured = false, refunded = false;
  int64_t started_ms = 0, event_ms = 0;
  std::optional<int64_t> finished_ms;
  std::string history;  ///< JSON array
};

/// Rows of many records. Read-model rows keep only the newest per key (the
/// database guard compares versions again across batches).
struct SinkBatch {
  std::vector<EventRow> events;
  std::map<std::pair<std::string, std::string>, InventoryLevelRow> levels;
  std::map<std::pair<std::string, std::string>, PredictionRow> predictions;
  std::map<std::string, AlertRow> alerts;  ///< by creator|sku|alert; last one wins (log order)
  std::vector<ConflictRow> conflicts;
  std::map<std::pair<std::string, std::string>, SagaRow> sagas;  ///< newest per (creator, saga)
  std::map<std::pair<std::string, std::string>, int64_t>
      dead_letters;                                                 ///< (topic, reason) -> records
  std::map<std::pair<std::string, int32_t>, int64_t> next_offsets;  ///< consumed positions
  /// Offset of the first record of the batch per partition: the stored
  /// position must not be past it (see SinkStore::write, BatchFenced).
  std::map<std::pair<std::string, int32_t>, int64_t> first_offsets;
  size_t records = 0;
  bool empty() const { return records == 0; }
};

}  // namespace cf
