#pragma once
// TikTok Shop's stock, as the scheduled inventory sync reads it, in plain
// code: the signed Search Products and Inventory Search requests, their
// answers, when a tick or a command starts a sync round, and the stock-count
// records a round writes. No network, no clock of its own.
//
// A round for a shop: Search Products (POST /product/202309/products/search,
// 100 products a page, page_token to the next) lists the shop's products;
// Inventory Search (POST /product/202309/inventory/search, the page's product
// ids in the body) gives each SKU's total_available_quantity. Each SKU becomes
// one record in TikTok's notification envelope with type 1001
// (INVENTORY_STOCK_SYNC, schemas/inventory_stock_sync.schema.json), which the
// validator turns into inventory.stock_updated with source scheduled_sync.
//
// Rounds are driven by the log (ticks and commands on the sync topic), never
// by a timer of the connector's own:
//   - a tick at time T belongs to round floor(T / interval); the first tick
//     of a round the connector has not started starts it;
//   - a tick (or command) older than one interval when it is read is
//     history: a replay of the sync topic polls nothing and writes nothing;
//   - a round's records carry notification ids derived from the shop, the
//     round and the SKU, so a round repeated after a crash (its tick was not
//     committed) writes the same ids, which the validator drops as duplicates.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cf/http_client.h"
#include "tiktok_order_api.h"

namespace cf {

constexpr const char* kProductsSearchPath = "/product/202309/products/search";
constexpr const char* kInventorySearchPath = "/product/202309/inventory/search";
constexpr size_t kProductsPageSize = 100;

/// "/product/202309/products/search?app_key&page_size&[page_token]&shop_cipher&timestamp&sign";
/// the body (products_search_body()) is part of the signature.
std::string products_search_target(const std::string& app_key, const std::string& app_secret,
                                   const std::string& shop_cipher, const std::string& page_token,
                                   std::string_view body, int64_t timestamp_s);
/// Live products only: {"status":"ACTIVATE"}.
std::string products_search_body();
std::string inventory_search_target(const std::string& app_key, const std::string& app_secret,
                                    const std::string& shop_cipher, std::string_view body,
                                    int64_t timestamp_s);
/// {"product_ids":[...]}
std::string inventory_search_body(const std::vector<std::string>& product_ids);

struct ProductsPage : ApiCallOutcome {
  std::vector<std::string> product_ids;
  std::string next_page_token;  ///< empty on the last page
};
ProductsPage read_products_page(const HttpResult& result);

struct SkuStock {
  std::string product_id;
  std::string sku_id;
  std::string seller_sku;
  int64_t available = 0;  ///< total_available_quantity (all warehouses)
};
struct InventoryAnswer : ApiCallOutcome {
  std::vector<SkuStock> skus;  ///< SKUs with a usable id and quantity
  size_t skipped = 0;          ///< SKUs without them (counted, not written)
};
InventoryAnswer read_inventory_answer(const HttpResult& result);

/// What a record of the sync topic asks for.
struct SyncRequest {
  enum class Kind { kNone, kTick, kCommand };
  Kind kind = Kind::kNone;
  int64_t at_ms = 0;     ///< the tick's time, or when the command was issued
  std::string round;     ///< round label: the round number, or "cmd-<command id>"
  std::string shop_id;   ///< a command for one shop; empty: every shop
  std::string why_none;  ///< for kNone: why the record asks for nothing
};
/// Reads a sync-topic record: a tick (header cf-event-type "tick", the
/// ticker's value) or a command {"command":"sync_inventory","command_id",
/// "requested_at" (epoch ms), "shop_id" (optional)}; anything else is kNone
/// with the reason. `interval_ms` numbers the rounds; a request older than
/// `max_age_ms` at `now_ms` is kNone ("history").
SyncRequest read_sync_request(std::string_view event_type, std::string_view value,
                              int64_t interval_ms, int64_t max_age_ms, int64_t now_ms);
/// The sync command cf-channel-sync writes.
std::string sync_command_json(const std::string& command_id, int64_t requested_at_ms,
                              const std::string& shop_id);

/// Notification id of a round's count of one SKU: "sync-<round>-<24 hex of
/// SHA-256(shop|sku)>", the same whenever the round is repeated.
std::string sync_notification_id(const std::string& shop_id, const std::string& round,
                                 const std::string& sku_id);
/// The type-1001 notification of one SKU's stock, read at `read_s` (epoch
/// seconds: the time the Inventory Search request was sent, so every sale
/// the count may include is at or before it; see docs/processors.md).
std::string stock_sync_notification_json(const std::string& shop_id, const std::string& round,
                                         const SkuStock& sku, int64_t read_s);

}  // namespace cf
