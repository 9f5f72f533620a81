#pragma once
// The channel APIs' authentication and call-limit schemes, as plain code (no
// network): what the channel-api connector signs, waits for and refreshes
// before each call, and what the API stub verifies.
//
// TikTok Shop Open API (version 202309), as the platform documents it:
//   1. every query parameter except `sign` and `access_token`, sorted by name,
//      concatenated as <name><value>;
//   2. the request path in front;
//   3. the request body behind, unless the body is multipart/form-data;
//   4. the app secret on both ends;
//   5. sign = lowercase hex HMAC-SHA256 of that string, keyed by the app secret.
//   The access token travels in the `x-tts-access-token` header, never in the
//   signed string. Access tokens expire (about 7 days) and are refreshed with
//   the refresh token before they do.
// Shopify Admin API: `X-Shopify-Access-Token` header; a leaky bucket per store
// (40 calls, leaking 2 per second on standard plans) reported after every call
// in `X-Shopify-Shop-Api-Call-Limit: <used>/<size>`; 429 with `Retry-After`.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace cf {

/// TikTok Shop's `sign` for a request.
std::string tiktok_sign(std::string_view path, const std::map<std::string, std::string>& query,
                        std::string_view body, std::string_view content_type,
                        std::string_view app_secret);

/// The string tiktok_sign() signs (exposed for tests and for the stub, which
/// verifies requests the way the platform does).
std::string tiktok_string_to_sign(std::string_view path,
                                  const std::map<std::string, std::string>& query,
                                  std::string_view body, std::string_view content_type,
                                  std::string_view app_secret);

/// "<path>?<query>&sign=<sign>" with every value percent-encoded.
std::string tiktok_signed_target(std::string_view path, std::map<std::string, std::string> query,
                                 std::string_view body, std::string_view content_type,
                                 std::string_view app_secret);

/// A shop's access token and when to refresh it.
struct AccessToken {
  std::string access_token;
  int64_t access_expires_ms = 0;
  std::string refresh_token;
  int64_t refresh_expires_ms = 0;
};
/// When to refresh: `margin_ms` before the access token expires (never later
/// than the refresh token's own expiry). Refreshing is due when now >= it.
int64_t refresh_due_ms(const AccessToken& token, int64_t margin_ms);
/// True when the refresh token itself has expired: the shop must authorize again.
bool needs_reauthorization(const AccessToken& token, int64_t now_ms);

/// Shopify's call-limit header "<used>/<size>", or nullopt when malformed.
struct ShopifyCallLimit {
  int used = 0;
  int size = 0;
};
std::optional<ShopifyCallLimit> parse_shopify_call_limit(std::string_view header);
/// How long to wait before the next call so that it does not overflow the
/// bucket (which leaks `leak_per_second`): 0 when there is room.
int64_t shopify_wait_ms(const ShopifyCallLimit& limit, double leak_per_second);

/// A `Retry-After` value in seconds ("2", "2.0") as milliseconds, or nullopt
/// (HTTP dates are not used by these APIs and are refused).
std::optional<int64_t> parse_retry_after_ms(std::string_view header);

/// RFC 3986 percent-encoding of a query value (unreserved characters kept).
std::string percent_encode(std::string_view text);

/// The parameters of a query string ("a=1&b=x%20y"), percent-decoded; nullopt
/// when an escape is broken, a name repeats or the query is over 16 KiB.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

/// A request target ("/path?a=1") split into its path and its parsed query
/// (an empty map without '?'; nullopt when the query is malformed).
struct RequestTarget {
  std::string_view path;
  std::optional<std::map<std::string, std::string>> query;
};
RequestTarget split_target(std::string_view target);

}  // namespace cf
