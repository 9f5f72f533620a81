#pragma once
// Glue between the runtime and the velocity engine: per-partition state on
// the ledger changelog (cf::StatefulHandler), inputs routed by topic, engine
// counters as metrics.
#include <string>

#include "cf/keyed_state.h"
#include "cf/metrics.h"
#include "cf/stateful_handler.h"
#include "velocity_engine.h"

namespace cf {

struct VelocityInputs {
  std::string events = "inventory.events";
  std::string commands = "inventory.commands";
  std::string changelog = "inventory-velocity.ledger.changelog";
};

class VelocityHandler : public StatefulHandler<InventoryPartitionState> {
 public:
  VelocityHandler(VelocityEngine& engine, VelocityInputs inputs, StateOptions state);

 private:
  void export_counters();
  VelocityEngine& engine_;
  VelocityInputs inputs_;
  VelocityCounters exported_;
};

}  // namespace cf
