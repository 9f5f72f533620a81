#include "cf/json_builder.h"

#include <cmath>
#include <cstdio>

namespace cf {
namespace {

// Length of the well-formed UTF-8 sequence starting at value[i] (a byte >= 0x80), 0 if none.
size_t utf8_sequence_length(std::string_view value, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(value[k]); };
  unsigned char c = byte(i);
  size_t need = c >= 0xC2 && c <= 0xDF   ? 1
                : c >= 0xE0 && c <= 0xEF ? 2
                : c >= 0xF0 && c <= 0xF4 ? 3
                                         : 0;
  if (need == 0 || value.size() - i <= need) return 0;
  for (size_t k = 1; k <= need; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
  if (c == 0xED && c1 >= 0xA0) return 0;  // surrogate
  if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xF4 && c1 >= 0x90) return 0;  // above U+10FFFF
  return need + 1;
}

}  // namespace

JsonBuilder& JsonBuilder::string(std::string_view value) {
  comma();
  out_ += '"';
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      // Well-formed UTF-8 is copied as it is; any other byte becomes U+FFFD,
      // so the output is valid JSON whatever bytes (e.g. an HTTP header) came in.
      size_t n = utf8_sequence_length(value, i);
      if (n > 0) {
        i += n - 1;
        continue;
      }
      out_.append(value.substr(start, i - start));
      out_ += "\\ufffd";
      start = i + 1;
      continue;
    }
    out_.append(value.substr(start, i - start));
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\f':
        out_ += "\\f";
        break;
      default: {
        static const char kHex[] = "0123456789abcdef";
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out_.append(escaped, sizeof escaped);
      }
    }
    start = i + 1;
  }
  out_.append(value.substr(start));
  out_ += '"';
  need_comma_ = true;
  return *this;
}

JsonBuilder& JsonBuilder::real(double value) {
  if (!std::isfinite(value)) return null();
  char buffer[32];
  int n = std::snprintf(buffer, sizeof buffer, "%.15g", value);
  return literal(std::string_view(buffer, static_cast<size_t>(n)));
}

JsonBuilder& JsonBuilder::fixed(double value, int decimals) {
  // JSON has no inf or NaN; and "%f" of a huge value has hundreds of digits:
  // beyond the buffer, the shortest form (with an exponent) is written instead
  // of reading past it (found by the processor_decoders fuzz target).
  if (!std::isfinite(value)) return null();
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  if (n < 0 || static_cast<size_t>(n) >= sizeof buffer) return real(value);
  return literal(std::string_view(buffer, static_cast<size_t>(n)));
}

}  // namespace cf
