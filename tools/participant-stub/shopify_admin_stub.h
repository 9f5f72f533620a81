#pragma once
// Shopify's Admin API (REST 2024-07) as channel-api's inventory sync meets
// it, played by the participant stub, one store per path prefix:
//
//   GET /shopify/<domain>/admin/api/2024-07/locations.json
//   GET
//   /shopify/<domain>/admin/api/2024-07/inventory_levels.json?location_ids=L&limit=N[&page_info=P]
//       pages linked by `Link: <...>; rel="next"` as Shopify does
//   GET /shopify/<domain>/admin/api/2024-07/inventory_items.json?ids=A,B&limit=N
//   every call: X-Shopify-Access-Token checked (401 {"errors": ...}); a leaky
//   bucket per store (40 calls, 2 leak per second), reported in
//   X-Shopify-Shop-Api-Call-Limit, 429 with Retry-After when full.
//   POST /shopify-stub/inventory?shop=<domain> {"items":[{"inventory_item_id",
//       "sku", "available", "location_id" (optional), "version" (optional)}]}
//       sets stock (tests, loadgen); a level older than the item's last
//       versioned one at that location is ignored
//   POST /shopify-stub/faults {"error_rate"} (503s)
//   GET  /shopify-stub/stats
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>

#include "tiktok_api_stub.h"

namespace cf {

class ShopifyAdminStub {
 public:
  /// `tokens_json`: the shops file's {"shopify": {"shops": {"<domain>":
  /// {"access_token"}}}} (cf-loadgen --write-channel-tokens-file).
  ShopifyAdminStub(const std::string& tokens_json, uint64_t seed);
  static bool serves(std::string_view target);
  StubAnswer handle(std::string_view method, std::string_view target, std::string_view body,
                    std::string_view access_token);

 private:
  struct Level {
    std::string sku;
    std::map<std::string, int64_t> available;  ///< location id -> units
    std::map<std::string, int64_t> versions;   ///< location id -> newest versioned level
  };
  struct Store {
    std::string token;
    std::map<std::string, Level> items;  ///< inventory item id -> level
    double bucket = 0;                   ///< calls in the leaky bucket
    int64_t bucket_at_ms = 0;
  };
  StubAnswer api(Store& store, const std::string& domain, std::string_view resource,
                 const std::map<std::string, std::string>& query);
  StubAnswer set_stock(std::string_view domain, std::string_view body);

  std::map<std::string, Store> stores_;
  std::mt19937_64 rng_;
  double error_rate_ = 0;
  uint64_t locations_calls_ = 0, levels_calls_ = 0, items_calls_ = 0, item_ids_requested_ = 0;
  uint64_t throttled_ = 0, token_failures_ = 0, errors_ = 0;
};

}  // namespace cf
