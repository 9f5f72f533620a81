#include "tiktok_order_api.h"

#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/tiktok_order.h"

namespace cf {
namespace {

constexpr const char* kDetailPath = "/order/202309/orders";

std::string api_error(const rapidjson::Value& doc) {
  return "code " + std::to_string(int_member(doc, "code", -1)) + ": " +
         std::string(string_member(doc, "message").substr(0, 200));
}

// The class of a call that did not succeed, from its status and TikTok code.
ApiVerdict failed_call(int status, int64_t code) {
  if (code == 105001 || code == 105002) return ApiVerdict::kUnauthorized;
  if (code == 106001 || code == 106002) return ApiVerdict::kMisconfigured;
  if (status == 429) return ApiVerdict::kThrottled;
  if (status == 0 || status >= 500) return ApiVerdict::kUnavailable;
  if (status == 401 || status == 403) return ApiVerdict::kUnauthorized;
  return ApiVerdict::kRefused;
}

// Epoch seconds as milliseconds, or -1 outside what the schemas allow (up to
// 99999999999 s): a hostile number must not overflow the multiplication.
int64_t epoch_ms(int64_t seconds) {
  return seconds < 0 || seconds > 99999999999 ? -1 : seconds * 1000;
}

}  // namespace

const char* to_string(ApiVerdict verdict) {
  switch (verdict) {
    case ApiVerdict::kOk:
      return "ok";
    case ApiVerdict::kUnavailable:
      return "unavailable";
    case ApiVerdict::kThrottled:
      return "throttled";
    case ApiVerdict::kUnauthorized:
      return "unauthorized";
    case ApiVerdict::kMisconfigured:
      return "misconfigured";
    case ApiVerdict::kRefused:
      return "refused";
  }
  return "?";
}

std::map<std::string, TikTokShop> parse_tiktok_shops(std::string_view json) {
  rapidjson::Document doc;
  if (!parse_json(doc, json) || !doc.IsObject()) throw ConfigError("shops file: not a JSON object");
  const auto& tiktok = member_or_null(doc, "tiktok");
  const auto& shops = tiktok.IsObject() ? member_or_null(tiktok, "shops") : tiktok;
  if (!shops.IsObject()) throw ConfigError("shops file: no object at /tiktok/shops");
  std::map<std::string, TikTokShop> out;
  for (const auto& m : shops.GetObject()) {
    const std::string id(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsObject()) throw ConfigError("shops file: shop " + id + " is not an object");
    TikTokShop shop;
    shop.shop_id = id;
    shop.shop_cipher = string_member(m.value, "shop_cipher");
    shop.token.access_token = string_member(m.value, "access_token");
    shop.token.access_expires_ms = epoch_ms(int_member(m.value, "access_expires_at", 0));
    shop.token.refresh_token = string_member(m.value, "refresh_token");
    shop.token.refresh_expires_ms = epoch_ms(int_member(m.value, "refresh_expires_at", 0));
    if (shop.shop_cipher.empty() || shop.token.refresh_token.empty())
      throw ConfigError("shops file: shop " + id + " needs shop_cipher and refresh_token");
    if (shop.token.access_expires_ms < 0 || shop.token.refresh_expires_ms < 0)
      throw ConfigError("shops file: shop " + id + ": expiry times are epoch seconds");
    out.emplace(id, std::move(shop));
  }
  return out;
}

std::string tiktok_shops_json(const std::map<std::string, TikTokShop>& shops) {
  JsonBuilder w(256 * shops.size() + 32);
  w.begin_object().key("tiktok").begin_object().key("shops").begin_object();
  for (const auto& [id, shop] : shops) {
    w.escaped_key(id).begin_object();
    w.key("shop_cipher").string(shop.shop_cipher);
    w.key("access_token").string(shop.token.access_token);
    w.key("access_expires_at").number(shop.token.access_expires_ms / 1000);
    w.key("refresh_token").string(shop.token.refresh_token);
    w.key("refresh_expires_at").number(shop.token.refresh_expires_ms / 1000);
    w.end_object();
  }
  w.end_object().end_object().end_object();
  return w.take();
}

std::string order_detail_target(const std::string& app_key, const std::string& app_secret,
                                const std::string& shop_cipher,
                                const std::vector<std::string>& order_ids, int64_t timestamp_s) {
  std::string ids;
  for (const auto& id : order_ids) {
    if (!ids.empty()) ids.push_back(',');
    ids += id;
  }
  return tiktok_signed_target(kDetailPath,
                              {{"app_key", app_key},
                               {"ids", ids},
                               {"shop_cipher", shop_cipher},
                               {"timestamp", std::to_string(timestamp_s)}},
                              "", "", app_secret);
}

std::string token_refresh_target(const std::string& app_key, const std::string& app_secret,
                                 const std::string& refresh_token) {
  // Not signed: the auth host takes the app secret itself (over TLS in production).
  return "/api/v2/token/refresh?app_key=" + percent_encode(app_key) +
         "&app_secret=" + percent_encode(app_secret) +
         "&refresh_token=" + percent_encode(refresh_token) + "&grant_type=refresh_token";
}

namespace {

ApiCallOutcome read_api_call(const HttpResult& result, rapidjson::Document& doc) {
  ApiCallOutcome outcome;
  if (result.status == 0) {
    outcome.error = result.error;
    return outcome;
  }
  if (auto retry = parse_retry_after_ms(result.header("retry-after")))
    outcome.retry_after_ms = *retry;
  const bool parsed = parse_json(doc, result.body) && doc.IsObject();
  const int64_t code = parsed ? int_member(doc, "code", -1) : -1;
  if (result.status != 200 || code != 0) {
    outcome.verdict = failed_call(result.status, code);
    outcome.error = "HTTP " + std::to_string(result.status) +
                    (parsed ? ", " + api_error(doc) : std::string(", unreadable answer"));
    return outcome;
  }
  outcome.verdict = ApiVerdict::kOk;
  return outcome;
}

}  // namespace

const rapidjson::Value* read_api_list(const HttpResult& result, rapidjson::Document& doc,
                                      const char* list, ApiCallOutcome& outcome) {
  outcome = read_api_call(result, doc);
  if (outcome.verdict != ApiVerdict::kOk) return nullptr;
  const auto& data = member_or_null(doc, "data");
  const auto& items = data.IsObject() ? member_or_null(data, list) : data;
  if (!data.IsObject() || !(items.IsArray() || items.IsNull())) {
    outcome.verdict = ApiVerdict::kUnavailable;
    outcome.error = std::string("answer without data.") + list;
    return nullptr;
  }
  return items.IsArray() ? &items : nullptr;
}

DetailAnswer read_detail_answer(const HttpResult& result) {
  DetailAnswer answer;
  rapidjson::Document doc;
  const rapidjson::Value* orders = read_api_list(result, doc, "orders", answer);
  if (orders == nullptr) return answer;
  for (const auto& order : orders->GetArray()) {
    if (!order.IsObject()) continue;
    const std::string id(string_member(order, "id"));
    if (id.empty()) continue;
    answer.orders[id] = {int_member(order, "update_time", 0), int_member(order, "paid_time", 0),
                         order_detail_subset(order)};
  }
  return answer;
}

RefreshAnswer read_refresh_answer(const HttpResult& result) {
  RefreshAnswer answer;
  if (result.status == 0) {
    answer.error = result.error;
    return answer;
  }
  rapidjson::Document doc;
  const bool parsed = parse_json(doc, result.body) && doc.IsObject();
  const int64_t code = parsed ? int_member(doc, "code", -1) : -1;
  const auto& data = parsed ? member_or_null(doc, "data") : doc;
  if (result.status != 200 || code != 0 || !data.IsObject() ||
      string_member(data, "access_token").empty()) {
    answer.verdict = failed_call(result.status, code);
    // A refused refresh token is not fixed by refreshing again.
    if (answer.verdict == ApiVerdict::kUnauthorized || code == 105008)
      answer.verdict = ApiVerdict::kMisconfigured;
    answer.error = "HTTP " + std::to_string(result.status) +
                   (parsed ? ", " + api_error(doc) : std::string(", unreadable answer"));
    return answer;
  }
  answer.token.access_token = string_member(data, "access_token");
  answer.token.access_expires_ms = epoch_ms(int_member(data, "access_token_expire_in", 0));
  answer.token.refresh_token = string_member(data, "refresh_token");
  answer.token.refresh_expires_ms = epoch_ms(int_member(data, "refresh_token_expire_in", 0));
  if (answer.token.access_expires_ms <= 0 || answer.token.refresh_expires_ms < 0) {
    answer.error = "token answer with an expiry that is not epoch seconds";
    return answer;  // unavailable: retried with backoff
  }
  answer.verdict = ApiVerdict::kOk;
  return answer;
}

std::optional<OrderNotification> read_order_notification(std::string_view body,
                                                         const SchemaRegistry& schemas) {
  rapidjson::Document doc;
  if (!parse_json(doc, body) || schemas.validate("tiktok_webhook", doc)) return std::nullopt;
  if (doc["type"].GetInt64() != 1) return std::nullopt;
  const auto& data = doc["data"];
  if (schemas.validate("tiktok_order_status_change", data)) return std::nullopt;
  OrderNotification n;
  n.shop_id = string_member(doc, "shop_id");
  n.order_id = string_member(data, "order_id");
  n.status = string_member(data, "order_status");
  n.update_time = data["update_time"].GetInt64();
  return n;
}

std::string stale_detail_reason(const OrderNotification& notification, const FetchedOrder& order) {
  if (order.update_time < notification.update_time) {
    return "stale_order_detail: the API's update_time " + std::to_string(order.update_time) +
           " is older than the notification's " + std::to_string(notification.update_time);
  }
  if (tiktok_status_is_paid(notification.status) && order.paid_time <= 0) {
    return "stale_order_detail: the notification says " + notification.status +
           " but the API's order has no paid_time yet";
  }
  return {};
}

}  // namespace cf
