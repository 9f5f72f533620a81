#include "cf/json_parse.h"

#include <rapidjson/error/en.h>

#include <vector>

namespace cf {

size_t json_depth_violation(std::string_view text, int max_depth) {
  int depth = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      // Skip the string: a backslash escapes the next byte, whatever it is.
      for (++p; p < end && *p != '"'; ++p) {
        if (*p == '\\') ++p;
      }
      if (p >= end) return std::string_view::npos;  // unterminated: the parser reports it
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return static_cast<size_t>(p - text.data());
    } else if (c == ']' || c == '}') {
      --depth;
    }
    ++p;
  }
  return std::string_view::npos;
}

namespace {

// RapidJSON 1.1's schema validator converts numbers to 64-bit integers when
// it hashes them (enums), which is undefined for larger doubles (found by
// fuzz_validator). No field of any record here holds such a number, so they
// are refused at the parse. Iterative: `doc` may nest 64 deep.
bool has_number_out_of_range(const rapidjson::Value& root, size_t& index) {
  std::vector<const rapidjson::Value*> pending{&root};
  index = 0;
  while (!pending.empty()) {
    const rapidjson::Value* v = pending.back();
    pending.pop_back();
    ++index;
    if (v->IsDouble()) {
      double d = v->GetDouble();
      if (!(d > -9.2e18 && d < 9.2e18)) return true;
    } else if (v->IsArray()) {
      for (const auto& item : v->GetArray()) pending.push_back(&item);
    } else if (v->IsObject()) {
      for (const auto& member : v->GetObject()) pending.push_back(&member.value);
    }
  }
  return false;
}

}  // namespace

bool parse_json(rapidjson::Document& doc, std::string_view text, JsonParseError& error,
                int max_depth) {
  size_t deep = json_depth_violation(text, max_depth);
  if (deep != std::string_view::npos) {
    doc.SetNull();
    error = {
        "json_too_deep",
        "nesting deeper than " + std::to_string(max_depth) + " at byte " + std::to_string(deep),
        deep};
    return false;
  }
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  doc.Parse<kFlags>(text.data(), text.size());
  if (!doc.HasParseError()) {
    size_t where = 0;
    if (has_number_out_of_range(doc, where)) {
      doc.SetNull();
      error = {"number_out_of_range", "a number beyond +-2^63 (no field of ours holds one)", where};
      return false;
    }
    return true;
  }
  const auto code = doc.GetParseError();
  const size_t offset = doc.GetErrorOffset();
  error = {code == rapidjson::kParseErrorStringInvalidEncoding ? "invalid_utf8" : "malformed_json",
           std::string(rapidjson::GetParseError_En(code)) + " at byte " + std::to_string(offset),
           offset};
  doc.SetNull();
  return false;
}

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t need;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= need) return false;
    for (size_t i = 1; i <= need; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += need + 1;
  }
  return true;
}

}  // namespace cf
