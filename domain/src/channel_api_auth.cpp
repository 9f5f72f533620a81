#include "cf/channel_api_auth.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "cf/signature.h"

namespace cf {

std::string percent_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {

bool to_int(std::string_view text, int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

std::string tiktok_string_to_sign(std::string_view path,
                                  const std::map<std::string, std::string>& query,
                                  std::string_view body, std::string_view content_type,
                                  std::string_view app_secret) {
  std::string input(app_secret);
  input.append(path);
  for (const auto& [name, value] : query) {  // std::map: sorted by name
    if (name == "sign" || name == "access_token") continue;
    input.append(name).append(value);
  }
  if (content_type.substr(0, 19) != "multipart/form-data") input.append(body);
  input.append(app_secret);
  return input;
}

std::string tiktok_sign(std::string_view path, const std::map<std::string, std::string>& query,
                        std::string_view body, std::string_view content_type,
                        std::string_view app_secret) {
  return hmac_sha256_hex(app_secret,
                         tiktok_string_to_sign(path, query, body, content_type, app_secret));
}

std::string tiktok_signed_target(std::string_view path, std::map<std::string, std::string> query,
                                 std::string_view body, std::string_view content_type,
                                 std::string_view app_secret) {
  query.erase("sign");
  query.erase("access_token");  // a header, never in the query or the signature
  const std::string sign = tiktok_sign(path, query, body, content_type, app_secret);
  std::string target(path);
  char separator = '?';
  for (const auto& [name, value] : query) {
    target.push_back(separator);
    target.append(percent_encode(name)).push_back('=');
    target.append(percent_encode(value));
    separator = '&';
  }
  target.push_back(separator);
  return target.append("sign=").append(sign);
}

int64_t refresh_due_ms(const AccessToken& token, int64_t margin_ms) {
  const int64_t due = token.access_expires_ms - margin_ms;
  return token.refresh_expires_ms > 0 ? std::min(due, token.refresh_expires_ms) : due;
}

bool needs_reauthorization(const AccessToken& token, int64_t now_ms) {
  return token.refresh_expires_ms > 0 && now_ms >= token.refresh_expires_ms;
}

std::optional<ShopifyCallLimit> parse_shopify_call_limit(std::string_view header) {
  const auto slash = header.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ShopifyCallLimit limit;
  if (!to_int(header.substr(0, slash), limit.used) ||
      !to_int(header.substr(slash + 1), limit.size) || limit.used < 0 || limit.size <= 0 ||
      limit.used > limit.size) {
    return std::nullopt;
  }
  return limit;
}

int64_t shopify_wait_ms(const ShopifyCallLimit& limit, double leak_per_second) {
  const int overflow = limit.used + 1 - limit.size;
  if (overflow <= 0 || leak_per_second <= 0) return 0;
  return static_cast<int64_t>(std::ceil(1000.0 * overflow / leak_per_second));
}

std::optional<int64_t> parse_retry_after_ms(std::string_view header) {
  if (header.empty() || header.size() > 16) return std::nullopt;
  for (char c : header)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return std::nullopt;
  const double seconds = std::strtod(std::string(header).c_str(), nullptr);
  if (!(seconds >= 0) || seconds > 86400) return std::nullopt;
  return static_cast<int64_t>(std::ceil(seconds * 1000));
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto decode = [&](std::string_view text, std::string& out) {
    out.clear();
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out.push_back(' ');
      } else if (text[i] == '%') {
        if (i + 2 >= text.size()) return false;
        const int high = hex(text[i + 1]), low = hex(text[i + 2]);
        if (high < 0 || low < 0) return false;
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
      } else {
        out.push_back(text[i]);
      }
    }
    return true;
  };
  std::map<std::string, std::string> params;
  if (query.size() > 16 * 1024) return std::nullopt;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name, value;
    if (!decode(pair.substr(0, eq), name)) return std::nullopt;
    if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), value)) return std::nullopt;
    if (params.count(name) != 0) return std::nullopt;  // a repeated name is ambiguous: refused
    params.emplace(std::move(name), std::move(value));
  }
  return params;
}

RequestTarget split_target(std::string_view target) {
  const size_t question = target.find('?');
  return {target.substr(0, question),
          parse_query(question == std::string_view::npos ? std::string_view{}
                                                         : target.substr(question + 1))};
}

}  // namespace cf
