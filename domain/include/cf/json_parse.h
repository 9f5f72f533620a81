#pragma once
// The one way this project parses JSON it did not write itself.
//
// RapidJSON's default parse recurses once per nesting level (256 KiB of '['
// overflows a thread's stack) and does not check UTF-8 (an invalid string
// slips past the schema's maxLength, which only counts decodable strings).
// parse_json() refuses nesting deeper than a limit before parsing, then parses
// iteratively with UTF-8 validation, so every later recursive walk (schema
// validation, copying, writing) is bounded by the same limit.
#include <rapidjson/document.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace cf {

/// Deepest nesting of objects and arrays accepted anywhere. Real webhooks nest
/// 4-6 levels; 64 leaves room for any legitimate payload.
constexpr int kMaxJsonDepth = 64;

struct JsonParseError {
  std::string code;    ///< json_too_deep | invalid_utf8 | number_out_of_range | malformed_json
  std::string detail;  ///< e.g. "nesting deeper than 64 at byte 65"
  size_t offset = 0;   ///< byte offset of the problem
};

/// Byte offset where nesting first exceeds `max_depth`, or npos. Strings
/// (with their escapes) are skipped; the scan agrees with the parser on
/// every byte up to the first syntax error, which the parser then reports.
size_t json_depth_violation(std::string_view text, int max_depth = kMaxJsonDepth);

/// Parses `text` into `doc` (depth-limited, iterative, UTF-8 validated, the
/// whole text must be one value, no number beyond +-2^63). Returns false and fills `error` on
/// failure; `doc` is then left empty (null).
bool parse_json(rapidjson::Document& doc, std::string_view text, JsonParseError& error,
                int max_depth = kMaxJsonDepth);

/// Same, for callers that only need to know whether it worked.
inline bool parse_json(rapidjson::Document& doc, std::string_view text) {
  JsonParseError ignored;
  return parse_json(doc, text, ignored);
}

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace cf
