// inventory-velocity: the single writer of each SKU's stock ledger; sales
// windows and velocity snapshots; the saga's reserve/release commands.
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "velocity_handler.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "inventory-velocity";
  settings.co_partitioned_inputs = true;
  cf::VelocityInputs inputs;
  cf::VelocityTopics outputs;
  cf::VelocitySettings velocity;
  int64_t lateness_s = velocity.allowed_lateness_ms / 1000;
  int64_t skew_s = velocity.max_future_skew_ms / 1000;
  int64_t dedup_hours = velocity.event_dedup_ms / 3600000;
  int64_t reservation_hours = velocity.reservation_retention_ms / 3600000;
  return cf::guarded_main("inventory-velocity", [&]() -> int {
    cf::OptionsParser options("inventory-velocity",
                              "Keeps each SKU's stock ledger and sales velocity.");
    options.add_worker_options(settings);
    options.add()("events-topic", po::value(&inputs.events)->default_value(inputs.events),
                  "input: resolved inventory events and ticks")(
        "commands-topic", po::value(&inputs.commands)->default_value(inputs.commands),
        "input: reserve/release commands")(
        "changelog-topic", po::value(&inputs.changelog)->default_value(inputs.changelog),
        "compacted changelog of the ledger")(
        "velocity-topic", po::value(&outputs.velocity)->default_value(outputs.velocity),
        "output: velocity snapshots")("replies-topic",
                                      po::value(&outputs.replies)->default_value(outputs.replies),
                                      "output: command replies")(
        "audit-topic", po::value(&outputs.audit)->default_value(outputs.audit),
        "output: audited conflicts")("manual-topic",
                                     po::value(&outputs.manual)->default_value(outputs.manual),
                                     "output: conflicts escalated to manual resolution")(
        "allowed-lateness-s", po::value(&lateness_s)->default_value(lateness_s),
        "events older than stream time minus this lateness reach the ledger but not the windows")(
        "max-future-skew-s", po::value(&skew_s)->default_value(skew_s),
        "stream time never moves further than this past a record's Kafka timestamp (the "
        "validator's "
        "bound; only records that bypassed it are clamped)")(
        "event-dedup-hours", po::value(&dedup_hours)->default_value(dedup_hours),
        "applied event ids are remembered this long in stream time, so events an upstream "
        "processor re-sends "
        "after a crash count once")(
        "reservation-retention-hours",
        po::value(&reservation_hours)->default_value(reservation_hours),
        "released or rejected reservations are kept this long in stream time (a repeated command "
        "gets its first reply), then deleted on a tick")(
        "coalesce-ms", po::value(&velocity.coalesce_ms)->default_value(velocity.coalesce_ms),
        "at most one snapshot per SKU per this much event time")(
        "spike-factor", po::value(&velocity.spike_factor)->default_value(velocity.spike_factor),
        "viral when the 1 h rate exceeds this times the 24 h rate")(
        "spike-min-units",
        po::value(&velocity.spike_min_units)->default_value(velocity.spike_min_units),
        "and at least this many units sold in the last hour")(
        "discrepancy-ratio",
        po::value(&velocity.discrepancy_ratio)->default_value(velocity.discrepancy_ratio),
        "channel count vs ledger difference (share of the ledger) that is a conflict");
    if (!options.parse(argc, argv)) return 0;
    if (lateness_s < 0) throw cf::ConfigError("--allowed-lateness-s: must not be negative");
    if (velocity.coalesce_ms < 0) throw cf::ConfigError("--coalesce-ms: must not be negative");
    if (skew_s < 0) throw cf::ConfigError("--max-future-skew-s: must not be negative");
    velocity.allowed_lateness_ms = lateness_s * 1000;
    velocity.max_future_skew_ms = skew_s * 1000;
    if (dedup_hours < 1) throw cf::ConfigError("--event-dedup-hours: must be at least 1");
    velocity.event_dedup_ms = dedup_hours * 3600000;
    if (reservation_hours < 1)
      throw cf::ConfigError("--reservation-retention-hours: must be at least 1");
    velocity.reservation_retention_ms = reservation_hours * 3600000;
    cf::init_logging("inventory-velocity", settings.log_level);

    cf::VelocityEngine engine(velocity, outputs);
    cf::VelocityHandler handler(engine, inputs, cf::state_options(settings, inputs.changelog));
    cf::Worker worker(settings, {inputs.events, inputs.commands}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
