#pragma once
// Glue between the runtime and the velocity engine: per-partition state on
// the ledger changelog, inputs routed by topic, engine counters as metrics.
#include <string>

#include "cf/keyed_state.h"
#include "cf/metrics.h"
#include "cf/worker.h"
#include "velocity_engine.h"

namespace cf {

struct VelocityInputs {
  std::string events = "inventory.events";
  std::string commands = "inventory.commands";
  std::string changelog = "inventory-velocity.ledger.changelog";
};

class VelocityHandler : public RecordHandler {
 public:
  VelocityHandler(VelocityEngine& engine, VelocityInputs inputs, StateOptions state);
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override;
  void on_assigned(const std::vector<TopicPartition>& partitions) override;
  void on_revoked(const std::vector<TopicPartition>& partitions) override;
  void maintain(int64_t steady_now_ms) override;
  PartitionedState<InventoryPartitionState>& state() { return state_; }

 private:
  void export_counters();
  VelocityEngine& engine_;
  VelocityInputs inputs_;
  PartitionedState<InventoryPartitionState> state_;
  VelocityCounters exported_;
};

}  // namespace cf
