#include "webhook_request.h"

#include <rapidjson/document.h>

#include "cf/carrier_tracking.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
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

// A top-level string of an authenticated, parsed body; "" when absent.
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
  return topic == "orders/create" || topic == "orders/cancelled" ||
         topic == "inventory_levels/update";
}

std::string response_body(int status, const std::string& reason, const std::string& request_id) {
  JsonBuilder w(96);
  w.begin_object();
  if (status >= 200 && status < 300) {
    w.key("status").string("accepted");
  } else {
    w.key("error").string(reason);
  }
  w.key("request_id").string(request_id);
  w.end_object();
  return w.take();
}

namespace {

// TikTok signs with the app's secret and names the shop only inside the body:
// try each configured app over the raw bytes, and only then read the body.
IngestDecision authenticate_tiktok(const WebhookRequest& request, const WebhookSecrets& secrets,
                                   const TikTokAppCredentials*& matched) {
  auto apps = secrets.tiktok_apps();
  if (apps.empty()) return refuse(404, "tiktok_not_configured");
  SignatureCheck worst = SignatureCheck::kMismatch;
  for (const TikTokAppCredentials* app : apps) {
    SignatureCheck check =
        verify_tiktok_signature(app->app_key, app->app_secret, request.body, request.authorization);
    if (check == SignatureCheck::kValid) {
      matched = app;
      return {};
    }
    worst = check;
    if (check != SignatureCheck::kMismatch) break;  // missing or malformed: same for every app
  }
  return refuse(401, to_string(worst));
}

// The routing fields, read after authentication with the project's bounded parse.
bool parse_authenticated(std::string_view body, rapidjson::Document& doc, IngestDecision& refusal) {
  JsonParseError error;
  if (parse_json(doc, body, error)) return true;
  refusal = refuse(400, error.code);
  return false;
}

// Shopify's identity headers are not signed, so the raw record is keyed by
// the entity the signed body names: every copy of a body, under whatever
// shop domain or webhook id, lands on one partition where the validator's
// body digest recognises it; one order's events stay in order.
std::string shopify_record_key(const rapidjson::Document& doc, std::string_view topic,
                               std::string_view shop_domain) {
  const char* member = topic == "inventory_levels/update" ? "inventory_item_id" : "id";
  if (doc.IsObject()) {
    auto it = doc.FindMember(member);
    if (it != doc.MemberEnd() && it->value.IsInt64()) {
      return std::string(topic == "inventory_levels/update" ? "inventory_item:" : "order:") +
             std::to_string(it->value.GetInt64());
    }
  }
  return std::string(shop_domain);
}

}  // namespace

IngestDecision decide_webhook(const WebhookRequest& request, const IngestPolicy& policy,
                              int64_t now_ms, int64_t received_at_ms,
                              const std::string& request_id) {
  std::string_view target = request.target.substr(0, request.target.find('?'));
  bool tiktok = target == kTikTokPath;
  bool shipping = target.substr(0, kShippingPrefix.size()) == kShippingPrefix;
  bool shopify = target == kShopifyPath;
  if (!tiktok && !shipping && !shopify) return refuse(404, "unknown_path");
  if (request.method != "POST") return refuse(405, "method_not_allowed");
  const WebhookSecrets& secrets = policy.secrets;
  const std::string client(request.client);
  if (policy.auth_failures != nullptr) {
    auto allowed = policy.auth_failures->peek(client, now_ms);
    if (!allowed.allowed) {
      IngestDecision limited = refuse(429, "too_many_failed_authentications");
      limited.retry_after_ms = allowed.retry_after_ms;
      return limited;
    }
  }
  auto unauthenticated = [&](IngestDecision refusal) {
    if (policy.auth_failures != nullptr) policy.auth_failures->acquire(client, now_ms);
    return refusal;
  };

  // Thread-local buffer for parsed values: the default pool allocates 64 KiB
  // per document, which showed in the ingest's per-request cost.
  thread_local char value_buffer[16 * 1024];
  rapidjson::MemoryPoolAllocator<> allocator(value_buffer, sizeof value_buffer);
  rapidjson::Document doc(&allocator);
  IngestDecision d;
  if (shopify) {
    // Shopify signs the raw body with the app's secret: base64 HMAC-SHA256.
    const std::string* secret = secrets.shopify_secret();
    if (secret == nullptr) return refuse(404, "shopify_not_configured");
    if (request.shopify_hmac.empty()) return unauthenticated(refuse(401, "missing_signature"));
    if (!constant_time_equal(hmac_sha256_base64(*secret, request.body), request.shopify_hmac)) {
      return unauthenticated(refuse(401, "signature_mismatch"));
    }
    if (request.shopify_shop_domain.empty() || request.shopify_webhook_id.empty() ||
        request.shopify_topic.empty()) {
      return refuse(400, "missing_shopify_headers");
    }
    if (!supported_shopify_topic(request.shopify_topic))
      return refuse(400, "unsupported_shopify_topic");
    if (policy.shops != nullptr &&
        policy.shops->creator_of(request.shopify_shop_domain) == nullptr) {
      return refuse(400, "unknown_shop_domain");
    }
    if (!parse_authenticated(request.body, doc, d)) return d;
    d.rate_key = "shopify:" + std::string(request.shopify_shop_domain);
    d.record.topic = policy.topics.shopify_raw;
    d.record.key = shopify_record_key(doc, request.shopify_topic, request.shopify_shop_domain);
    d.record.headers.push_back({"cf-source", "shopify"});
    d.record.headers.push_back({"cf-shopify-topic", std::string(request.shopify_topic)});
    d.record.headers.push_back({"cf-shopify-webhook-id", std::string(request.shopify_webhook_id)});
    d.record.headers.push_back({"cf-shop-domain", std::string(request.shopify_shop_domain)});
  } else if (tiktok) {
    const TikTokAppCredentials* app = nullptr;
    IngestDecision refusal = authenticate_tiktok(request, secrets, app);
    if (app == nullptr)
      return refusal.status == 401 ? unauthenticated(std::move(refusal)) : refusal;
    if (!parse_authenticated(request.body, doc, d)) return d;
    std::string shop_id = top_level_string(doc, "shop_id");
    if (shop_id.empty()) return refuse(400, "missing_shop_id");
    // A shop with credentials of its own must be signed with them, not by another app.
    const TikTokAppCredentials* expected = secrets.tiktok_for(shop_id);
    if (expected == nullptr || expected->app_key != app->app_key ||
        expected->app_secret != app->app_secret) {
      return unauthenticated(refuse(401, "shop_not_signed_by_its_app"));
    }
    d.rate_key = "tiktok:" + shop_id;
    d.record.topic = policy.topics.tiktok_raw;
    d.record.key = shop_id;
    d.record.headers.push_back({"cf-source", "tiktok"});
  } else {
    std::string_view provider = target.substr(kShippingPrefix.size());
    if (!valid_provider_name(provider)) return refuse(404, "unknown_provider");
    // AfterShip signs the raw body with the account's webhook secret:
    // base64 HMAC-SHA256 in aftership-hmac-sha256 (the only scheme taken).
    const std::string* secret = secrets.shipping_webhook_secret(provider);
    if (secret == nullptr) return refuse(404, "unknown_provider");
    if (request.aftership_hmac.empty()) return unauthenticated(refuse(401, "missing_signature"));
    if (!constant_time_equal(hmac_sha256_base64(*secret, request.body), request.aftership_hmac))
      return unauthenticated(refuse(401, "signature_mismatch"));
    if (!parse_authenticated(request.body, doc, d)) return d;
    // Keyed by the tracking number: the partition of shipping.labels that
    // holds the label it joins (the validator checks the rest).
    const rapidjson::Value* msg = nullptr;
    if (doc.IsObject() && doc.HasMember("msg") && doc["msg"].IsObject()) msg = &doc["msg"];
    std::string tracking;
    if (msg != nullptr && msg->HasMember("tracking_number") && (*msg)["tracking_number"].IsString())
      tracking = (*msg)["tracking_number"].GetString();
    if (!valid_tracking_number(tracking)) return refuse(400, "missing_tracking_number");
    d.rate_key = "shipping:" + std::string(provider);
    d.record.topic = policy.topics.shipping_raw;
    d.record.key = tracking;
    d.record.headers.push_back({"cf-source", "shipping"});
    d.record.headers.push_back({"cf-provider", std::string(provider)});
  }
  auto rate = policy.limiter.acquire(d.rate_key, now_ms);
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
