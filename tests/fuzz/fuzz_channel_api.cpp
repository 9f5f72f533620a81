// channel-api's decoders on any bytes, selected by the first byte: the
// answers of Get Order Detail and of the token refresh (under any HTTP status
// and headers), a notification, the shops file, a query string, the answers
// of Search Products and Inventory Search, a sync-topic record, and Shopify's
// locations, inventory levels (with any Link header) and inventory items. None may
// crash; every order subset it keeps and every stock count it would write
// must be JSON our strict parse reads back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cf/channel_api_auth.h"
#include "cf/errors.h"
#include "cf/json_parse.h"
#include "shopify_admin_api.h"
#include "tiktok_inventory_api.h"
#include "tiktok_order_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cf::SchemaRegistry schemas = cf::SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  static const int kStatuses[] = {200, 401, 429, 503};
  cf::HttpResult result;
  result.status = kStatuses[(mode >> 3) & 3];
  result.body = bytes;
  if (mode & 0x20) result.headers.emplace_back("retry-after", bytes.substr(0, 8));
  switch (mode & 7) {
    case 0: {
      cf::DetailAnswer answer = cf::read_detail_answer(result);
      for (const auto& [id, order] : answer.orders) {
        rapidjson::Document doc;
        if (!cf::parse_json(doc, order.subset_json)) __builtin_trap();
      }
      break;
    }
    case 1:
      (void)cf::read_refresh_answer(result);
      break;
    case 2:
      (void)cf::read_order_notification(bytes, schemas);
      break;
    case 3:
      try {
        auto shops = cf::parse_tiktok_shops(bytes);
        rapidjson::Document doc;
        if (!cf::parse_json(doc, cf::tiktok_shops_json(shops))) __builtin_trap();
      } catch (const cf::ConfigError&) {
      }
      break;
    case 4:
      if (mode & 0x40) {
        (void)cf::read_shopify_locations(result);
        (void)cf::read_shopify_items(result);
      } else {
        (void)cf::read_products_page(result);
      }
      break;
    case 5: {
      if (mode & 0x40) {
        result.headers.emplace_back("link", bytes.substr(0, 300));
        cf::LevelsAnswer levels = cf::read_shopify_levels(result);
        for (const auto& [item, units] : levels.available) {
          cf::OutputRecord r = cf::shopify_stock_record("t", "store.myshopify.com", "1", item, "1",
                                                        units, "s", 1, 1);
          rapidjson::Document doc;
          if (!cf::parse_json(doc, r.value)) __builtin_trap();
        }
        break;
      }
      cf::InventoryAnswer answer = cf::read_inventory_answer(result);
      for (const auto& sku : answer.skus) {
        rapidjson::Document doc;
        if (!cf::parse_json(doc, cf::stock_sync_notification_json("shop", "1", sku, 1764770400)))
          __builtin_trap();
      }
      break;
    }
    case 6:
      (void)cf::read_sync_request((mode & 0x40) ? "tick" : "sync_inventory", bytes, 300000, 300000,
                                  1764770400000);
      break;
    default:
      (void)cf::parse_query(bytes);
      (void)cf::parse_retry_after_ms(bytes);
      (void)cf::parse_shopify_call_limit(bytes);
      (void)cf::shopify_next_page(bytes);
      try {
        (void)cf::parse_shopify_tokens(bytes);
      } catch (const cf::ConfigError&) {
      }
      break;
  }
  return 0;
}
