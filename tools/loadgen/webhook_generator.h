#pragma once
// Seeded generator of realistic webhook traffic: TikTok Shop order
// notifications and stock syncs, shipping tracking updates; Zipf-skewed SKU
// popularity, viral bursts on one SKU, and a configurable share of
// duplicates, bad signatures, malformed and oversize bodies. Every webhook
// says what should happen to it, so tests can compute their ground truth.
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace cf {

struct GeneratorSettings {
  uint64_t seed = 42;
  int shops = 20;
  int skus = 500;
  double zipf_exponent = 1.1;
  double shipping_share = 0.15;
  double stock_sync_share = 0.10;
  double duplicate_share = 0.05;
  double bad_signature_share = 0.02;
  double malformed_share = 0.02;       ///< broken JSON, correctly signed
  double schema_invalid_share = 0.02;  ///< valid JSON breaking the schema, correctly signed
  double oversize_share = 0.0;         ///< bodies over the ingest's limit
  size_t oversize_bytes = 300 * 1024;
  int64_t start_time_s = 1795000000;   ///< event time of the first webhook
  double event_seconds_per_webhook = 0.05;
  int burst_every = 2000;              ///< every N webhooks a viral burst starts...
  int burst_length = 300;              ///< ...lasting this many orders on one SKU
  std::string app_key = "cf-dev-app";
  std::string app_secret = "cf-dev-app-secret";
  std::string shipping_provider = "shipfast";
  std::string shipping_api_key = "cf-dev-shipfast-key";
};

enum class Expectation {
  kValid,         ///< 202, then its event ids on events.validated
  kDuplicate,     ///< 202, then dropped by the validator (ids already expected)
  kInvalid,       ///< 202, then on webhooks.rejected with reject_code
  kBadSignature,  ///< 401
  kOversize,      ///< 413
};
const char* to_string(Expectation e);

struct GeneratedWebhook {
  uint64_t sequence = 0;
  std::string kind;  ///< order | stock | shipping
  std::string path;  ///< /webhooks/tiktok or /webhooks/shipping/<provider>
  std::string body;
  std::string authorization;  ///< TikTok signature header, if any
  std::string api_key;        ///< shipping X-Api-Key, if any
  std::string partition_key;  ///< what the ingest keys the raw record by
  Expectation expect = Expectation::kValid;
  std::string reject_code;                  ///< for kInvalid
  std::string idempotency_key;              ///< for kValid / kDuplicate
  std::vector<std::string> event_ids;       ///< for kValid / kDuplicate
  std::string sku_id;                       ///< the first SKU of an order, for analysis
  int64_t event_time_ms = 0;
};

class WebhookGenerator {
 public:
  explicit WebhookGenerator(GeneratorSettings settings);
  GeneratedWebhook next();
  /// shop_id -> creator_id mapping matching what the generator sends.
  std::string shop_directory_json() const;
  /// Secrets JSON matching the generator's signatures.
  std::string secrets_json() const;
  const GeneratorSettings& settings() const { return settings_; }

 private:
  std::string shop_id(int index) const;
  int pick_sku();
  GeneratedWebhook make_order(int64_t ts);
  GeneratedWebhook make_stock(int64_t ts);
  GeneratedWebhook make_shipping(int64_t ts);
  void sign(GeneratedWebhook& w) const;

  GeneratorSettings settings_;
  std::mt19937_64 rng_;
  std::vector<double> sku_cdf_;
  uint64_t sequence_ = 0;
  uint64_t order_counter_ = 0;
  int burst_remaining_ = 0;
  int burst_sku_ = 0;
  std::deque<GeneratedWebhook> recent_valid_;  ///< candidates for duplicates
  struct OpenOrder {
    std::string order_id;
    int shop;
    int status_index;
  };
  std::deque<OpenOrder> open_orders_;
};

}  // namespace cf
