#pragma once
// TikTok Shop's Get Order Detail and token refresh as plain code: the signed
// requests channel-api sends, and what their answers mean for the
// notifications waiting on them. No network, no clock of its own.
#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cf/channel_api_auth.h"
#include "cf/http_client.h"
#include "cf/schemas.h"

namespace cf {

/// A shop the connector may call: its cipher (TikTok's shop handle in API
/// calls) and its tokens.
struct TikTokShop {
  std::string shop_id;
  std::string shop_cipher;
  AccessToken token;
};

/// The shops file (cf-loadgen --write-channel-tokens-file writes one):
/// {"tiktok": {"shops": {"<shop_id>": {"shop_cipher", "access_token",
/// "access_expires_at", "refresh_token", "refresh_expires_at"}}}} (times in
/// epoch seconds). Throws ConfigError naming the problem (never a token).
std::map<std::string, TikTokShop> parse_tiktok_shops(std::string_view json);
/// The same file with the current tokens, for rewriting after a refresh.
std::string tiktok_shops_json(const std::map<std::string, TikTokShop>& shops);

/// "/order/202309/orders?app_key=..&ids=..&shop_cipher=..&timestamp=..&sign=.."
std::string order_detail_target(const std::string& app_key, const std::string& app_secret,
                                const std::string& shop_cipher,
                                const std::vector<std::string>& order_ids, int64_t timestamp_s);
/// "/api/v2/token/refresh?app_key=..&app_secret=..&refresh_token=..&grant_type=refresh_token"
std::string token_refresh_target(const std::string& app_key, const std::string& app_secret,
                                 const std::string& refresh_token);

/// What an answer of the API means for the notifications waiting on it.
/// Problems of the call (outage, throttling, credentials) delay them, however
/// long they last; problems of an order (absent from the answer, a parameter
/// refused) count against that notification's bounded attempts.
enum class ApiVerdict {
  kOk,             ///< orders in `orders`
  kUnavailable,    ///< transport error, timeout, open circuit, 5xx, unreadable answer
  kThrottled,      ///< 429: wait retry_after_ms (or back off)
  kUnauthorized,   ///< access token invalid or expired: refresh, then call again
  kMisconfigured,  ///< app key, signature or clock refused: an operator must act; retried
  kRefused,        ///< the request was refused for its content (bad parameter)
};
const char* to_string(ApiVerdict verdict);

/// What any Open API answer says before its data is read: kOk when HTTP 200
/// and code 0, otherwise the class of the failure with the API's code and
/// message. Every answer type below carries it.
struct ApiCallOutcome {
  ApiVerdict verdict = ApiVerdict::kUnavailable;
  std::string error;  ///< the API's code and message, or the transport error
  std::optional<int64_t> retry_after_ms;
};
/// The outcome of an answer, then the array data.<list> of a successful one: null
/// when TikTok left it out (it does for empty lists). An answer without
/// `data`, or whose list is not an array, is kUnavailable (retried).
const rapidjson::Value* read_api_list(const HttpResult& result, rapidjson::Document& doc,
                                      const char* list, ApiCallOutcome& outcome);

struct FetchedOrder {
  int64_t update_time = 0;  ///< seconds
  int64_t paid_time = 0;    ///< seconds; 0 while unpaid
  std::string subset_json;  ///< order_detail_subset(): what the enriched record carries
};

struct DetailAnswer : ApiCallOutcome {
  std::map<std::string, FetchedOrder> orders;  ///< by order id
};
DetailAnswer read_detail_answer(const HttpResult& result);

struct RefreshAnswer {
  ApiVerdict verdict = ApiVerdict::kUnavailable;
  std::string error;
  AccessToken token;  ///< when kOk (times in ms)
};
RefreshAnswer read_refresh_answer(const HttpResult& result);

/// The fields of a TikTok ORDER_STATUS_CHANGE notification that enrichment
/// needs, or nullopt when the body is anything else (another type, not JSON,
/// breaking the schema): such records pass through for the validator to judge.
struct OrderNotification {
  std::string shop_id;
  std::string order_id;
  std::string status;
  int64_t update_time = 0;  ///< seconds
};
/// Why `order` cannot enrich `notification` yet (a detail older than the
/// notification), or empty when it can.
std::string stale_detail_reason(const OrderNotification& notification, const FetchedOrder& order);
std::optional<OrderNotification> read_order_notification(std::string_view body,
                                                         const SchemaRegistry& schemas);

}  // namespace cf
