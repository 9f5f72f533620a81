#include "cf/json_builder.h"

#include <cstdio>

namespace cf {

JsonBuilder& JsonBuilder::string(std::string_view value) {
  comma();
  out_ += '"';
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_.append(value.substr(start, i - start));
    switch (c) {
      case '"': out_ += "\\\""; break;
      case '\\': out_ += "\\\\"; break;
      case '\n': out_ += "\\n"; break;
      case '\r': out_ += "\\r"; break;
      case '\t': out_ += "\\t"; break;
      case '\b': out_ += "\\b"; break;
      case '\f': out_ += "\\f"; break;
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

JsonBuilder& JsonBuilder::fixed(double value, int decimals) {
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return literal(std::string_view(buffer, static_cast<size_t>(n)));
}

}  // namespace cf
