// stockout-predictor: velocity snapshots -> time to stockout with a 90%
// interval, reorder suggestions, and alerts on state transitions.
#include <map>

#include "cf/errors.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/worker.h"
#include "stockout_model.h"

namespace cf {

class PredictorHandler : public RecordHandler {
 public:
  PredictorHandler(StockoutPredictor& predictor, StateOptions state)
      : predictor_(predictor), state_(std::move(state)) {}
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    predictor_.on_velocity(state_.at(input.partition()), input.value(), input.offset(),
                           completed_[input.partition()], outputs);
  }
  void on_assigned(const std::vector<TopicPartition>& partitions) override {
    state_.restore(partition_numbers(partitions));
  }
  void on_revoked(const std::vector<TopicPartition>& partitions) override {
    state_.release(partition_numbers(partitions));
  }
  void on_inputs_completed(std::string_view, int32_t partition, int64_t next_offset) override {
    completed_[partition] = next_offset;
  }
  void maintain(int64_t steady_now_ms) override {
    state_.maybe_snapshot(steady_now_ms);
    static Counter& predictions = metrics().counter("cf_predictions_total", "predictions sent");
    static Counter& raised = metrics().counter("cf_alerts_raised_total", "alerts raised");
    static Counter& cleared = metrics().counter("cf_alerts_cleared_total", "alerts cleared");
    static Counter& replays = metrics().counter("cf_predictor_replayed_inputs_total",
                                                "inputs re-read after a restart, outputs re-sent from the journal");
    const PredictorCounters& now = predictor_.counters();
    predictions.inc(now.predictions - exported_.predictions);
    raised.inc(now.alerts_raised - exported_.alerts_raised);
    cleared.inc(now.alerts_cleared - exported_.alerts_cleared);
    replays.inc(now.replays - exported_.replays);
    exported_ = now;
  }

 private:
  StockoutPredictor& predictor_;
  PartitionedState<PredictorStore> state_;
  std::map<int32_t, int64_t> completed_;
  PredictorCounters exported_;
};

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
    cf::OptionsParser options("stockout-predictor",
                              "Predicts time to stockout, suggests reorders, raises and clears alerts.");
    options.add_worker_options(settings);
    options.add()("input-topic", po::value(&input)->default_value(input), "velocity snapshots")(
        "changelog-topic", po::value(&changelog)->default_value(changelog), "compacted changelog of alert states")(
        "predictions-topic", po::value(&topics.predictions)->default_value(topics.predictions), "output")(
        "alerts-topic", po::value(&topics.alerts)->default_value(topics.alerts), "output")(
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
        catalog = cf::ReorderCatalog::from_json(cf::read_file_or_throw(settings_file, "--reorder-settings"));
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--reorder-settings: ") + e.what());
      }
    }
    cf::StockoutPredictor predictor(std::move(catalog), topics, clear_factor, viral_clear_ratio);
    cf::PredictorHandler handler(predictor, cf::state_options(settings, changelog));
    cf::Worker worker(settings, {input}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
