#include "shopify_admin_api.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "cf/channel_api_auth.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"
#include "cf/tiktok_order.h"
#include "cf/time_format.h"

namespace cf {
namespace {

// Shopify ids are JSON integers; as text they key maps and build queries.
std::string id_text(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsInt64() || it->value.GetInt64() < 1) return {};
  return std::to_string(it->value.GetInt64());
}

bool digits_only(std::string_view text) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

// The outcome of any Admin API answer and the store's bucket; the parsed
// answer is in `doc` when kOk.
template <typename Answer>
bool read_shopify(const HttpResult& result, rapidjson::Document& doc, const char* list,
                  Answer& answer, const rapidjson::Value*& items) {
  items = nullptr;
  if (auto limit = parse_shopify_call_limit(result.header("x-shopify-shop-api-call-limit")))
    answer.wait_ms = shopify_wait_ms(*limit, 2.0);
  if (auto retry = parse_retry_after_ms(result.header("retry-after"))) {
    answer.retry_after_ms = *retry;
    answer.wait_ms = std::max(answer.wait_ms, *retry);
  }
  if (result.status == 0) {
    answer.error = result.error;
    return false;
  }
  const bool parsed = parse_json(doc, result.body) && doc.IsObject();
  if (result.status != 200) {
    const int s = result.status;
    answer.verdict = s == 401 || s == 403 ? ApiVerdict::kMisconfigured
                     : s == 429           ? ApiVerdict::kThrottled
                     : s >= 500           ? ApiVerdict::kUnavailable
                                          : ApiVerdict::kRefused;
    std::string detail;
    if (parsed && doc.HasMember("errors") && doc["errors"].IsString())
      detail = std::string(doc["errors"].GetString()).substr(0, 200);
    answer.error = "HTTP " + std::to_string(s) + (detail.empty() ? "" : ", " + detail);
    return false;
  }
  const auto& array = parsed ? member_or_null(doc, list) : doc;
  if (!array.IsArray()) {
    answer.error = std::string("answer without ") + list;
    return false;  // unavailable: retried
  }
  answer.verdict = ApiVerdict::kOk;
  answer.next_page = shopify_next_page(result.header("link"));
  items = &array;
  return true;
}

}  // namespace

std::map<std::string, std::string> parse_shopify_tokens(std::string_view json) {
  rapidjson::Document doc;
  if (!parse_json(doc, json) || !doc.IsObject()) throw ConfigError("shops file: not a JSON object");
  std::map<std::string, std::string> out;
  const auto& shopify = member_or_null(doc, "shopify");
  if (shopify.IsNull()) return out;
  const auto& shops = shopify.IsObject() ? member_or_null(shopify, "shops") : shopify;
  if (!shops.IsObject()) throw ConfigError("shops file: no object at /shopify/shops");
  for (const auto& m : shops.GetObject()) {
    const std::string domain(m.name.GetString(), m.name.GetStringLength());
    const std::string_view token =
        m.value.IsObject() ? string_member(m.value, "access_token") : std::string_view{};
    // The domain goes into URLs: letters, digits, dots and dashes only.
    bool plain = !domain.empty() && domain.size() <= 255;
    for (char c : domain)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-');
    if (!plain || token.empty())
      throw ConfigError("shops file: Shopify store '" + domain.substr(0, 64) +
                        "' needs a plain domain and an access_token");
    out.emplace(domain, std::string(token));
  }
  return out;
}

std::string shopify_locations_target() {
  return std::string(kShopifyApiVersionPath) + "/locations.json";
}

std::string shopify_levels_target(const std::string& location_id) {
  return std::string(kShopifyApiVersionPath) +
         "/inventory_levels.json?location_ids=" + percent_encode(location_id) +
         "&limit=" + std::to_string(kShopifyLevelsPageSize);
}

std::string shopify_items_target(const std::vector<std::string>& item_ids) {
  std::string ids;
  for (const auto& id : item_ids) ids += (ids.empty() ? "" : ",") + id;
  return std::string(kShopifyApiVersionPath) + "/inventory_items.json?ids=" + percent_encode(ids) +
         "&limit=" + std::to_string(kShopifyItemsPerCall);
}

std::string shopify_next_page(std::string_view link) {
  // <https://shop.myshopify.com/admin/api/2024-07/inventory_levels.json?page_info=x&limit=250>;
  // rel="next"
  for (size_t start = 0; start < link.size();) {
    size_t end = link.find(',', start);
    if (end == std::string_view::npos) end = link.size();
    const std::string_view part = link.substr(start, end - start);
    start = end + 1;
    if (part.find("rel=\"next\"") == std::string_view::npos) continue;
    const size_t open = part.find('<'), close = part.find('>');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) continue;
    std::string_view url = part.substr(open + 1, close - open - 1);
    // Keep the path from the API version on: the host is the store's, ours
    // is the endpoint's (a proxy, or the stub).
    const size_t path = url.find(kShopifyApiVersionPath);
    if (path == std::string_view::npos || url.size() > 4096) return {};
    std::string target(url.substr(path));
    for (char c : target)
      if (static_cast<unsigned char>(c) <= ' ' || c == '#') return {};
    return target;
  }
  return {};
}

LocationsAnswer read_shopify_locations(const HttpResult& result) {
  LocationsAnswer answer;
  rapidjson::Document doc;
  const rapidjson::Value* items = nullptr;
  if (!read_shopify(result, doc, "locations", answer, items)) return answer;
  for (const auto& location : items->GetArray()) {
    if (!location.IsObject()) continue;
    const auto& active = member_or_null(location, "active");
    if (active.IsBool() && !active.GetBool()) continue;
    std::string id = id_text(location, "id");
    if (!id.empty()) answer.location_ids.push_back(std::move(id));
  }
  return answer;
}

LevelsAnswer read_shopify_levels(const HttpResult& result) {
  LevelsAnswer answer;
  rapidjson::Document doc;
  const rapidjson::Value* items = nullptr;
  if (!read_shopify(result, doc, "inventory_levels", answer, items)) return answer;
  for (const auto& level : items->GetArray()) {
    if (!level.IsObject()) continue;
    const std::string item = id_text(level, "inventory_item_id");
    const auto& available = member_or_null(level, "available");
    // Untracked items have "available": null: no count to report.
    if (item.empty() || !available.IsInt64()) continue;
    const int64_t units = std::max<int64_t>(0, available.GetInt64());  // oversold: none left
    answer.available[item] = std::min<int64_t>(100000000, units);
  }
  return answer;
}

ItemsAnswer read_shopify_items(const HttpResult& result) {
  ItemsAnswer answer;
  rapidjson::Document doc;
  const rapidjson::Value* items = nullptr;
  if (!read_shopify(result, doc, "inventory_items", answer, items)) return answer;
  for (const auto& item : items->GetArray()) {
    if (!item.IsObject()) continue;
    const std::string id = id_text(item, "id");
    const std::string_view sku = string_member(item, "sku");
    if (!id.empty() && sku.size() <= 128) answer.skus[id] = std::string(sku);
  }
  return answer;
}

OutputRecord shopify_stock_record(const std::string& topic, const std::string& domain,
                                  const std::string& round, const std::string& item_id,
                                  const std::string& location_id, int64_t available,
                                  const std::string& sku, int64_t read_s, int64_t now_ms) {
  int64_t item = 0, location = 0;
  std::from_chars(item_id.data(), item_id.data() + item_id.size(), item);
  std::from_chars(location_id.data(), location_id.data() + location_id.size(), location);
  JsonBuilder w(192);
  w.begin_object().key("inventory_item_id").number(item).key("location_id").number(location);
  w.key("available").number(available);
  w.key("updated_at").string(format_rfc3339_ms(read_s * 1000));
  w.end_object();
  OutputRecord record;
  record.topic = topic;
  record.key = "inventory_item:" + item_id;  // the ingest's key for this record
  record.value = w.take();
  record.headers = {{"cf-source", "shopify"},
                    {"cf-shopify-topic", "inventory_levels/update"},
                    {"cf-shopify-webhook-id",
                     "sync-" + round + "-" + sha256_hex(domain + "|" + item_id).substr(0, 24)},
                    {"cf-shop-domain", domain},
                    {"cf-received-at", std::to_string(now_ms)},
                    {"cf-request-id", "sync-" + round + "-" + domain},
                    {kEnrichmentHeader, std::string(kScheduledSync)},
                    {"cf-shopify-sku", sku}};
  return record;
}

OutputRecord shopify_item_changelog_record(const std::string& topic, const std::string& domain,
                                           const std::string& item_id, const std::string& sku) {
  OutputRecord record;
  record.topic = topic;
  record.key = domain + "|" + item_id;
  record.value = sku;
  record.partition = 0;
  return record;
}

std::optional<std::pair<std::string, std::string>> read_shopify_item_changelog(
    std::string_view key, std::string_view value) {
  const size_t bar = key.rfind('|');
  if (bar == std::string_view::npos || bar == 0 || !digits_only(key.substr(bar + 1)) ||
      value.size() > 128)
    return std::nullopt;
  return std::make_pair(std::string(key), std::string(value));
}

}  // namespace cf
