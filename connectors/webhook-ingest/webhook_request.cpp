#include "webhook_request.h"

#include <rapidjson/document.h>

#include "cf/signature.h"

namespace cf {
namespace {

constexpr std::string_view kTikTokPath = "/webhooks/tiktok";
constexpr std::string_view kShippingPrefix = "/webhooks/shipping/";
constexpr std::string_view kShopifyPath = "/webhooks/shopify";

IngestDecision refuse(int status, std::string reason) {
  IngestDecision d;
  d.status = status;
  d.reason = std::move(reason);
  return d;
}

// Best-effort read of a few top-level strings. A body that is not JSON is
// still stored (the validator rejects it with the precise reason), so failure
// here only means "no shop/tracking number known".
std::string top_level_string(const rapidjson::Document& doc, const char* name) {
  if (!doc.IsObject()) return {};
  auto it = doc.FindMember(name);
  return it != doc.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string{};
}

bool valid_provider_name(std::string_view provider) {
  if (provider.empty() || provider.size() > 32) return false;
  for (char c : provider) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool supported_shopify_topic(std::string_view topic) {
  return topic == "orders/create" || topic == "orders/cancelled" || topic == "inventory_levels/update";
}

std::string response_body(int status, const std::string& reason, const std::string& request_id) {
  if (status == 202) return "{\"status\":\"accepted\",\"request_id\":\"" + request_id + "\"}";
  return "{\"error\":\"" + reason + "\",\"request_id\":\"" + request_id + "\"}";
}

IngestDecision decide_webhook(const WebhookRequest& request, const WebhookSecrets& secrets,
                              TokenBucketRateLimiter& limiter, const IngestTopics& topics,
                              int64_t now_ms, int64_t received_at_ms,
                              const std::string& request_id) {
  std::string_view target = request.target.substr(0, request.target.find('?'));
  bool tiktok = target == kTikTokPath;
  bool shipping = target.substr(0, kShippingPrefix.size()) == kShippingPrefix;
  bool shopify = target == kShopifyPath;
  if (!tiktok && !shipping && !shopify) return refuse(404, "unknown_path");
  if (request.method != "POST") return refuse(405, "method_not_allowed");
  IngestDecision d;
  if (shopify) {
    // Shopify signs the raw body with the app's secret: base64 HMAC-SHA256.
    const std::string* secret = secrets.shopify_secret();
    if (secret == nullptr) return refuse(404, "shopify_not_configured");
    if (request.shopify_hmac.empty()) return refuse(401, "missing_signature");
    if (!constant_time_equal(hmac_sha256_base64(*secret, request.body), request.shopify_hmac)) {
      return refuse(401, "signature_mismatch");
    }
    if (request.shopify_shop_domain.empty() || request.shopify_webhook_id.empty() ||
        request.shopify_topic.empty()) {
      return refuse(400, "missing_shopify_headers");
    }
    if (!supported_shopify_topic(request.shopify_topic)) return refuse(400, "unsupported_shopify_topic");
    d.rate_key = "shopify:" + std::string(request.shopify_shop_domain);
    d.record.topic = topics.shopify_raw;
    d.record.key = std::string(request.shopify_shop_domain);
    d.record.headers.push_back({"cf-source", "shopify"});
    d.record.headers.push_back({"cf-shopify-topic", std::string(request.shopify_topic)});
    d.record.headers.push_back({"cf-shopify-webhook-id", std::string(request.shopify_webhook_id)});
    d.record.headers.push_back({"cf-shop-domain", std::string(request.shopify_shop_domain)});
  }

  // Values go to a per-thread buffer: the default pool allocates 64 KiB per
  // document, which showed in the ingest's per-request cost.
  thread_local char value_buffer[16 * 1024];
  rapidjson::MemoryPoolAllocator<> allocator(value_buffer, sizeof value_buffer);
  rapidjson::Document doc(&allocator);
  doc.Parse(request.body.data(), request.body.size());

  if (tiktok) {
    std::string shop_id = doc.HasParseError() ? std::string{} : top_level_string(doc, "shop_id");
    const TikTokAppCredentials* credentials = secrets.tiktok_for(shop_id);
    if (credentials == nullptr) return refuse(401, "unknown_shop");
    SignatureCheck check = verify_tiktok_signature(credentials->app_key, credentials->app_secret,
                                                   request.body, request.authorization);
    if (check != SignatureCheck::kValid) return refuse(401, to_string(check));
    d.rate_key = "tiktok:" + shop_id;
    d.record.topic = topics.tiktok_raw;
    d.record.key = shop_id;
    d.record.headers.push_back({"cf-source", "tiktok"});
  } else if (shipping) {
    std::string_view provider = target.substr(kShippingPrefix.size());
    if (!valid_provider_name(provider)) return refuse(404, "unknown_provider");
    const std::string* key = secrets.shipping_api_key(provider);
    if (key == nullptr) return refuse(404, "unknown_provider");
    if (request.api_key.empty()) return refuse(401, "missing_api_key");
    if (!constant_time_equal(*key, request.api_key)) return refuse(401, "api_key_mismatch");
    std::string tracking = doc.HasParseError() ? std::string{} : top_level_string(doc, "tracking_number");
    d.rate_key = "shipping:" + std::string(provider);
    d.record.topic = topics.shipping_raw;
    d.record.key = std::string(provider) + ":" + tracking;
    d.record.headers.push_back({"cf-source", "shipping"});
    d.record.headers.push_back({"cf-provider", std::string(provider)});
  }
  auto rate = limiter.acquire(d.rate_key, now_ms);
  if (!rate.allowed) {
    IngestDecision limited = refuse(429, "rate_limited");
    limited.retry_after_ms = rate.retry_after_ms;
    return limited;
  }
  d.record.value = std::string(request.body);
  d.record.headers.push_back({"cf-received-at", std::to_string(received_at_ms)});
  d.record.headers.push_back({"cf-request-id", request_id});
  if (!request.content_type.empty()) {
    d.record.headers.push_back({"content-type", std::string(request.content_type)});
  }
  return d;
}

}  // namespace cf
