// order-saga: orchestrates each paid order's fulfillment (allocate, pay,
// ship, update the channel) and compensates it on failure or cancellation.
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "saga_handler.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "order-saga";
  settings.co_partitioned_inputs = true;
  cf::saga::EngineTopics topics;
  cf::saga::EngineSettings engine_settings;
  cf::saga::Settings& machine = engine_settings.machine;
  int64_t retention_hours = engine_settings.retention_ms / 3600000;
  int max_attempts = machine.max_attempts;
  int64_t catch_up_lag_ms = 5000;
  return cf::guarded_main("order-saga", [&]() -> int {
    cf::OptionsParser options("order-saga", "Fulfils paid orders as sagas, with compensation.");
    options.add_worker_options(settings);
    options.add()("orders-topic", po::value(&topics.orders)->default_value(topics.orders),
                  "input: order events (paid orders start sagas, cancellations compensate) "
                  "and ticks (fire step timeouts and retries)")(
        "inventory-replies-topic",
        po::value(&topics.inventory_replies)->default_value(topics.inventory_replies),
        "input: inventory-velocity's replies to reserve/release")(
        "saga-replies-topic", po::value(&topics.saga_replies)->default_value(topics.saga_replies),
        "input: participants' replies (saga-http)")(
        "operator-topic",
        po::value(&topics.operator_commands)->default_value(topics.operator_commands),
        "input: operator retry/abort commands (cf-saga)")(
        "changelog-topic", po::value(&topics.changelog)->default_value(topics.changelog),
        "compacted changelog of the saga state")(
        "saga-events-topic", po::value(&topics.saga_events)->default_value(topics.saga_events),
        "output: saga status changes (read model)")(
        "labels-topic", po::value(&topics.labels)->default_value(topics.labels),
        "output: each label's tracking number -> order (the validator's shipment join)")(
        "commands-topic",
        po::value(&topics.commands.commands)->default_value(topics.commands.commands),
        "output: participant commands (saga-http)")(
        "inventory-commands-topic",
        po::value(&topics.commands.inventory_commands)
            ->default_value(topics.commands.inventory_commands),
        "output: reserve/release commands (inventory-velocity)")(
        "step-timeout-ms",
        po::value(&machine.step_timeout_ms)->default_value(machine.step_timeout_ms),
        "an attempt of a step without a reply times out after this much event time")(
        "backoff-base-ms",
        po::value(&machine.backoff_base_ms)->default_value(machine.backoff_base_ms),
        "delay before the second attempt of a step; doubles per attempt, with jitter")(
        "backoff-max-ms", po::value(&machine.backoff_max_ms)->default_value(machine.backoff_max_ms),
        "longest delay between attempts")(
        "max-attempts", po::value(&max_attempts)->default_value(max_attempts),
        "attempts of a step before it dead-letters (forward) or escalates (compensation)")(
        "catch-up-lag-ms", po::value(&catch_up_lag_ms)->default_value(catch_up_lag_ms),
        "a record processed this long after it was written is processed on the wall clock "
        "(catching up after an outage), not its timestamp (docs/processors.md)")(
        "retention-hours", po::value(&retention_hours)->default_value(retention_hours),
        "finished sagas are kept this long in event time (a repeated order event finds them), "
        "then deleted on a tick");
    if (!options.parse(argc, argv)) return 0;
    if (machine.step_timeout_ms < 1) throw cf::ConfigError("--step-timeout-ms: must be positive");
    if (machine.backoff_base_ms < 0 || machine.backoff_max_ms < machine.backoff_base_ms)
      throw cf::ConfigError("--backoff-base-ms/--backoff-max-ms: need 0 <= base <= max");
    if (max_attempts < 1 || max_attempts > 100)
      throw cf::ConfigError("--max-attempts: must be between 1 and 100");
    if (catch_up_lag_ms < 0) throw cf::ConfigError("--catch-up-lag-ms: must not be negative");
    if (retention_hours < 1) throw cf::ConfigError("--retention-hours: must be at least 1");
    machine.max_attempts = max_attempts;
    engine_settings.retention_ms = retention_hours * 3600000;
    cf::init_logging("order-saga", settings.log_level);

    cf::saga::SagaEngine engine(engine_settings, topics);
    cf::saga::SagaHandler handler(engine, cf::state_options(settings, topics.changelog),
                                  engine_settings.retention_ms, catch_up_lag_ms);
    cf::Worker worker(
        settings,
        {topics.orders, topics.inventory_replies, topics.saga_replies, topics.operator_commands},
        handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
