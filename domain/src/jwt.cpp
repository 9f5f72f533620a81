#include "cf/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"

namespace cf {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMaxToken = 4096;

std::string hmac_raw(std::string_view secret, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

int value_of(char c) {
  const char* at = std::find(kAlphabet, kAlphabet + 64, c);
  return at == kAlphabet + 64 ? -1 : static_cast<int>(at - kAlphabet);
}

}  // namespace

bool TokenClaims::allows(std::string_view channel) const {
  return channels.empty() || std::find(channels.begin(), channels.end(), channel) != channels.end();
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value_of(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero (one encoding per value).
  if ((buffer & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string issue_token(const TokenClaims& claims, std::string_view secret) {
  JsonBuilder payload(128);
  payload.begin_object();
  payload.key("sub").string(claims.creator_id);
  payload.key("exp").number(claims.expires_at_s);
  if (!claims.channels.empty()) {
    payload.key("channels").begin_array();
    for (const auto& c : claims.channels) payload.string(c);
    payload.end_array();
  }
  payload.end_object();
  const std::string signing_input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload.str());
  return signing_input + "." + base64url_encode(hmac_raw(secret, signing_input));
}

std::optional<TokenClaims> verify_token(std::string_view token, std::string_view secret,
                                        int64_t now_s, std::string& why) {
  if (token.empty() || token.size() > kMaxToken) {
    why = "malformed";
    return std::nullopt;
  }
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    why = "malformed";
    return std::nullopt;
  }
  const auto header = base64url_decode(token.substr(0, first));
  rapidjson::Document h;
  if (!header || !parse_json(h, *header) || !h.IsObject()) {
    why = "malformed";
    return std::nullopt;
  }
  if (string_member(h, "alg") != "HS256") {
    why = "alg_not_hs256";
    return std::nullopt;
  }
  const auto signature = base64url_decode(token.substr(second + 1));
  if (!signature || !constant_time_equal(*signature, hmac_raw(secret, token.substr(0, second)))) {
    why = "bad_signature";
    return std::nullopt;
  }
  const auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  rapidjson::Document p;
  if (!payload || !parse_json(p, *payload) || !p.IsObject()) {
    why = "malformed";
    return std::nullopt;
  }
  TokenClaims claims;
  claims.creator_id = std::string(string_member(p, "sub"));
  if (claims.creator_id.empty() || claims.creator_id.size() > 128) {
    why = "no_subject";
    return std::nullopt;
  }
  const auto exp = p.FindMember("exp");
  if (exp == p.MemberEnd() || !exp->value.IsInt64()) {
    why = "no_expiry";
    return std::nullopt;
  }
  claims.expires_at_s = exp->value.GetInt64();
  if (claims.expires_at_s <= now_s) {
    why = "expired";
    return std::nullopt;
  }
  const auto channels = p.FindMember("channels");
  if (channels != p.MemberEnd()) {
    if (!channels->value.IsArray() || channels->value.Empty()) {
      why = "bad_channels";
      return std::nullopt;
    }
    for (const auto& c : channels->value.GetArray()) {
      if (!c.IsString()) {
        why = "bad_channels";
        return std::nullopt;
      }
      claims.channels.emplace_back(c.GetString(), c.GetStringLength());
    }
  }
  return claims;
}

}  // namespace cf
