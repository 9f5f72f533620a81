#pragma once
// channel-api's order enrichment on the runtime: a deferred handler. Each
// TikTok ORDER_STATUS_CHANGE notification waits for its order detail, fetched
// with Get Order Detail in batches per shop (up to 50 ids a call, after a
// short linger); the enriched record is written when the detail arrives, and
// the notification's offset is committed only after that (a crash fetches
// again; the validator drops the second copy by notification id).
//
// What happens when the API does not give the detail:
//   - the call failed (outage, 5xx, timeout, 429, invalid or expired token,
//     refused signature): the notification waits and the call is repeated
//     with backoff (Retry-After when given; a token refresh first when the
//     token was refused), however long it takes: an outage delays, never drops;
//   - the order is not in the answer, or the answer is older than the
//     notification, or the request was refused for its content: that
//     notification is retried with backoff up to --max-attempts, then
//     dead-lettered with the API's error (cf-recover redrive re-sends it).
// Other records (other notification types, bodies breaking the schema) pass
// through unchanged for the validator to accept or reject precisely.
//
// Order: outputs leave in the order their inputs were read, per partition
// (a finished record waits for the earlier ones of its partition), so the
// enriched topic holds each shop's notifications in the order TikTok sent
// them, as the raw topic does; concurrent calls and refetches never reorder
// them. A notification waiting for its detail holds back its partition.
//
// Scheduled inventory sync (tiktok_inventory_api.h, shopify_admin_api.h):
// records of the sync topic (ticks, sync_inventory commands) start rounds; a
// TikTok shop's round reads its products page by page and their stock, a
// Shopify store's its locations' inventory levels and the SKUs of new items, sharing the shop's
// token, rate limits and backoff with the enrichment calls, and the tick's offset is committed once
// every shop's round has ended. A round whose calls keep failing (--max-attempts per call) ends
// without its remaining pages: the next round reads them again. Counts go to the output topic keyed
// by shop (the ingest's key, so the same partition as the shop's notifications).
//
// Threads: start() runs on the worker thread and hands each notification to
// one actor thread (an io_context) that owns every queue, shop and token; the
// HTTP client's callbacks are posted back to it.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cf/http_client.h"
#include "cf/rate_limiter.h"
#include "cf/worker.h"
#include "shopify_admin_api.h"
#include "tiktok_inventory_api.h"
#include "tiktok_order_api.h"

namespace cf {

struct TikTokApp {
  std::string app_key;
  std::string app_secret;
  HttpEndpoint api;   ///< Open API host (open-api.tiktokglobalshop.com in production)
  HttpEndpoint auth;  ///< token host (auth.tiktok-shops.com in production)
};

struct EnrichmentSettings {
  std::string output_topic = "webhooks.tiktok.enriched";
  std::string dead_letter_topic = "dlq.channel-api";
  std::string shops_file;  ///< rewritten (0600) after each token refresh; empty: kept in memory
  int linger_ms = 20;      ///< how long a shop's first waiting id waits for company
  int call_timeout_ms = 5000;
  int max_attempts = 6;  ///< per notification, for failures of its order (not of the API)
  int retry_base_ms = 500;
  int retry_max_ms = 30000;
  size_t max_in_flight = 5000;  ///< notifications waiting for details; reading stops there
  int max_calls_per_shop = 4;
  double shop_calls_per_second = 20;                 ///< token bucket per shop
  double app_calls_per_second = 200;                 ///< token bucket for the whole app
  int64_t refresh_margin_ms = 3600 * 1000;           ///< refresh this long before the token expires
  std::string sync_topic = "channel.sync.commands";  ///< ticks and sync commands
  int64_t sync_interval_ms = 5 * 60 * 1000;          ///< a round per shop this often
  /// Shopify stores synced too: domain -> Admin API access token.
  std::map<std::string, std::string> shopify_tokens;
  /// Admin API base URL per store, "{shop}" replaced by its domain.
  std::string shopify_url_template = "http://127.0.0.1:8090/shopify/{shop}";
  std::string shopify_output_topic = "webhooks.shopify.raw";
  std::string shopify_items_changelog = "channel-api.shopify-items.changelog";
  /// "<domain>|<item id>" -> SKU, as read back from the changelog at start.
  std::map<std::string, std::string> shopify_skus;
};

class EnrichmentHandler : public DeferredHandler {
 public:
  EnrichmentHandler(TikTokApp app, std::map<std::string, TikTokShop> shops,
                    const SchemaRegistry& schemas, EnrichmentSettings settings, HttpClient& client);
  ~EnrichmentHandler() override;
  EnrichmentHandler(const EnrichmentHandler&) = delete;
  EnrichmentHandler& operator=(const EnrichmentHandler&) = delete;

  void start(const InputRecord& input, uint64_t ticket) override;
  void maintain(int64_t, const std::function<bool()>&, const std::function<bool()>&) override;

 private:
  struct Pending {
    uint64_t ticket = 0;
    std::string shop_id;
    OrderNotification fields;  ///< order id, status and update_time of the notification
    std::string notification;
    OutputRecord output;       ///< enriched record, value filled when fetched
    OutputRecord dead_letter;  ///< with an empty cf-dlq-error until used
    int attempts = 0;          ///< failures of this order (not of the API)
    int64_t not_before_ms = 0;
    int64_t started_ms = 0;  ///< steady, for the latency figure
  };
  /// One shop's part of a sync round: pages of products, then their stock.
  struct SyncJob {
    uint64_t ticket = 0;  ///< the tick or command it belongs to
    std::string round;
    bool reading_stock = false;  ///< false: next call lists products; true: reads their stock
    std::string page_token;      ///< of the next products page
    bool more_pages = true;
    std::vector<std::string> product_ids;  ///< the page whose stock is read next
    bool in_flight = false;
    int attempts = 0;  ///< failed calls in a row
    int64_t not_before_ms = 0;
    size_t counts = 0;
    // Shopify stores: locations, then each one's levels page by page, then
    // the SKUs of items not in the cache.
    bool shopify = false;
    enum class Step { kLocations, kLevels, kItems } step = Step::kLocations;
    std::vector<std::string> locations;
    size_t location = 0;
    std::string next_target;                   ///< next levels page, when any
    std::map<std::string, int64_t> available;  ///< item -> units, summed over locations
    std::vector<std::string> unknown_items;    ///< items whose SKU is looked up
    int64_t read_s = 0;  ///< when the first levels page was asked for: the counts' time
  };
  /// A tick or command: its outputs leave when every shop's round has ended.
  struct SyncTicket {
    size_t remaining = 0;
    std::vector<OutputRecord> outputs;
  };
  struct ShopState {
    std::deque<Pending> waiting;
    std::deque<SyncJob> syncs;  ///< the front one runs
    std::string last_tick_round;
    int calls_in_flight = 0;
    bool refreshing = false;
    bool token_refused = false;
    int64_t not_before_ms = 0;  ///< after a failed call: backoff or Retry-After
    int failure_streak = 0;     ///< consecutive failed calls (backoff exponent)
  };

  // Actor thread only.
  void pump();
  void arm_timer();
  void call_detail(const std::string& shop_id, ShopState& state, int64_t now);
  void on_detail(const std::string& shop_id, std::vector<Pending> batch, HttpResult result,
                 int64_t sent_ms);
  void refresh_token(const std::string& shop_id, ShopState& state);
  void on_refresh(const std::string& shop_id, HttpResult result);
  void retry_or_dead_letter(const std::string& shop_id, Pending p, const std::string& error);
  void back_off(ShopState& state, int64_t now, std::optional<int64_t> retry_after_ms);
  void save_shops();
  void start_sync(const InputRecord& input, uint64_t ticket);
  void begin_sync(uint64_t ticket, const std::string& round, bool tick,
                  const std::vector<std::string>& shops);
  void call_sync(const std::string& shop_id, ShopState& state);
  void on_sync_answer(const std::string& shop_id, HttpResult result, int64_t read_s);
  void end_sync(const std::string& shop_id, ShopState& state, const char* outcome);
  void call_shopify(const std::string& key, ShopState& state);
  void on_shopify_answer(const std::string& key, HttpResult result);
  /// A Shopify round's counts, once every SKU is known.
  void finish_shopify(const std::string& key, ShopState& state);
  // Any thread.
  void finish(uint64_t ticket, OutputRecord output, int64_t started_ms);
  /// Registers `ticket` as the next input of `partition` (input order).
  void enqueue_in_order(int32_t partition, uint64_t ticket);

  TikTokApp app_;
  std::map<std::string, TikTokShop> shops_;  ///< actor thread (tokens change)
  std::vector<std::string> known_shops_;     ///< sorted, immutable: the worker thread's view
  /// Shopify stores by state key ("shopify:<domain>"): their Admin API endpoint.
  std::map<std::string, HttpEndpoint> shopify_endpoints_;
  const SchemaRegistry& schemas_;
  EnrichmentSettings settings_;
  HttpClient& client_;
  TokenBucketRateLimiter shop_calls_;
  TokenBucketRateLimiter app_calls_;
  std::mt19937_64 jitter_{20260901};
  std::map<std::string, ShopState> states_;
  std::map<uint64_t, SyncTicket> sync_tickets_;

  // Finished outputs held until every earlier input of their partition is
  // finished: partition -> ticket (increasing with the offset) -> output.
  struct Slot {
    bool done = false;
    OutputRecord output;
    int64_t started_ms = -1;  ///< steady; -1: not an enrichment (no latency observed)
  };
  std::mutex order_mutex_;
  std::map<int32_t, std::map<uint64_t, Slot>> in_order_;
  std::map<uint64_t, int32_t> partition_of_;

  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer timer_;
  std::thread thread_;
};

}  // namespace cf
