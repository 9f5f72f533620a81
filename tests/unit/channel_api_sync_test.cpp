// channel-api's scheduled inventory sync as plain code: the signed Search
// Products and Inventory Search requests (verified by the API stub as the
// platform verifies them), their answers, which sync-topic records start a
// round, and the stock-count records a round writes.
#include <gtest/gtest.h>

#include <ctime>
#include <set>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/schemas.h"
#include "cf/webhook_generator.h"
#include "channel_api_fixtures.h"
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

}  // namespace
}  // namespace cf
