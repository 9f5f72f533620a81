// stockout-predictor: velocity snapshots -> time to stockout with a 90%
// interval, reorder suggestions, and alerts on state transitions.
#include "cf/errors.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/stateful_handler.h"
#include "cf/worker.h"
#include "stockout_model.h"

namespace cf {

/// Predictor counters as Prometheus metrics (called between records).
void export_predictor_metrics(const PredictorCounters& now) {
  static Counter& predictions = metrics().counter("cf_predictions_total", "predictions sent");
  static Counter& raised = metrics().counter("cf_alerts_raised_total", "alerts raised");
  static Counter& cleared = metrics().counter("cf_alerts_cleared_total", "alerts cleared");
  static Counter& replays =
      metrics().counter("cf_predictor_replayed_inputs_total",
                        "inputs re-read after a restart, outputs re-sent from the journal");
  static PredictorCounters exported;
  predictions.inc(now.predictions - exported.predictions);
  raised.inc(now.alerts_raised - exported.alerts_raised);
  cleared.inc(now.alerts_cleared - exported.alerts_cleared);
  replays.inc(now.replays - exported.replays);
  exported = now;
}

}  // namespace cf

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "stockout-predictor";
  std::string input = "inventory.velocity";
  std::string changelog = "stockout-predictor.state.changelog";
  std::string settings_file;
  cf::PredictorTopics topics;
  double clear_factor = 1.2, viral_clear_ratio = 2.5;
  return cf::guarded_main("stockout-predictor", [&]() -> int {
    cf::OptionsParser options(
        "stockout-predictor",
        "Predicts time to stockout, suggests reorders, raises and clears alerts.");
    options.add_worker_options(settings);
    options.add()("input-topic", po::value(&input)->default_value(input), "velocity snapshots")(
        "changelog-topic", po::value(&changelog)->default_value(changelog),
        "compacted changelog of alert states")(
        "predictions-topic", po::value(&topics.predictions)->default_value(topics.predictions),
        "output")("alerts-topic", po::value(&topics.alerts)->default_value(topics.alerts),
                  "output")(
        "reorder-settings", po::value(&settings_file),
        "JSON file of per-SKU lead time, review period, service z and alert thresholds "
        "(default: built-in defaults for every SKU)")(
        "clear-factor", po::value(&clear_factor)->default_value(clear_factor),
        "an alert clears only when time to stockout exceeds threshold times this")(
        "viral-clear-ratio", po::value(&viral_clear_ratio)->default_value(viral_clear_ratio),
        "viral_spike clears when the spike ratio falls below this");
    if (!options.parse(argc, argv)) return 0;
    if (clear_factor < 1) throw cf::ConfigError("--clear-factor: must be at least 1");
    cf::init_logging("stockout-predictor", settings.log_level);
    cf::ReorderCatalog catalog;
    if (!settings_file.empty()) {
      try {
        catalog = cf::ReorderCatalog::from_json(
            cf::read_file_or_throw(settings_file, "--reorder-settings"));
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--reorder-settings: ") + e.what());
      }
    }
    cf::StockoutPredictor predictor(std::move(catalog), topics, clear_factor, viral_clear_ratio);
    cf::StatefulHandler<cf::PredictorStore> handler(
        cf::state_options(settings, changelog),
        [&](cf::PredictorStore& store, const cf::InputRecord& input, int64_t completed,
            std::vector<cf::OutputRecord>& out) {
          predictor.on_velocity(store, input.value(), input.offset(), completed, out);
        },
        [&] { cf::export_predictor_metrics(predictor.counters()); });
    cf::Worker worker(settings, {input}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
