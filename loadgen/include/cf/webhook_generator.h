#pragma once
// Seeded generator of realistic webhook traffic: TikTok Shop order
// notifications, Shopify orders and inventory levels, AfterShip tracking
// updates, and the stock counts channel-api's scheduled sync would read; Zipf-skewed SKU
// popularity, viral bursts on one SKU, and a configurable share of
// duplicates, bad signatures, malformed and oversize bodies. Every webhook
// says what should happen to it, so tests can compute their ground truth.
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cf {

struct GeneratorSettings {
  uint64_t seed = 42;
  int shops = 20;
  int skus = 500;
  double zipf_exponent = 1.1;
  double shipping_share = 0.15;
  double stock_sync_share = 0.10;
  double shopify_share =
      0.15;  ///< Shopify webhooks (orders/create, orders/cancelled, inventory_levels/update)
  double cancel_share = 0.08;  ///< share of order updates that cancel an unshipped order
  double duplicate_share = 0.05;
  double bad_signature_share = 0.02;
  double malformed_share = 0.02;       ///< broken JSON, correctly signed
  double schema_invalid_share = 0.02;  ///< valid JSON breaking the schema, correctly signed
  double oversize_share = 0.0;         ///< bodies over the ingest's limit
  size_t oversize_bytes = 300 * 1024;
  int64_t start_time_s = 1795000000;  ///< event time of the first webhook
  double event_seconds_per_webhook = 0.05;
  int burst_every = 2000;  ///< every N webhooks a viral burst starts...
  int burst_length = 300;  ///< ...lasting this many orders on one SKU
  std::string app_key = "cf-dev-app";
  std::string app_secret = "cf-dev-app-secret";
  std::string shipping_provider = "aftership";  ///< tracking webhooks in AfterShip's format
  std::string aftership_secret = "cf-dev-aftership-webhook-secret";
  std::string shopify_secret = "cf-dev-shopify-secret";
};

enum class Expectation {
  kValid,         ///< 200, then its event ids on events.validated
  kDuplicate,     ///< 200, then dropped by the validator (ids already expected)
  kInvalid,       ///< 200, then on webhooks.rejected with reject_code
  kBadSignature,  ///< 401
  kOversize,      ///< 413
  kMalformed,  ///< signed but not JSON: 400 at the ingest (on webhooks.rejected if it reached Kafka
               ///< another way)
};
const char* to_string(Expectation e);

struct GeneratedWebhook {
  uint64_t sequence = 0;
  std::string kind;  ///< order | stock | shipping
  std::string path;  ///< /webhooks/tiktok, /webhooks/shopify or /webhooks/shipping/aftership
  std::string body;
  std::string authorization;       ///< TikTok signature header, if any
  std::string aftership_hmac;      ///< aftership-hmac-sha256, tracking updates only
  std::string shopify_topic;       ///< X-Shopify-Topic, Shopify only
  std::string shopify_hmac;        ///< X-Shopify-Hmac-SHA256
  std::string shopify_webhook_id;  ///< X-Shopify-Webhook-Id
  std::string shop_domain;         ///< X-Shopify-Shop-Domain
  std::string partition_key;       ///< what the ingest keys the raw record by
  Expectation expect = Expectation::kValid;
  std::string reject_code;             ///< for kInvalid
  std::string idempotency_key;         ///< for kValid / kDuplicate
  std::vector<std::string> event_ids;  ///< for kValid / kDuplicate
  /// A carrier's tracking update: its event appears on events.validated only
  /// once the order saga recorded the label it names (joined_event_ids, not
  /// event_ids, which are expected whatever else runs).
  std::vector<std::string> joined_event_ids;
  std::string tracking_number;  ///< tracking updates: the label's number
  std::string sku_id;           ///< the first SKU of an order, for analysis
  /// TikTok order notifications: the order as Get Order Detail returns it at
  /// this point (one line item per unit, amounts as decimal strings, and the
  /// personal fields a real answer has), for the channel API stub; empty otherwise.
  std::string order_detail;
  std::string shop_id;  ///< the shop the order detail (or stock level) belongs to
  /// Not a webhook: the count channel-api's scheduled inventory sync writes
  /// (TikTok sends no stock notification). A sender standing in for
  /// channel-api writes it with cf-enrichment: scheduled_sync; anyone else
  /// skips it (the sync reads the same stock from the API stub).
  bool sync_count = false;
  /// The platforms' stock after this record, for the API stub: one POST per
  /// {path, body} (/tiktok/inventory?shop_id= and /shopify-stub/inventory?shop=),
  /// each level with the record's sequence as its version (the stub keeps
  /// the newest), so a scheduled sync reads the generator's stock.
  std::vector<std::pair<std::string, std::string>> stock_levels;
  int64_t event_time_ms = 0;
  /// Stock changes the webhook causes if it is accepted: (shop, sku) -> units.
  std::vector<std::pair<std::pair<int, int>, int>> stock_effects;
  std::string order_key;     ///< the order whose sale or return the effects are
  bool sale_effect = false;  ///< effects are the order's sale (else its return)
  /// A stock count of (shop, sku); with a delivery, (shop, sku) gets `restock_units` if accepted.
  std::pair<int, int> restock_key{-1, -1};
  int64_t restock_units = 0;
};

/// The record channel-api writes for `w` once it has fetched the order
/// detail the generator gave the API stub (cf/tiktok_order.h), or empty when
/// `w` is not a TikTok order notification.
std::string enriched_record(const GeneratedWebhook& w, int64_t fetched_at_ms);

class WebhookGenerator {
 public:
  explicit WebhookGenerator(GeneratorSettings settings);
  GeneratedWebhook next();
  /// shop_id -> creator_id mapping matching what the generator sends.
  std::string shop_directory_json() const;
  /// Secrets JSON matching the generator's signatures.
  std::string secrets_json() const;
  /// The channel connector's shops file: every TikTok shop's cipher and
  /// tokens (access tokens valid for `access_ttl_s` from `now_s`), which the
  /// connector keeps up to date as it refreshes them.
  std::string channel_tokens_json(int64_t now_s, int64_t access_ttl_s) const;
  /// SKU mapping for the reconciler: Shopify inventory items -> product SKUs.
  std::string sku_mapping_json() const;
  /// Ground truth: units each creator has of each product SKU after every
  /// webhook generated so far that was accepted ({"<creator>|<sku>": units}).
  std::string stock_json() const;
  std::string creator_of_shop(int shop) const { return "creator-" + std::to_string(100 + shop); }
  const GeneratorSettings& settings() const { return settings_; }

 private:
  std::string shop_id(int index) const;
  struct OpenOrder;
  std::string order_detail_json(const OpenOrder& order, const char* status, int64_t ts) const;
  int pick_sku();
  GeneratedWebhook make_order(int64_t ts);
  GeneratedWebhook make_stock(int64_t ts);
  GeneratedWebhook make_shipping(int64_t ts);
  GeneratedWebhook make_shopify(int64_t ts);
  std::string shop_domain(int index) const;
  /// Shopify inventory item of `sku` in `shop` (items are per shop, as in Shopify).
  static int64_t inventory_item_id(int shop, int sku);
  void sign(GeneratedWebhook& w) const;
  int64_t& stock(int shop, int sku);
  /// The count a channel reports at second `ts`: sales and returns of that
  /// same second are not in it yet (counts cover what happened before them).
  int64_t reported_stock(int shop, int sku, int64_t ts);
  /// A count of (shop, sku) at `ts`, with a delivery of stock when it runs low.
  int64_t count_with_restock(GeneratedWebhook& w, int shop, int sku, int64_t ts);
  /// Applies an accepted record's effects to the stock; returns the (shop, sku) it changed.
  std::vector<std::pair<int, int>> apply_effects(const GeneratedWebhook& w);
  /// What the API stub must know of `changed` after record `version`.
  std::vector<std::pair<std::string, std::string>> stub_levels(
      const std::vector<std::pair<int, int>>& changed, uint64_t version);

  GeneratorSettings settings_;
  std::mt19937_64 rng_;
  std::vector<double> sku_cdf_;
  uint64_t sequence_ = 0;
  uint64_t order_counter_ = 0;
  int burst_remaining_ = 0;
  int burst_sku_ = 0;
  std::deque<GeneratedWebhook> recent_valid_;  ///< candidates for duplicates
  /// Recent Shopify inventory bodies: Shopify can send the same level twice
  /// (same item, count and second) under two webhook ids, and the validator
  /// drops the second as a duplicate body, so the generator expects that.
  std::deque<std::string> recent_level_bodies_;
  struct OpenOrder {
    std::string order_id;
    int shop = 0;
    int status_index = 0;
    std::vector<std::pair<int, int>> items;  ///< (sku, quantity)
    bool sale_counted = false;               ///< an accepted paid notification reached the pipeline
    bool shipped = false;                    ///< a shipping event names it: no cancellation
    int tracking_step = 0;                   ///< AfterShip tags sent for its label so far
    bool shopify = false;
    int64_t create_time = 0;
    int64_t paid_time = 0;
  };
  std::unordered_map<std::string, OpenOrder> orders_;
  std::deque<std::string> open_orders_;     ///< TikTok orders still changing
  std::deque<std::string> shopify_orders_;  ///< Shopify orders that may be cancelled
  std::map<std::pair<int, int>, int64_t> stock_;
  /// (shop, sku) -> (second, units changed in that second)
  std::map<std::pair<int, int>, std::pair<int64_t, int64_t>> same_second_;
};

}  // namespace cf
