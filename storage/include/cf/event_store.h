#pragma once
// A small query library over the event store (the `events` table): append,
// replay an aggregate, events by type in a time range, a cursor-paginated
// stream of everything, monthly partitions and retention.
#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "cf/read_model_rows.h"

namespace cf {

struct StoredEvent {
  EventRow row;
  int64_t processed_at_ms = 0;
  /// The envelope again (event_id, event_type, ... data), as topics carry it.
  std::string envelope_json() const;
};

/// Position in the stream of all events: (occurred_at, id) of the last one read.
struct EventCursor {
  int64_t occurred_at_ms = -1;
  std::string id;
  std::string text() const;                           ///< "<ms>:<uuid>", or "" at the start
  static EventCursor parse(const std::string& text);  ///< throws std::invalid_argument
};

class EventStore {
 public:
  explicit EventStore(pqxx::connection& connection) : connection_(connection) {}
  /// Inserts events whose (occurred_at, id) is new; returns how many were new.
  int64_t append(const std::vector<EventRow>& events);
  /// Events of one aggregate with version >= from_version, in version order.
  std::vector<StoredEvent> aggregate(const std::string& aggregate_id, int64_t from_version = 0);
  /// Events of a type with from_ms <= occurred_at < to_ms, in time order.
  std::vector<StoredEvent> by_type(const std::string& event_type, int64_t from_ms, int64_t to_ms,
                                   int64_t limit);
  /// Up to `limit` events after `cursor` in (occurred_at, id) order; `cursor` moves.
  std::vector<StoredEvent> stream(EventCursor& cursor, int64_t limit, int64_t until_ms = -1);
  /// Creates monthly partitions from the current month to `months_ahead` ahead.
  std::vector<std::string> ensure_partitions(int months_ahead);
  /// Partitions wholly before `before_ms` (name, upper bound); with apply, detached and dropped.
  std::vector<std::pair<std::string, std::string>> retention(int64_t before_ms, bool apply);

 private:
  std::vector<StoredEvent> select(pqxx::work& txn, const std::string& where_and_order);
  pqxx::connection& connection_;
};

}  // namespace cf
