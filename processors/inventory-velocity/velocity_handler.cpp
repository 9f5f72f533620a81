#include "velocity_handler.h"

namespace cf {

VelocityHandler::VelocityHandler(VelocityEngine& engine, VelocityInputs inputs, StateOptions state)
    : StatefulHandler<InventoryPartitionState>(
          std::move(state),
          [this](InventoryPartitionState& store, const InputRecord& input, int64_t,
                 std::vector<OutputRecord>& outputs) {
            if (input.topic() == inputs_.commands) {
              engine_.on_command(store, input.value(), outputs, input.timestamp_ms());
            } else {
              engine_.on_event(store, input.value(), input.offset(), outputs, input.timestamp_ms());
            }
          },
          [this] { export_counters(); }),
      engine_(engine),
      inputs_(std::move(inputs)) {}

void VelocityHandler::export_counters() {
  static Counter& late =
      metrics().counter("cf_late_events_total",
                        "events older than stream time minus the allowed lateness: applied "
                        "to the ledger, kept out of the windows");
  static Counter& stale = metrics().counter(
      "cf_inventory_stale_syncs_total",
      "stock counts at or before the one applied (repeats, older counts), ignored");
  static Counter& replays =
      metrics().counter("cf_inventory_replayed_inputs_total",
                        "inputs re-read after a restart, recognised as applied");
  static Counter& discrepancies =
      metrics().counter("cf_inventory_discrepancies_total",
                        "channel counts off the ledger by more than the threshold");
  static Counter& snapshots =
      metrics().counter("cf_velocity_snapshots_total", "inventory.velocity records sent");
  static Counter& duplicates = metrics().counter("cf_inventory_duplicate_events_total",
                                                 "inventory events whose id was applied before at "
                                                 "another offset (an upstream re-send), ignored");
  static Counter& clamped =
      metrics().counter("cf_stream_time_clamped_total",
                        "records whose event time was too far past their Kafka timestamp to "
                        "move stream time (--max-future-skew-s)");
  const VelocityCounters& now = engine_.counters();
  late.inc(now.late_events - exported_.late_events);
  stale.inc(now.stale_syncs - exported_.stale_syncs);
  replays.inc(now.replays - exported_.replays);
  discrepancies.inc(now.discrepancies - exported_.discrepancies);
  snapshots.inc(now.snapshots - exported_.snapshots);
  clamped.inc(now.clamped - exported_.clamped);
  duplicates.inc(now.duplicate_events - exported_.duplicate_events);
  exported_ = now;
}

}  // namespace cf
