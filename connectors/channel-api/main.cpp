// channel-api: TikTok Shop order notifications -> the same notifications with
// their order detail (Get Order Detail), and ticks or sync commands -> the
// TikTok shops' and Shopify stores' stock counts (scheduled inventory sync),
// for the validator.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "cf/config.h"
#include "cf/directory.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/topic_reader.h"
#include "enrichment_handler.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "channel-api";
  std::string input_topic = "webhooks.tiktok.raw";
  std::string schema_dir = cf::default_schema_directory();
  std::string secrets_file, shops_file;
  std::string api_url = "http://127.0.0.1:8090", auth_url;
  cf::EnrichmentSettings enrich;
  cf::HttpClientSettings client_settings;
  return cf::guarded_main("channel-api", [&]() -> int {
    cf::OptionsParser options("channel-api",
                              "Fetches the order detail of TikTok Shop order notifications.");
    options.add_worker_options(settings);
    options.add()("input-topic", po::value(&input_topic)->default_value(input_topic),
                  "TikTok notifications as webhook-ingest writes them")(
        "output-topic", po::value(&enrich.output_topic)->default_value(enrich.output_topic),
        "notifications with their order detail, and every other TikTok record unchanged "
        "(the validator's input); same partition count as the input")(
        "schema-dir", po::value(&schema_dir)->default_value(schema_dir),
        "directory of *.schema.json (which notifications are enriched)")(
        "secrets-file", po::value(&secrets_file),
        "the app's key and secret: the webhook secrets JSON (default: env CF_WEBHOOK_SECRETS)")(
        "shops-file", po::value(&shops_file)->required(),
        "TikTok shops: cipher, access and refresh tokens (docs/processors.md); rewritten, mode "
        "0600, after every token refresh")(
        "tiktok-api-url", po::value(&api_url)->default_value(api_url),
        "TikTok Shop Open API base URL (http; TLS by a sidecar)")(
        "tiktok-auth-url", po::value(&auth_url), "token refresh base URL (default: the API URL)")(
        "linger-ms", po::value(&enrich.linger_ms)->default_value(enrich.linger_ms),
        "a shop's first waiting notification waits this long for others to share its call")(
        "call-timeout-ms",
        po::value(&enrich.call_timeout_ms)->default_value(enrich.call_timeout_ms),
        "deadline of one API call")(
        "max-attempts", po::value(&enrich.max_attempts)->default_value(enrich.max_attempts),
        "fetches of one order (absent, older than its notification, refused) before its "
        "notification is dead-lettered; API outages never count")(
        "retry-base-ms", po::value(&enrich.retry_base_ms)->default_value(enrich.retry_base_ms),
        "first backoff; doubles per failure, with jitter")(
        "retry-max-ms", po::value(&enrich.retry_max_ms)->default_value(enrich.retry_max_ms),
        "longest backoff (also caps Retry-After)")(
        "max-in-flight", po::value(&enrich.max_in_flight)->default_value(enrich.max_in_flight),
        "notifications waiting for details; reading stops at this limit")(
        "max-calls-per-shop",
        po::value(&enrich.max_calls_per_shop)->default_value(enrich.max_calls_per_shop),
        "concurrent calls per shop")(
        "shop-calls-per-second",
        po::value(&enrich.shop_calls_per_second)->default_value(enrich.shop_calls_per_second),
        "token bucket per shop (the API's per-shop limit)")(
        "app-calls-per-second",
        po::value(&enrich.app_calls_per_second)->default_value(enrich.app_calls_per_second),
        "token bucket for the app (the API's per-app limit)")(
        "refresh-margin-s",
        po::value<int64_t>()
            ->default_value(enrich.refresh_margin_ms / 1000)
            ->notifier([&](int64_t s) { enrich.refresh_margin_ms = s * 1000; }),
        "refresh an access token this long before it expires")(
        "sync-topic", po::value(&enrich.sync_topic)->default_value(enrich.sync_topic),
        "input: ticks (cf-ticker) and sync_inventory commands (cf-channel-sync) that start "
        "inventory sync rounds")(
        "sync-interval-s",
        po::value<int64_t>()
            ->default_value(enrich.sync_interval_ms / 1000)
            ->notifier([&](int64_t s) { enrich.sync_interval_ms = s * 1000; }),
        "a sync round per shop this often (the first tick of each interval starts it); ticks "
        "and commands older than this when read start none")(
        "shopify-api-url",
        po::value(&enrich.shopify_url_template)->default_value(enrich.shopify_url_template),
        "Shopify Admin API base URL per store, {shop} replaced by the store's domain (http; TLS "
        "by a sidecar); stores and tokens come from the shops file's \"shopify\" part")(
        "shopify-items-changelog",
        po::value(&enrich.shopify_items_changelog)->default_value(enrich.shopify_items_changelog),
        "compacted topic of the inventory item -> SKU lookups, read back at start")(
        "breaker-open-ms",
        po::value(&client_settings.open_ms)->default_value(client_settings.open_ms),
        "how long the API's circuit stays open after most calls failed");
    if (!options.parse(argc, argv)) return 0;
    if (enrich.linger_ms < 0 || enrich.call_timeout_ms < 1 || enrich.max_attempts < 1 ||
        enrich.retry_base_ms < 1 || enrich.retry_max_ms < enrich.retry_base_ms ||
        enrich.max_in_flight < 1 || enrich.max_calls_per_shop < 1 ||
        !(enrich.shop_calls_per_second > 0) || !(enrich.app_calls_per_second > 0) ||
        enrich.sync_interval_ms < 1000)
      throw cf::ConfigError(
          "channel-api: timeouts, attempts, limits and rates must be positive (retry-max-ms >= "
          "retry-base-ms, sync-interval-s >= 1)");
    cf::init_logging("channel-api", settings.log_level);
    enrich.dead_letter_topic =
        settings.dead_letter_topic.empty() ? "dlq.channel-api" : settings.dead_letter_topic;
    enrich.shops_file = shops_file;

    const std::string secrets_json =
        cf::secret_from_file_or_env(secrets_file, "--secrets-file", "CF_WEBHOOK_SECRETS");
    cf::TikTokApp app;
    try {
      auto secrets = cf::WebhookSecrets::from_json(secrets_json);
      auto apps = secrets.tiktok_apps();
      if (apps.empty()) throw cf::ConfigError("--secrets-file: no TikTok app key and secret");
      app.app_key = apps.front()->app_key;
      app.app_secret = apps.front()->app_secret;
    } catch (const std::invalid_argument& e) {
      throw cf::ConfigError(std::string("--secrets-file: ") + e.what());
    }
    app.api = cf::parse_http_url("tiktok_api", api_url);
    app.auth = cf::parse_http_url("tiktok_auth", auth_url.empty() ? api_url : auth_url);
    const std::string shops_json = cf::read_file_or_throw(shops_file, "--shops-file");
    auto shops = cf::parse_tiktok_shops(shops_json);
    enrich.shopify_tokens = cf::parse_shopify_tokens(shops_json);
    if (!enrich.shopify_tokens.empty()) {
      // The item -> SKU lookups made so far: an item is looked up once.
      cf::read_topic(settings.kafka, enrich.shopify_items_changelog, {},
                     [&](const cf::InputRecord& r) {
                       if (auto entry = cf::read_shopify_item_changelog(r.key(), r.value()))
                         enrich.shopify_skus[entry->first] = entry->second;
                       return true;
                     });
      spdlog::info("{} Shopify store(s) to sync; {} inventory item SKUs known",
                   enrich.shopify_tokens.size(), enrich.shopify_skus.size());
    }
    auto schemas = cf::SchemaRegistry::load_directory(schema_dir);
    cf::HttpClient client(client_settings);
    cf::EnrichmentHandler handler(app, std::move(shops), schemas, enrich, client);
    cf::Worker worker(settings, {input_topic, enrich.sync_topic}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
