#pragma once
// TikTok Shop's Open API as the channel-api connector meets it, played by the
// participant stub: Get Order Detail and the token refresh, verifying the
// request signature, the timestamp and the shop's access token the way the
// platform does, with the same kinds of faults.
//
//   GET  /order/202309/orders?app_key&timestamp&shop_cipher&ids&sign
//        (header x-tts-access-token)     orders of that shop among ids (<= 50)
//   GET  /api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token
//   POST /product/202309/products/search?app_key&timestamp&shop_cipher&page_size&[page_token]&sign
//        body {"status":"ACTIVATE"}         the shop's products, page by page
//   POST /product/202309/inventory/search?app_key&timestamp&shop_cipher&sign
//        body {"product_ids":[...]} (<= 100) their SKUs' total_available_quantity
//   POST /tiktok/inventory?shop_id=S {"skus":[{"product_id","sku_id","seller_sku",
//        "quantity","version"?}]}           the load generator or a test sets stock;
//        a level older than the SKU's last versioned one is ignored (load
//        generator connections race)
//   POST /tiktok/orders?shop_id=S  <order JSON>   the load generator hands over
//        an order before notifying it; an older version of a known order is ignored
//        (the stock an order takes comes with the load generator's levels)
//   POST /tiktok/faults {"latency_ms", "error_rate" (503), "throttle_rate" (429
//        with Retry-After: "retry_after_s"), "hang", "expire_tokens" (every
//        access token issued so far expires now)}
//   GET  /tiktok/stats
//
// Error answers carry TikTok's envelope {"code", "message", "request_id"}; the
// codes are this stub's (the connector tells them apart by class, see
// connectors/channel-api): 105001 invalid access token, 105002 expired access
// token, 106001 invalid signature, 106002 stale timestamp, 36004004 bad
// parameter, 105008 invalid refresh token.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cf {

struct StubAnswer {
  int status = 200;
  std::string body;
  int latency_ms = 0;
  bool hang = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

class TikTokApiStub {
 public:
  /// `secrets_json`: app_key and app_secret (the ingest's secrets file);
  /// `tokens_json`: the shops' ciphers and first tokens (channel-api's shops
  /// file, as cf-loadgen --write-channel-tokens-file writes it). Either may
  /// be empty: the API then refuses every call as unauthorised.
  TikTokApiStub(const std::string& secrets_json, const std::string& tokens_json,
                int64_t token_ttl_s, uint64_t seed);
  /// True when `target` is one of this API's paths.
  static bool serves(std::string_view target);
  StubAnswer handle(std::string_view method, std::string_view target, std::string_view body,
                    std::string_view access_token_header);

 private:
  struct Shop {
    std::string shop_id;
    std::string access_token;
    int64_t access_expires_s = 0;
    std::string refresh_token;
    int tokens_issued = 0;
  };
  struct Order {
    std::string shop_id;
    int64_t update_time = 0;
    std::string json;
    int status_rank = -1;  ///< order_status_rank of its status
  };
  struct Fault {
    int latency_ms = 0;
    double error_rate = 0;
    double throttle_rate = 0;
    int retry_after_s = 1;
    bool hang = false;
  };
  struct Stats {
    uint64_t detail_calls = 0, ids_requested = 0, orders_returned = 0, max_ids_per_call = 0;
    uint64_t sign_failures = 0, token_failures = 0, refreshes = 0, throttled = 0, errors = 0;
    uint64_t orders_stored = 0;
    uint64_t products_calls = 0, inventory_calls = 0, skus_returned = 0;
  };
  struct StockLevel {
    std::string seller_sku;
    int64_t quantity = 0;
    int64_t version = -1;  ///< the newest versioned level set (-1: none)
  };
  /// Verifies app key, signature, timestamp, cipher and token as the
  /// platform does: an error answer, or nullopt with `shop` set.
  std::optional<StubAnswer> authenticate(const std::map<std::string, std::string>& query,
                                         std::string_view path, std::string_view body,
                                         std::string_view access_token, const Shop*& shop);
  StubAnswer stock_call(const std::map<std::string, std::string>& query, std::string_view path,
                        std::string_view body, std::string_view access_token);
  StubAnswer store_stock(std::string_view shop_id, std::string_view body);
  StubAnswer order_detail(const std::map<std::string, std::string>& query, std::string_view path,
                          std::string_view access_token);
  StubAnswer refresh(const std::map<std::string, std::string>& query);
  StubAnswer store_order(std::string_view shop_id, std::string_view body);
  StubAnswer set_fault(std::string_view body);
  std::string stats_json() const;
  bool roll(double share);
  /// TikTok's error envelope {"code", "message", "request_id"}.
  StubAnswer error(int status, int code, std::string_view message);

  std::string app_key_, app_secret_;
  int64_t token_ttl_s_;
  std::mt19937_64 rng_;
  std::map<std::string, Shop> shops_by_cipher_;
  std::unordered_map<std::string, Order> orders_;
  /// shop id -> product id -> SKU id -> level (ordered: stable pages)
  std::map<std::string, std::map<std::string, std::map<std::string, StockLevel>>> stock_;
  Fault fault_;
  Stats stats_;
  uint64_t next_request_ = 0;
};

}  // namespace cf
