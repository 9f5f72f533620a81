// reconciler: events.validated -> resolved orders.events and inventory.events
// with per-aggregate versions; conflicts audited and escalated.
#include "cf/errors.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/stateful_handler.h"
#include "cf/worker.h"
#include "reconciler.h"

namespace cf {

/// Reconciler counters as Prometheus metrics (called between records).
void export_reconciler_metrics(const ReconcilerCounters& now) {
  static Counter& events = metrics().counter("cf_reconciler_events_total", "resolved events sent");
  static Counter& conflicts = metrics().counter("cf_conflicts_total", "conflicts audited");
  static Counter& escalated =
      metrics().counter("cf_conflicts_escalated_total", "conflicts sent to manual resolution");
  static Counter& replays =
      metrics().counter("cf_reconciler_replayed_inputs_total",
                        "inputs re-read after a restart, outputs re-sent from the journal");
  static Counter& evicted = metrics().counter("cf_reconciler_evicted_entities_total",
                                              "finished entities evicted after the retention");
  static ReconcilerCounters exported;
  events.inc(now.events_out - exported.events_out);
  conflicts.inc(now.conflicts - exported.conflicts);
  escalated.inc(now.escalated - exported.escalated);
  replays.inc(now.replays - exported.replays);
  evicted.inc(now.evicted - exported.evicted);
  exported = now;
}

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
  int64_t retention_hours = rules.entity_retention_ms / 3600000;
  return cf::guarded_main("reconciler", [&]() -> int {
    cf::OptionsParser options("reconciler", "Detects and resolves conflicting updates per entity.");
    options.add_worker_options(settings);
    options.add()("input-topic", po::value(&input)->default_value(input),
                  "validated domain events")("changelog-topic",
                                             po::value(&changelog)->default_value(changelog),
                                             "compacted changelog of entity states")(
        "orders-topic", po::value(&topics.orders)->default_value(topics.orders), "output")(
        "inventory-topic", po::value(&topics.inventory)->default_value(topics.inventory), "output")(
        "audit-topic", po::value(&topics.audit)->default_value(topics.audit),
        "output: every conflict")("manual-topic",
                                  po::value(&topics.manual)->default_value(topics.manual),
                                  "output: escalated conflicts")(
        "sku-mapping", po::value(&mapping_file),
        "JSON file linking channel SKU ids to product SKUs (default: TikTok seller_sku)")(
        "conflict-window-ms",
        po::value(&rules.conflict_window_ms)->default_value(rules.conflict_window_ms),
        "updates from different sources this close in event time are a conflict")(
        "escalate-order-minor",
        po::value(&rules.escalate_order_minor)->default_value(rules.escalate_order_minor),
        "conflicting orders above this value (minor units) go to manual resolution")(
        "escalate-payment-minor",
        po::value(&rules.escalate_payment_minor)->default_value(rules.escalate_payment_minor),
        "conflicting payments above this amount go to manual resolution")(
        "entity-retention-hours", po::value(&retention_hours)->default_value(retention_hours),
        "event time after their last update at which completed or cancelled orders, payments and "
        "shipments leave the state (ticks evict them, tombstones on the changelog); keep it above "
        "the validator's --dedup-ttl-hours");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("reconciler", settings.log_level);
    if (retention_hours <= 0) throw cf::ConfigError("--entity-retention-hours: must be positive");
    rules.entity_retention_ms = retention_hours * 3600 * 1000;
    cf::SkuMapping mapping;
    if (!mapping_file.empty()) {
      try {
        mapping = cf::SkuMapping::from_json(cf::read_file_or_throw(mapping_file, "--sku-mapping"));
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--sku-mapping: ") + e.what());
      }
    }
    cf::Reconciler reconciler(rules, topics, std::move(mapping));
    cf::StatefulHandler<cf::EntityStore> handler(
        cf::state_options(settings, changelog),
        [&](cf::EntityStore& store, const cf::InputRecord& input, int64_t completed,
            std::vector<cf::OutputRecord>& out) {
          reconciler.on_event(store, input.value(), input.offset(), completed, out);
        },
        [&] { cf::export_reconciler_metrics(reconciler.counters()); });
    cf::Worker worker(settings, {input}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
