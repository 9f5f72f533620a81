// webhook-ingest: HTTP webhooks in, durable raw records out.
#include <cstdlib>
#include <iostream>

#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/worker.h"
#include "ingest_server.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  cf::IngestSettings s;
  std::string log_level = "info";
  std::string secrets_file;
  std::string shops_file;
  return cf::guarded_main("webhook-ingest", [&]() -> int {
    cf::OptionsParser options(
        "webhook-ingest",
        "Receives TikTok Shop, Shopify and shipping webhooks over HTTP and makes "
        "them durable in Kafka before answering 200.");
    options.add_kafka_options(s.kafka);
    options.add_logging_options(log_level);
    options.add()("listen", po::value(&s.listen_address)->default_value(s.listen_address),
                  "address to bind")("port", po::value(&s.port)->default_value(s.port),
                                     "HTTP port (0: pick a free one)")(
        "threads", po::value(&s.threads)->default_value(s.threads), "I/O threads")(
        "max-body-bytes", po::value(&s.max_body_bytes)->default_value(s.max_body_bytes),
        "larger bodies are answered 413")(
        "ack-timeout-ms", po::value(&s.ack_timeout_ms)->default_value(s.ack_timeout_ms),
        "how long to wait for Kafka before answering 503")(
        "rate-per-shop", po::value(&s.rate_per_shop)->default_value(s.rate_per_shop),
        "sustained requests/s per shop or provider before 429")(
        "burst-per-shop", po::value(&s.burst_per_shop)->default_value(s.burst_per_shop),
        "token bucket size per shop or provider")(
        "max-connections", po::value(&s.max_connections)->default_value(s.max_connections),
        "open connections beyond this are answered 503 and closed")(
        "auth-failures-per-client",
        po::value(&s.auth_failures_per_client_per_s)
            ->default_value(s.auth_failures_per_client_per_s),
        "failed authentications per second per client address before 429 (no HMAC computed)")(
        "auth-failure-burst", po::value(&s.auth_failure_burst)->default_value(s.auth_failure_burst),
        "token bucket size of failed authentications per client address")(
        "shops-file", po::value(&shops_file),
        "shop directory JSON (the validator's): Shopify shop domains not in it are refused (400)")(
        "secrets-file", po::value(&secrets_file),
        "webhook secrets JSON (default: the JSON in env CF_WEBHOOK_SECRETS); never a flag value")(
        "tiktok-topic", po::value(&s.topics.tiktok_raw)->default_value(s.topics.tiktok_raw),
        "raw TikTok topic")("shipping-topic",
                            po::value(&s.topics.shipping_raw)->default_value(s.topics.shipping_raw),
                            "raw shipping topic")(
        "shopify-topic", po::value(&s.topics.shopify_raw)->default_value(s.topics.shopify_raw),
        "raw Shopify topic");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("webhook-ingest", log_level);
    if (s.port < 0 || s.port > 65535) throw cf::ConfigError("--port: 0..65535");
    if (s.ack_timeout_ms < 100) throw cf::ConfigError("--ack-timeout-ms: at least 100");
    if (s.rate_per_shop <= 0) throw cf::ConfigError("--rate-per-shop: must be positive");
    const std::string secrets_json =
        cf::secret_from_file_or_env(secrets_file, "--secrets-file", "CF_WEBHOOK_SECRETS");
    cf::WebhookSecrets secrets;
    try {
      secrets = cf::WebhookSecrets::from_json(secrets_json);
    } catch (const std::invalid_argument& e) {
      throw cf::ConfigError(std::string("--secrets-file: ") + e.what());
    }
    if (s.max_connections < 1) throw cf::ConfigError("--max-connections: at least 1");
    std::optional<cf::ShopDirectory> shops;
    if (!shops_file.empty()) {
      try {
        shops = cf::ShopDirectory::from_json(cf::read_file_or_throw(shops_file, "--shops-file"));
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--shops-file: ") + e.what());
      }
    }
    const auto& stop = cf::stop_requested_by_signal();
    cf::IngestServer server(s, std::move(secrets), std::move(shops));
    std::cout << "listening " << server.port() << std::endl;
    server.run(stop);
    return 0;
  });
}
