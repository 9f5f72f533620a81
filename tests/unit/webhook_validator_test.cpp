#include "webhook_validator.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "cf/signature.h"
#include "cf/tiktok_order.h"
#include "cf/webhook_generator.h"
#include "raw_webhook.h"

namespace cf {
namespace {

class WebhookValidatorTest : public ::testing::Test {
 protected:
  WebhookValidatorTest()
      : schemas_(SchemaRegistry::load_directory(CF_SCHEMA_DIR)), validator_(schemas_, shops_) {
    shops_.add("shop-1", "creator-1");
  }

  // An enriched record (as channel-api writes it) or a notification as TikTok sends it.
  ValidationOutcome tiktok(const std::string& body, std::string_view enrichment = {}) {
    RawWebhook raw;
    raw.body = body;
    raw.source = "tiktok";
    raw.enrichment = enrichment;
    if (body.rfind(R"({"notification":)", 0) == 0) raw.enrichment = kEnrichedOrderDetail;
    raw.request_id = "req-1";
    raw.received_at_ms = 1795000001000;
    return validator_.validate(raw);
  }
  ValidationOutcome shipping(const std::string& body, const std::string& provider = "aftership") {
    RawWebhook raw;
    raw.body = body;
    raw.source = "shipping";
    raw.provider = provider;
    raw.received_at_ms = 1795073201000;  // 2026-11-19T07:26:41Z
    raw.request_id = "req-2";
    return validator_.validate(raw);
  }
  // Checks an emitted event against the envelope schema and its data schema.
  void expect_schema_valid(const DomainEvent& e) {
    rapidjson::Document doc;
    doc.Parse(e.json.c_str());
    ASSERT_FALSE(doc.HasParseError()) << e.json;
    auto envelope = schemas_.validate("event_envelope", doc);
    EXPECT_FALSE(envelope.has_value()) << envelope->field << " " << envelope->detail;
    auto data = schemas_.validate(e.event_type, doc["data"]);
    EXPECT_FALSE(data.has_value()) << data->field << " " << data->detail;
  }

  // TikTok's ORDER_STATUS_CHANGE notification: id, status, times, nothing else.
  static std::string notification(const std::string& status, const std::string& order_id = "576",
                                  int64_t update_time = 1795000000) {
    return R"({"type":1,"tts_notification_id":"n-1","shop_id":"shop-1","timestamp":1795000000,"data":{"order_id":")" +
           order_id + R"(","order_status":")" + status + R"(","update_time":)" +
           std::to_string(update_time) + R"(,"is_on_hold_order":false}})";
  }
  // One order of Get Order Detail (line items one per unit, amounts as decimal
  // strings), with the personal fields a real answer has.
  // Empty `items`: two units of one SKU.
  static std::string detail(const std::string& status, const std::string& extra = "",
                            std::string items = "", const std::string& id = "576",
                            int64_t update_time = 1795000000) {
    if (items.empty())
      items =
          R"([{"id":"l1","sku_id":"1729","seller_sku":"CASE-PRO","product_name":"Case","sale_price":"12.34","currency":"USD"},{"id":"l2","sku_id":"1729","seller_sku":"CASE-PRO","product_name":"Case","sale_price":"12.34","currency":"USD"}])";
    return R"({"id":")" + id + R"(","status":")" + status +
           R"(","create_time":1794999990,"update_time":)" + std::to_string(update_time) +
           R"(,"buyer_email":"v2-x@scs.tiktokw.us","recipient_address":{"name":"Jane Doe","phone_number":"(+1)213*****88"},"payment":{"currency":"USD","sub_total":"24.68","total_amount":"24.68"},"line_items":)" +
           items + extra + "}";
  }
  // What channel-api writes for a notification and the detail it fetched.
  static std::string enriched(const std::string& notification_body,
                              const std::string& detail_json) {
    rapidjson::Document d;
    d.Parse(detail_json.c_str());
    EXPECT_FALSE(d.HasParseError()) << detail_json;
    return enriched_notification_json(notification_body, order_detail_subset(d), 1795000000500);
  }
  static std::string order(const std::string& status, const std::string& extra_detail = "",
                           const std::string& items = "") {
    return enriched(notification(status), detail(status, extra_detail, items));
  }

  ShopDirectory shops_;
  SchemaRegistry schemas_;
  WebhookValidator validator_;
};

TEST_F(WebhookValidatorTest, NormalisesAnUnpaidOrderIntoOneEvent) {
  auto out = tiktok(order("UNPAID"));
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  ASSERT_EQ(out.events.size(), 1u);
  const auto& e = out.events[0];
  EXPECT_EQ(e.event_type, "order.received_from_tiktok");
  EXPECT_EQ(e.creator_id, "creator-1");
  EXPECT_EQ(e.event_id, deterministic_uuid("tiktok:n-1:0"));
  EXPECT_EQ(out.idempotency_key, "tiktok:n-1");
  EXPECT_EQ(out.event_time_ms, 1795000000000);
  rapidjson::Document doc;
  doc.Parse(e.json.c_str());
  EXPECT_STREQ(doc["aggregate_id"].GetString(), "tiktok:576");
  EXPECT_STREQ(doc["source"].GetString(), "tiktok_webhook");
  EXPECT_STREQ(doc["occurred_at"].GetString(), "2026-11-18T11:06:40.000Z");
  EXPECT_STREQ(doc["received_at"].GetString(), "2026-11-18T11:06:41.000Z");
  EXPECT_STREQ(doc["metadata"]["correlation_id"].GetString(), "req-1");
  EXPECT_STREQ(doc["metadata"]["causation_id"].GetString(), "n-1");
  // The API's two units of one SKU at one price become one line of quantity 2.
  ASSERT_EQ(doc["data"]["line_items"].Size(), 1u);
  EXPECT_EQ(doc["data"]["line_items"][0]["quantity"].GetInt64(), 2);
  EXPECT_EQ(doc["data"]["line_items"][0]["unit_price_minor"].GetInt64(), 1234);
  EXPECT_EQ(doc["data"]["total_minor"].GetInt64(), 2468);
  EXPECT_STREQ(doc["data"]["status"].GetString(), "UNPAID");
  EXPECT_EQ(e.json.find("Jane"), std::string::npos) << "no personal data from the detail";
  // Duplicates are recognised by the notification, not by the detail fetched for it.
  EXPECT_EQ(out.dedup_body, notification("UNPAID"));
  expect_schema_valid(e);
}

TEST_F(WebhookValidatorTest, TheNotificationIsTheEventAndTheDetailOnlyFillsItIn) {
  // Fetched after the order moved on: the event reports the notification's
  // status and time, and a newer detail changes neither.
  auto late =
      tiktok(enriched(notification("AWAITING_SHIPMENT"),
                      detail("IN_TRANSIT", R"(,"paid_time":1795000005)", "", "576", 1795000900)));
  ASSERT_TRUE(late.valid) << late.rejection.detail;
  ASSERT_EQ(late.events.size(), 2u);
  auto prompt = tiktok(order("AWAITING_SHIPMENT", R"(,"paid_time":1795000005)"));
  ASSERT_EQ(prompt.events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(late.events[i].json, prompt.events[i].json);
  EXPECT_EQ(late.event_time_ms, 1795000000000);
  // A cancellation of a paid order reports no new payment.
  auto cancelled =
      tiktok(enriched(notification("CANCELLED", "576", 1795000100),
                      detail("CANCELLED", R"(,"paid_time":1795000005)", "", "576", 1795000100)));
  ASSERT_TRUE(cancelled.valid) << cancelled.rejection.detail;
  EXPECT_EQ(cancelled.events.size(), 1u);
  // Units at different prices stay separate lines.
  auto mixed = tiktok(order(
      "UNPAID", "",
      R"([{"sku_id":"1","seller_sku":"A","sale_price":"2.00","currency":"USD"},{"sku_id":"1","seller_sku":"A","sale_price":"1.50","currency":"USD"},{"sku_id":"1","seller_sku":"A","sale_price":"2.00","currency":"USD"}])"));
  ASSERT_TRUE(mixed.valid) << mixed.rejection.detail;
  rapidjson::Document doc;
  doc.Parse(mixed.events[0].json.c_str());
  ASSERT_EQ(doc["data"]["line_items"].Size(), 2u);
  EXPECT_EQ(doc["data"]["line_items"][0]["quantity"].GetInt64(), 2);
  EXPECT_EQ(doc["data"]["line_items"][1]["quantity"].GetInt64(), 1);
  EXPECT_EQ(doc["data"]["total_minor"].GetInt64(), 550);
}

TEST_F(WebhookValidatorTest, PaidOrderAlsoEmitsPaymentCompleted) {
  auto out = tiktok(order("AWAITING_SHIPMENT", R"(,"paid_time":1795000005)"));
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[1].event_type, "payment.completed");
  EXPECT_EQ(out.events[1].event_id, deterministic_uuid("tiktok:n-1:1"));
  rapidjson::Document doc;
  doc.Parse(out.events[1].json.c_str());
  EXPECT_EQ(doc["data"]["amount_minor"].GetInt64(), 2468);
  EXPECT_STREQ(doc["occurred_at"].GetString(), "2026-11-18T11:06:45.000Z");
  for (const auto& e : out.events) expect_schema_valid(e);
}

TEST_F(WebhookValidatorTest, NormalisesStockSync) {
  const std::string count =
      R"({"type":1001,"tts_notification_id":"s-9","shop_id":"shop-1","timestamp":1795000000,"data":{"sku_id":"1729","seller_sku":"CASE-PRO","warehouse_id":"wh-1","available_stock":12,"update_time":1795000100}})";
  // TikTok sends no stock notification: the same count as a webhook (passed
  // through channel-api unenriched) is refused, however it was signed.
  for (std::string_view enrichment : {std::string_view(), kNotEnriched}) {
    auto forged = tiktok(count, enrichment);
    ASSERT_FALSE(forged.valid);
    EXPECT_EQ(forged.rejection.code, "unsupported_type");
    EXPECT_EQ(forged.rejection.field, "/type");
  }
  auto out = tiktok(count, kScheduledSync);
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].event_type, "inventory.stock_updated");
  rapidjson::Document doc;
  doc.Parse(out.events[0].json.c_str());
  EXPECT_EQ(doc["data"]["available"].GetInt(), 12);
  EXPECT_STREQ(doc["source"].GetString(), "scheduled_sync");
  EXPECT_STREQ(doc["aggregate_id"].GetString(), "tiktok:1729");
  EXPECT_EQ(out.event_time_ms, 1795000100000);
  expect_schema_valid(out.events[0]);
}

// AfterShip's tracking_update as it sends it, personal fields included.
std::string aftership_update(const std::string& tag = "InTransit",
                             const std::string& number = "9400111202555842761234") {
  return R"({"event":"tracking_update","event_id":"5a8a3a5e-7a51-4c2b-9a0c-2f1d0c8b3e11","is_tracking_first_tag":true,"msg":{"id":"a1b2c3d4e5f6a7b8c9d0e1f2","tracking_number":")" +
         number + R"(","slug":"usps","tag":")" + tag +
         R"(","subtag":"InTransit_001","updated_at":"2026-11-19T07:26:40+00:00","customer_name":"Jane Doe","emails":["jane.doe@example.com"],"checkpoints":[{"checkpoint_time":"2026-11-19T07:26:40+00:00","city":"Los Angeles","tag":"InTransit","message":"Arrived at USPS Regional Facility"}]},"ts":1795073200})";
}

TEST_F(WebhookValidatorTest, AnAfterShipUpdateIsValidAndJoinsItsLabelWithoutPersonalData) {
  auto out = shipping(aftership_update());
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  EXPECT_TRUE(out.events.empty()) << "no order or creator before the join";
  ASSERT_TRUE(out.shipment);
  EXPECT_EQ(out.idempotency_key, "shipping:aftership:5a8a3a5e-7a51-4c2b-9a0c-2f1d0c8b3e11");
  EXPECT_EQ(out.event_time_ms, 1795073200000);
  EXPECT_EQ(out.shipment->status, "in_transit");
  const ShipmentLabel label{"9400111202555842761234", "usps", "creator-1", "tiktok", "576"};
  DomainEvent e = shipment_event(*out.shipment, label);
  EXPECT_EQ(e.event_type, "shipment.tracking_updated");
  EXPECT_EQ(e.creator_id, "creator-1");
  EXPECT_EQ(e.event_id, deterministic_uuid(out.idempotency_key + ":0"));
  EXPECT_EQ(e.json.find("Jane"), std::string::npos);
  EXPECT_EQ(e.json.find("example.com"), std::string::npos);
  rapidjson::Document doc;
  doc.Parse(e.json.c_str());
  EXPECT_STREQ(doc["occurred_at"].GetString(), "2026-11-19T07:26:40.000Z");
  EXPECT_STREQ(doc["aggregate_id"].GetString(), "aftership:9400111202555842761234");
  EXPECT_STREQ(doc["data"]["order_id"].GetString(), "tiktok:576");
  EXPECT_STREQ(doc["metadata"]["correlation_id"].GetString(), "req-2");
  expect_schema_valid(e);
  for (const auto& [tag, status] :
       std::vector<std::pair<std::string, std::string>>{{"InfoReceived", "label_created"},
                                                        {"OutForDelivery", "out_for_delivery"},
                                                        {"AvailableForPickup", "out_for_delivery"},
                                                        {"Delivered", "delivered"},
                                                        {"AttemptFail", "exception"},
                                                        {"Expired", "exception"}}) {
    auto o = shipping(aftership_update(tag));
    ASSERT_TRUE(o.shipment) << tag;
    EXPECT_EQ(o.shipment->status, status) << tag;
  }
}

struct RejectionCase {
  const char* name;
  std::string body;
  std::string code, field, rule, detail_part;
};

TEST_F(WebhookValidatorTest, ReportsEachProblemPrecisely) {
  const std::string items_bad_price =
      R"([{"sku_id":"1","seller_sku":"A","sale_price":"1.234","currency":"USD"}])";
  const std::string items_two_currencies =
      R"([{"sku_id":"1","seller_sku":"A","sale_price":"1.00","currency":"USD"},{"sku_id":"2","seller_sku":"B","sale_price":"1.00","currency":"EUR"}])";
  std::vector<RejectionCase> cases = {
      {"truncated json", R"({"type":1,"shop_id":)", "malformed_json", "", "json_syntax", "at byte"},
      {"not json", "hello", "malformed_json", "", "json_syntax", "Invalid value"},
      {"missing id", R"({"type":1,"shop_id":"shop-1","timestamp":1795000000,"data":{}})",
       "schema_violation", "/tts_notification_id", "required",
       "missing required property 'tts_notification_id'"},
      {"wrong type",
       R"({"type":"1","tts_notification_id":"n","shop_id":"shop-1","timestamp":1795000000,"data":{}})",
       "schema_violation", "/type", "type", "got string"},
      {"timestamp in ms",
       R"({"type":1,"tts_notification_id":"n","shop_id":"shop-1","timestamp":1795000000000,"data":{}})",
       "schema_violation", "/timestamp", "maximum", "violates maximum"},
      {"bad status", order("SHIPPED"), "schema_violation", "/data/order_status", "enum",
       "\"SHIPPED\" is not one of"},
      {"missing order id",
       R"({"type":1,"tts_notification_id":"n","shop_id":"shop-1","timestamp":1795000000,"data":{"order_status":"UNPAID","update_time":1795000000}})",
       "schema_violation", "/data/order_id", "required", "missing required property 'order_id'"},
      {"not enriched", notification("UNPAID"), "not_enriched", "/data", "order_detail",
       "through channel-api"},
      {"detail of another order", enriched(notification("UNPAID"), detail("UNPAID", "", "", "577")),
       "enrichment_mismatch", "/order/id", "same_order", "another order"},
      {"detail older than the notification",
       enriched(notification("UNPAID"), detail("UNPAID", "", "", "576", 1794999999)),
       "stale_order_detail", "/order/update_time", "not_older_than_notification", "older"},
      {"paid notification, detail not yet paid (same second)",
       enriched(notification("AWAITING_SHIPMENT"), detail("UNPAID")), "stale_order_detail",
       "/order/paid_time", "paid_when_notified", "no paid_time"},
      {"no line items", order("UNPAID", "", "[]"), "schema_violation", "/order/line_items",
       "minItems", ""},
      {"three decimals", order("UNPAID", "", items_bad_price), "schema_violation",
       "/order/line_items/0/sale_price", "pattern", "violates pattern"},
      {"mixed currencies", order("UNPAID", "", items_two_currencies), "schema_violation",
       "/order/line_items", "single_currency", "more than one currency"},
      {"wrapper without notification",
       R"({"notification":{},"order":{},"fetched_at":1795000000000})", "schema_violation",
       "/notification", "type", ""},
      {"unknown shop",
       R"({"type":1,"tts_notification_id":"n","shop_id":"shop-404","timestamp":1795000000,"data":{}})",
       "unknown_shop", "/shop_id", "shop_mapping", "not in the shop directory"},
      {"unsupported type",
       R"({"type":6,"tts_notification_id":"n","shop_id":"shop-1","timestamp":1795000000,"data":{}})",
       "unsupported_type", "/type", "supported_types", "type 6"},
  };
  for (const auto& c : cases) {
    auto out = tiktok(c.body);
    EXPECT_FALSE(out.valid) << c.name;
    EXPECT_EQ(out.rejection.code, c.code) << c.name;
    EXPECT_EQ(out.rejection.field, c.field) << c.name;
    EXPECT_EQ(out.rejection.rule, c.rule) << c.name;
    EXPECT_NE(out.rejection.detail.find(c.detail_part), std::string::npos)
        << c.name << ": " << out.rejection.detail;
    EXPECT_TRUE(out.events.empty()) << c.name;
  }
}

TEST_F(WebhookValidatorTest, RejectsBadShippingInput) {
  auto bad_tag = shipping(aftership_update("LostInSpace"));
  EXPECT_FALSE(bad_tag.valid);
  EXPECT_EQ(bad_tag.rejection.field, "/msg/tag");
  EXPECT_EQ(bad_tag.rejection.rule, "enum");
  auto bad_number = shipping(aftership_update("InTransit", "94 00"));
  EXPECT_EQ(bad_number.rejection.field, "/msg/tracking_number");
  std::string far = aftership_update();
  far.replace(far.find("1795073200"), 10, "4102444800");
  EXPECT_EQ(shipping(far).rejection.code, "event_time_out_of_range");
  std::string edd = aftership_update();
  edd.replace(edd.find("tracking_update"), 15, "edd_revise");
  EXPECT_EQ(shipping(edd).rejection.field, "/event");
  EXPECT_EQ(shipping(aftership_update(), "shipfast").rejection.code, "unsupported_type");
  auto no_provider = shipping("{}", "");
  EXPECT_EQ(no_provider.rejection.code, "missing_header");
  EXPECT_EQ(no_provider.rejection.rule, "cf-provider");
}

TEST_F(WebhookValidatorTest, RejectsRecordsWithoutSource) {
  RawWebhook raw;
  raw.body = "{}";
  auto out = validator_.validate(raw);
  EXPECT_FALSE(out.valid);
  EXPECT_EQ(out.rejection.code, "missing_header");
  EXPECT_EQ(out.rejection.rule, "cf-source");
}

TEST_F(WebhookValidatorTest, SameInputGivesByteIdenticalOutput) {
  auto a = tiktok(order("AWAITING_SHIPMENT", R"(,"paid_time":1795000005)"));
  auto b = tiktok(order("AWAITING_SHIPMENT", R"(,"paid_time":1795000005)"));
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) EXPECT_EQ(a.events[i].json, b.events[i].json);
}

TEST_F(WebhookValidatorTest, AgreesWithTheLoadGeneratorsGroundTruth) {
  GeneratorSettings settings;
  settings.shops = 5;
  settings.seed = 7;
  settings.duplicate_share = 0;
  settings.oversize_share = 0;
  WebhookGenerator generator(settings);
  ShopDirectory shops = ShopDirectory::from_json(generator.shop_directory_json());
  WebhookValidator validator(schemas_, shops);
  int valid = 0, invalid = 0, shopify = 0;
  for (int i = 0; i < 2000; ++i) {
    GeneratedWebhook w = generator.next();
    if (w.expect == Expectation::kBadSignature) continue;
    std::string storage;
    const RawWebhook raw = test::raw_webhook(w, settings.shipping_provider, storage);
    auto out = validator.validate(raw);
    if (raw.source == "shopify" && out.valid) ++shopify;
    if (w.expect == Expectation::kInvalid || w.expect == Expectation::kMalformed) {
      ++invalid;
      EXPECT_FALSE(out.valid) << w.body;
      EXPECT_EQ(out.rejection.code, w.reject_code) << w.body;
      continue;
    }
    ++valid;
    ASSERT_TRUE(out.valid) << out.rejection.detail << " " << w.body;
    EXPECT_EQ(out.idempotency_key, w.idempotency_key);
    ASSERT_EQ(out.events.size(), w.event_ids.size()) << w.body;
    for (size_t k = 0; k < out.events.size(); ++k) {
      EXPECT_EQ(out.events[k].event_id, w.event_ids[k]);
      expect_schema_valid(out.events[k]);
    }
  }
  EXPECT_GT(valid, 1500);
  EXPECT_GT(invalid, 20);
  EXPECT_GT(shopify, 200);  // orders/create, orders/cancelled and inventory_levels/update
}

TEST_F(WebhookValidatorTest, ShopifyWebhooksBecomeChannelEvents) {
  ShopDirectory shops;
  shops.add("cases.myshopify.com", "creator-1");
  WebhookValidator validator(schemas_, shops);
  RawWebhook raw;
  raw.source = "shopify";
  raw.shopify_webhook_id = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";
  raw.shop_domain = "cases.myshopify.com";
  raw.shopify_topic = "orders/create";
  raw.received_at_ms = 1795046401000;  // 2026-11-19T00:00:01Z
  std::string order =
      R"({"id":820982911946154508,"currency":"USD","total_price":"598.94","financial_status":"paid",)"
      R"("updated_at":"2026-11-18T19:00:00-05:00","processed_at":"2026-11-18T18:59:00-05:00",)"
      R"("line_items":[{"id":1,"variant_id":808950810,"sku":"IPOD2008RED","quantity":1,"price":"199.00"},)"
      R"({"id":2,"variant_id":null,"sku":"CASE","quantity":2,"price":"199.97"}]})";
  raw.body = order;
  auto out = validator.validate(raw);
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  EXPECT_EQ(out.idempotency_key, "shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].event_type, "order.received_from_shopify");
  EXPECT_EQ(out.events[1].event_type, "payment.completed");
  for (auto& e : out.events) expect_schema_valid(e);
  rapidjson::Document d;
  d.Parse(out.events[0].json.c_str());
  EXPECT_STREQ(d["data"]["status"].GetString(), "AWAITING_SHIPMENT");
  EXPECT_STREQ(d["occurred_at"].GetString(), "2026-11-19T00:00:00.000Z");  // offset applied
  EXPECT_EQ(d["data"]["total_minor"].GetInt64(), 59894);
  EXPECT_STREQ(d["data"]["line_items"][0]["sku_id"].GetString(), "808950810");
  EXPECT_STREQ(d["data"]["line_items"][1]["sku_id"].GetString(), "2");  // no variant: the line id
  EXPECT_STREQ(d["source"].GetString(), "shopify_webhook");

  raw.shopify_topic = "orders/cancelled";
  out = validator.validate(raw);
  ASSERT_TRUE(out.valid);
  ASSERT_EQ(out.events.size(), 1u);
  d.Parse(out.events[0].json.c_str());
  EXPECT_STREQ(d["data"]["status"].GetString(), "CANCELLED");

  raw.shopify_topic = "inventory_levels/update";
  std::string level =
      R"({"inventory_item_id":271878346596884015,"location_id":24826418,"available":6,"updated_at":"2026-11-18T19:00:00-05:00"})";
  raw.body = level;
  out = validator.validate(raw);
  ASSERT_TRUE(out.valid) << out.rejection.detail;
  expect_schema_valid(out.events[0]);
  d.Parse(out.events[0].json.c_str());
  EXPECT_STREQ(d["data"]["sku_id"].GetString(), "271878346596884015");
  EXPECT_EQ(d["data"]["available"].GetInt64(), 6);

  raw.shopify_topic = "products/update";
  EXPECT_EQ(validator.validate(raw).rejection.code, "unsupported_type");
  raw.shopify_topic = "inventory_levels/update";
  raw.shop_domain = "stranger.myshopify.com";
  EXPECT_EQ(validator.validate(raw).rejection.code, "unknown_shop");
  raw.shop_domain = "cases.myshopify.com";
  std::string broken =
      R"({"inventory_item_id":1,"location_id":2,"available":-1,"updated_at":"2026-11-18T19:00:00Z"})";
  raw.body = broken;
  out = validator.validate(raw);
  EXPECT_EQ(out.rejection.code, "schema_violation");
  EXPECT_EQ(out.rejection.field, "/available");
  raw.shopify_webhook_id = {};
  EXPECT_EQ(validator.validate(raw).rejection.code, "missing_header");
}

TEST(MinorUnits, ParsesDecimalMoneyStrictly) {
  EXPECT_EQ(parse_minor_units("12.34"), 1234);
  EXPECT_EQ(parse_minor_units("12.3"), 1230);
  EXPECT_EQ(parse_minor_units("12"), 1200);
  EXPECT_EQ(parse_minor_units("0.05"), 5);
  EXPECT_EQ(parse_minor_units(""), -1);
  EXPECT_EQ(parse_minor_units(".5"), -1);
  EXPECT_EQ(parse_minor_units("1."), -1);
  EXPECT_EQ(parse_minor_units("1.234"), -1);
  EXPECT_EQ(parse_minor_units("-1"), -1);
  EXPECT_EQ(parse_minor_units("1e3"), -1);
}

}  // namespace
}  // namespace cf

namespace cf {
namespace {

class HostileWebhookTest : public WebhookValidatorTest {
 protected:
  // A notification as TikTok sends it (judged before enrichment matters).
  std::string order_body(const std::string& order_id, int64_t update_time_s) {
    return R"({"type":1,"tts_notification_id":"n-)" + order_id +
           R"(","shop_id":"shop-1","timestamp":)" + std::to_string(update_time_s) +
           R"(,"data":{"order_id":")" + order_id +
           R"(","order_status":"AWAITING_SHIPMENT","update_time":)" +
           std::to_string(update_time_s) + R"(,"is_on_hold_order":false}})";
  }
  // The same with its order detail, as the validator reads it.
  std::string enriched_body(const std::string& order_id, int64_t update_time_s) {
    return enriched(
        order_body(order_id, update_time_s),
        detail("AWAITING_SHIPMENT", R"(,"paid_time":)" + std::to_string(update_time_s),
               R"([{"sku_id":"1729","seller_sku":"CF-1","sale_price":"9.99","currency":"USD"}])",
               order_id, update_time_s));
  }
};

// Regression: 256 KiB of nesting overflowed the validator's stack and the
// record crash-looped it; now a rejection with the reason.
TEST_F(HostileWebhookTest, DeepNestingIsARejectionNotACrash) {
  for (const std::string& body :
       {std::string(256 * 1024, '['), std::string(100000, '{') + "\"a\":1",
        R"({"type":1,"data":)" + std::string(65, '[') + std::string(65, ']') + "}"}) {
    auto out = tiktok(body);
    EXPECT_FALSE(out.valid);
    EXPECT_EQ(out.rejection.code, "json_too_deep");
    EXPECT_EQ(out.rejection.rule, "max_depth");
  }
  // 64 levels are fine as JSON (and then fail the schema, as they should).
  auto ok_depth =
      tiktok(R"({"type":1,"data":)" + std::string(63, '[') + std::string(63, ']') + "}");
  EXPECT_EQ(ok_depth.rejection.code, "schema_violation");
}

// Regression: RapidJSON skipped maxLength for strings it could not decode,
// so "\xff" + 200 KB passed a 64-character limit.
TEST_F(HostileWebhookTest, InvalidUtf8CannotSlipPastMaxLength) {
  std::string body = order_body("o-1", 1795000000);
  std::string hostile = std::string("\xff", 1) + std::string(200 * 1024, 'a');
  body.replace(body.find("o-1\",\"order_status"), 3, hostile);
  auto out = tiktok(body);
  EXPECT_FALSE(out.valid);
  EXPECT_EQ(out.rejection.code, "invalid_utf8");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    std::string b = order_body("o-2", 1795000000);
    b.replace(b.find("o-2\",\"order_status"), 3, bad);
    EXPECT_EQ(tiktok(b).rejection.code, "invalid_utf8") << "bytes of " << std::strlen(bad);
  }
  // Valid multi-byte text over the limit is still caught by maxLength.
  std::string long_id;
  for (int i = 0; i < 200; ++i) long_id += "\xc3\xa9";
  EXPECT_EQ(tiktok(order_body(long_id, 1795000000)).rejection.rule, "maxLength");
}

// Found by fuzz_validator: a huge number in a field the schema hashes
// (enums) was undefined behaviour inside RapidJSON's validator.
TEST_F(HostileWebhookTest, NumbersBeyondInt64AreRefusedAtTheParse) {
  std::string body = order_body("o-10", 1795000000);
  body.replace(body.find("\"update_time\":1795000000"), 24, "\"update_time\":9.22222e+149");
  auto out = tiktok(body);
  EXPECT_EQ(out.rejection.code, "number_out_of_range");
  EXPECT_EQ(out.rejection.rule, "number_range");
  std::string fine = order_body("o-11", 1795000000);
  fine.replace(fine.find("\"update_time\":1795000000"), 24, "\"update_time\":1.5");
  EXPECT_EQ(tiktok(fine).rejection.code, "schema_violation");  // parsed, then refused by the schema
}

// Regression: an update_time in the year 5138 was accepted and moved the
// partition's stream time for every creator on it.
TEST_F(HostileWebhookTest, EventTimesAreBoundedByReceivedAt) {
  const int64_t received_s = 1795000001;  // the helper's received_at
  EXPECT_TRUE(tiktok(enriched_body("o-3", received_s - 5)).valid);
  EXPECT_TRUE(
      tiktok(enriched_body("o-4", received_s + 599)).valid);  // a sender's clock ahead by minutes
  auto future = tiktok(enriched_body("o-5", received_s + 601));
  EXPECT_EQ(future.rejection.code, "event_time_out_of_range");
  EXPECT_EQ(tiktok(enriched_body("o-6", 99999999999)).rejection.code, "event_time_out_of_range");
  // Older than the dedup horizon: indistinguishable from a replay.
  EXPECT_TRUE(
      tiktok(enriched_body("o-7", received_s - 95 * 3600)).valid);  // a TikTok retry after 72 h+
  auto stale = tiktok(enriched_body("o-8", received_s - 97 * 3600));
  EXPECT_EQ(stale.rejection.code, "stale_event");
  EXPECT_EQ(stale.rejection.rule, "dedup_horizon");
  // Without the ingest's stamp nothing bounds the event time: refused.
  RawWebhook raw;
  std::string body = enriched_body("o-9", received_s);
  raw.body = body;
  raw.source = "tiktok";
  raw.enrichment = kEnrichedOrderDetail;
  EXPECT_EQ(validator_.validate(raw).rejection.code, "missing_header");
}

}  // namespace
}  // namespace cf

#include "validator_handler.h"

namespace cf {
namespace {

// Regression: one signed Shopify body posted under two shop domains (or with
// a fresh webhook id) was accepted twice and counted for both creators.
TEST(ValidatorDedup, ASignedBodyIsAcceptedOnceWhateverIdOrDomainComesWithIt) {
  TtlDedupStore store("validator.dedup.changelog", 0, "webhooks.shopify.raw|", 96LL * 3600 * 1000);
  std::vector<OutputRecord> changelog;
  const std::string body = R"({"id":820982911946154508,"total_price":"598.94"})";
  ValidationOutcome first;
  first.valid = true;
  first.idempotency_key = "shopify:wh-1";
  first.event_time_ms = 1795000000000;
  EXPECT_EQ(dedup_webhook(store, first, body, 10, changelog), DedupVerdict::kFirst);
  EXPECT_EQ(changelog.size(), 2u) << "both the id and the body digest are changelogged";
  ValidationOutcome other_id = first;
  other_id.idempotency_key = "shopify:wh-forged";
  EXPECT_EQ(dedup_webhook(store, other_id, body, 11, changelog), DedupVerdict::kDuplicate);
  // The platform's retry: same id, same body.
  EXPECT_EQ(dedup_webhook(store, first, body, 12, changelog), DedupVerdict::kDuplicate);
  // A re-read of the first record after a crash is processed again.
  EXPECT_EQ(dedup_webhook(store, first, body, 10, changelog), DedupVerdict::kReplay);
  // A different body with a fresh id is new.
  ValidationOutcome next = first;
  next.idempotency_key = "shopify:wh-2";
  EXPECT_EQ(dedup_webhook(store, next, body + " ", 13, changelog), DedupVerdict::kFirst);
}

}  // namespace
}  // namespace cf

#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "reconciler.h"

namespace cf {
namespace {

// Regression: the reconciler concatenated the order id into the ledger's
// sale events, so an id with a quote made invalid JSON (the sale never
// reached the ledger) and a crafted one forged ledger items. Table-driven:
// hostile strings in the string fields of a TikTok order, through the
// validator and the reconciler; every output parses and carries the value.
TEST(HostileStrings, SurviveValidatorAndReconcilerExactly) {
  SchemaRegistry schemas = SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  ShopDirectory shops;
  shops.add("shop-1", "creator-1");
  WebhookValidator validator(schemas, shops);
  const std::vector<std::string> hostile = {
      R"(a"b)",
      R"(back\slash)",
      "tab\there\nnewline\x01\x1f",
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
      R"(x","items":[{"product_sku":"FORGED","quantity":999}],"y":")",
      std::string(64, 'z'),
      "\\u0000"};
  for (const std::string& value : hostile) {
    JsonBuilder body;
    body.begin_object();
    body.key("type").number(1);
    body.key("tts_notification_id").string("n-" + value);
    body.key("shop_id").string("shop-1");
    body.key("timestamp").number(1795000000);
    body.key("data").begin_object();
    body.key("order_id").string(value);
    body.key("order_status").string("AWAITING_SHIPMENT");
    body.key("update_time").number(1795000000);
    body.end_object().end_object();
    // Its detail from the API: two units of the hostile SKU.
    JsonBuilder order;
    order.begin_object().key("id").string(value).key("status").string("AWAITING_SHIPMENT");
    order.key("update_time").number(1795000000).key("paid_time").number(1795000000);
    order.key("payment").begin_object().key("currency").string("USD");
    order.key("total_amount").string("19.98").end_object();
    order.key("line_items").begin_array();
    for (int unit = 0; unit < 2; ++unit) {
      order.begin_object().key("sku_id").string(value).key("seller_sku").string(value);
      order.key("sale_price").string("9.99").key("currency").string("USD").end_object();
    }
    order.end_array().end_object();
    rapidjson::Document detail;
    ASSERT_TRUE(parse_json(detail, order.str()));
    RawWebhook raw;
    std::string text =
        enriched_notification_json(body.take(), order_detail_subset(detail), 1795000000400);
    raw.body = text;
    raw.source = "tiktok";
    raw.enrichment = kEnrichedOrderDetail;
    raw.received_at_ms = 1795000000500;
    ValidationOutcome out = validator.validate(raw);
    ASSERT_TRUE(out.valid) << out.rejection.code << " " << out.rejection.detail << " for " << value;
    Reconciler reconciler{ReconcilerSettings{}, ReconcilerTopics{}, SkuMapping{}};
    EntityStore store{"reconciler.entities.changelog", 0};
    std::vector<OutputRecord> produced;
    for (const auto& event : out.events) reconciler.on_event(store, event.json, 1, 1, produced);
    bool sale = false;
    for (const auto& o : produced) {
      if (o.topic.find("changelog") != std::string::npos) continue;
      rapidjson::Document doc;
      ASSERT_TRUE(parse_json(doc, o.value)) << o.topic << ": " << o.value;
      if (std::string(doc["event_type"].GetString()) != "inventory.sale_recorded") continue;
      sale = true;
      EXPECT_EQ(std::string(doc["data"]["order_id"].GetString()), "tiktok:" + value);
      const auto& items = doc["data"]["items"];
      ASSERT_EQ(items.Size(), 1u) << "no forged items";
      EXPECT_EQ(std::string(items[0]["product_sku"].GetString()), value);
      EXPECT_EQ(items[0]["quantity"].GetInt(), 2);
    }
    EXPECT_TRUE(sale) << "the sale reached the ledger for " << value;
  }
}

}  // namespace
}  // namespace cf
