#include <gtest/gtest.h>

#include <map>

#include "cf/signature.h"
#include "webhook_request.h"

namespace cf {
namespace {

class IngestRequestTest : public ::testing::Test {
 protected:
  IngestRequestTest() : limiter_(1000, 1000) {
    secrets_.set_tiktok_default({"app", "secret"});
    secrets_.set_tiktok_shop("vip-shop", {"vip-app", "vip-secret"});
    secrets_.set_shipping_secret("aftership", "as-webhook-secret");
  }
  IngestDecision post(const std::string& target, const std::string& body,
                      const std::string& authorization = "", const std::string& aftership_hmac = "",
                      const std::string& method = "POST") {
    WebhookRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.authorization = authorization;
    r.aftership_hmac = aftership_hmac;
    r.content_type = "application/json";
    IngestPolicy policy{secrets_, limiter_, topics_};
    return decide_webhook(r, policy, 0, 1795000000123, "req-9");
  }
  WebhookSecrets secrets_;
  TokenBucketRateLimiter limiter_;
  IngestTopics topics_;
};

const std::string kBody =
    R"({"type":1,"tts_notification_id":"n","shop_id":"shop-1","timestamp":1,"data":{}})";

TEST_F(IngestRequestTest, SignedTikTokWebhookBecomesARawRecord) {
  auto d = post("/webhooks/tiktok", kBody, hmac_sha256_hex("secret", "app" + kBody));
  ASSERT_EQ(d.status, 0) << d.reason;
  EXPECT_EQ(d.record.topic, "webhooks.tiktok.raw");
  EXPECT_EQ(d.record.key, "shop-1");
  EXPECT_EQ(d.record.value, kBody);  // byte for byte
  auto header = [&](const std::string& name) {
    for (auto& h : d.record.headers)
      if (h.name == name) return h.value;
    return std::string("<absent>");
  };
  EXPECT_EQ(header("cf-source"), "tiktok");
  EXPECT_EQ(header("cf-received-at"), "1795000000123");
  EXPECT_EQ(header("cf-request-id"), "req-9");
  EXPECT_EQ(header("content-type"), "application/json");
}

TEST_F(IngestRequestTest, ShopSpecificSecretWins) {
  std::string body = R"({"shop_id":"vip-shop"})";
  EXPECT_EQ(post("/webhooks/tiktok", body, hmac_sha256_hex("vip-secret", "vip-app" + body)).status,
            0);
  auto other_app = post("/webhooks/tiktok", body, hmac_sha256_hex("secret", "app" + body));
  EXPECT_EQ(other_app.status, 401);
  EXPECT_EQ(other_app.reason, "shop_not_signed_by_its_app");
  // Nor may the VIP app sign for a shop of the app-wide credentials.
  std::string plain = R"({"shop_id":"shop-1"})";
  EXPECT_EQ(
      post("/webhooks/tiktok", plain, hmac_sha256_hex("vip-secret", "vip-app" + plain)).status,
      401);
}

TEST_F(IngestRequestTest, BadSignaturesAre401WithTheReason) {
  auto sig = hmac_sha256_hex("secret", "app" + kBody);
  EXPECT_EQ(post("/webhooks/tiktok", kBody).reason, "missing_signature");
  EXPECT_EQ(post("/webhooks/tiktok", kBody, "abc").reason, "malformed_signature");
  auto tampered = post("/webhooks/tiktok", kBody + " ", sig);
  EXPECT_EQ(tampered.status, 401);
  EXPECT_EQ(tampered.reason, "signature_mismatch");
}

TEST_F(IngestRequestTest, SignedBodiesThatAreNotBoundedUtf8JsonAre400WithTheReason) {
  auto signed_post = [&](const std::string& body) {
    return post("/webhooks/tiktok", body, hmac_sha256_hex("secret", "app" + body));
  };
  auto broken = signed_post("{not json");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(broken.reason, "malformed_json");
  auto deep = signed_post(std::string(200 * 1024, '['));
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(deep.reason, "json_too_deep");
  auto bad_utf8 = signed_post(R"({"shop_id":"shop-1","x":")" + std::string("\xff", 1) +
                              std::string(1000, 'a') + R"("})");
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_EQ(bad_utf8.reason, "invalid_utf8");
  EXPECT_EQ(signed_post(R"({"type":1})").reason, "missing_shop_id");
}

// Regression: 200 KB of '[' without a signature crashed the ingest (the body
// was parsed recursively before the signature check).
TEST_F(IngestRequestTest, UnsignedDeepBodyIsRefusedBeforeAnyParse) {
  for (const std::string& body :
       {std::string(200 * 1024, '['), std::string(200 * 1024, '{') + "\"a\":"}) {
    EXPECT_EQ(post("/webhooks/tiktok", body).status, 401);
    EXPECT_EQ(post("/webhooks/tiktok", body, std::string(64, 'a')).reason, "signature_mismatch");
    EXPECT_EQ(post("/webhooks/shipping/aftership", body).status, 401);
  }
}

TEST_F(IngestRequestTest, ClientsThatKeepFailingAuthenticationGet429WithoutAnHmac) {
  TokenBucketRateLimiter failures(1, 3);
  IngestPolicy policy{secrets_, limiter_, topics_, &failures};
  WebhookRequest r{"POST", "/webhooks/tiktok", kBody, std::string(64, 'a'), "", ""};
  r.client = "203.0.113.7";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(decide_webhook(r, policy, 0, 0, "x").status, 401);
  auto limited = decide_webhook(r, policy, 0, 0, "x");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.reason, "too_many_failed_authentications");
  EXPECT_GT(limited.retry_after_ms, 0);
  // Another client, and this one once its bucket refilled, are served.
  WebhookRequest good = r;
  const std::string signature = hmac_sha256_hex("secret", "app" + kBody);
  good.authorization = signature;
  good.client = "198.51.100.1";
  EXPECT_EQ(decide_webhook(good, policy, 0, 0, "y").status, 0);
  good.client = r.client;
  EXPECT_EQ(decide_webhook(good, policy, 0, 0, "z").status, 429);
  EXPECT_EQ(decide_webhook(good, policy, 1000, 0, "z").status, 0);
}

TEST(RateLimiter, KeepsAtMostItsCapOfBucketsWhateverKeysArrive) {
  TokenBucketRateLimiter limiter(1, 2, 100);
  for (int i = 0; i < 10000; ++i) limiter.acquire("client-" + std::to_string(i), 0);
  EXPECT_LE(limiter.size(), 100u);
  // Buckets that refilled are swept to make room.
  EXPECT_TRUE(limiter.acquire("late-comer", 10000).allowed);
  EXPECT_LE(limiter.size(), 100u);
}

// AfterShip's tracking_update as it sends it (personal fields included),
// signed with the account's webhook secret; the expected signature was
// computed independently: printf '%s' "$body" | openssl dgst -sha256
// -hmac as-webhook-secret -binary | base64.
const std::string kAfterShipBody =
    R"({"event":"tracking_update","event_id":"5a8a3a5e-7a51-4c2b-9a0c-2f1d0c8b3e11","is_tracking_first_tag":true,"msg":{"id":"a1b2c3d4e5f6a7b8c9d0e1f2","tracking_number":"9400111202555842761234","slug":"usps","tag":"InTransit","subtag":"InTransit_001","updated_at":"2026-12-04T10:15:00+00:00","customer_name":"Jane Doe","emails":["jane.doe@example.com"],"checkpoints":[{"checkpoint_time":"2026-12-04T10:15:00+00:00","city":"Los Angeles","tag":"InTransit","message":"Arrived at USPS Regional Facility"}]},"ts":1796379300})";
const std::string kAfterShipSignature = "maMa4cu9B+Ut5/TVTbTLdlA+FrB+zaXs1m2hgZTtpHE=";

TEST_F(IngestRequestTest, TrackingUpdatesNeedAfterShipsSignatureAndAreKeyedByTheirNumber) {
  EXPECT_EQ(hmac_sha256_base64("as-webhook-secret", kAfterShipBody), kAfterShipSignature);
  auto ok = post("/webhooks/shipping/aftership", kAfterShipBody, "", kAfterShipSignature);
  ASSERT_EQ(ok.status, 0) << ok.reason;
  EXPECT_EQ(ok.record.topic, "webhooks.shipping.raw");
  EXPECT_EQ(ok.record.key, "9400111202555842761234");  // co-partitioned with its label
  EXPECT_EQ(ok.record.value, kAfterShipBody);
  EXPECT_EQ(post("/webhooks/shipping/aftership", kAfterShipBody).reason, "missing_signature");
  std::string forged = kAfterShipSignature;
  forged[0] = forged[0] == 'm' ? 'n' : 'm';
  EXPECT_EQ(post("/webhooks/shipping/aftership", kAfterShipBody, "", forged).reason,
            "signature_mismatch");
  // The signature covers the body: one changed byte is refused.
  std::string changed = kAfterShipBody;
  changed.replace(changed.find("InTransit"), 9, "Delivered");
  EXPECT_EQ(post("/webhooks/shipping/aftership", changed, "", kAfterShipSignature).status, 401);
  EXPECT_EQ(post("/webhooks/shipping/shipfast", kAfterShipBody, "", kAfterShipSignature).status,
            404);
  EXPECT_EQ(post("/webhooks/shipping/../x", kAfterShipBody, "", kAfterShipSignature).status, 404);
  // Signed, but naming no usable tracking number: refused before Kafka.
  for (const std::string& body :
       {std::string(R"({"event":"tracking_update","msg":{}})"),
        std::string(R"({"event":"tracking_update","msg":{"tracking_number":"94 00\"x"}})")}) {
    auto d = post("/webhooks/shipping/aftership", body, "",
                  hmac_sha256_base64("as-webhook-secret", body));
    EXPECT_EQ(d.reason, "missing_tracking_number") << body;
  }
}

TEST_F(IngestRequestTest, RoutingAndMethods) {
  EXPECT_EQ(post("/nope", kBody).status, 404);
  EXPECT_EQ(post("/webhooks/tiktok", kBody, "", "", "GET").status, 405);
  auto sig = hmac_sha256_hex("secret", "app" + kBody);
  EXPECT_EQ(post("/webhooks/tiktok?x=1", kBody, sig).status, 0);
}

TEST_F(IngestRequestTest, RateLimitIsPerShopWithRetryAfter) {
  TokenBucketRateLimiter tight(1, 2);
  auto sig = hmac_sha256_hex("secret", "app" + kBody);
  WebhookRequest r{"POST", "/webhooks/tiktok", kBody, sig, "", ""};
  IngestPolicy policy{secrets_, tight, topics_};
  EXPECT_EQ(decide_webhook(r, policy, 0, 0, "a").status, 0);
  EXPECT_EQ(decide_webhook(r, policy, 0, 0, "b").status, 0);
  auto limited = decide_webhook(r, policy, 0, 0, "c");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.retry_after_ms, 1000);
  std::string other = R"({"shop_id":"shop-2"})";
  std::string other_signature = hmac_sha256_hex("secret", "app" + other);
  WebhookRequest r2{"POST", "/webhooks/tiktok", other, other_signature, "", ""};
  EXPECT_EQ(decide_webhook(r2, policy, 0, 0, "d").status, 0);
}

TEST(ResponseBody, NamesTheErrorAndRequest) {
  EXPECT_EQ(response_body(200, "", "r1"), R"({"status":"accepted","request_id":"r1"})");
  EXPECT_EQ(response_body(401, "signature_mismatch", "r2"),
            R"({"error":"signature_mismatch","request_id":"r2"})");
}

TEST_F(IngestRequestTest, ShopifyVerifiesTheBase64HmacOfTheRawBody) {
  auto shopify = [&](const std::string& body, const std::string& hmac,
                     const std::string& topic = "orders/create",
                     const std::string& webhook_id = "wh-1") {
    WebhookRequest r;
    r.method = "POST";
    r.target = "/webhooks/shopify";
    r.body = body;
    r.shopify_hmac = hmac;
    r.shopify_topic = topic;
    r.shopify_shop_domain = "cases.myshopify.com";
    r.shopify_webhook_id = webhook_id;
    IngestPolicy policy{secrets_, limiter_, topics_};
    return decide_webhook(r, policy, 0, 1795000000123, "req-9");
  };
  const std::string body = R"({"id":1})";
  EXPECT_EQ(shopify(body, hmac_sha256_base64("shop-secret", body)).reason,
            "shopify_not_configured");
  secrets_.set_shopify_secret("shop-secret");
  // Shopify's documented example: base64 of the HMAC-SHA256 digest.
  EXPECT_EQ(hmac_sha256_base64("hush", "{\"id\":1}").size(), 44u);
  auto d = shopify(body, hmac_sha256_base64("shop-secret", body));
  ASSERT_EQ(d.status, 0) << d.reason;
  EXPECT_EQ(d.record.topic, "webhooks.shopify.raw");
  EXPECT_EQ(d.record.key, "order:1");  // the signed body's entity, not the unsigned domain
  EXPECT_EQ(d.record.value, body);
  std::map<std::string, std::string> headers;
  for (auto& h : d.record.headers) headers[h.name] = h.value;
  EXPECT_EQ(headers["cf-source"], "shopify");
  EXPECT_EQ(headers["cf-shopify-topic"], "orders/create");
  EXPECT_EQ(headers["cf-shopify-webhook-id"], "wh-1");
  EXPECT_EQ(headers["cf-shop-domain"], "cases.myshopify.com");
  EXPECT_EQ(shopify(body, "").reason, "missing_signature");
  EXPECT_EQ(shopify(body, hmac_sha256_base64("other", body)).reason, "signature_mismatch");
  EXPECT_EQ(shopify(body + " ", hmac_sha256_base64("shop-secret", body)).status,
            401);  // body changed
  EXPECT_EQ(shopify(body, hmac_sha256_hex("shop-secret", body)).status,
            401);  // hex is not Shopify's encoding
  EXPECT_EQ(shopify(body, hmac_sha256_base64("shop-secret", body), "products/update").reason,
            "unsupported_shopify_topic");
  EXPECT_EQ(shopify(body, hmac_sha256_base64("shop-secret", body), "orders/create", "").reason,
            "missing_shopify_headers");
  // With the shop directory, an unknown (unsigned) domain is refused, so
  // rotating it neither reaches a creator nor grows the rate limiter.
  ShopDirectory shops;
  shops.add("known.myshopify.com", "creator-1");
  WebhookRequest r;
  r.method = "POST";
  r.target = "/webhooks/shopify";
  r.body = body;
  std::string hmac = hmac_sha256_base64("shop-secret", body);
  r.shopify_hmac = hmac;
  r.shopify_topic = "orders/create";
  r.shopify_webhook_id = "wh-2";
  r.shopify_shop_domain = "cases.myshopify.com";
  IngestPolicy policy{secrets_, limiter_, topics_, nullptr, &shops};
  EXPECT_EQ(decide_webhook(r, policy, 0, 0, "a").reason, "unknown_shop_domain");
  r.shopify_shop_domain = "known.myshopify.com";
  EXPECT_EQ(decide_webhook(r, policy, 0, 0, "b").status, 0);
  std::string level = R"({"inventory_item_id":271878346596884015,"location_id":1,"available":3})";
  std::string level_hmac = hmac_sha256_base64("shop-secret", level);
  r.body = level;
  r.shopify_hmac = level_hmac;
  r.shopify_topic = "inventory_levels/update";
  EXPECT_EQ(decide_webhook(r, policy, 0, 0, "c").record.key, "inventory_item:271878346596884015");
}

}  // namespace
}  // namespace cf
