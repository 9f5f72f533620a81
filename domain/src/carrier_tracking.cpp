#include "cf/carrier_tracking.h"

#include <cstdint>

namespace cf {

namespace {

bool all_of(std::string_view text, size_t max, bool (*allowed)(char)) {
  if (text.empty() || text.size() > max) return false;
  for (char c : text)
    if (!allowed(c)) return false;
  return true;
}

}  // namespace

bool valid_tracking_number(std::string_view number) {
  return all_of(number, 64, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

bool valid_carrier_slug(std::string_view slug) {
  return all_of(slug, 32, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

std::string stub_label_tracking_number(std::string_view channel, std::string_view order_id) {
  // FNV-1a over "channel|order": stable across builds and machines.
  uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view text) {
    for (unsigned char c : text) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(channel);
  mix("|");
  mix(order_id);
  std::string digits = std::to_string(h % 1'000'000'000'000'000'000ULL);
  return "9400" + std::string(18 - digits.size(), '0') + digits;
}

}  // namespace cf
