#pragma once
// Appends JSON to a string: every JSON output of the project goes through it.
// Keys are trusted literals written as they are; string values are escaped
// (invalid UTF-8 becomes U+FFFD, so the output always parses), with a fast path for the common case
// that needs no escaping (RapidJSON's Writer escapes character by character, which was a fifth of
// the validator's transform time).
#include <cstdint>
#include <string>
#include <string_view>

namespace cf {

class JsonBuilder {
 public:
  explicit JsonBuilder(size_t reserve = 1024) { out_.reserve(reserve); }

  JsonBuilder& begin_object() { return open('{'); }
  JsonBuilder& end_object() { return close('}'); }
  JsonBuilder& begin_array() { return open('['); }
  JsonBuilder& end_array() { return close(']'); }
  /// `name` must not need escaping (a literal of ours).
  JsonBuilder& key(std::string_view name) {
    comma();
    out_ += '"';
    out_.append(name);
    out_ += "\":";
    need_comma_ = false;
    return *this;
  }
  /// A key that may need escaping (e.g. a metric name with label values).
  JsonBuilder& escaped_key(std::string_view name) {
    string(name);
    out_ += ':';
    need_comma_ = false;
    return *this;
  }
  JsonBuilder& string(std::string_view value);
  JsonBuilder& number(int64_t value) {
    comma();
    out_ += std::to_string(value);
    need_comma_ = true;
    return *this;
  }
  /// A double in shortest round-trip form; null when not finite (JSON has no NaN).
  JsonBuilder& real(double value);
  /// A decimal with exactly `decimals` digits after the point (deterministic
  /// text); null when not finite, the shortest form when it would need more
  /// than 63 characters.
  JsonBuilder& fixed(double value, int decimals);
  JsonBuilder& boolean(bool value) { return literal(value ? "true" : "false"); }
  JsonBuilder& null() { return literal("null"); }
  /// A complete JSON value this process built or validated itself (e.g. a
  /// fragment kept in state), inserted as it is. Never pass outside input here.
  JsonBuilder& raw(std::string_view json) { return literal(json); }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (need_comma_) out_ += ',';
  }
  JsonBuilder& open(char c) {
    comma();
    out_ += c;
    need_comma_ = false;
    return *this;
  }
  JsonBuilder& close(char c) {
    out_ += c;
    need_comma_ = true;
    return *this;
  }
  JsonBuilder& literal(std::string_view text) {
    comma();
    out_.append(text);
    need_comma_ = true;
    return *this;
  }

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace cf
