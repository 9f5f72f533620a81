#pragma once
// order-saga's processing of one input record, as plain code over a
// partition's SagaPartitionState (no Kafka): order events start and cancel
// sagas, participants' replies move them, ticks fire their timers, operator
// commands retry or abort them. Every change writes the saga to the
// changelog, its step commands, and a saga.events record for the read model.
//
// Time: the `record_ms` the caller passes (saga_handler.h: the record's Kafka
// timestamp, the wall clock while catching up), so a
// replay of the same log computes the same deadlines and fires the same
// timeouts. Across input topics the order in which records are consumed is
// not fixed by the log: a reply and the tick that times its step out may be
// applied in either order on replay; either order ends in the same state
// because a retried step reuses its command id (the participant answers
// with the effect it already applied).
//
// Reservations and the recorded sale: the reconciler counts a paid order's
// units as sold when the order arrives, and allocate_inventory reserves them
// again while the saga runs (a conservative double count: lower stock is
// safer). When the saga completes its reservations are released (the sale
// carries the units from then on); when it compensates, release_inventory
// does the same.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cf/records.h"
#include "saga_machine.h"
#include "saga_messages.h"
#include "saga_store.h"

namespace cf::saga {

struct EngineTopics {
  std::string orders = "orders.events";
  std::string inventory_replies = "inventory.replies";
  std::string saga_replies = "saga.replies";
  std::string operator_commands = "saga.operator";
  std::string changelog = "order-saga.state.changelog";
  std::string saga_events = "saga.events";
  std::string labels = "shipping.labels";
  std::string dead_letters = "dlq.order-saga";
  SagaTopics commands;
};

struct EngineSettings {
  Settings machine;
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;  ///< terminal sagas kept this long, then evicted
};

struct SagaCounters {
  uint64_t started = 0, completed = 0, compensated = 0, needs_manual = 0, dead_letters = 0;
  uint64_t replays = 0;           ///< inputs re-read after a restart, outputs re-sent
  uint64_t unknown_replies = 0;   ///< replies for sagas this partition does not hold
  uint64_t evicted = 0;           ///< terminal sagas deleted after the retention
  uint64_t operator_refused = 0;  ///< retry/abort of a saga not in a state that allows it
};

class SagaEngine {
 public:
  SagaEngine(EngineSettings settings, EngineTopics topics);

  /// Applies the record at `offset` of `input`; `completed_below` is the
  /// first offset of that input partition whose outputs may be unacknowledged.
  /// Throws std::invalid_argument for a record that cannot be read (dead letter).
  void on_record(SagaPartitionState& store, Input input, std::string_view value, int64_t offset,
                 int64_t record_ms, int64_t completed_below, std::vector<OutputRecord>& outputs);
  /// The input a topic is, or false when it is none of the saga's.
  bool input_of(std::string_view topic, Input& input) const;

  const SagaCounters& counters() const { return counters_; }
  const EngineTopics& topics() const { return topics_; }

 private:
  struct Change;
  void on_tick(SagaPartitionState& store, int64_t offset, int64_t now_ms, int64_t completed_below,
               std::vector<OutputRecord>& outputs);
  /// True when `entry` already applied `offset` of `input` (its journalled outputs appended).
  bool replayed(const SagaEntry& entry, Input input, int64_t offset,
                std::vector<OutputRecord>& outputs);
  void commit(SagaPartitionState& store, SagaEntry entry, const std::string& before, Input input,
              int64_t offset, int64_t now_ms, int64_t completed_below,
              const std::vector<Effect>& effects, std::vector<OutputRecord>& outputs);

  EngineSettings settings_;
  EngineTopics topics_;
  SagaMachine machine_;
  SagaCounters counters_;
};

/// The saga.events record of a saga (read model, dashboards): keyed by creator.
OutputRecord saga_event_record(const SagaEntry& entry, int64_t now_ms, const std::string& topic);
/// The label a saga had made, on shipping.labels keyed by its tracking number
/// (written once: on the machine's kLabelRecorded effect).
OutputRecord label_record(const SagaState& saga, int64_t now_ms, const std::string& topic);
/// The dead letter of a saga whose forward step failed max_attempts times.
OutputRecord saga_dead_letter(const SagaEntry& entry, int64_t now_ms, const std::string& topic);

}  // namespace cf::saga
