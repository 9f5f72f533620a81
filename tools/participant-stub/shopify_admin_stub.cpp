#include "shopify_admin_stub.h"

#include <algorithm>
#include <chrono>

#include "cf/channel_api_auth.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"

namespace cf {
namespace {

constexpr std::string_view kPrefix = "/shopify/";
constexpr std::string_view kApi = "/admin/api/2024-07/";
constexpr std::string_view kDefaultLocation = "655441491";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StubAnswer errors(int status, std::string_view message) {
  JsonBuilder w(64 + message.size());
  w.begin_object().key("errors").string(message).end_object();
  return {status, w.take()};
}

std::string_view param(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it == query.end() ? std::string_view{} : std::string_view(it->second);
}

int64_t number(std::string_view text, int64_t fallback) {
  try {
    return text.empty() ? fallback : std::stoll(std::string(text));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

ShopifyAdminStub::ShopifyAdminStub(const std::string& tokens_json, uint64_t seed) : rng_(seed) {
  rapidjson::Document doc;
  if (tokens_json.empty() || !parse_json(doc, tokens_json) || !doc.IsObject()) return;
  const auto& shopify = member_or_null(doc, "shopify");
  const auto& shops = shopify.IsObject() ? member_or_null(shopify, "shops") : shopify;
  if (!shops.IsObject()) return;
  for (const auto& m : shops.GetObject()) {
    if (m.value.IsObject())
      stores_[m.name.GetString()].token = string_member(m.value, "access_token");
  }
}

bool ShopifyAdminStub::serves(std::string_view target) {
  return target.substr(0, kPrefix.size()) == kPrefix || target.substr(0, 14) == "/shopify-stub/";
}

StubAnswer ShopifyAdminStub::handle(std::string_view method, std::string_view target,
                                    std::string_view body, std::string_view access_token) {
  auto [path, query] = split_target(target);
  if (!query) return errors(400, "malformed query string");
  if (method == "POST" && path == "/shopify-stub/inventory")
    return set_stock(param(*query, "shop"), body);
  if (method == "POST" && path == "/shopify-stub/faults") {
    rapidjson::Document doc;
    if (!parse_json(doc, body) || !doc.IsObject()) return errors(400, "not a JSON object");
    error_rate_ = number_member(doc, "error_rate", 0);
    return {200, "{\"ok\":true}"};
  }
  if (method == "GET" && path == "/shopify-stub/stats") {
    JsonBuilder w(256);
    w.begin_object();
    w.key("locations_calls").number(static_cast<int64_t>(locations_calls_));
    w.key("levels_calls").number(static_cast<int64_t>(levels_calls_));
    w.key("items_calls").number(static_cast<int64_t>(items_calls_));
    w.key("item_ids_requested").number(static_cast<int64_t>(item_ids_requested_));
    w.key("throttled").number(static_cast<int64_t>(throttled_));
    w.key("token_failures").number(static_cast<int64_t>(token_failures_));
    w.key("errors").number(static_cast<int64_t>(errors_));
    w.end_object();
    return {200, w.take()};
  }
  // /shopify/<domain>/admin/api/2024-07/<resource>.json
  const std::string_view rest = path.substr(std::min(path.size(), kPrefix.size()));
  const size_t slash = rest.find('/');
  if (method != "GET" || path.substr(0, kPrefix.size()) != kPrefix ||
      slash == std::string_view::npos || rest.substr(slash, kApi.size()) != kApi)
    return errors(404, "Not Found");
  const std::string domain(rest.substr(0, slash));
  auto store = stores_.find(domain);
  if (store == stores_.end()) return errors(404, "Not Found");
  if (access_token.empty() || !constant_time_equal(access_token, store->second.token)) {
    ++token_failures_;
    return errors(401,
                  "[API] Invalid API key or access token (unrecognized login or wrong password)");
  }
  // The leaky bucket: 40 calls, 2 leaking out per second.
  Store& s = store->second;
  const int64_t now = now_ms();
  s.bucket = std::max(0.0, s.bucket - 2.0 * static_cast<double>(now - s.bucket_at_ms) / 1000.0);
  s.bucket_at_ms = now;
  if (s.bucket + 1 > 40) {
    ++throttled_;
    StubAnswer a = errors(429,
                          "Exceeded 2 calls per second for api client. Reduce request rates to "
                          "resume uninterrupted service.");
    a.headers.emplace_back("Retry-After", "1.0");
    return a;
  }
  s.bucket += 1;
  if (error_rate_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < error_rate_) {
    ++errors_;
    return errors(503, "Service Unavailable (injected)");
  }
  StubAnswer a = api(s, domain, rest.substr(slash + kApi.size()), *query);
  a.headers.emplace_back("X-Shopify-Shop-Api-Call-Limit",
                         std::to_string(static_cast<int>(s.bucket + 0.999)) + "/40");
  return a;
}

StubAnswer ShopifyAdminStub::api(Store& s, const std::string& domain, std::string_view resource,
                                 const std::map<std::string, std::string>& query) {
  JsonBuilder w(4096);
  if (resource == "locations.json") {
    ++locations_calls_;
    std::map<std::string, bool> locations{{std::string(kDefaultLocation), true}};
    for (const auto& [item, level] : s.items)
      for (const auto& [location, units] : level.available) locations[location] = true;
    w.begin_object().key("locations").begin_array();
    for (const auto& [id, active] : locations) {
      w.begin_object().key("id").number(number(id, 0)).key("name").string("Warehouse " + id);
      w.key("active").boolean(active).end_object();
    }
    w.end_array().end_object();
    return {200, w.take()};
  }
  if (resource == "inventory_levels.json") {
    ++levels_calls_;
    const std::string location(param(query, "location_ids"));
    const int64_t limit = number(param(query, "limit"), 50);
    const int64_t offset = number(
        param(query, "page_info").substr(std::min<size_t>(1, param(query, "page_info").size())), 0);
    if (location.empty() || limit < 1 || limit > 250 || offset < 0)
      return errors(400, "location_ids, limit (1-250) and page_info");
    w.begin_object().key("inventory_levels").begin_array();
    int64_t index = 0;
    bool more = false;
    for (const auto& [item, level] : s.items) {
      auto units = level.available.find(location);
      if (units == level.available.end()) continue;
      if (index++ < offset) continue;
      if (index > offset + limit) {
        more = true;
        break;
      }
      w.begin_object().key("inventory_item_id").number(number(item, 0));
      w.key("location_id").number(number(location, 0)).key("available").number(units->second);
      w.key("updated_at").string("2026-12-03T10:00:00-05:00");
      w.key("admin_graphql_api_id")
          .string("gid://shopify/InventoryLevel/" + location + "?inventory_item_id=" + item);
      w.end_object();
    }
    w.end_array().end_object();
    StubAnswer a{200, w.take()};
    if (more) {
      a.headers.emplace_back(
          "Link", "<https://" + domain + "/admin/api/2024-07/inventory_levels.json?limit=" +
                      std::to_string(limit) + "&location_ids=" + location + "&page_info=p" +
                      std::to_string(offset + limit) + ">; rel=\"next\"");
    }
    return a;
  }
  if (resource == "inventory_items.json") {
    ++items_calls_;
    const std::string_view ids = param(query, "ids");
    w.begin_object().key("inventory_items").begin_array();
    size_t count = 0;
    for (size_t start = 0; start < ids.size();) {
      size_t comma = ids.find(',', start);
      if (comma == std::string_view::npos) comma = ids.size();
      const std::string id(ids.substr(start, comma - start));
      start = comma + 1;
      if (++count > 100) return errors(400, "ids: at most 100");
      ++item_ids_requested_;
      auto item = s.items.find(id);
      if (item == s.items.end()) continue;
      w.begin_object().key("id").number(number(id, 0)).key("sku").string(item->second.sku);
      w.key("tracked").boolean(true).key("requires_shipping").boolean(true).end_object();
    }
    w.end_array().end_object();
    return {200, w.take()};
  }
  return errors(404, "Not Found");
}

StubAnswer ShopifyAdminStub::set_stock(std::string_view domain, std::string_view body) {
  auto store = stores_.find(std::string(domain));
  if (store == stores_.end()) return errors(404, "unknown store (not in the shops file)");
  rapidjson::Document doc;
  if (!parse_json(doc, body) || !doc.IsObject() || !member_or_null(doc, "items").IsArray())
    return errors(400, "body must be {\"items\": [...]}");
  for (const auto& item : doc["items"].GetArray()) {
    if (!item.IsObject() || !member_or_null(item, "inventory_item_id").IsInt64() ||
        !member_or_null(item, "available").IsInt64())
      return errors(400, "each item needs integer inventory_item_id and available");
    Level& level = store->second.items[std::to_string(item["inventory_item_id"].GetInt64())];
    const auto& location = member_or_null(item, "location_id");
    const std::string at =
        location.IsInt64() ? std::to_string(location.GetInt64()) : std::string(kDefaultLocation);
    const int64_t version = int_member(item, "version", -1);
    if (version >= 0) {
      auto seen = level.versions.find(at);
      if (seen != level.versions.end() && version < seen->second) continue;  // older
      level.versions[at] = version;
    }
    level.sku = string_member(item, "sku");
    level.available[at] = item["available"].GetInt64();
  }
  return {200, "{\"ok\":true}"};
}

}  // namespace cf
