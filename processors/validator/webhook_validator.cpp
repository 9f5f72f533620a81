#include "webhook_validator.h"

#include <algorithm>

#include "cf/carrier_tracking.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"
#include "cf/tiktok_order.h"
#include "cf/time_format.h"

namespace cf {
namespace {

constexpr int kTypeOrderStatusChange = 1;
constexpr int kTypeInventoryStockSync = 1001;

ValidationOutcome reject(std::string code, std::string field, std::string rule,
                         std::string detail) {
  ValidationOutcome out;
  out.rejection = {std::move(code), std::move(field), std::move(rule), std::move(detail)};
  return out;
}

ValidationOutcome reject(const SchemaViolation& v, const std::string& prefix = "") {
  return reject("schema_violation", prefix + v.field, v.rule, v.detail);
}

void key_string(JsonBuilder& w, std::string_view key, std::string_view value) {
  w.key(key).string(value);
}

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

EnvelopeFields fields(std::string_view type, std::string_view aggregate_type,
                      std::string_view source, std::string_view aggregate_id,
                      std::string_view creator, int64_t occurred_at_ms,
                      std::string_view causation_id) {
  EnvelopeFields f;
  f.event_type = type;
  f.aggregate_type = aggregate_type;
  f.source = source;
  f.aggregate_id = aggregate_id;
  f.creator_id = creator;
  f.occurred_at_ms = occurred_at_ms;
  f.causation_id = causation_id;
  return f;
}

// The envelope of an event derived from `raw`.
void begin_envelope(JsonBuilder& w, const std::string& event_id, EnvelopeFields f,
                    const RawWebhook& raw) {
  f.received_at_ms = raw.received_at_ms;
  f.correlation_id = raw.request_id;
  cf::begin_envelope(w, event_id, f);
}

DomainEvent finish(JsonBuilder& json, std::string event_id, const EnvelopeFields& f,
                   const std::string& creator) {
  return {std::move(event_id), std::string(f.event_type), creator, json.take(), f.occurred_at_ms};
}

}  // namespace

int64_t parse_minor_units(std::string_view amount) {
  if (amount.empty()) return -1;
  int64_t units = 0, cents = 0;
  size_t i = 0;
  for (; i < amount.size() && amount[i] != '.'; ++i) {
    if (amount[i] < '0' || amount[i] > '9' || i >= 12) return -1;
    units = units * 10 + (amount[i] - '0');
  }
  if (i == 0) return -1;
  if (i < amount.size()) {
    size_t decimals = amount.size() - i - 1;
    if (decimals == 0 || decimals > 2) return -1;
    for (size_t j = i + 1; j < amount.size(); ++j) {
      if (amount[j] < '0' || amount[j] > '9') return -1;
      cents = cents * 10 + (amount[j] - '0');
    }
    if (decimals == 1) cents *= 10;
  }
  return units * 100 + cents;
}

std::string rejection_json(const Rejection& r, const std::string& processor,
                           std::string_view source_topic, int32_t partition, int64_t offset) {
  JsonBuilder w(256);
  w.begin_object();
  key_string(w, "code", r.code);
  key_string(w, "field", r.field);
  key_string(w, "rule", r.rule);
  key_string(w, "detail", r.detail);
  key_string(w, "processor", processor);
  key_string(w, "source_topic", source_topic);
  w.key("source_partition").number(partition);
  w.key("source_offset").number(offset);
  w.end_object();
  return w.take();
}

WebhookValidator::WebhookValidator(const SchemaRegistry& schemas, const ShopDirectory& shops,
                                   EventTimeWindow window)
    : schemas_(schemas), shops_(shops), window_(window) {}

ValidationOutcome WebhookValidator::validate(const RawWebhook& raw) const {
  ValidationOutcome out;
  if (raw.source == "tiktok") {
    out = validate_tiktok(raw);
  } else if (raw.source == "shipping") {
    out = validate_shipping(raw);
  } else if (raw.source == "shopify") {
    out = validate_shopify(raw);
  } else {
    return reject("missing_header", "", "cf-source",
                  raw.source.empty() ? "record has no cf-source header"
                                     : "cf-source must be tiktok, shopify or shipping");
  }
  if (!out.valid) return out;
  if (raw.received_at_ms < 0) {
    return reject("missing_header", "", "cf-received-at",
                  "record has no cf-received-at header: its event time cannot be bounded");
  }
  // Event times are the sender's word, so they are bounded by the ingest's
  // clock: one record dated far ahead would move every stream time on its
  // partition (dedup expiry, windows, lateness); one older than the dedup
  // horizon can no longer be told from a replay of a captured request.
  auto check = [&](int64_t t) -> std::optional<ValidationOutcome> {
    if (t > raw.received_at_ms + window_.max_future_ms) {
      return reject("event_time_out_of_range", "", "max_future",
                    "event time " + format_rfc3339_ms(t) + " is more than " +
                        std::to_string(window_.max_future_ms / 1000) + " s after received_at " +
                        format_rfc3339_ms(raw.received_at_ms));
    }
    if (t < raw.received_at_ms - window_.max_age_ms) {
      return reject("stale_event", "", "dedup_horizon",
                    "event time " + format_rfc3339_ms(t) + " is more than " +
                        std::to_string(window_.max_age_ms / 3600000) +
                        " h before received_at: older than the dedup horizon, indistinguishable "
                        "from a replay");
    }
    return std::nullopt;
  };
  if (auto bad = check(out.event_time_ms)) return *bad;
  for (const auto& event : out.events) {
    if (auto bad = check(event.occurred_at_ms)) return *bad;
  }
  return out;
}

namespace {

// A parsed webhook whose values live in a per-thread buffer: a Document's
// default pool allocates a 64 KiB chunk per parse, more than the parse costs.
class ParsedBody {
 public:
  ParsedBody() : allocator_(buffer(), kBufferSize), doc(&allocator_) {}
  ParsedBody(const ParsedBody&) = delete;
  ParsedBody& operator=(const ParsedBody&) = delete;

 private:
  static constexpr size_t kBufferSize = 32 * 1024;
  static char* buffer() {
    thread_local char storage[kBufferSize];
    return storage;
  }
  rapidjson::MemoryPoolAllocator<> allocator_;

 public:
  rapidjson::Document doc;
};

bool parse_body(std::string_view text, rapidjson::Document& doc, ValidationOutcome& failure) {
  JsonParseError error;
  if (parse_json(doc, text, error)) return true;
  const char* rule = error.code == "json_too_deep"         ? "max_depth"
                     : error.code == "invalid_utf8"        ? "utf8"
                     : error.code == "number_out_of_range" ? "number_range"
                                                           : "json_syntax";
  failure = reject(error.code, "", rule, error.detail);
  return false;
}
}  // namespace

ValidationOutcome WebhookValidator::validate_tiktok(const RawWebhook& raw) const {
  // An order notification arrives wrapped with its order detail by
  // channel-api (cf/tiktok_order.h); anything else arrives as TikTok sent it.
  // The wrapper gets a document of its own: ParsedBody's buffer is per thread.
  rapidjson::Document wrapper;
  std::string_view notification = raw.body;
  const rapidjson::Value* order = nullptr;
  ValidationOutcome failure;
  if (raw.enrichment == kEnrichedOrderDetail) {
    if (!parse_body(raw.body, wrapper, failure)) return failure;
    if (auto v = schemas_.validate("tiktok_enriched_order", wrapper)) return reject(*v);
    notification = str(wrapper["notification"]);
    order = &wrapper["order"];
  }
  ParsedBody body;
  rapidjson::Document& doc = body.doc;
  if (!parse_body(notification, doc, failure)) return failure;
  if (auto v = schemas_.validate("tiktok_webhook", doc)) return reject(*v);

  const int64_t type = doc["type"].GetInt64();
  const auto& data = doc["data"];
  const std::string_view notification_id = str(doc["tts_notification_id"]);
  const std::string_view shop_id = str(doc["shop_id"]);
  const std::string* creator = shops_.creator_of(shop_id);
  if (creator == nullptr) {
    return reject("unknown_shop", "/shop_id", "shop_mapping", "shop is not in the shop directory");
  }

  ValidationOutcome out;
  out.valid = true;
  out.idempotency_key = "tiktok:" + std::string(notification_id);
  out.event_time_ms = doc["timestamp"].GetInt64() * 1000;
  if (order != nullptr) out.dedup_body.assign(notification);
  const std::string id_base = out.idempotency_key + ":";

  if (type == kTypeOrderStatusChange) {
    if (auto v = schemas_.validate("tiktok_order_status_change", data)) return reject(*v, "/data");
    if (order == nullptr) {
      return reject("not_enriched", "/data", "order_detail",
                    "an ORDER_STATUS_CHANGE notification carries no line items: it must reach "
                    "the validator through channel-api, with its order detail");
    }
    if (auto v = schemas_.validate("tiktok_order_detail", *order)) return reject(*v, "/order");
    const std::string order_id(str(data["order_id"]));
    if (str((*order)["id"]) != order_id) {
      return reject("enrichment_mismatch", "/order/id", "same_order",
                    "the order detail is of another order than the notification");
    }
    const int64_t update_time = data["update_time"].GetInt64();
    if ((*order)["update_time"].GetInt64() < update_time) {
      return reject("stale_order_detail", "/order/update_time", "not_older_than_notification",
                    "the order detail is older than the notification it enriches");
    }
    const std::string_view status = str(data["order_status"]);
    const int64_t paid_time = order->HasMember("paid_time") ? (*order)["paid_time"].GetInt64() : 0;
    if (tiktok_status_is_paid(status) && paid_time <= 0) {
      return reject("stale_order_detail", "/order/paid_time", "paid_when_notified",
                    "the notification reports a paid status but the order detail has no "
                    "paid_time: the detail predates the notification (same second)");
    }
    // The API lists one line item per unit: units of one SKU at one price
    // become one line with a quantity, in the order they first appear.
    struct Line {
      std::string_view sku_id, seller_sku, currency;
      int64_t unit_price_minor = 0;
      int64_t quantity = 0;
    };
    std::vector<Line> lines;
    int64_t total = 0;
    const auto& items = (*order)["line_items"];
    const std::string_view currency = str(items[0]["currency"]);
    for (const auto& item : items.GetArray()) {
      if (str(item["currency"]) != currency) {
        return reject("schema_violation", "/order/line_items", "single_currency",
                      "line items use more than one currency");
      }
      const int64_t price = parse_minor_units(str(item["sale_price"]));
      total += price;
      const std::string_view sku = str(item["sku_id"]);
      auto same = std::find_if(lines.begin(), lines.end(), [&](const Line& l) {
        return l.sku_id == sku && l.unit_price_minor == price;
      });
      if (same != lines.end()) {
        ++same->quantity;
      } else {
        lines.push_back({sku, str(item["seller_sku"]), currency, price, 1});
      }
    }
    const std::string order_aggregate = "tiktok:" + order_id;
    EnvelopeFields f = fields("order.received_from_tiktok", "order", "tiktok_webhook",
                              order_aggregate, *creator, update_time * 1000, notification_id);
    out.event_time_ms = f.occurred_at_ms;
    {
      JsonBuilder w;
      std::string event_id = deterministic_uuid(id_base + "0");
      begin_envelope(w, event_id, f, raw);
      w.begin_object();
      key_string(w, "channel", "tiktok");
      key_string(w, "shop_id", shop_id);
      key_string(w, "order_id", order_id);
      key_string(w, "status", status);
      w.key("on_hold").boolean(data.HasMember("is_on_hold_order") &&
                               data["is_on_hold_order"].GetBool());
      w.key("line_items").begin_array();
      for (const auto& line : lines) {
        w.begin_object();
        key_string(w, "sku_id", line.sku_id);
        key_string(w, "seller_sku", line.seller_sku);
        w.key("quantity").number(line.quantity);
        w.key("unit_price_minor").number(line.unit_price_minor);
        key_string(w, "currency", line.currency);
        w.end_object();
      }
      w.end_array();
      w.key("total_minor").number(total);
      key_string(w, "currency", currency);
      key_string(w, "updated_at", format_rfc3339_ms(f.occurred_at_ms));
      w.end_object();
      w.end_object();
      out.events.push_back(finish(w, std::move(event_id), f, *creator));
    }
    // A notification of a paid status reports the payment; its time and
    // amount come from the detail (unchanged once paid).
    const auto& p = (*order)["payment"];
    if (tiktok_status_is_paid(status)) {
      EnvelopeFields pf = fields("payment.completed", "payment", "tiktok_webhook", order_aggregate,
                                 *creator, paid_time * 1000, notification_id);
      JsonBuilder w;
      std::string event_id = deterministic_uuid(id_base + "1");
      begin_envelope(w, event_id, pf, raw);
      w.begin_object();
      key_string(w, "channel", "tiktok");
      key_string(w, "order_id", order_id);
      w.key("amount_minor").number(parse_minor_units(str(p["total_amount"])));
      key_string(w, "currency", str(p["currency"]));
      key_string(w, "paid_at", format_rfc3339_ms(pf.occurred_at_ms));
      w.end_object();
      w.end_object();
      out.events.push_back(finish(w, std::move(event_id), pf, *creator));
    }
    return out;
  }

  if (type == kTypeInventoryStockSync) {
    // TikTok sends no stock notification: a count is channel-api's own record
    // (its scheduled sync marks it), never a webhook's, however it is signed.
    if (raw.enrichment != kScheduledSync) {
      return reject("unsupported_type", "/type", "scheduled_sync",
                    "type 1001 is written by channel-api's scheduled inventory sync only; TikTok "
                    "sends no stock notification");
    }
    if (auto v = schemas_.validate("inventory_stock_sync", data)) return reject(*v, "/data");
    const std::string sku_aggregate = "tiktok:" + std::string(str(data["sku_id"]));
    EnvelopeFields f =
        fields("inventory.stock_updated", "inventory", "scheduled_sync", sku_aggregate, *creator,
               data["update_time"].GetInt64() * 1000, notification_id);
    out.event_time_ms = f.occurred_at_ms;
    JsonBuilder w;
    std::string event_id = deterministic_uuid(id_base + "0");
    begin_envelope(w, event_id, f, raw);
    w.begin_object();
    key_string(w, "channel", "tiktok");
    key_string(w, "sku_id", str(data["sku_id"]));
    key_string(w, "seller_sku", str(data["seller_sku"]));
    if (data.HasMember("warehouse_id")) key_string(w, "warehouse_id", str(data["warehouse_id"]));
    w.key("available").number(data["available_stock"].GetInt64());
    key_string(w, "updated_at", format_rfc3339_ms(f.occurred_at_ms));
    w.end_object();
    w.end_object();
    out.events.push_back(finish(w, std::move(event_id), f, *creator));
    return out;
  }

  return reject(
      "unsupported_type", "/type", "supported_types",
      "notification type " + std::to_string(type) +
          " is not handled (supported: 1 ORDER_STATUS_CHANGE, 1001 INVENTORY_STOCK_SYNC)");
}

ValidationOutcome WebhookValidator::validate_shipping(const RawWebhook& raw) const {
  if (raw.provider.empty()) {
    return reject("missing_header", "", "cf-provider", "shipping record has no cf-provider header");
  }
  if (raw.provider != "aftership") {
    return reject("unsupported_type", "", "cf-provider",
                  "tracking webhooks are taken in AfterShip's format only");
  }
  ParsedBody body;
  rapidjson::Document& doc = body.doc;
  ValidationOutcome failure;
  if (!parse_body(raw.body, doc, failure)) return failure;
  if (auto v = schemas_.validate("aftership_tracking_webhook", doc)) return reject(*v);
  const rapidjson::Value& msg = doc["msg"];
  ShipmentUpdate u;
  u.event_id = std::string(str(doc["event_id"]));
  u.tracking_number = std::string(str(msg["tracking_number"]));
  u.carrier_slug = std::string(str(msg["slug"]));
  u.tag = std::string(str(msg["tag"]));
  u.status = std::string(shipment_status_of_tag(u.tag));
  u.occurred_at_ms = doc["ts"].GetInt64() * 1000;
  u.received_at_ms = raw.received_at_ms;
  u.request_id = std::string(raw.request_id);
  ValidationOutcome out;
  out.valid = true;
  out.idempotency_key = "shipping:aftership:" + u.event_id;
  out.event_time_ms = u.occurred_at_ms;
  // No event yet: the update names no order or shop, only its label. The
  // handler joins it to the label the order saga recorded (shipment_event).
  out.shipment = std::move(u);
  return out;
}

std::string_view shipment_status_of_tag(std::string_view tag) {
  if (tag == "Pending" || tag == "InfoReceived") return "label_created";
  if (tag == "InTransit") return "in_transit";
  if (tag == "OutForDelivery" || tag == "AvailableForPickup") return "out_for_delivery";
  if (tag == "Delivered") return "delivered";
  return "exception";  // AttemptFail, Exception, Expired
}

DomainEvent shipment_event(const ShipmentUpdate& u, const ShipmentLabel& label) {
  const std::string idempotency_key = "shipping:aftership:" + u.event_id;
  const std::string aggregate = "aftership:" + u.tracking_number;
  EnvelopeFields f = fields("shipment.tracking_updated", "shipment", "shipping_provider", aggregate,
                            label.creator_id, u.occurred_at_ms, u.event_id);
  f.received_at_ms = u.received_at_ms;
  f.correlation_id = u.request_id;
  JsonBuilder w(512);
  std::string event_id = deterministic_uuid(idempotency_key + ":0");
  cf::begin_envelope(w, event_id, f);
  w.begin_object();
  key_string(w, "provider", "aftership");
  key_string(w, "carrier", u.carrier_slug);
  key_string(w, "tracking_number", u.tracking_number);
  key_string(w, "status", u.status);
  key_string(w, "carrier_tag", u.tag);
  key_string(w, "channel", label.channel);
  // The order as the reconciler keys it ("<channel>:<id>").
  key_string(w, "order_id", label.channel + ":" + label.order_id);
  w.end_object();
  w.end_object();
  return finish(w, std::move(event_id), f, label.creator_id);
}

std::optional<ShipmentLabel> read_shipment_label(std::string_view json, std::string& error) {
  rapidjson::Document doc;
  JsonParseError parse_error;
  if (!parse_json(doc, json, parse_error) || !doc.IsObject()) {
    error = "label is not a JSON object (" + parse_error.code + ")";
    return std::nullopt;
  }
  ShipmentLabel label;
  label.tracking_number = std::string(string_member(doc, "tracking_number"));
  label.carrier_slug = std::string(string_member(doc, "carrier_slug"));
  label.creator_id = std::string(string_member(doc, "creator_id"));
  label.channel = std::string(string_member(doc, "channel"));
  label.order_id = std::string(string_member(doc, "order_id"));
  if (!valid_tracking_number(label.tracking_number) || label.creator_id.empty() ||
      label.creator_id.size() > 128 || label.channel.empty() || label.channel.size() > 32 ||
      label.order_id.empty() || label.order_id.size() > 128) {
    error = "label needs /tracking_number, /creator_id, /channel and /order_id";
    return std::nullopt;
  }
  return label;
}

}  // namespace cf

namespace cf {

ValidationOutcome WebhookValidator::validate_shopify(const RawWebhook& raw) const {
  if (raw.shopify_webhook_id.empty() || raw.shop_domain.empty() || raw.shopify_topic.empty()) {
    return reject(
        "missing_header", "", "cf-shopify-webhook-id",
        "Shopify record needs cf-shopify-topic, cf-shopify-webhook-id and cf-shop-domain");
  }
  ParsedBody body;
  rapidjson::Document& doc = body.doc;
  ValidationOutcome failure;
  if (!parse_body(raw.body, doc, failure)) return failure;
  const std::string* creator = shops_.creator_of(raw.shop_domain);
  const bool inventory = raw.shopify_topic == "inventory_levels/update";
  const bool cancelled = raw.shopify_topic == "orders/cancelled";
  if (!inventory && !cancelled && raw.shopify_topic != "orders/create") {
    return reject("unsupported_type", "", "shopify_topic",
                  "Shopify topic " + std::string(raw.shopify_topic) + " is not handled");
  }
  if (auto v = schemas_.validate(inventory ? "shopify_inventory_level" : "shopify_order", doc)) {
    return reject(*v);
  }
  if (creator == nullptr) {
    return reject("unknown_shop", "", "shop_mapping", "shop domain is not in the shop directory");
  }
  auto updated = parse_rfc3339_ms(str(doc["updated_at"]));
  if (!updated)
    return reject("schema_violation", "/updated_at", "rfc3339",
                  "updated_at is not an RFC 3339 time");

  ValidationOutcome out;
  out.valid = true;
  out.idempotency_key = "shopify:" + std::string(raw.shopify_webhook_id);
  out.event_time_ms = *updated;
  const std::string id_base = out.idempotency_key + ":";

  if (inventory) {
    const std::string item = std::to_string(doc["inventory_item_id"].GetInt64());
    const std::string aggregate = "shopify:" + item;
    // channel-api's scheduled sync writes Shopify's counts with the item's
    // SKU read from the Admin API (the ingest never sets these headers).
    const bool synced = raw.enrichment == kScheduledSync;
    EnvelopeFields f = fields("inventory.stock_updated", "inventory",
                              synced ? "scheduled_sync" : "shopify_webhook", aggregate, *creator,
                              *updated, raw.shopify_webhook_id);
    JsonBuilder w;
    std::string event_id = deterministic_uuid(id_base + "0");
    begin_envelope(w, event_id, f, raw);
    w.begin_object();
    key_string(w, "channel", "shopify");
    key_string(w, "sku_id", item);
    if (synced && !raw.shopify_sku.empty()) key_string(w, "seller_sku", raw.shopify_sku);
    key_string(w, "warehouse_id", std::to_string(doc["location_id"].GetInt64()));
    w.key("available").number(doc["available"].GetInt64());
    key_string(w, "updated_at", format_rfc3339_ms(*updated));
    w.end_object();
    w.end_object();
    out.events.push_back(finish(w, std::move(event_id), f, *creator));
    return out;
  }

  const std::string order_id = std::to_string(doc["id"].GetInt64());
  const std::string aggregate = "shopify:" + order_id;
  const std::string_view financial = str(doc["financial_status"]);
  const bool paid = financial == "paid";
  const std::string_view currency = str(doc["currency"]);
  int64_t total = parse_minor_units(str(doc["total_price"]));
  EnvelopeFields f = fields("order.received_from_shopify", "order", "shopify_webhook", aggregate,
                            *creator, *updated, raw.shopify_webhook_id);
  {
    JsonBuilder w;
    std::string event_id = deterministic_uuid(id_base + "0");
    begin_envelope(w, event_id, f, raw);
    w.begin_object();
    key_string(w, "channel", "shopify");
    key_string(w, "shop_domain", raw.shop_domain);
    key_string(w, "order_id", order_id);
    key_string(w, "status", cancelled ? "CANCELLED" : paid ? "AWAITING_SHIPMENT" : "UNPAID");
    w.key("on_hold").boolean(false);
    w.key("line_items").begin_array();
    for (const auto& item : doc["line_items"].GetArray()) {
      w.begin_object();
      const auto& variant = item.HasMember("variant_id") ? item["variant_id"] : item["id"];
      key_string(w, "sku_id",
                 std::to_string(variant.IsInt64() ? variant.GetInt64() : item["id"].GetInt64()));
      key_string(w, "seller_sku", str(item["sku"]));
      w.key("quantity").number(item["quantity"].GetInt64());
      w.key("unit_price_minor").number(parse_minor_units(str(item["price"])));
      key_string(w, "currency", currency);
      w.end_object();
    }
    w.end_array();
    w.key("total_minor").number(total);
    key_string(w, "currency", currency);
    key_string(w, "updated_at", format_rfc3339_ms(*updated));
    w.end_object();
    w.end_object();
    out.events.push_back(finish(w, std::move(event_id), f, *creator));
  }
  if (paid && !cancelled) {
    int64_t paid_at = *updated;
    if (doc.HasMember("processed_at") && doc["processed_at"].IsString()) {
      if (auto processed = parse_rfc3339_ms(str(doc["processed_at"]))) paid_at = *processed;
    }
    EnvelopeFields pf = fields("payment.completed", "payment", "shopify_webhook", aggregate,
                               *creator, paid_at, raw.shopify_webhook_id);
    JsonBuilder w;
    std::string event_id = deterministic_uuid(id_base + "1");
    begin_envelope(w, event_id, pf, raw);
    w.begin_object();
    key_string(w, "channel", "shopify");
    key_string(w, "order_id", order_id);
    w.key("amount_minor").number(total);
    key_string(w, "currency", currency);
    key_string(w, "paid_at", format_rfc3339_ms(paid_at));
    w.end_object();
    w.end_object();
    out.events.push_back(finish(w, std::move(event_id), pf, *creator));
  }
  return out;
}

}  // namespace cf
