#include "cf/binary_codec.h"

#include <charconv>

namespace cf {

BinaryWriter& BinaryWriter::count(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
  return *this;
}

BinaryWriter& BinaryWriter::integer(int64_t value) {
  // Zigzag: small negative numbers (-1 "unknown" is common) stay one byte.
  const uint64_t u = static_cast<uint64_t>(value);
  return count((u << 1) ^ (value < 0 ? ~uint64_t{0} : uint64_t{0}));
}

BinaryWriter& BinaryWriter::boolean(bool value) {
  out_.push_back(value ? 1 : 0);
  return *this;
}

BinaryWriter& BinaryWriter::bytes(std::string_view value) {
  count(value.size());
  out_.append(value);
  return *this;
}

BinaryReader::BinaryReader(std::string_view in) : in_(in) {
  ok_ = is_binary_state(in_);
  if (ok_) in_.remove_prefix(1);
}

bool BinaryReader::varint(uint64_t& value) {
  value = 0;
  for (int shift = 0; ok_ && shift < 64; shift += 7) {
    if (in_.empty()) break;
    const auto byte = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    if (shift == 63 && byte > 1) break;  // more than 64 bits
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  ok_ = false;
  return false;
}

bool BinaryReader::integer(int64_t& value) {
  uint64_t u = 0;
  if (!varint(u)) return false;
  value = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool BinaryReader::count(uint64_t& value, uint64_t max) {
  if (!varint(value)) return false;
  if (value > max) ok_ = false;
  return ok_;
}

bool BinaryReader::boolean(bool& value) {
  if (!ok_ || in_.empty() || static_cast<uint8_t>(in_[0]) > 1) {
    ok_ = false;
    return false;
  }
  value = in_[0] == 1;
  in_.remove_prefix(1);
  return true;
}

bool BinaryReader::bytes(std::string& value) {
  uint64_t size = 0;
  // The bound is what is left after the length itself (found by the fuzzer:
  // bounding by the size before the length was read let a length reach a
  // few bytes past the end).
  if (!varint(size)) return false;
  if (size > in_.size()) {
    ok_ = false;
    return false;
  }
  value.assign(in_.substr(0, static_cast<size_t>(size)));
  in_.remove_prefix(static_cast<size_t>(size));
  return true;
}

std::string encode_integers(std::initializer_list<int64_t> values) {
  std::string out;
  BinaryWriter w(out);
  for (int64_t v : values) w.integer(v);
  return out;
}

bool decode_integers(std::string_view value, int64_t* out, size_t n) {
  if (is_binary_state(value)) {
    BinaryReader r(value);
    for (size_t i = 0; i < n; ++i) {
      if (!r.integer(out[i])) return false;
    }
    return r.at_end();
  }
  // Earlier versions: decimal text joined by '|'.
  for (size_t i = 0; i < n; ++i) {
    const size_t bar = value.find('|');
    const std::string_view part = i + 1 < n ? value.substr(0, bar) : value;
    if (i + 1 < n && bar == std::string_view::npos) return false;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out[i]);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) return false;
    if (i + 1 < n) value.remove_prefix(bar + 1);
  }
  return true;
}

}  // namespace cf
