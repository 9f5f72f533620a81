// channel-api's scheduled inventory sync as plain code: the signed Search
// Products and Inventory Search requests (verified by the API stub as the
// platform verifies them), their answers, which sync-topic records start a
// round, and the stock-count records a round writes.
#include <gtest/gtest.h>

#include <ctime>
#include <set>

#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/schemas.h"
#include "cf/webhook_generator.h"
#include "channel_api_fixtures.h"
#include "shopify_admin_api.h"
#include "shopify_admin_stub.h"
#include "tiktok_api_stub.h"
#include "tiktok_inventory_api.h"

namespace cf {
namespace {

HttpResult answer(const StubAnswer& a) { return http_answer(a.status, a.body, a.headers); }

struct SyncFixture : StubFixture {
  const std::string& key = generator.settings().app_key;
  const std::string& secret = generator.settings().app_secret;

  void stock(const std::string& shop, int products, int64_t units) {
    std::string body = R"({"skus":[)";
    for (int i = 0; i < products; ++i) {
      const std::string n = std::to_string(1000 + i);
      body += std::string(i ? "," : "") + R"({"product_id":"17293824768)" + n +
              R"(","sku_id":"17293824769)" + n + R"(","seller_sku":"CF-)" + n + R"(","quantity":)" +
              std::to_string(units) + "}";
    }
    ASSERT_EQ(stub.handle("POST", "/tiktok/inventory?shop_id=" + shop, body + "]}", "").status,
              200);
  }
};

TEST(InventorySync, ARoundReadsEveryPageAndEverySkuThroughSignedCalls) {
  SyncFixture f;
  f.stock("shop-7000", 230, 12);
  f.stock("shop-7001", 3, 99);  // another shop's stock never shows
  const TikTokShop& shop = f.shops.at("shop-7000");
  std::string token;
  std::set<std::string> skus;
  int pages = 0;
  do {
    const std::string body = products_search_body();
    const std::string target =
        products_search_target(f.key, f.secret, shop.shop_cipher, token, body, f.now);
    ProductsPage page =
        read_products_page(answer(f.stub.handle("POST", target, body, shop.token.access_token)));
    ASSERT_EQ(page.verdict, ApiVerdict::kOk) << page.error;
    ASSERT_LE(page.product_ids.size(), kProductsPageSize);
    ++pages;
    const std::string inv_body = inventory_search_body(page.product_ids);
    InventoryAnswer stock = read_inventory_answer(answer(f.stub.handle(
        "POST", inventory_search_target(f.key, f.secret, shop.shop_cipher, inv_body, f.now),
        inv_body, shop.token.access_token)));
    ASSERT_EQ(stock.verdict, ApiVerdict::kOk) << stock.error;
    for (const auto& s : stock.skus) {
      EXPECT_EQ(s.available, 12);
      EXPECT_EQ(s.seller_sku.substr(0, 3), "CF-");
      skus.insert(s.sku_id);
    }
    token = page.next_page_token;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(skus.size(), 230u);
}

TEST(InventorySync, TheBodyIsSignedAndAnotherShopsTokenIsRefused) {
  SyncFixture f;
  f.stock("shop-7000", 2, 5);
  const TikTokShop& shop = f.shops.at("shop-7000");
  const std::string body = inventory_search_body({"172938247681000"});
  const std::string target =
      inventory_search_target(f.key, f.secret, shop.shop_cipher, body, f.now);
  // The same signed target with another body: the signature covers the body.
  StubAnswer tampered = f.stub.handle("POST", target, inventory_search_body({"172938247681001"}),
                                      shop.token.access_token);
  EXPECT_EQ(read_inventory_answer(answer(tampered)).verdict, ApiVerdict::kMisconfigured);
  StubAnswer other =
      f.stub.handle("POST", target, body, f.shops.at("shop-7001").token.access_token);
  EXPECT_EQ(read_inventory_answer(answer(other)).verdict, ApiVerdict::kUnauthorized);
  InventoryAnswer ok =
      read_inventory_answer(answer(f.stub.handle("POST", target, body, shop.token.access_token)));
  ASSERT_EQ(ok.verdict, ApiVerdict::kOk);
  ASSERT_EQ(ok.skus.size(), 1u);
  EXPECT_EQ(ok.skus[0].product_id, "172938247681000");
}

TEST(InventorySync, AnswersWithoutUsableSkusAreCountedNotWritten) {
  HttpResult r;
  r.status = 200;
  r.body = R"({"code":0,"message":"Success","data":{"inventory":[{"product_id":"1","skus":[
    {"id":"a","seller_sku":"A","total_available_quantity":3},
    {"id":"","seller_sku":"B","total_available_quantity":3},
    {"id":"c","seller_sku":"C","total_available_quantity":-1},
    {"id":"d","seller_sku":"D"}, 7]}]}})";
  InventoryAnswer a = read_inventory_answer(r);
  ASSERT_EQ(a.verdict, ApiVerdict::kOk);
  ASSERT_EQ(a.skus.size(), 1u);
  EXPECT_EQ(a.skipped, 4u);
  r.status = 429;
  r.body = R"({"code":36009003,"message":"too many requests"})";
  r.headers = {{"retry-after", "2"}};
  a = read_inventory_answer(r);
  EXPECT_EQ(a.verdict, ApiVerdict::kThrottled);
  EXPECT_EQ(a.retry_after_ms, 2000);
  r = HttpResult{};
  r.status = 200;
  r.body = R"({"code":0,"data":{}})";
  EXPECT_EQ(read_products_page(r).verdict, ApiVerdict::kOk) << "a shop without products";
  EXPECT_TRUE(read_products_page(r).product_ids.empty());
}

TEST(InventorySync, TicksNumberRoundsAndOldRequestsAreHistory) {
  const int64_t interval = 300000;
  const int64_t t = 1764770400000;  // a round boundary (divisible by 5 min)
  auto tick = [&](int64_t at, int64_t now) {
    return read_sync_request(kTickEventType, tick_json(at), interval, interval, now);
  };
  EXPECT_EQ(tick(t, t).kind, SyncRequest::Kind::kTick);
  EXPECT_EQ(tick(t, t).round, tick(t + 299999, t + 299999).round) << "one round per interval";
  EXPECT_NE(tick(t, t).round, tick(t + 300000, t + 300000).round);
  EXPECT_EQ(tick(t, t + 299999).kind, SyncRequest::Kind::kTick);
  EXPECT_EQ(tick(t, t + 300001).kind, SyncRequest::Kind::kNone) << "a replayed tick";
  EXPECT_EQ(tick(t, t + 300001).why_none, "history");

  SyncRequest c = read_sync_request("sync_inventory", sync_command_json("abc", t, "shop-7000"),
                                    interval, interval, t + 1000);
  EXPECT_EQ(c.kind, SyncRequest::Kind::kCommand);
  EXPECT_EQ(c.round, "cmd-abc");
  EXPECT_EQ(c.shop_id, "shop-7000");
  EXPECT_EQ(read_sync_request("", sync_command_json("abc", t, ""), interval, interval, t).shop_id,
            "");
  for (const char* bad : {"[]", "{\"command\":\"drop_tables\"}",
                          "{\"command\":\"sync_inventory\",\"requested_at\":1}", "\xff"}) {
    SyncRequest r = read_sync_request("", bad, interval, interval, t);
    EXPECT_EQ(r.kind, SyncRequest::Kind::kNone) << bad;
    EXPECT_NE(r.why_none, "history") << bad;
  }
}

TEST(InventorySync, ARepeatedRoundWritesTheSameIdsAndTheValidatorsSchemaHolds) {
  SkuStock sku{"1729382476801", "1729382476901", "CF-\"quoted\"", 17};
  const std::string a = stock_sync_notification_json("shop-7000", "5881234", sku, 1764770400);
  const std::string b = stock_sync_notification_json("shop-7000", "5881234", sku, 1764770402);
  rapidjson::Document da, db;
  ASSERT_TRUE(parse_json(da, a));
  ASSERT_TRUE(parse_json(db, b));
  EXPECT_STREQ(da["tts_notification_id"].GetString(), db["tts_notification_id"].GetString());
  EXPECT_NE(sync_notification_id("shop-7000", "5881235", sku.sku_id),
            da["tts_notification_id"].GetString());
  EXPECT_NE(sync_notification_id("shop-7001", "5881234", sku.sku_id),
            da["tts_notification_id"].GetString());
  EXPECT_STREQ(da["data"]["seller_sku"].GetString(), "CF-\"quoted\"");
  auto schemas = SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  EXPECT_FALSE(schemas.validate("tiktok_webhook", da));
  EXPECT_FALSE(schemas.validate("inventory_stock_sync", da["data"]));
  EXPECT_EQ(da["type"].GetInt(), 1001);
  EXPECT_EQ(da["data"]["update_time"].GetInt64(), 1764770400);
}

TEST(ShopifySync, TheStubsAdminApiAnswersAreReadPageByPageWithinTheBucket) {
  StubFixture f;
  ShopifyAdminStub shopify(f.shops_json, 1);
  const std::string store = "shop-7000.myshopify.com";
  const std::string token = parse_shopify_tokens(f.shops_json).at(store);
  std::string items = R"({"items":[)";
  for (int i = 0; i < 260; ++i)
    items += std::string(i ? "," : "") + R"({"inventory_item_id":)" + std::to_string(5000 + i) +
             R"(,"sku":"S-)" + std::to_string(i) + R"(","available":2})";
  ASSERT_EQ(
      shopify.handle("POST", "/shopify-stub/inventory?shop=" + store, items + "]}", "").status,
      200);
  const std::string base = "/shopify/" + store;
  auto call = [&](const std::string& target, const std::string& with_token) {
    StubAnswer a = shopify.handle("GET", base + target, "", with_token);
    return http_answer(a.status, a.body, a.headers);
  };
  LocationsAnswer locations = read_shopify_locations(call(shopify_locations_target(), token));
  ASSERT_EQ(locations.verdict, ApiVerdict::kOk) << locations.error;
  ASSERT_EQ(locations.location_ids.size(), 1u);
  std::string target = shopify_levels_target(locations.location_ids[0]);
  size_t levels = 0, pages = 0;
  while (!target.empty()) {
    LevelsAnswer page = read_shopify_levels(call(target, token));
    ASSERT_EQ(page.verdict, ApiVerdict::kOk) << page.error;
    EXPECT_EQ(page.wait_ms, 0) << "a few calls leave the bucket room";
    levels += page.available.size();
    ++pages;
    target = page.next_page;
  }
  EXPECT_EQ(levels, 260u);
  EXPECT_EQ(pages, 2u);
  ItemsAnswer skus = read_shopify_items(call(shopify_items_target({"5000", "5259", "99"}), token));
  ASSERT_EQ(skus.verdict, ApiVerdict::kOk);
  EXPECT_EQ(skus.skus.size(), 2u) << "an unknown item is left out";
  EXPECT_EQ(skus.skus.at("5259"), "S-259");
  EXPECT_EQ(read_shopify_items(call(shopify_items_target({"5000"}), "shpat_wrong")).verdict,
            ApiVerdict::kMisconfigured)
      << "a refused token needs an operator (Shopify tokens are not refreshed)";
  // Forty calls fill the bucket: 429 with Retry-After, and the waits grow before that.
  int64_t waited = 0;
  ApiVerdict last = ApiVerdict::kOk;
  for (int i = 0; i < 45 && last == ApiVerdict::kOk; ++i) {
    LocationsAnswer a = read_shopify_locations(call(shopify_locations_target(), token));
    last = a.verdict;
    waited = std::max(waited, a.wait_ms);
  }
  EXPECT_EQ(last, ApiVerdict::kThrottled);
  EXPECT_GT(waited, 0);
}

TEST(ShopifySync, LinksTokensAndTheChangelogAreReadStrictly) {
  EXPECT_EQ(
      shopify_next_page(
          R"(<https://s.myshopify.com/admin/api/2024-07/inventory_levels.json?page_info=abc&limit=250>; rel="previous", )"
          R"(<https://s.myshopify.com/admin/api/2024-07/inventory_levels.json?page_info=def&limit=250>; rel="next")"),
      "/admin/api/2024-07/inventory_levels.json?page_info=def&limit=250");
  EXPECT_EQ(
      shopify_next_page(R"(<https://s.myshopify.com/admin/api/2024-07/x?a=1>; rel="previous")"),
      "");
  EXPECT_EQ(shopify_next_page(R"(<https://evil.example/other/path>; rel="next")"), "")
      << "only the API's own paths are followed";
  EXPECT_THROW(parse_shopify_tokens(R"({"shopify":{"shops":{"a/b":{"access_token":"x"}}}})"),
               ConfigError);
  EXPECT_THROW(parse_shopify_tokens(R"({"shopify":{"shops":{"a.myshopify.com":{}}}})"),
               ConfigError);
  EXPECT_TRUE(parse_shopify_tokens(R"({"tiktok":{}})").empty());
  OutputRecord entry = shopify_item_changelog_record("c", "a.myshopify.com", "42", "SKU-1");
  auto back = read_shopify_item_changelog(entry.key, entry.value);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->first, "a.myshopify.com|42");
  EXPECT_EQ(back->second, "SKU-1");
  EXPECT_FALSE(read_shopify_item_changelog("a.myshopify.com|4x2", "S"));
  OutputRecord count = shopify_stock_record("webhooks.shopify.raw", "a.myshopify.com", "7", "42",
                                            "655441491", 12, "SKU-1", 1764770400, 1764770401000);
  EXPECT_EQ(count.key, "inventory_item:42") << "the ingest's key: the item's partition";
  rapidjson::Document body;
  ASSERT_TRUE(parse_json(body, count.value));
  auto schemas = SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  EXPECT_FALSE(schemas.validate("shopify_inventory_level", body));
  EXPECT_EQ(body["available"].GetInt64(), 12);
  OutputRecord again = shopify_stock_record("webhooks.shopify.raw", "a.myshopify.com", "7", "42",
                                            "655441491", 13, "SKU-1", 1764770402, 1764770403000);
  auto header = [](const OutputRecord& r, const std::string& name) {
    for (const auto& h : r.headers)
      if (h.name == name) return h.value;
    return std::string();
  };
  EXPECT_EQ(header(count, "cf-shopify-webhook-id"), header(again, "cf-shopify-webhook-id"))
      << "a repeated round writes the same webhook id";
  EXPECT_EQ(header(count, "cf-shopify-sku"), "SKU-1");
  EXPECT_EQ(header(count, "cf-enrichment"), "scheduled_sync");
}

}  // namespace
}  // namespace cf
