#pragma once
// Shopify's Admin API (REST, version 2024-07) as the scheduled inventory sync
// reads it, in plain code: the requests, their answers, the shops file's
// Shopify part, and the stock-count records. No network, no clock.
//
// A round for a store: Get Locations, then each location's inventory levels
// (250 a page, following the `Link: <...page_info=...>; rel="next"` header),
// then the SKU of every inventory item not yet known (Get Inventory Items,
// 100 ids a call). The SKUs are cached and written to a compacted changelog
// topic, which a restart reads back, so an item is looked up once; the SKU
// mapping file stays an override (the reconciler applies it first).
//
// Every call carries `X-Shopify-Access-Token`; the answer's
// `X-Shopify-Shop-Api-Call-Limit: <used>/<size>` says how full the store's
// leaky bucket is, and the next call waits until it has room
// (shopify_wait_ms); 429 comes with Retry-After.
//
// One count per item: the sum of `available` over the store's locations
// (the ledger is per SKU, not per location), as a Shopify
// inventory_levels/update body on webhooks.shopify.raw, keyed like the
// ingest keys it, with the headers the ingest writes plus
// `cf-enrichment: scheduled_sync` and `cf-shopify-sku`.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cf/http_client.h"
#include "cf/records.h"
#include "tiktok_order_api.h"

namespace cf {

constexpr const char* kShopifyApiVersionPath = "/admin/api/2024-07";
constexpr size_t kShopifyLevelsPageSize = 250;
constexpr size_t kShopifyItemsPerCall = 100;

/// The shops file's {"shopify": {"shops": {"<domain>": {"access_token"}}}}
/// (absent: no Shopify store is synced). Throws ConfigError naming the store.
std::map<std::string, std::string> parse_shopify_tokens(std::string_view json);

std::string shopify_locations_target();
/// The first page; later pages use the target from the Link header.
std::string shopify_levels_target(const std::string& location_id);
std::string shopify_items_target(const std::vector<std::string>& item_ids);
/// The path and query of the `rel="next"` link of a Link header, or empty.
std::string shopify_next_page(std::string_view link_header);

/// What a Shopify answer means, as for TikTok's (ApiVerdict): 401/403 an
/// invalid token (kMisconfigured: Shopify tokens are not refreshed), 429
/// throttled, 5xx or no answer unavailable, other 4xx refused.
struct ShopifyAnswer : ApiCallOutcome {
  int64_t wait_ms = 0;    ///< before the next call to this store (leaky bucket)
  std::string next_page;  ///< target of the next page, or empty
};
struct LocationsAnswer : ShopifyAnswer {
  std::vector<std::string> location_ids;  ///< active locations
};
LocationsAnswer read_shopify_locations(const HttpResult& result);
struct LevelsAnswer : ShopifyAnswer {
  std::map<std::string, int64_t> available;  ///< inventory item id -> units at this location
};
LevelsAnswer read_shopify_levels(const HttpResult& result);
struct ItemsAnswer : ShopifyAnswer {
  std::map<std::string, std::string> skus;  ///< inventory item id -> SKU (may be empty)
};
ItemsAnswer read_shopify_items(const HttpResult& result);

/// The stock-count record of one item: key "inventory_item:<id>", body
/// {"inventory_item_id","location_id","available","updated_at"} (read time,
/// whole seconds, UTC), webhook id "sync-<round>-<24 hex of SHA-256(store|item)>".
OutputRecord shopify_stock_record(const std::string& topic, const std::string& domain,
                                  const std::string& round, const std::string& item_id,
                                  const std::string& location_id, int64_t available,
                                  const std::string& sku, int64_t read_s, int64_t now_ms);

/// The item-SKU cache's changelog record (key "<store>|<item>", value the SKU)
/// and its reading.
OutputRecord shopify_item_changelog_record(const std::string& topic, const std::string& domain,
                                           const std::string& item_id, const std::string& sku);
std::optional<std::pair<std::string, std::string>> read_shopify_item_changelog(
    std::string_view key, std::string_view value);

}  // namespace cf
