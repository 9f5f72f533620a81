#pragma once
// What the ingest does with one HTTP request, as a plain function: which
// status to answer, or which raw record to make durable before answering 200.
//
// Order of work, so that an unauthenticated request costs little and can do
// nothing: path and method; a per-client check of recent authentication
// failures; the signature or API key over the raw bytes (no JSON is read
// before this); then a depth-limited, UTF-8 checked parse for the routing
// fields; then the per-identity rate limit.
#include <cstdint>
#include <string>
#include <string_view>

#include "cf/directory.h"
#include "cf/rate_limiter.h"
#include "cf/records.h"

namespace cf {

struct IngestTopics {
  std::string tiktok_raw = "webhooks.tiktok.raw";
  std::string shipping_raw = "webhooks.shipping.raw";
  std::string shopify_raw = "webhooks.shopify.raw";
};

struct WebhookRequest {
  std::string_view method;
  std::string_view target;
  std::string_view body;
  std::string_view authorization;   ///< TikTok: hex HMAC
  std::string_view aftership_hmac;  ///< aftership-hmac-sha256: base64 HMAC of the body
  std::string_view content_type;
  std::string_view shopify_hmac;         ///< X-Shopify-Hmac-SHA256: base64 HMAC of the body
  std::string_view shopify_topic;        ///< X-Shopify-Topic, e.g. orders/create
  std::string_view shopify_shop_domain;  ///< X-Shopify-Shop-Domain
  std::string_view shopify_webhook_id;   ///< X-Shopify-Webhook-Id: the idempotency key
  std::string_view client;               ///< peer address, for limits before authentication
};

/// What decide_webhook() needs besides the request. Pointers may be null.
struct IngestPolicy {
  const WebhookSecrets& secrets;
  TokenBucketRateLimiter& limiter;  ///< per authenticated identity (shop, provider)
  const IngestTopics& topics;
  /// Per client address: each failed authentication takes a token; a client
  /// without one is answered 429 before any HMAC is computed.
  TokenBucketRateLimiter* auth_failures = nullptr;
  /// When set, Shopify shop domains must be in it (the header is unsigned).
  const ShopDirectory* shops = nullptr;
};

/// The Shopify webhook topics the pipeline takes.
bool supported_shopify_topic(std::string_view topic);

struct IngestDecision {
  /// 0: make `record` durable, then answer 200 (or 503 if Kafka cannot take it).
  int status = 0;
  std::string reason;  ///< machine-readable, also the response's "error"
  int64_t retry_after_ms = 0;
  OutputRecord record;
  std::string rate_key;
};

/// Decides a webhook request. `received_at_ms` (wall clock) and `request_id`
/// go into the record headers; `now_ms` is monotonic time for rate limiting.
IngestDecision decide_webhook(const WebhookRequest& request, const IngestPolicy& policy,
                              int64_t now_ms, int64_t received_at_ms,
                              const std::string& request_id);

/// JSON body for a response: {"status":"accepted"} or {"error":"<reason>"}.
std::string response_body(int status, const std::string& reason, const std::string& request_id);

}  // namespace cf
