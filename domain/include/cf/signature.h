#pragma once
// HMAC signatures of inbound webhooks. Pure functions; no I/O.
#include <string>
#include <string_view>

namespace cf {

/// Lowercase hex HMAC-SHA256 of `data` keyed by `secret`.
std::string hmac_sha256_hex(std::string_view secret, std::string_view data);
/// Standard base64 of HMAC-SHA256 of `data` keyed by `secret`.
std::string hmac_sha256_base64(std::string_view secret, std::string_view data);
/// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

enum class SignatureCheck {
  kValid,
  kMissing,    ///< no Authorization header
  kMalformed,  ///< not 64 lowercase hex characters
  kMismatch,   ///< well-formed but wrong (tampered body or wrong secret)
};
const char* to_string(SignatureCheck check);

/// TikTok Shop: the Authorization header is hex HMAC-SHA256 of app_key
/// followed by the raw body, keyed by the app secret.
SignatureCheck verify_tiktok_signature(std::string_view app_key, std::string_view app_secret,
                                       std::string_view body, std::string_view authorization);

/// A short lowercase hex digest used for deterministic ids.
std::string sha256_hex(std::string_view data);

/// Deterministic UUID (version 8, RFC 9562 custom) from SHA-256 of `name`:
/// the same source always yields the same event id.
std::string deterministic_uuid(std::string_view name);

}  // namespace cf
