#pragma once
// inventory-velocity's transform: the stock ledger of every SKU (single
// writer), event-time sales windows, and the saga's reserve/release commands.
// Plain code: state in, outputs out; no Kafka, no clock.
//
// Time: event time only. A partition's stream time is the largest event time
// it has seen, ticks included (tools/ticker writes them into the log, so a
// replay sees the same ticks). Windows are per-minute buckets over 24 h:
//   sales_1h  = units in the 60 minutes up to stream time (current minute included)
//   sales_24h = units in the 1440 minutes up to stream time
//   velocity_1h = sales_1h per hour, velocity_24h = sales_24h / 24
//   viral when velocity_1h > spike_factor * velocity_24h and sales_1h >= spike_min_units
// Late rule: an event older than stream time - allowed lateness changes the
// ledger (a sale is never lost from stock) but not the windows (its minute may
// already be reported); it is counted in late_events.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cf/records.h"
#include "inventory_state.h"

namespace cf {

struct VelocitySettings {
  int64_t allowed_lateness_ms = 60 * 1000;
  int64_t coalesce_ms = 1000;  ///< at most one snapshot per SKU per this much stream time
  double spike_factor = 3.0;
  int64_t spike_min_units = 20;
  double discrepancy_ratio = 0.10;  ///< channel count vs ledger beyond this is a conflict
  /// Stream time never moves past a record's Kafka timestamp plus this: the
  /// validator already refuses event times beyond it, so only a record that
  /// bypassed it (written to the topic directly) is clamped.
  int64_t max_future_skew_ms = 10 * 60 * 1000;
  /// How long (in stream time past the event's time) an applied event id is
  /// remembered: an upstream processor that re-sends its outputs after a
  /// crash (same event ids, new offsets here) is recognised within it.
  int64_t event_dedup_ms = 24LL * 3600 * 1000;
  /// How long (in stream time) a released or rejected reservation is kept,
  /// so a repeated command still gets its first reply; ticks delete it then.
  int64_t reservation_retention_ms = 24LL * 3600 * 1000;
};

struct VelocityTopics {
  std::string velocity = "inventory.velocity";
  std::string replies = "inventory.replies";
  std::string audit = "conflicts.audit";
  std::string manual = "conflicts.manual";
};

struct VelocityFigures {
  int64_t sales_1h = 0;
  int64_t sales_24h = 0;
  double velocity_1h = 0;
  double velocity_24h = 0;
  double spike_ratio = 0;
  bool viral = false;
};

VelocityFigures compute_velocity(const SkuLedger& ledger, int64_t stream_time_ms,
                                 const VelocitySettings& settings);

inline int64_t minute_of(int64_t ms) { return ms >= 0 ? ms / 60000 : (ms - 59999) / 60000; }

/// What happened, for metrics.
struct VelocityCounters {
  uint64_t late_events = 0;
  uint64_t stale_syncs = 0;
  uint64_t replays = 0;
  uint64_t discrepancies = 0;
  uint64_t snapshots = 0;
  uint64_t clamped = 0;  ///< records whose event time was too far ahead to move stream time
  uint64_t duplicate_events =
      0;  ///< event ids applied before at another offset (upstream re-sends)
};

class VelocityEngine {
 public:
  VelocityEngine(VelocitySettings settings, VelocityTopics topics);

  /// One inventory.events record at `offset`. Throws std::invalid_argument
  /// for a record that is not a known, well-formed inventory event.
  /// `record_timestamp_ms` (the Kafka timestamp, -1 unknown) bounds how far
  /// the event may move stream time (max_future_skew_ms).
  void on_event(InventoryPartitionState& state, std::string_view json, int64_t offset,
                std::vector<OutputRecord>& outputs, int64_t record_timestamp_ms = -1);
  /// One inventory.commands record (reserve / release); the reply goes to
  /// `topics.replies`. Throws std::invalid_argument for a malformed command.
  /// `record_timestamp_ms` (the Kafka timestamp, -1 unknown) dates a
  /// reservation that finishes before the partition has a stream time.
  void on_command(InventoryPartitionState& state, std::string_view json,
                  std::vector<OutputRecord>& outputs, int64_t record_timestamp_ms = -1);

  const VelocityCounters& counters() const { return counters_; }
  const VelocitySettings& settings() const { return settings_; }

 private:
  /// `event_ms`, or the bound it may not pass (counted in counters_.clamped).
  int64_t bounded_stream_time(int64_t event_ms, int64_t record_timestamp_ms);
  void on_tick(InventoryPartitionState& state, int64_t tick_ms, int64_t offset,
               std::vector<OutputRecord>& outputs);
  /// Sends a snapshot if the SKU changed and its coalescing window allows
  /// (or `force`); returns whether it did.
  bool maybe_emit(InventoryPartitionState& state, SkuLedger& ledger, bool force,
                  std::vector<OutputRecord>& outputs);
  VelocitySettings settings_;
  VelocityTopics topics_;
  VelocityCounters counters_;
};

/// The inventory.velocity record of a SKU.
std::string velocity_snapshot_json(const SkuLedger& ledger, const VelocityFigures& figures,
                                   int64_t stream_time_ms);

}  // namespace cf
