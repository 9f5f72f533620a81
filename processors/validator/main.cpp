// validator: raw webhooks -> schema-checked domain events keyed by creator.
#include <iostream>

#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "validator_handler.h"

int main(int argc, char** argv) {
  cf::WorkerSettings settings;
  settings.name = "validator";
  cf::ValidatorTopics topics;
  std::string schema_dir = cf::default_schema_directory();
  std::string shops_file;
  int64_t dedup_ttl_hours = 96;
  int64_t max_future_s = 600;
  return cf::guarded_main("validator", [&]() -> int {
    cf::OptionsParser options("validator", "Validates raw webhooks into domain events.");
    options.add_worker_options(settings);
    options.add()("schema-dir",
                  boost::program_options::value(&schema_dir)->default_value(schema_dir),
                  "directory of *.schema.json")(
        "shops-file", boost::program_options::value(&shops_file)->required(),
        "JSON shop directory mapping shop_id to creator_id")(
        "dedup-ttl-hours", boost::program_options::value(&dedup_ttl_hours)->default_value(96),
        "dedup horizon: event-time window in which a repeated webhook id or body is a duplicate; "
        "events older than it (less --max-future-skew-s) are rejected as stale_event. Covers "
        "TikTok's 72 h of retries plus a day of outage")(
        "max-future-skew-s", boost::program_options::value(&max_future_s)->default_value(600),
        "event times more than this ahead of the ingest's received_at are rejected "
        "(event_time_out_of_range)")(
        "tiktok-topic",
        boost::program_options::value(&topics.tiktok_raw)->default_value(topics.tiktok_raw),
        "input: TikTok notifications as channel-api forwards them (order notifications with "
        "their order detail)")(
        "shipping-topic",
        boost::program_options::value(&topics.shipping_raw)->default_value(topics.shipping_raw),
        "input: AfterShip tracking updates, keyed by tracking number")(
        "labels-topic", boost::program_options::value(&topics.labels)->default_value(topics.labels),
        "input: the order saga's labels, co-partitioned with --shipping-topic (the updates are "
        "joined to their order through them)")(
        "shopify-topic",
        boost::program_options::value(&topics.shopify_raw)->default_value(topics.shopify_raw),
        "input")("output-topic",
                 boost::program_options::value(&topics.validated)->default_value(topics.validated),
                 "domain events")(
        "rejected-topic",
        boost::program_options::value(&topics.rejected)->default_value(topics.rejected),
        "rejections")("dedup-changelog-topic",
                      boost::program_options::value(&topics.dedup_changelog)
                          ->default_value(topics.dedup_changelog),
                      "compacted changelog of the dedup store");
    if (!options.parse(argc, argv)) return 0;
    if (dedup_ttl_hours <= 0) throw cf::ConfigError("--dedup-ttl-hours: must be positive");
    if (max_future_s < 0 || max_future_s >= dedup_ttl_hours * 3600) {
      throw cf::ConfigError("--max-future-skew-s: must be between 0 and the dedup TTL");
    }
    cf::EventTimeWindow window;
    window.max_future_ms = max_future_s * 1000;
    window.max_age_ms = (dedup_ttl_hours * 3600 - max_future_s) * 1000;
    cf::init_logging("validator", settings.log_level);

    auto schemas = cf::SchemaRegistry::load_directory(schema_dir);
    auto shops = cf::ShopDirectory::from_json(cf::read_file_or_throw(shops_file, "--shops-file"));
    cf::WebhookValidator validator(schemas, shops, window);
    cf::ValidatorHandler handler(validator, topics,
                                 cf::state_options(settings, topics.dedup_changelog),
                                 dedup_ttl_hours * 3600 * 1000);
    cf::Worker worker(settings,
                      {topics.tiktok_raw, topics.shipping_raw, topics.shopify_raw, topics.labels},
                      handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
