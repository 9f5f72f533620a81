// The ingest's request decision: any body and headers, signed or not.
// The first byte picks the route and whether the fuzzer signs the body (so
// the bytes after authentication are explored too); the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cf/signature.h"
#include "webhook_request.h"

namespace {

struct Fixture {
  cf::WebhookSecrets secrets;
  cf::ShopDirectory shops;
  cf::IngestTopics topics;
  Fixture() {
    secrets.set_tiktok_default({"app", "secret"});
    secrets.set_tiktok_shop("vip", {"vip-app", "vip-secret"});
    secrets.set_shipping_secret("aftership", "as-secret");
    secrets.set_shopify_secret("shop-secret");
    shops.add("shop-1", "creator-1");
    shops.add("cases.myshopify.com", "creator-1");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  static cf::TokenBucketRateLimiter limiter(1e9, 1e9, 1000);
  static cf::TokenBucketRateLimiter failures(1e9, 1e9, 1000);
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool sign = mode & 0x10;
  cf::WebhookRequest r;
  r.method = (mode & 0x20) ? "GET" : "POST";
  r.client = "198.51.100.7";
  std::string signature;
  std::string target;  // the request's views point into these: they outlive the call
  switch (mode & 0x3) {
    case 0:
      r.target = "/webhooks/tiktok";
      signature = sign ? cf::hmac_sha256_hex("secret", "app" + body) : body.substr(0, 64);
      r.authorization = signature;
      break;
    case 1:
      r.target = "/webhooks/shopify";
      signature = sign ? cf::hmac_sha256_base64("shop-secret", body) : body.substr(0, 44);
      r.shopify_hmac = signature;
      r.shopify_topic = (mode & 0x40) ? "inventory_levels/update" : "orders/create";
      r.shopify_shop_domain = (mode & 0x80) ? "cases.myshopify.com" : "x.myshopify.com";
      r.shopify_webhook_id = "wh";
      break;
    case 2:
      r.target = "/webhooks/shipping/aftership";
      signature = sign ? cf::hmac_sha256_base64("as-secret", body) : body.substr(0, 44);
      r.aftership_hmac = signature;
      break;
    default:
      target = body.substr(0, 40);
      r.target = target;
  }
  r.body = body;
  cf::IngestPolicy policy{f.secrets, limiter, f.topics, &failures,
                          (mode & 0x08) ? &f.shops : nullptr};
  cf::IngestDecision d = cf::decide_webhook(r, policy, 0, 1795000000000, "req");
  // A stored record is the body byte for byte, and only ever after authentication.
  if (d.status == 0 && (d.record.value != body || !(sign || (mode & 0x3) == 3))) __builtin_trap();
  (void)cf::response_body(d.status == 0 ? 200 : d.status, d.reason, "req");
  return 0;
}
