#pragma once
// Dashboard tokens: JSON Web Tokens signed with HS256 (RFC 7519, RFC 7515),
// `sub` = creator id, `exp` = expiry (seconds since the epoch), `channels` =
// the realtime channels the holder may receive (absent: all). Pure functions.
//
// Verification takes nothing from the token on trust: the header must say
// exactly {"alg":"HS256"} (any other algorithm, "none" included, is refused
// before the signature is looked at), the signature is compared in constant
// time before the payload is parsed, and every parse is depth-limited and
// checks UTF-8.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cf {

struct TokenClaims {
  std::string creator_id;             ///< sub
  int64_t expires_at_s = 0;           ///< exp
  std::vector<std::string> channels;  ///< empty: every channel
  bool allows(std::string_view channel) const;
};

/// base64url without padding (RFC 4648 section 5).
std::string base64url_encode(std::string_view data);
/// nullopt when `text` is not unpadded base64url.
std::optional<std::string> base64url_decode(std::string_view text);

/// A signed token for `claims`.
std::string issue_token(const TokenClaims& claims, std::string_view secret);

/// The claims of a valid, unexpired token; nullopt with `why` set otherwise
/// (malformed, alg_not_hs256, bad_signature, expired, no_subject, ...).
std::optional<TokenClaims> verify_token(std::string_view token, std::string_view secret,
                                        int64_t now_s, std::string& why);

}  // namespace cf
