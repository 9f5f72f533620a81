#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cf {

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T04:16:59.123Z.
std::string format_rfc3339_ms(int64_t epoch_ms);
/// Parses RFC 3339 (Z or +hh:mm offset, optional fraction); nullopt if invalid.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace cf
