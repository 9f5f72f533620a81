// realtime-push: output topics -> per-creator dashboard deltas on
// realtime.push, throttled per channel in event time (push_model.h).
#include "cf/errors.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/metrics.h"
#include "cf/stateful_handler.h"
#include "cf/worker.h"
#include "push_model.h"

namespace cf {

/// Push counters as Prometheus metrics (called between records).
void export_push_metrics(const PushCounters& now) {
  static Counter& messages =
      metrics().counter("cf_push_messages_total", "delta messages written to realtime.push");
  static Counter& updates =
      metrics().counter("cf_push_entity_updates_total", "entity updates carried by them");
  static Counter& replays =
      metrics().counter("cf_push_replayed_inputs_total",
                        "inputs re-read after a restart, outputs re-sent from the journal");
  static PushCounters exported;
  messages.inc(now.messages - exported.messages);
  updates.inc(now.updates - exported.updates);
  replays.inc(now.replays - exported.replays);
  exported = now;
}

}  // namespace cf

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "realtime-push";
  std::string changelog = "realtime-push.state.changelog";
  cf::PushSettings push;
  return cf::guarded_main("realtime-push", [&]() -> int {
    cf::OptionsParser options(
        "realtime-push",
        "Turns the output topics into per-creator dashboard deltas on realtime.push.");
    options.add_worker_options(settings);
    options.add()("changelog-topic", po::value(&changelog)->default_value(changelog),
                  "compacted changelog of the channels' state")(
        "output-topic", po::value(&push.output_topic)->default_value(push.output_topic),
        "the deltas, keyed by creator")(
        "critical-hours", po::value(&push.critical_hours)->default_value(push.critical_hours),
        "the critical-stock card shows SKUs running out sooner than this many hours");
    if (!options.parse(argc, argv)) return 0;
    if (!(push.critical_hours > 0)) throw cf::ConfigError("--critical-hours: must be positive");
    cf::init_logging("realtime-push", settings.log_level);
    cf::RealtimePush model(push);
    cf::StatefulHandler<cf::PushStore> handler(
        cf::state_options(settings, changelog),
        [&](cf::PushStore& store, const cf::InputRecord& input, int64_t completed,
            std::vector<cf::OutputRecord>& out) {
          model.on_record(store, input.topic(), input.value(), input.offset(), completed, out);
        },
        [&] { cf::export_push_metrics(model.counters()); });
    cf::Worker worker(settings, cf::RealtimePush::input_topics(), handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
