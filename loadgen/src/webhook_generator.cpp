#include "cf/webhook_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cf/carrier_tracking.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"
#include "cf/tiktok_order.h"
#include "cf/time_format.h"

namespace cf {
namespace {

const char* const kStatuses[] = {"UNPAID",     "AWAITING_SHIPMENT", "AWAITING_COLLECTION",
                                 "IN_TRANSIT", "DELIVERED",         "COMPLETED"};
// AfterShip's delivery tags in the order a parcel moves through them.
const char* const kTrackingTags[] = {"InfoReceived", "InTransit", "OutForDelivery", "Delivered"};

std::string price_text(int64_t minor) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", static_cast<long long>(minor / 100),
                static_cast<long long>(minor % 100));
  return buf;
}

}  // namespace

const char* to_string(Expectation e) {
  switch (e) {
    case Expectation::kValid:
      return "valid";
    case Expectation::kDuplicate:
      return "duplicate";
    case Expectation::kInvalid:
      return "invalid";
    case Expectation::kBadSignature:
      return "bad_signature";
    case Expectation::kOversize:
      return "oversize";
    case Expectation::kMalformed:
      return "malformed";
  }
  return "?";
}

std::string enriched_record(const GeneratedWebhook& w, int64_t fetched_at_ms) {
  rapidjson::Document detail;
  if (w.order_detail.empty() || !parse_json(detail, w.order_detail)) return {};
  return enriched_notification_json(w.body, order_detail_subset(detail), fetched_at_ms);
}

WebhookGenerator::WebhookGenerator(GeneratorSettings settings)
    : settings_(std::move(settings)), rng_(settings_.seed) {
  double total = 0;
  for (int k = 1; k <= settings_.skus; ++k) {
    total += 1.0 / std::pow(k, settings_.zipf_exponent);
    sku_cdf_.push_back(total);
  }
  for (auto& c : sku_cdf_) c /= total;
}

std::string WebhookGenerator::shop_id(int index) const {
  return "shop-" + std::to_string(7000 + index);
}

std::string WebhookGenerator::shop_directory_json() const {
  JsonBuilder w(128 * static_cast<size_t>(settings_.shops) + 16);
  w.begin_object().key("shops").begin_object();
  for (int i = 0; i < settings_.shops; ++i) {
    w.escaped_key(shop_id(i))
        .begin_object()
        .key("creator_id")
        .string(creator_of_shop(i))
        .end_object();
    w.escaped_key(shop_domain(i))
        .begin_object()
        .key("creator_id")
        .string(creator_of_shop(i))
        .end_object();
  }
  w.end_object().end_object();
  return w.take();
}

std::string WebhookGenerator::secrets_json() const {
  JsonBuilder w(256);
  w.begin_object();
  w.key("tiktok").begin_object().key("app_key").string(settings_.app_key);
  w.key("app_secret").string(settings_.app_secret).end_object();
  w.key("shipping").begin_object().escaped_key(settings_.shipping_provider).begin_object();
  w.key("webhook_secret").string(settings_.aftership_secret).end_object().end_object();
  w.key("shopify").begin_object().key("app_secret").string(settings_.shopify_secret).end_object();
  w.end_object();
  return w.take();
}

int WebhookGenerator::pick_sku() {
  if (burst_remaining_ > 0) {
    --burst_remaining_;
    return burst_sku_;
  }
  double u = std::uniform_real_distribution<double>(0, 1)(rng_);
  return static_cast<int>(std::lower_bound(sku_cdf_.begin(), sku_cdf_.end(), u) - sku_cdf_.begin());
}

void WebhookGenerator::sign(GeneratedWebhook& w) const {
  if (w.path == "/webhooks/shopify") {
    w.shopify_hmac = hmac_sha256_base64(settings_.shopify_secret, w.body);
  } else if (w.path == "/webhooks/tiktok") {
    w.authorization = hmac_sha256_hex(settings_.app_secret, settings_.app_key + w.body);
  } else {
    w.aftership_hmac = hmac_sha256_base64(settings_.aftership_secret, w.body);
  }
}

int64_t& WebhookGenerator::stock(int shop, int sku) {
  auto [it, inserted] = stock_.try_emplace({shop, sku}, 0);
  if (inserted) it->second = 300 + (sku * 37) % 1200;
  return it->second;
}

int64_t WebhookGenerator::reported_stock(int shop, int sku, int64_t ts) {
  int64_t units = stock(shop, sku);
  auto it = same_second_.find({shop, sku});
  if (it != same_second_.end() && it->second.first == ts) units -= it->second.second;
  return units;
}

int64_t WebhookGenerator::count_with_restock(GeneratedWebhook& w, int shop, int sku, int64_t ts) {
  int64_t units = reported_stock(shop, sku, ts);
  w.restock_key = {shop, sku};  // counted: the platform's level is given to the stub too
  if (units < 100) {
    w.restock_units = 1500;
    units += w.restock_units;
  }
  return std::max<int64_t>(0, units);
}

std::vector<std::pair<int, int>> WebhookGenerator::apply_effects(const GeneratedWebhook& w) {
  std::vector<std::pair<int, int>> changed;
  if (w.expect != Expectation::kValid) return changed;
  if (w.restock_key.first >= 0) {
    stock(w.restock_key.first, w.restock_key.second) += w.restock_units;
    changed.push_back(w.restock_key);
  }
  if (w.stock_effects.empty()) return changed;
  auto order = orders_.find(w.order_key);
  if (order == orders_.end()) return changed;
  // A sale counts once, at the first accepted paid notification; a return
  // only undoes a counted sale.
  if (w.sale_effect == order->second.sale_counted) return changed;
  order->second.sale_counted = w.sale_effect;
  const int64_t second = w.event_time_ms / 1000;
  for (const auto& [key, units] : w.stock_effects) {
    stock(key.first, key.second) += units;
    auto& same = same_second_[key];
    if (same.first != second) same = {second, 0};
    same.second += units;
    changed.push_back(key);
  }
  return changed;
}

std::vector<std::pair<std::string, std::string>> WebhookGenerator::stub_levels(
    const std::vector<std::pair<int, int>>& changed, uint64_t version) {
  // One creator's stock, shown by both of its channels (one pool of stock
  // behind the TikTok shop and the Shopify store, as multi-channel sellers
  // keep it): each platform's API answers the same level.
  std::map<int, std::vector<int>> by_shop;
  for (const auto& [shop, sku] : changed) {
    auto& skus = by_shop[shop];
    if (std::find(skus.begin(), skus.end(), sku) == skus.end()) skus.push_back(sku);
  }
  std::vector<std::pair<std::string, std::string>> posts;
  for (const auto& [shop, skus] : by_shop) {
    JsonBuilder tiktok(96 + 128 * skus.size()), shopify(96 + 128 * skus.size());
    tiktok.begin_object().key("skus").begin_array();
    shopify.begin_object().key("items").begin_array();
    for (int sku : skus) {
      const int64_t units = std::max<int64_t>(0, stock(shop, sku));
      tiktok.begin_object().key("product_id").string("17" + std::to_string(200000 + sku));
      tiktok.key("sku_id").string("17" + std::to_string(300000 + sku));
      tiktok.key("seller_sku").string("CF-" + std::to_string(sku)).key("quantity").number(units);
      tiktok.key("version").number(static_cast<int64_t>(version)).end_object();
      shopify.begin_object().key("inventory_item_id").number(inventory_item_id(shop, sku));
      shopify.key("sku").string("CF-" + std::to_string(sku)).key("available").number(units);
      shopify.key("location_id").number(24826418);
      shopify.key("version").number(static_cast<int64_t>(version)).end_object();
    }
    tiktok.end_array().end_object();
    shopify.end_array().end_object();
    posts.emplace_back("/tiktok/inventory?shop_id=" + shop_id(shop), tiktok.take());
    posts.emplace_back("/shopify-stub/inventory?shop=" + shop_domain(shop), shopify.take());
  }
  return posts;
}

std::string WebhookGenerator::stock_json() const {
  JsonBuilder w(32 * stock_.size() + 2);
  w.begin_object();
  for (const auto& [key, units] : stock_) {
    w.escaped_key(creator_of_shop(key.first) + "|CF-" + std::to_string(key.second)).number(units);
  }
  w.end_object();
  return w.take();
}

int64_t WebhookGenerator::inventory_item_id(int shop, int sku) {
  return 50000000 + static_cast<int64_t>(shop) * 1000000 + sku;
}

std::string WebhookGenerator::sku_mapping_json() const {
  // Shopify's inventory items belong to one shop each, as in the real Admin API.
  JsonBuilder w(64 * static_cast<size_t>(settings_.skus * settings_.shops) + 32);
  w.begin_object().key("shopify").begin_object();
  for (int shop = 0; shop < settings_.shops; ++shop) {
    for (int k = 0; k < settings_.skus; ++k) {
      w.escaped_key(std::to_string(inventory_item_id(shop, k))).string("CF-" + std::to_string(k));
    }
  }
  w.end_object().end_object();
  return w.take();
}

std::string WebhookGenerator::shop_domain(int index) const {
  return "shop-" + std::to_string(7000 + index) + ".myshopify.com";
}

GeneratedWebhook WebhookGenerator::make_order(int64_t ts) {
  GeneratedWebhook w;
  w.kind = "order";
  w.path = "/webhooks/tiktok";
  std::uniform_real_distribution<double> unit(0, 1);
  bool update_existing = !open_orders_.empty() && unit(rng_) < 0.35;
  OpenOrder* order = nullptr;
  bool cancel = false;
  if (update_existing) {
    size_t i = std::uniform_int_distribution<size_t>(0, open_orders_.size() - 1)(rng_);
    order = &orders_[open_orders_[i]];
    cancel = order->status_index <= 1 && !order->shipped && unit(rng_) < settings_.cancel_share;
    if (cancel) {
      open_orders_.erase(open_orders_.begin() + static_cast<long>(i));
    } else {
      order->status_index = std::min(order->status_index + 1, 5);
    }
  } else {
    std::string id = "57" + std::to_string(settings_.seed % 1000) + "-" +
                     std::to_string(10000000 + order_counter_++);
    order = &orders_[id];
    order->order_id = id;
    order->shop = std::uniform_int_distribution<int>(0, settings_.shops - 1)(rng_);
    order->status_index = unit(rng_) < 0.15 ? 0 : 1;
    std::mt19937_64 order_rng(std::hash<std::string>{}(id));
    int lines = 1 + static_cast<int>(order_rng() % 3);
    for (int l = 0; l < lines; ++l) {
      int sku = l == 0 ? pick_sku()
                       : static_cast<int>(order_rng() % static_cast<uint64_t>(settings_.skus));
      order->items.emplace_back(sku, 1 + static_cast<int>(order_rng() % 3));
    }
    open_orders_.push_back(id);
    if (open_orders_.size() > 2000) open_orders_.pop_front();
  }
  const char* status = cancel ? "CANCELLED" : kStatuses[order->status_index];
  bool paid = !cancel && order->status_index >= 1;
  if (order->create_time == 0) order->create_time = ts;
  if (paid && order->paid_time == 0) order->paid_time = ts;
  std::string notification_id =
      "7" + std::to_string(settings_.seed % 1000) + "-" + std::to_string(sequence_);
  // What TikTok sends: the id, the status and its time, nothing else.
  JsonBuilder body(256);
  body.begin_object().key("type").number(1).key("tts_notification_id").string(notification_id);
  body.key("shop_id").string(shop_id(order->shop)).key("timestamp").number(ts);
  body.key("data")
      .begin_object()
      .key("order_id")
      .string(order->order_id)
      .key("order_status")
      .string(status);
  body.key("is_on_hold_order").boolean(false).key("update_time").number(ts);
  body.end_object().end_object();
  w.body = body.take();
  w.sku_id = "17" + std::to_string(300000 + order->items[0].first);
  w.order_detail = order_detail_json(*order, status, ts);
  w.shop_id = shop_id(order->shop);
  w.partition_key = shop_id(order->shop);
  w.idempotency_key = "tiktok:" + notification_id;
  w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":0"));
  if (paid) w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":1"));
  if (paid || cancel) {
    w.order_key = order->order_id;
    w.sale_effect = paid;
    for (auto [sku, qty] : order->items)
      w.stock_effects.push_back({{order->shop, sku}, paid ? -qty : qty});
  }
  return w;
}

std::string WebhookGenerator::order_detail_json(const OpenOrder& order, const char* status,
                                                int64_t ts) const {
  // The shape of GET /order/202309/orders: one line item per unit, amounts as
  // decimal strings, and the personal fields a real answer carries (which the
  // connector must not pass on; these are invented, never real people).
  JsonBuilder d(1024);
  d.begin_object().key("id").string(order.order_id).key("status").string(status);
  d.key("create_time").number(order.create_time).key("update_time").number(ts);
  if (order.paid_time > 0) d.key("paid_time").number(order.paid_time);
  d.key("buyer_email").string("v2-" + order.order_id + "@scs.tiktokw.us");
  d.key("user_id").string("7494" + order.order_id.substr(order.order_id.size() - 6));
  d.key("recipient_address")
      .begin_object()
      .key("name")
      .string("Test Buyer")
      .key("phone_number")
      .string("(+1)213*****88")
      .key("full_address")
      .string("1 Example Street, Los Angeles, CA 90001")
      .end_object();
  d.key("line_items").begin_array();
  int64_t total = 0;
  int unit = 0;
  for (auto [sku, qty] : order.items) {
    const int64_t price = 499 + static_cast<int64_t>((sku * 7919) % 5000);
    for (int q = 0; q < qty; ++q) {
      total += price;
      d.begin_object().key("id").string(order.order_id + "-" + std::to_string(unit++));
      d.key("sku_id").string("17" + std::to_string(300000 + sku));
      d.key("product_id").string("17" + std::to_string(200000 + sku));
      d.key("product_name").string("Product " + std::to_string(sku));
      d.key("seller_sku").string("CF-" + std::to_string(sku));
      d.key("sale_price").string(price_text(price)).key("original_price").string(price_text(price));
      d.key("currency").string("USD").key("display_status").string(status).end_object();
    }
  }
  d.end_array();
  d.key("payment").begin_object().key("currency").string("USD");
  d.key("sub_total").string(price_text(total)).key("shipping_fee").string("0.00");
  d.key("total_amount").string(price_text(total)).end_object();
  d.end_object();
  return d.take();
}

std::string WebhookGenerator::channel_tokens_json(int64_t now_s, int64_t access_ttl_s) const {
  JsonBuilder w(256 * static_cast<size_t>(settings_.shops) + 32);
  w.begin_object().key("tiktok").begin_object().key("shops").begin_object();
  for (int i = 0; i < settings_.shops; ++i) {
    w.escaped_key(shop_id(i)).begin_object();
    w.key("shop_cipher").string("ROW_cf" + std::to_string(7000 + i));
    w.key("access_token").string("tts-at-" + std::to_string(7000 + i) + "-0");
    w.key("access_expires_at").number(now_s + access_ttl_s);
    w.key("refresh_token").string("tts-rt-" + std::to_string(7000 + i));
    w.key("refresh_expires_at").number(now_s + 365 * 86400);
    w.end_object();
  }
  w.end_object().end_object();
  // Shopify stores: an Admin API access token each (custom app tokens start shpat_).
  w.key("shopify").begin_object().key("shops").begin_object();
  for (int i = 0; i < settings_.shops; ++i) {
    w.escaped_key(shop_domain(i)).begin_object();
    w.key("access_token").string("shpat_" + sha256_hex(shop_domain(i)).substr(0, 32));
    w.end_object();
  }
  w.end_object().end_object().end_object();
  return w.take();
}

GeneratedWebhook WebhookGenerator::make_stock(int64_t ts) {
  // What channel-api's scheduled sync writes for one SKU it read at `ts`
  // (TikTok's envelope, type 1001): a delivery arrives when stock runs low.
  // No platform sends it; it stands for the sync where channel-api does not run.
  GeneratedWebhook w;
  w.kind = "stock";
  w.sync_count = true;
  w.path = "/webhooks/tiktok";
  int sku = pick_sku();
  int shop = std::uniform_int_distribution<int>(0, settings_.shops - 1)(rng_);
  int64_t units = count_with_restock(w, shop, sku, ts);
  std::string notification_id =
      "9" + std::to_string(settings_.seed % 1000) + "-" + std::to_string(sequence_);
  w.sku_id = "17" + std::to_string(300000 + sku);
  JsonBuilder body(256);
  body.begin_object().key("type").number(1001).key("tts_notification_id").string(notification_id);
  body.key("shop_id").string(shop_id(shop)).key("timestamp").number(ts);
  body.key("data")
      .begin_object()
      .key("sku_id")
      .string(w.sku_id)
      .key("seller_sku")
      .string("CF-" + std::to_string(sku));
  body.key("warehouse_id")
      .string("wh-1")
      .key("available_stock")
      .number(units)
      .key("update_time")
      .number(ts);
  body.end_object().end_object();
  w.body = body.take();
  w.partition_key = shop_id(shop);
  w.shop_id = shop_id(shop);
  w.idempotency_key = "tiktok:" + notification_id;
  w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":0"));
  return w;
}

GeneratedWebhook WebhookGenerator::make_shipping(int64_t ts) {
  // An AfterShip tracking_update for the label of a recent paid TikTok order:
  // AfterShip knows the tracking number and the carrier, never our order or
  // shop. The number is the one the participant stub's label provider gives
  // that order, so the update joins once the order saga made the label.
  GeneratedWebhook w;
  w.kind = "shipping";
  w.path = "/webhooks/shipping/" + settings_.shipping_provider;
  std::string order_id = "5700000000000";
  int step = 0;
  for (auto it = open_orders_.rbegin(); it != open_orders_.rend(); ++it) {
    OpenOrder& order = orders_[*it];
    if (order.status_index < 1) continue;  // unpaid: no saga, no label
    order.shipped = true;
    order_id = order.order_id;
    step = std::min(order.tracking_step++, 3);
    break;
  }
  w.tracking_number = stub_label_tracking_number("tiktok", order_id);
  // AfterShip's event ids are UUIDs; derived here so a seed replays the same run.
  const std::string event_id = deterministic_uuid("aftership:" + std::to_string(settings_.seed) +
                                                  ":" + std::to_string(sequence_));
  const char* tag = kTrackingTags[step];
  const std::string when = format_rfc3339_ms(ts * 1000);
  JsonBuilder body(1024);
  body.begin_object().key("event").string("tracking_update").key("event_id").string(event_id);
  body.key("is_tracking_first_tag").boolean(true);
  body.key("msg").begin_object();
  body.key("id").string(sha256_hex(w.tracking_number).substr(0, 24));
  body.key("tracking_number").string(w.tracking_number);
  body.key("slug").string("usps");
  body.key("tag").string(tag);
  body.key("subtag").string(std::string(tag) + "_001");
  body.key("subtag_message").string(tag);
  body.key("updated_at").string(when);
  body.key("shipment_type").string("USPS Ground Advantage");
  // Personal data AfterShip sends along: never copied into events or logs.
  body.key("customer_name").string("Jane Doe");
  body.key("emails").begin_array().string("jane.doe@example.com").end_array();
  body.key("origin_country_region").string("USA");
  body.key("destination_country_region").string("USA");
  body.key("checkpoints").begin_array().begin_object();
  body.key("checkpoint_time").string(when).key("slug").string("usps");
  body.key("city").string("Los Angeles").key("state").string("CA");
  body.key("tag").string(tag).key("subtag").string(std::string(tag) + "_001");
  body.key("message").string(tag).end_object().end_array();
  body.end_object();
  body.key("ts").number(ts).end_object();
  w.body = body.take();
  w.partition_key = w.tracking_number;
  w.idempotency_key = "shipping:" + settings_.shipping_provider + ":" + event_id;
  w.joined_event_ids.push_back(deterministic_uuid(w.idempotency_key + ":0"));
  return w;
}

GeneratedWebhook WebhookGenerator::make_shopify(int64_t ts) {
  GeneratedWebhook w;
  w.kind = "shopify";
  w.path = "/webhooks/shopify";
  std::uniform_real_distribution<double> unit(0, 1);
  const std::string when = format_rfc3339_ms(ts * 1000);
  w.shopify_webhook_id =
      "b54557e4-" + std::to_string(settings_.seed % 1000) + "-" + std::to_string(sequence_);
  w.idempotency_key = "shopify:" + w.shopify_webhook_id;
  double roll = unit(rng_);
  if (roll < 0.15) {
    int sku = pick_sku();
    int shop = std::uniform_int_distribution<int>(0, settings_.shops - 1)(rng_);
    w.shopify_topic = "inventory_levels/update";
    w.shop_domain = shop_domain(shop);
    w.sku_id = "CF-" + std::to_string(sku);
    const int64_t units = count_with_restock(w, shop, sku, ts);
    JsonBuilder body(128);
    body.begin_object().key("inventory_item_id").number(inventory_item_id(shop, sku));
    body.key("location_id").number(24826418).key("available").number(units);
    body.key("updated_at").string(when).end_object();
    w.body = body.take();
    w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":0"));
  } else {
    OpenOrder* order = nullptr;
    bool cancel = roll < 0.30 && !shopify_orders_.empty();
    if (cancel) {
      size_t i = std::uniform_int_distribution<size_t>(0, shopify_orders_.size() - 1)(rng_);
      order = &orders_[shopify_orders_[i]];
      shopify_orders_.erase(shopify_orders_.begin() + static_cast<long>(i));
    } else {
      std::string id = std::to_string(820000000000LL + static_cast<int64_t>(order_counter_++));
      order = &orders_[id];
      order->order_id = id;
      order->shopify = true;
      order->shop = std::uniform_int_distribution<int>(0, settings_.shops - 1)(rng_);
      order->status_index = unit(rng_) < 0.85 ? 1 : 0;  // paid or pending
      std::mt19937_64 order_rng(std::hash<std::string>{}(id));
      int lines = 1 + static_cast<int>(order_rng() % 2);
      for (int l = 0; l < lines; ++l) {
        int sku = l == 0 ? pick_sku()
                         : static_cast<int>(order_rng() % static_cast<uint64_t>(settings_.skus));
        order->items.emplace_back(sku, 1 + static_cast<int>(order_rng() % 2));
      }
      if (order->status_index == 1) {
        shopify_orders_.push_back(id);
        if (shopify_orders_.size() > 2000) shopify_orders_.pop_front();
      }
    }
    int64_t total = 0;
    for (size_t l = 0; l < order->items.size(); ++l) {
      auto [sku, qty] = order->items[l];
      if (l == 0) w.sku_id = "CF-" + std::to_string(sku);
      total += (499 + static_cast<int64_t>((sku * 7919) % 5000)) * qty;
    }
    const bool paid = order->status_index == 1;
    w.shopify_topic = cancel ? "orders/cancelled" : "orders/create";
    w.shop_domain = shop_domain(order->shop);
    JsonBuilder body(768);
    // Shopify's order id is a JSON number (ids fit in 53 bits).
    body.begin_object()
        .key("id")
        .number(std::stoll(order->order_id))
        .key("name")
        .string("#" + order->order_id.substr(6));
    body.key("currency").string("USD").key("total_price").string(price_text(total));
    body.key("financial_status").string(paid ? "paid" : "pending").key("created_at").string(when);
    body.key("updated_at").string(when).key("processed_at").string(when);
    if (cancel) {
      body.key("cancelled_at").string(when).key("cancel_reason").string("customer");
    } else {
      body.key("cancelled_at").null().key("cancel_reason").null();
    }
    body.key("line_items").begin_array();
    for (size_t l = 0; l < order->items.size(); ++l) {
      auto [sku, qty] = order->items[l];
      body.begin_object()
          .key("id")
          .number(466157049 + static_cast<int64_t>(l))
          .key("variant_id")
          .number(40000000 + sku);
      body.key("sku").string("CF-" + std::to_string(sku)).key("quantity").number(qty);
      body.key("price")
          .string(price_text(499 + static_cast<int64_t>((sku * 7919) % 5000)))
          .end_object();
    }
    body.end_array().end_object();
    w.body = body.take();
    w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":0"));
    if (paid && !cancel) w.event_ids.push_back(deterministic_uuid(w.idempotency_key + ":1"));
    if (paid) {
      w.order_key = order->order_id;
      w.sale_effect = !cancel;
      for (auto [sku, qty] : order->items)
        w.stock_effects.push_back({{order->shop, sku}, cancel ? qty : -qty});
    }
  }
  w.partition_key = w.shop_domain;
  return w;
}

GeneratedWebhook WebhookGenerator::next() {
  std::uniform_real_distribution<double> unit(0, 1);
  uint64_t seq = sequence_;
  int64_t ts = settings_.start_time_s +
               static_cast<int64_t>(static_cast<double>(seq) * settings_.event_seconds_per_webhook);
  if (settings_.burst_every > 0 && seq > 0 &&
      seq % static_cast<uint64_t>(settings_.burst_every) == 0) {
    burst_remaining_ = settings_.burst_length;
    burst_sku_ = std::uniform_int_distribution<int>(0, settings_.skus - 1)(rng_);
  }
  double roll = unit(rng_);
  GeneratedWebhook w;
  if (roll < settings_.duplicate_share && !recent_valid_.empty()) {
    size_t i = std::uniform_int_distribution<size_t>(0, recent_valid_.size() - 1)(rng_);
    w = recent_valid_[i];
    w.expect = Expectation::kDuplicate;
  } else {
    double kind = unit(rng_);
    if (kind < settings_.shipping_share) {
      w = make_shipping(ts);
    } else if (kind < settings_.shipping_share + settings_.stock_sync_share) {
      w = make_stock(ts);
    } else if (kind <
               settings_.shipping_share + settings_.stock_sync_share + settings_.shopify_share) {
      w = make_shopify(ts);
    } else {
      w = make_order(ts);
    }
    w.event_time_ms = ts * 1000;
    roll -= settings_.duplicate_share;
    if (w.sync_count) {
      // channel-api's own record: no request to forge or break.
    } else if (roll >= 0 && roll < settings_.bad_signature_share) {
      sign(w);
      w.expect = Expectation::kBadSignature;
      if (!w.shopify_hmac.empty()) {
        w.shopify_hmac[3] = w.shopify_hmac[3] == 'A' ? 'B' : 'A';
      } else if (!w.authorization.empty()) {
        w.authorization[5] = w.authorization[5] == 'a' ? 'b' : 'a';
      } else {
        w.aftership_hmac[3] = w.aftership_hmac[3] == 'A' ? 'B' : 'A';
      }
      w.event_ids.clear();
      w.joined_event_ids.clear();
    } else if ((roll -= settings_.bad_signature_share) >= 0 && roll < settings_.malformed_share) {
      w.body = w.body.substr(0, w.body.size() / 2) + "#garbage";
      w.expect = Expectation::kMalformed;
      w.reject_code = "malformed_json";
      w.event_ids.clear();
      w.joined_event_ids.clear();
      sign(w);
    } else if ((roll -= settings_.malformed_share) >= 0 && roll < settings_.schema_invalid_share) {
      // Rename a required field the ingest does not route by: timestamp
      // (TikTok), tag (tracking updates) or updated_at (Shopify).
      const std::string field = w.kind == "shopify"            ? "\"updated_at\""
                                : w.path == "/webhooks/tiktok" ? "\"timestamp\""
                                                               : "\"tag\"";
      auto pos = w.body.find(field);
      w.body.replace(pos, field.size(), "\"renamed_field\"");
      w.expect = Expectation::kInvalid;
      w.reject_code = "schema_violation";
      w.event_ids.clear();
      w.joined_event_ids.clear();
      sign(w);
    } else if ((roll -= settings_.schema_invalid_share) >= 0 && roll < settings_.oversize_share) {
      w.body.insert(w.body.size() - 1,
                    ",\"padding\":\"" + std::string(settings_.oversize_bytes, 'x') + "\"");
      w.expect = Expectation::kOversize;
      w.event_ids.clear();
      w.joined_event_ids.clear();
      sign(w);
    } else {
      sign(w);
      const bool level = w.shopify_topic == "inventory_levels/update";
      if (level && std::find(recent_level_bodies_.begin(), recent_level_bodies_.end(), w.body) !=
                       recent_level_bodies_.end()) {
        w.expect = Expectation::kDuplicate;  // same signed body as an earlier level update
        w.event_ids.clear();
      } else {
        if (level) {
          recent_level_bodies_.push_back(w.body);
          if (recent_level_bodies_.size() > 2000) recent_level_bodies_.pop_front();
        }
        if (!w.sync_count) recent_valid_.push_back(w);
        if (recent_valid_.size() > 500) recent_valid_.pop_front();
      }
    }
  }
  w.stock_levels = stub_levels(apply_effects(w), seq);
  w.sequence = seq;
  ++sequence_;
  return w;
}

}  // namespace cf
