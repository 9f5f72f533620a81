// reconciler: events.validated -> resolved orders.events and inventory.events
// with per-aggregate versions; conflicts audited and escalated.
#include <map>

#include "cf/errors.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/worker.h"
#include "reconciler.h"

namespace cf {

class ReconcilerHandler : public RecordHandler {
 public:
  ReconcilerHandler(Reconciler& reconciler, StateOptions state)
      : reconciler_(reconciler), state_(std::move(state)) {}
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    reconciler_.on_event(state_.at(input.partition()), input.value(), input.offset(),
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
    static Counter& events = metrics().counter("cf_reconciler_events_total", "resolved events sent");
    static Counter& conflicts = metrics().counter("cf_conflicts_total", "conflicts audited");
    static Counter& escalated = metrics().counter("cf_conflicts_escalated_total",
                                                  "conflicts sent to manual resolution");
    static Counter& replays = metrics().counter("cf_reconciler_replayed_inputs_total",
                                                "inputs re-read after a restart, outputs re-sent from the journal");
    const ReconcilerCounters& now = reconciler_.counters();
    events.inc(now.events_out - exported_.events_out);
    conflicts.inc(now.conflicts - exported_.conflicts);
    escalated.inc(now.escalated - exported_.escalated);
    replays.inc(now.replays - exported_.replays);
    exported_ = now;
  }

 private:
  Reconciler& reconciler_;
  PartitionedState<EntityStore> state_;
  std::map<int32_t, int64_t> completed_;
  ReconcilerCounters exported_;
};

}  // namespace cf

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "reconciler";
  std::string input = "events.validated";
  std::string changelog = "reconciler.entities.changelog";
  std::string mapping_file;
  cf::ReconcilerTopics topics;
  cf::ReconcilerSettings rules;
  return cf::guarded_main("reconciler", [&]() -> int {
    cf::OptionsParser options("reconciler", "Detects and resolves conflicting updates per entity.");
    options.add_worker_options(settings);
    options.add()("input-topic", po::value(&input)->default_value(input), "validated domain events")(
        "changelog-topic", po::value(&changelog)->default_value(changelog), "compacted changelog of entity states")(
        "orders-topic", po::value(&topics.orders)->default_value(topics.orders), "output")(
        "inventory-topic", po::value(&topics.inventory)->default_value(topics.inventory), "output")(
        "audit-topic", po::value(&topics.audit)->default_value(topics.audit), "output: every conflict")(
        "manual-topic", po::value(&topics.manual)->default_value(topics.manual), "output: escalated conflicts")(
        "sku-mapping", po::value(&mapping_file),
        "JSON file linking channel SKU ids to product SKUs (default: TikTok seller_sku)")(
        "conflict-window-ms", po::value(&rules.conflict_window_ms)->default_value(rules.conflict_window_ms),
        "updates from different sources this close in event time are a conflict")(
        "escalate-order-minor", po::value(&rules.escalate_order_minor)->default_value(rules.escalate_order_minor),
        "conflicting orders above this value (minor units) go to manual resolution")(
        "escalate-payment-minor",
        po::value(&rules.escalate_payment_minor)->default_value(rules.escalate_payment_minor),
        "conflicting payments above this amount go to manual resolution");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("reconciler", settings.log_level);
    cf::SkuMapping mapping;
    if (!mapping_file.empty()) {
      try {
        mapping = cf::SkuMapping::from_json(cf::read_file_or_throw(mapping_file, "--sku-mapping"));
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--sku-mapping: ") + e.what());
      }
    }
    cf::Reconciler reconciler(rules, topics, std::move(mapping));
    cf::ReconcilerHandler handler(reconciler, cf::state_options(settings, changelog));
    cf::Worker worker(settings, {input}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
