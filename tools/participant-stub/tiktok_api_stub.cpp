#include "tiktok_api_stub.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "cf/channel_api_auth.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/order_status.h"
#include "cf/signature.h"

namespace cf {
namespace {

constexpr std::string_view kDetailPath = "/order/202309/orders";
constexpr std::string_view kRefreshPath = "/api/v2/token/refresh";
constexpr std::string_view kProductsPath = "/product/202309/products/search";
constexpr std::string_view kInventoryPath = "/product/202309/inventory/search";

int64_t now_s() { return static_cast<int64_t>(std::time(nullptr)); }

std::string_view param(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it == query.end() ? std::string_view{} : std::string_view(it->second);
}

}  // namespace

TikTokApiStub::TikTokApiStub(const std::string& secrets_json, const std::string& tokens_json,
                             int64_t token_ttl_s, uint64_t seed)
    : token_ttl_s_(token_ttl_s), rng_(seed) {
  rapidjson::Document secrets;
  if (!secrets_json.empty() && parse_json(secrets, secrets_json) && secrets.IsObject()) {
    const auto& tiktok = member_or_null(secrets, "tiktok");
    if (tiktok.IsObject()) {
      app_key_ = string_member(tiktok, "app_key");
      app_secret_ = string_member(tiktok, "app_secret");
    }
  }
  rapidjson::Document tokens;
  if (!tokens_json.empty() && parse_json(tokens, tokens_json) && tokens.IsObject()) {
    const auto& tiktok = member_or_null(tokens, "tiktok");
    const auto& shops = tiktok.IsObject() ? member_or_null(tiktok, "shops") : tiktok;
    if (shops.IsObject()) {
      for (const auto& m : shops.GetObject()) {
        if (!m.value.IsObject()) continue;
        Shop shop;
        shop.shop_id = m.name.GetString();
        shop.access_token = string_member(m.value, "access_token");
        shop.access_expires_s = int_member(m.value, "access_expires_at", 0);
        shop.refresh_token = string_member(m.value, "refresh_token");
        shops_by_cipher_[std::string(string_member(m.value, "shop_cipher"))] = shop;
      }
    }
  }
}

bool TikTokApiStub::serves(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  return path == kDetailPath || path == kRefreshPath || path == kProductsPath ||
         path == kInventoryPath || path.substr(0, 8) == "/tiktok/";
}

StubAnswer TikTokApiStub::error(int status, int code, std::string_view message) {
  JsonBuilder w(128);
  w.begin_object().key("code").number(code).key("message").string(message);
  w.key("request_id").string("stub-" + std::to_string(++next_request_)).end_object();
  return {status, w.take()};
}

bool TikTokApiStub::roll(double share) {
  return share > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < share;
}

StubAnswer TikTokApiStub::handle(std::string_view method, std::string_view target,
                                 std::string_view body, std::string_view access_token) {
  auto [path, query] = split_target(target);
  if (method == "POST" && path == "/tiktok/orders")
    return store_order(query ? param(*query, "shop_id") : std::string_view{}, body);
  if (method == "POST" && path == "/tiktok/inventory")
    return store_stock(query ? param(*query, "shop_id") : std::string_view{}, body);
  if (method == "POST" && path == "/tiktok/faults") return set_fault(body);
  if (method == "GET" && path == "/tiktok/stats") return {200, stats_json()};
  const bool get = method == "GET" && (path == kDetailPath || path == kRefreshPath);
  const bool post = method == "POST" && (path == kProductsPath || path == kInventoryPath);
  if (!get && !post) return {404, "{\"code\":40400,\"message\":\"no such endpoint\"}"};
  if (!query) return error(400, 36004004, "malformed query string");
  // Faults come first, as a platform under load answers before it looks.
  StubAnswer fault;
  fault.latency_ms = fault_.latency_ms;
  if (fault_.hang) {
    fault.hang = true;
    return fault;
  }
  if (roll(fault_.throttle_rate)) {
    ++stats_.throttled;
    StubAnswer a = error(429, 36009003, "too many requests");
    a.latency_ms = fault_.latency_ms;
    a.headers.emplace_back("Retry-After", std::to_string(fault_.retry_after_s));
    return a;
  }
  if (roll(fault_.error_rate)) {
    ++stats_.errors;
    StubAnswer a = error(503, 36009004, "service unavailable (injected)");
    a.latency_ms = fault_.latency_ms;
    return a;
  }
  StubAnswer a = path == kRefreshPath  ? refresh(*query)
                 : path == kDetailPath ? order_detail(*query, path, access_token)
                                       : stock_call(*query, path, body, access_token);
  a.latency_ms = fault_.latency_ms;
  return a;
}

std::optional<StubAnswer> TikTokApiStub::authenticate(
    const std::map<std::string, std::string>& query, std::string_view path, std::string_view body,
    std::string_view access_token, const Shop*& shop) {
  if (app_key_.empty() || param(query, "app_key") != app_key_)
    return error(401, 106001, "unknown app_key");
  // The signature covers every parameter but sign and access_token, and a
  // JSON body.
  std::map<std::string, std::string> signed_params = query;
  signed_params.erase("sign");
  signed_params.erase("access_token");
  const std::string expected =
      tiktok_sign(path, signed_params, body, body.empty() ? "" : "application/json", app_secret_);
  if (!constant_time_equal(expected, param(query, "sign"))) {
    ++stats_.sign_failures;
    return error(401, 106001, "invalid signature");
  }
  int64_t timestamp = 0;
  try {
    timestamp = std::stoll(std::string(param(query, "timestamp")));
  } catch (const std::exception&) {
    return error(400, 36004004, "timestamp is not a number");
  }
  if (std::llabs(timestamp - now_s()) > 300) return error(401, 106002, "timestamp out of window");
  auto found = shops_by_cipher_.find(std::string(param(query, "shop_cipher")));
  if (found == shops_by_cipher_.end()) return error(400, 36004004, "unknown shop_cipher");
  if (access_token.empty() || !constant_time_equal(access_token, found->second.access_token)) {
    ++stats_.token_failures;
    return error(401, 105001, "invalid access token");
  }
  if (found->second.access_expires_s <= now_s()) {
    ++stats_.token_failures;
    return error(401, 105002, "access token expired");
  }
  shop = &found->second;
  return std::nullopt;
}

StubAnswer TikTokApiStub::order_detail(const std::map<std::string, std::string>& query,
                                       std::string_view path, std::string_view access_token) {
  ++stats_.detail_calls;
  const Shop* shop_ptr = nullptr;
  if (auto refused = authenticate(query, path, "", access_token, shop_ptr)) return *refused;
  const Shop& shop = *shop_ptr;
  // ids: comma-separated, at most 50.
  std::vector<std::string_view> ids;
  const std::string_view list = param(query, "ids");
  for (size_t start = 0; start < list.size();) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    if (comma > start) ids.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  if (ids.empty() || ids.size() > 50) return error(400, 36004004, "ids: 1 to 50 order ids");
  stats_.ids_requested += ids.size();
  stats_.max_ids_per_call = std::max<uint64_t>(stats_.max_ids_per_call, ids.size());
  JsonBuilder w(1024 * ids.size() + 128);
  w.begin_object().key("code").number(0).key("message").string("Success");
  w.key("request_id").string("stub-" + std::to_string(++next_request_));
  w.key("data").begin_object().key("orders").begin_array();
  for (auto id : ids) {
    auto it = orders_.find(std::string(id));
    if (it == orders_.end() || it->second.shop_id != shop.shop_id) continue;
    w.raw(it->second.json);  // stored only after parsing (store_order)
    ++stats_.orders_returned;
  }
  w.end_array().end_object().end_object();
  return {200, w.take()};
}

StubAnswer TikTokApiStub::refresh(const std::map<std::string, std::string>& query) {
  // The auth host answers 200 with the code in the body.
  auto error = [this](int code, std::string_view message) {
    return this->error(200, code, message);
  };
  if (app_key_.empty() || param(query, "app_key") != app_key_ ||
      !constant_time_equal(param(query, "app_secret"), app_secret_))
    return error(106001, "invalid app credentials");
  if (param(query, "grant_type") != "refresh_token") return error(36004004, "grant_type");
  for (auto& [cipher, shop] : shops_by_cipher_) {
    if (shop.refresh_token.empty() ||
        !constant_time_equal(shop.refresh_token, param(query, "refresh_token")))
      continue;
    ++stats_.refreshes;
    shop.access_token = "tts-at-" + shop.shop_id + "-r" + std::to_string(++shop.tokens_issued);
    shop.access_expires_s = now_s() + token_ttl_s_;
    JsonBuilder w(256);
    w.begin_object().key("code").number(0).key("message").string("success");
    w.key("data").begin_object().key("access_token").string(shop.access_token);
    w.key("access_token_expire_in").number(shop.access_expires_s);
    w.key("refresh_token").string(shop.refresh_token);
    w.key("refresh_token_expire_in").number(now_s() + 365 * 86400);
    w.key("seller_name").string(shop.shop_id).end_object().end_object();
    return {200, w.take()};
  }
  return error(105008, "invalid refresh token");
}

StubAnswer TikTokApiStub::store_order(std::string_view shop_id, std::string_view body) {
  rapidjson::Document order;
  if (!parse_json(order, body) || !order.IsObject())
    return {400, "{\"error\":\"body is not a JSON object\"}"};
  if (shop_id.empty() || string_member(order, "id").empty())
    return {400, "{\"error\":\"need ?shop_id= and the order's id\"}"};
  Order& stored = orders_[std::string(string_member(order, "id"))];
  const int64_t version = int_member(order, "update_time", 0);
  // The platform's order never goes back: an older state given later (two
  // load generator connections racing) is ignored. update_time has second
  // granularity, so within one second the further status wins.
  const int rank = order_status_rank(string_member(order, "status"));
  if (stored.json.empty() || version > stored.update_time ||
      (version == stored.update_time && rank >= stored.status_rank)) {
    // Kept as sent: it parsed, so it is one well-formed JSON value.
    stored = {std::string(shop_id), version, std::string(body), rank};
    ++stats_.orders_stored;
  }
  return {200, "{\"ok\":true}"};
}

StubAnswer TikTokApiStub::stock_call(const std::map<std::string, std::string>& query,
                                     std::string_view path, std::string_view body,
                                     std::string_view access_token) {
  const bool products = path == kProductsPath;
  ++(products ? stats_.products_calls : stats_.inventory_calls);
  const Shop* shop = nullptr;
  if (auto refused = authenticate(query, path, body, access_token, shop)) return *refused;
  rapidjson::Document request;
  if (!parse_json(request, body) || !request.IsObject())
    return error(400, 36004004, "body is not a JSON object");
  auto& stock = stock_[shop->shop_id];  // product id -> sku id -> level
  JsonBuilder w(4096);
  w.begin_object().key("code").number(0).key("message").string("Success");
  w.key("request_id").string("stub-" + std::to_string(++next_request_));
  w.key("data").begin_object();
  if (products) {
    // Pages of page_size products; the token is the offset of the next page.
    int64_t size = 0, offset = 0;
    try {
      size = std::stoll(std::string(param(query, "page_size")));
      if (!param(query, "page_token").empty())
        offset = std::stoll(std::string(param(query, "page_token").substr(1)));
    } catch (const std::exception&) {
      return error(400, 36004004, "page_size or page_token");
    }
    if (size < 1 || size > 100 || offset < 0) return error(400, 36004004, "page_size: 1 to 100");
    w.key("products").begin_array();
    int64_t index = 0;
    for (const auto& [product_id, skus] : stock) {
      if (index++ < offset) continue;
      if (index > offset + size) break;
      w.begin_object().key("id").string(product_id).key("status").string("ACTIVATE");
      w.key("skus").begin_array();
      for (const auto& [sku_id, level] : skus)
        w.begin_object().key("id").string(sku_id).end_object();
      w.end_array().end_object();
    }
    w.end_array();
    w.key("total_count").number(static_cast<int64_t>(stock.size()));
    w.key("next_page_token")
        .string(offset + size < static_cast<int64_t>(stock.size())
                    ? "o" + std::to_string(offset + size)
                    : std::string());
  } else {
    const auto& ids = member_or_null(request, "product_ids");
    if (!ids.IsArray() || ids.Empty() || ids.Size() > 100)
      return error(400, 36004004, "product_ids: 1 to 100 ids");
    w.key("inventory").begin_array();
    for (const auto& id : ids.GetArray()) {
      if (!id.IsString()) return error(400, 36004004, "product_ids: strings");
      auto product = stock.find(id.GetString());
      if (product == stock.end()) continue;
      w.begin_object().key("product_id").string(product->first).key("skus").begin_array();
      for (const auto& [sku_id, level] : product->second) {
        ++stats_.skus_returned;
        w.begin_object().key("id").string(sku_id).key("seller_sku").string(level.seller_sku);
        w.key("total_available_quantity").number(level.quantity);
        w.key("total_committed_quantity").number(int64_t{0});
        w.key("warehouse_inventory").begin_array().begin_object();
        w.key("warehouse_id").string("7068517275539719942");
        w.key("available_quantity").number(level.quantity);
        w.key("committed_quantity").number(int64_t{0}).end_object().end_array();
        w.end_object();
      }
      w.end_array().end_object();
    }
    w.end_array();
  }
  w.end_object().end_object();
  return {200, w.take()};
}

StubAnswer TikTokApiStub::store_stock(std::string_view shop_id, std::string_view body) {
  rapidjson::Document doc;
  if (!parse_json(doc, body) || !doc.IsObject() || !member_or_null(doc, "skus").IsArray())
    return {400, "{\"error\":\"body must be {\\\"skus\\\": [...]}\"}"};
  if (shop_id.empty()) return {400, "{\"error\":\"need ?shop_id=\"}"};
  auto& stock = stock_[std::string(shop_id)];
  for (const auto& sku : doc["skus"].GetArray()) {
    if (!sku.IsObject() || string_member(sku, "product_id").empty() ||
        string_member(sku, "sku_id").empty() || !member_or_null(sku, "quantity").IsInt64())
      return {400, "{\"error\":\"each sku needs product_id, sku_id and integer quantity\"}"};
    StockLevel& level = stock[std::string(string_member(sku, "product_id"))]
                             [std::string(string_member(sku, "sku_id"))];
    const int64_t version = int_member(sku, "version", -1);
    if (version >= 0 && version < level.version) continue;  // a newer level came first
    level.seller_sku = string_member(sku, "seller_sku");
    level.quantity = sku["quantity"].GetInt64();
    if (version >= 0) level.version = version;
  }
  return {200, "{\"ok\":true}"};
}

StubAnswer TikTokApiStub::set_fault(std::string_view body) {
  rapidjson::Document doc;
  if (!parse_json(doc, body) || !doc.IsObject())
    return {400, "{\"error\":\"body is not a JSON object\"}"};
  Fault f;
  f.latency_ms = static_cast<int>(int_member(doc, "latency_ms", 0));
  f.error_rate = number_member(doc, "error_rate", 0);
  f.throttle_rate = number_member(doc, "throttle_rate", 0);
  f.retry_after_s = static_cast<int>(int_member(doc, "retry_after_s", 1));
  const auto& hang = member_or_null(doc, "hang");
  f.hang = hang.IsBool() && hang.GetBool();
  fault_ = f;
  const auto& expire = member_or_null(doc, "expire_tokens");
  if (expire.IsBool() && expire.GetBool()) {
    for (auto& [cipher, shop] : shops_by_cipher_) shop.access_expires_s = now_s() - 1;
  }
  return {200, "{\"ok\":true}"};
}

std::string TikTokApiStub::stats_json() const {
  JsonBuilder w(512);
  w.begin_object();
  w.key("detail_calls").number(static_cast<int64_t>(stats_.detail_calls));
  w.key("ids_requested").number(static_cast<int64_t>(stats_.ids_requested));
  w.key("orders_returned").number(static_cast<int64_t>(stats_.orders_returned));
  w.key("max_ids_per_call").number(static_cast<int64_t>(stats_.max_ids_per_call));
  w.key("sign_failures").number(static_cast<int64_t>(stats_.sign_failures));
  w.key("token_failures").number(static_cast<int64_t>(stats_.token_failures));
  w.key("refreshes").number(static_cast<int64_t>(stats_.refreshes));
  w.key("throttled").number(static_cast<int64_t>(stats_.throttled));
  w.key("errors").number(static_cast<int64_t>(stats_.errors));
  w.key("orders_stored").number(static_cast<int64_t>(stats_.orders_stored));
  w.key("products_calls").number(static_cast<int64_t>(stats_.products_calls));
  w.key("inventory_calls").number(static_cast<int64_t>(stats_.inventory_calls));
  w.key("skus_returned").number(static_cast<int64_t>(stats_.skus_returned));
  w.end_object();
  return w.take();
}

}  // namespace cf
