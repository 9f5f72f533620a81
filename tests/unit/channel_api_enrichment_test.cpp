// channel-api's plain code: the requests it signs (verified by the API stub
// exactly as the platform verifies them), what each answer means for the
// notifications waiting on it, the shops file, and which records it enriches.
#include <gtest/gtest.h>

#include <ctime>

#include "cf/channel_api_auth.h"
#include "cf/errors.h"
#include "cf/json_parse.h"
#include "cf/webhook_generator.h"
#include "channel_api_fixtures.h"
#include "tiktok_api_stub.h"
#include "tiktok_order_api.h"

namespace cf {
namespace {

HttpResult answer(int status, std::string body, std::string retry_after = "") {
  if (retry_after.empty()) return http_answer(status, std::move(body));
  return http_answer(status, std::move(body), {{"Retry-After", retry_after}});
}

/// The first order the generator makes for `shop`: its detail, id and status
/// (empty when none comes in 200 webhooks).
struct GeneratedOrder {
  std::string json, id, status;
  int64_t update_time = 0;
};
GeneratedOrder first_order(StubFixture& f, const std::string& shop) {
  for (int i = 0; i < 200; ++i) {
    GeneratedWebhook w = f.generator.next();
    rapidjson::Document doc;
    if (w.order_detail.empty() || w.shop_id != shop || !parse_json(doc, w.order_detail)) continue;
    return {w.order_detail, doc["id"].GetString(), doc["status"].GetString(),
            doc["update_time"].GetInt64()};
  }
  return {};
}

TEST(ChannelApiRequests, TheStubAcceptsTheSignedDetailRequestAndRefusesAnyChange) {
  StubFixture f;
  const TikTokShop& shop = f.shops.at("shop-7000");
  // An order the generator gave the stub.
  const GeneratedOrder given = first_order(f, "shop-7000");
  ASSERT_FALSE(given.id.empty());
  const std::string& order = given.json;
  const std::string& id = given.id;
  EXPECT_EQ(f.stub.handle("POST", "/tiktok/orders?shop_id=shop-7000", order, "").status, 200);

  const std::string target =
      order_detail_target(f.generator.settings().app_key, f.generator.settings().app_secret,
                          shop.shop_cipher, {id, "no-such-order"}, f.now);
  StubAnswer ok = f.stub.handle("GET", target, "", shop.token.access_token);
  ASSERT_EQ(ok.status, 200) << ok.body;
  DetailAnswer read = read_detail_answer(answer(ok.status, ok.body));
  ASSERT_EQ(read.verdict, ApiVerdict::kOk) << read.error;
  ASSERT_EQ(read.orders.size(), 1u) << "an unknown id is left out, as the API does";
  EXPECT_EQ(read.orders.at(id).update_time, given.update_time);
  EXPECT_EQ(read.orders.at(id).subset_json.find("recipient"), std::string::npos)
      << "nothing personal is kept";
  EXPECT_EQ(read.orders.at(id).subset_json.find("buyer_email"), std::string::npos);

  // A changed parameter breaks the signature; another shop's token is refused.
  std::string tampered = target;
  tampered.replace(tampered.find("ids="), 4, "ids=9%2C");
  StubAnswer bad = f.stub.handle("GET", tampered, "", shop.token.access_token);
  EXPECT_EQ(read_detail_answer(answer(bad.status, bad.body)).verdict, ApiVerdict::kMisconfigured);
  StubAnswer other = f.stub.handle("GET", target, "", f.shops.at("shop-7001").token.access_token);
  EXPECT_EQ(read_detail_answer(answer(other.status, other.body)).verdict,
            ApiVerdict::kUnauthorized);
  // A stale timestamp is refused like a wrong signature.
  const std::string old_target =
      order_detail_target(f.generator.settings().app_key, f.generator.settings().app_secret,
                          shop.shop_cipher, {id}, f.now - 3600);
  StubAnswer old = f.stub.handle("GET", old_target, "", shop.token.access_token);
  EXPECT_EQ(read_detail_answer(answer(old.status, old.body)).verdict, ApiVerdict::kMisconfigured);
}

TEST(ChannelApiRequests, TheStubsOrderNeverGoesBackWithinTheSameSecond) {
  // Two load generator connections can give the stub an order's paid state
  // and then its older unpaid state, both stamped with the same second.
  StubFixture f;
  const TikTokShop& shop = f.shops.at("shop-7000");
  const GeneratedOrder given = first_order(f, "shop-7000");
  ASSERT_FALSE(given.id.empty());
  const std::string status = "\"status\":\"" + given.status + "\"";
  auto with_status = [&](const std::string& s) {
    std::string copy = given.json;
    copy.replace(copy.find(status), status.size(), "\"status\":\"" + s + "\"");
    return copy;
  };
  const std::string path = "/tiktok/orders?shop_id=shop-7000";
  ASSERT_EQ(f.stub.handle("POST", path, with_status("AWAITING_SHIPMENT"), "").status, 200);
  ASSERT_EQ(f.stub.handle("POST", path, with_status("UNPAID"), "").status, 200);
  const std::string target =
      order_detail_target(f.generator.settings().app_key, f.generator.settings().app_secret,
                          shop.shop_cipher, {given.id}, f.now);
  StubAnswer got = f.stub.handle("GET", target, "", shop.token.access_token);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_NE(got.body.find("AWAITING_SHIPMENT"), std::string::npos) << got.body;
  EXPECT_EQ(got.body.find("UNPAID"), std::string::npos) << got.body;
}

TEST(ChannelApiRequests, AnExpiredTokenIsRefreshedWithTheRefreshToken) {
  StubFixture f;
  const TikTokShop& shop = f.shops.at("shop-7002");
  ASSERT_EQ(f.stub.handle("POST", "/tiktok/faults", R"({"expire_tokens":true})", "").status, 200);
  const std::string target =
      order_detail_target(f.generator.settings().app_key, f.generator.settings().app_secret,
                          shop.shop_cipher, {"1"}, f.now);
  StubAnswer expired = f.stub.handle("GET", target, "", shop.token.access_token);
  EXPECT_EQ(read_detail_answer(answer(expired.status, expired.body)).verdict,
            ApiVerdict::kUnauthorized);
  StubAnswer refreshed = f.stub.handle(
      "GET",
      token_refresh_target(f.generator.settings().app_key, f.generator.settings().app_secret,
                           shop.token.refresh_token),
      "", "");
  RefreshAnswer token = read_refresh_answer(answer(refreshed.status, refreshed.body));
  ASSERT_EQ(token.verdict, ApiVerdict::kOk) << token.error;
  EXPECT_NE(token.token.access_token, shop.token.access_token);
  EXPECT_GT(token.token.access_expires_ms, f.now * 1000 + 86400 * 1000);
  StubAnswer again = f.stub.handle("GET", target, "", token.token.access_token);
  EXPECT_EQ(read_detail_answer(answer(again.status, again.body)).verdict, ApiVerdict::kOk);
  // A refresh token the platform does not know is not retried as a refresh.
  StubAnswer unknown =
      f.stub.handle("GET",
                    token_refresh_target(f.generator.settings().app_key,
                                         f.generator.settings().app_secret, "stolen"),
                    "", "");
  EXPECT_EQ(read_refresh_answer(answer(unknown.status, unknown.body)).verdict,
            ApiVerdict::kMisconfigured);
}

TEST(ChannelApiAnswers, EachFailureHasItsClass) {
  EXPECT_EQ(read_detail_answer(HttpResult{}).verdict, ApiVerdict::kUnavailable);  // no answer
  auto throttled = read_detail_answer(answer(429, R"({"code":36009003,"message":"slow"})", "3"));
  EXPECT_EQ(throttled.verdict, ApiVerdict::kThrottled);
  EXPECT_EQ(throttled.retry_after_ms, 3000);
  EXPECT_EQ(read_detail_answer(answer(503, "<html>")).verdict, ApiVerdict::kUnavailable);
  EXPECT_EQ(read_detail_answer(answer(200, R"({"code":105002,"message":"expired"})")).verdict,
            ApiVerdict::kUnauthorized);
  auto refused = read_detail_answer(answer(400, R"({"code":36004004,"message":"bad ids"})"));
  EXPECT_EQ(refused.verdict, ApiVerdict::kRefused);
  EXPECT_NE(refused.error.find("36004004"), std::string::npos) << refused.error;
  // No "orders" at all: nothing matched, as TikTok answers it.
  auto none = read_detail_answer(answer(200, R"({"code":0,"message":"Success","data":{}})"));
  EXPECT_EQ(none.verdict, ApiVerdict::kOk);
  EXPECT_TRUE(none.orders.empty());
  EXPECT_EQ(read_detail_answer(answer(200, R"({"code":0,"data":{"orders":{}}})")).verdict,
            ApiVerdict::kUnavailable);
}

// Found by fuzz_channel_api: an expiry of 1826000000795600001 s overflowed
// the conversion to milliseconds (undefined behaviour).
TEST(ChannelApiAnswers, ExpiriesBeyondEpochSecondsAreRefusedNotOverflowed) {
  auto huge = read_refresh_answer(answer(
      200,
      R"({"code":0,"data":{"access_token":"a","access_token_expire_in":1795600001,"refresh_token":"r","refresh_token_expire_in":1826000000795600001}})"));
  EXPECT_EQ(huge.verdict, ApiVerdict::kUnavailable);
  EXPECT_THROW(
      parse_tiktok_shops(
          R"({"tiktok":{"shops":{"s":{"shop_cipher":"c","refresh_token":"r","access_expires_at":9223372036854775807}}}})"),
      ConfigError);
}

TEST(ChannelApiShops, TheShopsFileRoundTripsAndNamesItsProblems) {
  StubFixture f;
  auto again = parse_tiktok_shops(tiktok_shops_json(f.shops));
  ASSERT_EQ(again.size(), f.shops.size());
  EXPECT_EQ(again.at("shop-7003").token.access_token, f.shops.at("shop-7003").token.access_token);
  EXPECT_EQ(again.at("shop-7003").token.refresh_expires_ms,
            f.shops.at("shop-7003").token.refresh_expires_ms);
  EXPECT_THROW(parse_tiktok_shops("[]"), ConfigError);
  EXPECT_THROW(parse_tiktok_shops(R"({"tiktok":{"shops":{"s":{"shop_cipher":"c"}}}})"),
               ConfigError);
}

TEST(ChannelApiNotifications, OnlyValidOrderNotificationsAreEnriched) {
  SchemaRegistry schemas = SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  auto n = read_order_notification(
      R"({"type":1,"tts_notification_id":"n","shop_id":"shop-1","timestamp":1795000000,"data":{"order_id":"576","order_status":"UNPAID","update_time":1795000001,"is_on_hold_order":false}})",
      schemas);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->shop_id, "shop-1");
  EXPECT_EQ(n->order_id, "576");
  EXPECT_EQ(n->update_time, 1795000001);
  // Another type, a broken body, a notification breaking the schema: passed on.
  EXPECT_FALSE(read_order_notification(
      R"({"type":1001,"tts_notification_id":"n","shop_id":"s","timestamp":1795000000,"data":{}})",
      schemas));
  EXPECT_FALSE(read_order_notification(std::string(100000, '['), schemas));
  EXPECT_FALSE(read_order_notification(
      R"({"type":1,"tts_notification_id":"n","shop_id":"s","renamed_field":1795000000,"data":{"order_id":"576","order_status":"UNPAID","update_time":1795000001}})",
      schemas));
}

TEST(ChannelApiVersions, ADetailOlderThanItsNotificationIsFetchedAgain) {
  OrderNotification paid{"shop-1", "576", "AWAITING_SHIPMENT", 1795000010};
  EXPECT_EQ(stale_detail_reason(paid, {1795000010, 1795000003, "{}"}), "");
  EXPECT_EQ(stale_detail_reason(paid, {1795000400, 1795000003, "{}"}), "") << "newer is fine";
  EXPECT_NE(stale_detail_reason(paid, {1795000009, 1795000003, "{}"}).find("older"),
            std::string::npos);
  // Same second, but the detail is from before the payment.
  EXPECT_NE(stale_detail_reason(paid, {1795000010, 0, "{}"}).find("no paid_time"),
            std::string::npos);
  OrderNotification unpaid{"shop-1", "576", "UNPAID", 1795000010};
  EXPECT_EQ(stale_detail_reason(unpaid, {1795000010, 0, "{}"}), "");
}

TEST(ChannelApiQueries, QueriesDecodeAndRefuseAmbiguity) {
  auto q = parse_query("ids=1%2C2&shop_cipher=ROW_x&empty=&flag");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("ids"), "1,2");
  EXPECT_EQ(q->at("empty"), "");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_FALSE(parse_query("a=1&a=2"));
  EXPECT_FALSE(parse_query("a=%zz"));
  EXPECT_FALSE(parse_query("a=%2"));
  EXPECT_EQ(percent_encode("a b,c"), "a%20b%2Cc");
}

TEST(ChannelApiQueries, ATargetSplitsIntoPathAndQuery) {
  auto with = split_target("/api/orders/202309/orders?ids=1%2C2");
  EXPECT_EQ(with.path, "/api/orders/202309/orders");
  ASSERT_TRUE(with.query);
  EXPECT_EQ(with.query->at("ids"), "1,2");
  auto without = split_target("/admin/api/2024-01/locations.json");
  EXPECT_EQ(without.path, "/admin/api/2024-01/locations.json");
  ASSERT_TRUE(without.query);
  EXPECT_TRUE(without.query->empty());
  auto broken = split_target("/x?a=%zz");
  EXPECT_EQ(broken.path, "/x");
  EXPECT_FALSE(broken.query);
}

}  // namespace
}  // namespace cf
