#include "tiktok_inventory_api.h"

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"

namespace cf {
namespace {

std::map<std::string, std::string> common_query(const std::string& app_key,
                                                const std::string& shop_cipher,
                                                int64_t timestamp_s) {
  return {{"app_key", app_key},
          {"shop_cipher", shop_cipher},
          {"timestamp", std::to_string(timestamp_s)}};
}

constexpr std::string_view kJson = "application/json";

}  // namespace

std::string products_search_target(const std::string& app_key, const std::string& app_secret,
                                   const std::string& shop_cipher, const std::string& page_token,
                                   std::string_view body, int64_t timestamp_s) {
  auto query = common_query(app_key, shop_cipher, timestamp_s);
  query["page_size"] = std::to_string(kProductsPageSize);
  if (!page_token.empty()) query["page_token"] = page_token;
  return tiktok_signed_target(kProductsSearchPath, std::move(query), body, kJson, app_secret);
}

std::string products_search_body() { return R"({"status":"ACTIVATE"})"; }

std::string inventory_search_target(const std::string& app_key, const std::string& app_secret,
                                    const std::string& shop_cipher, std::string_view body,
                                    int64_t timestamp_s) {
  return tiktok_signed_target(kInventorySearchPath, common_query(app_key, shop_cipher, timestamp_s),
                              body, kJson, app_secret);
}

std::string inventory_search_body(const std::vector<std::string>& product_ids) {
  JsonBuilder w(32 + 24 * product_ids.size());
  w.begin_object().key("product_ids").begin_array();
  for (const auto& id : product_ids) w.string(id);
  w.end_array().end_object();
  return w.take();
}

ProductsPage read_products_page(const HttpResult& result) {
  ProductsPage page;
  rapidjson::Document doc;
  const rapidjson::Value* products = read_api_list(result, doc, "products", page);
  if (page.verdict != ApiVerdict::kOk) return page;
  if (products != nullptr) {
    for (const auto& product : products->GetArray()) {
      std::string id(product.IsObject() ? string_member(product, "id") : std::string_view{});
      if (!id.empty()) page.product_ids.push_back(std::move(id));
    }
  }
  page.next_page_token = string_member(doc["data"], "next_page_token");
  return page;
}

InventoryAnswer read_inventory_answer(const HttpResult& result) {
  InventoryAnswer answer;
  rapidjson::Document doc;
  const rapidjson::Value* inventory = read_api_list(result, doc, "inventory", answer);
  if (inventory == nullptr) return answer;
  for (const auto& product : inventory->GetArray()) {
    if (!product.IsObject()) continue;
    const auto& skus = member_or_null(product, "skus");
    if (!skus.IsArray()) continue;
    for (const auto& sku : skus.GetArray()) {
      if (!sku.IsObject()) {
        ++answer.skipped;
        continue;
      }
      SkuStock s;
      s.product_id = string_member(product, "product_id");
      s.sku_id = string_member(sku, "id");
      s.seller_sku = string_member(sku, "seller_sku");
      s.available = int_member(sku, "total_available_quantity", -1);
      // The schema's bounds: an id of 1..64 characters, 0..10^8 units.
      if (s.sku_id.empty() || s.sku_id.size() > 64 || s.seller_sku.size() > 128 ||
          s.available < 0 || s.available > 100000000) {
        ++answer.skipped;
        continue;
      }
      answer.skus.push_back(std::move(s));
    }
  }
  return answer;
}

SyncRequest read_sync_request(std::string_view event_type, std::string_view value,
                              int64_t interval_ms, int64_t max_age_ms, int64_t now_ms) {
  SyncRequest request;
  rapidjson::Document doc;
  if (!parse_json(doc, value) || !doc.IsObject()) {
    request.why_none = "not a JSON object";
    return request;
  }
  if (event_type == kTickEventType) {
    request.at_ms = int_member(doc, "tick_ms", -1);
    if (request.at_ms < 0) {
      request.why_none = "tick without tick_ms";
      return request;
    }
    request.kind = SyncRequest::Kind::kTick;
    request.round = std::to_string(request.at_ms / interval_ms);
  } else if (string_member(doc, "command") == "sync_inventory") {
    const std::string_view id = string_member(doc, "command_id");
    request.at_ms = int_member(doc, "requested_at", -1);
    request.shop_id = string_member(doc, "shop_id");
    if (id.empty() || id.size() > 64 || request.at_ms < 0 || request.shop_id.size() > 64) {
      request.why_none = "sync_inventory needs command_id (1-64 chars) and requested_at";
      return request;
    }
    request.kind = SyncRequest::Kind::kCommand;
    request.round = "cmd-" + std::string(id);
  } else {
    request.why_none = "neither a tick nor a sync_inventory command";
    return request;
  }
  if (now_ms - request.at_ms > max_age_ms) {
    request.kind = SyncRequest::Kind::kNone;
    request.why_none = "history";
  }
  return request;
}

std::string sync_command_json(const std::string& command_id, int64_t requested_at_ms,
                              const std::string& shop_id) {
  JsonBuilder w(128);
  w.begin_object().key("command").string("sync_inventory");
  w.key("command_id").string(command_id).key("requested_at").number(requested_at_ms);
  if (!shop_id.empty()) w.key("shop_id").string(shop_id);
  w.end_object();
  return w.take();
}

std::string sync_notification_id(const std::string& shop_id, const std::string& round,
                                 const std::string& sku_id) {
  return "sync-" + round + "-" + sha256_hex(shop_id + "|" + sku_id).substr(0, 24);
}

std::string stock_sync_notification_json(const std::string& shop_id, const std::string& round,
                                         const SkuStock& sku, int64_t read_s) {
  JsonBuilder w(320);
  w.begin_object().key("type").number(1001);
  w.key("tts_notification_id").string(sync_notification_id(shop_id, round, sku.sku_id));
  w.key("shop_id").string(shop_id).key("timestamp").number(read_s);
  w.key("data").begin_object();
  w.key("sku_id").string(sku.sku_id).key("seller_sku").string(sku.seller_sku);
  w.key("available_stock").number(sku.available).key("update_time").number(read_s);
  w.end_object().end_object();
  return w.take();
}

}  // namespace cf
