#pragma once
// realtime-push's transform: output-topic records -> per-creator dashboard
// deltas on realtime.push. No broker here; main.cpp wires it to the runtime.
//
// Channels, each with a throttle window in event time:
//   order_metrics    5 s  orders and gross revenue per currency, per UTC day (orders.events)
//   critical_stock   1 s  SKUs whose time to stockout is under --critical-hours
//                         (inventory.predictions), with the viral flag (inventory.alerts)
//   inventory_alerts 1 s  active alerts per SKU and kind (inventory.alerts)
//   sync_status      2 s  per source, the newest event time seen, to the second
//                         (orders.events, inventory.events)
//   system_health    1 s  per component (system.health, once something writes it)
//
// State is one key per creator and channel (`creator|channel`): the entities'
// current fields, the fields last sent, each entity's version, the time of the
// last message, and (for exactly-once) the input offset applied per input
// topic with the outputs of recent inputs (cf/output_journal.h).
//
// Throttle, leading and trailing edge: a change arriving at least a window
// after the channel's last message is sent at once; changes within the window
// wait and are coalesced per entity, and go out with the next change of that
// channel or the first tick (ticks on orders.events, every second) whose
// event time closes the window.
// Decisions depend only on the state and the record, so a replay sends the
// same messages.
//
// A message: {"creator_id", "channel", "at_ms" (event time of the record that
// sent it), "updates": [{"entity", "version", "fields": {changed fields only}}
// | {"entity", "version", "removed": true}]}. An entity's versions run 1, 2, 3
// ... without gaps: a client that sees a version other than its last + 1
// missed a message and must ask for a snapshot.
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/output_journal.h"
#include "cf/records.h"

namespace cf {

enum class PushChannel : int {
  kOrderMetrics = 0,
  kCriticalStock,
  kInventoryAlerts,
  kSyncStatus,
  kSystemHealth,
};
inline constexpr size_t kPushChannels = 5;
std::string_view channel_name(PushChannel channel);
/// Throttle window of a channel (ms).
int64_t channel_window_ms(PushChannel channel);

/// One entity of a channel: field name -> JSON value text.
struct PushEntity {
  std::map<std::string, std::string> current;
  std::map<std::string, std::string> sent;
  int64_t version = 0;   ///< of the last message that carried it
  bool present = false;  ///< exists now (false: removed, or never)
  bool sent_present = false;
  bool dirty = false;  ///< changed since the last message
};

/// State of one creator's channel (key `creator|channel`).
struct PushChannelState {
  std::map<std::string, PushEntity> entities;
  int64_t last_sent_ms = INT64_MIN;  ///< event time of the last message
  /// Per input topic: the newest offset applied and the outputs of recent ones.
  std::map<std::string, int64_t> applied;
  std::map<std::string, OutputJournal> journals;
  bool pending() const {
    for (const auto& [id, e] : entities)
      if (e.dirty) return true;
    return false;
  }
};

struct PushCodec {
  using Value = PushChannelState;
  static std::string encode(const Value& v);
  static bool decode(std::string_view data, Value& v);
};
using PushStore = KeyedStore<PushCodec>;

struct PushSettings {
  std::string output_topic = "realtime.push";
  double critical_hours = 24;  ///< critical_stock shows SKUs running out sooner than this
};

struct PushCounters {
  uint64_t records = 0, messages = 0, updates = 0, ticks = 0, replays = 0, ignored = 0;
};

class RealtimePush {
 public:
  explicit RealtimePush(PushSettings settings) : settings_(std::move(settings)) {}
  /// The topics it reads.
  static std::vector<std::string> input_topics();
  /// Applies one input record (any input topic) to its partition's store.
  /// Throws std::invalid_argument for a record it cannot read (dead letter).
  void on_record(PushStore& store, std::string_view topic, std::string_view value, int64_t offset,
                 int64_t completed_below, std::vector<OutputRecord>& outputs);
  const PushCounters& counters() const { return counters_; }

 private:
  struct Change {
    PushChannel channel;
    std::string entity;
    bool present = true;
    std::vector<std::pair<std::string, std::string>> fields;  ///< set (others kept)
    bool replace = false;  ///< fields replace the entity's (others dropped)
  };
  /// Applies `changes` of `creator` at event time `at_ms` and sends what is due.
  void apply(PushStore& store, std::string_view topic, int64_t offset, int64_t completed_below,
             const std::string& creator, int64_t at_ms, const std::vector<Change>& changes,
             std::vector<OutputRecord>& outputs);
  /// A tick: every channel of the partition whose window closed sends.
  void on_tick(PushStore& store, std::string_view topic, int64_t offset, int64_t completed_below,
               int64_t tick_ms, std::vector<OutputRecord>& outputs);
  /// Adds the message of a channel's dirty entities to `produced` (marks
  /// them sent); none when no entity differs from what was sent.
  void send(const std::string& creator, PushChannel channel, PushChannelState& state, int64_t at_ms,
            std::vector<OutputRecord>& produced);

  PushSettings settings_;
  PushCounters counters_;
};

/// `creator|channel` -> {creator, channel}; false when it is not such a key.
bool split_push_key(std::string_view key, std::string& creator, PushChannel& channel);

}  // namespace cf
