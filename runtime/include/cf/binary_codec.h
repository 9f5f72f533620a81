#pragma once
// The one encoding of state values (changelog records and snapshot entries)
// for every store of the runtime's state model: a version byte, then fields
// as zigzag varints, length-prefixed byte strings and booleans, in an order
// each codec fixes. The reader never reads past its input, never trusts a
// length beyond the bytes that are there, and reports failure instead of
// throwing, so a hostile or damaged record is skipped, never a crash.
//
// The version byte (0xB1) is neither a digit nor a letter: values written by
// earlier versions of the project ("1|...", "v2|...", "<n>|<n>") begin with
// one, so a decoder tells them apart and still reads them (restoring state
// written before the upgrade); nothing writes them any more.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace cf {

inline constexpr char kBinaryStateVersion = static_cast<char>(0xB1);

/// True when `value` was written by BinaryWriter.
inline bool is_binary_state(std::string_view value) {
  return !value.empty() && value[0] == kBinaryStateVersion;
}

class BinaryWriter {
 public:
  /// Appends to `out`, starting with the version byte.
  explicit BinaryWriter(std::string& out) : out_(out) { out_.push_back(kBinaryStateVersion); }
  BinaryWriter& integer(int64_t value);  ///< zigzag varint
  BinaryWriter& count(uint64_t value);   ///< varint
  BinaryWriter& boolean(bool value);
  BinaryWriter& bytes(std::string_view value);  ///< varint length, then the bytes

 private:
  std::string& out_;
};

class BinaryReader {
 public:
  /// Reads a value written by BinaryWriter; ok() is false when it lacks the
  /// version byte.
  explicit BinaryReader(std::string_view in);
  bool integer(int64_t& value);
  /// A count no larger than `max` (a hostile count never sizes a loop or an allocation).
  bool count(uint64_t& value, uint64_t max);
  bool boolean(bool& value);
  bool bytes(std::string& value);
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && in_.empty(); }

 private:
  bool varint(uint64_t& value);
  std::string_view in_;
  bool ok_ = true;
};

/// A value of a few integers (a bucket's units and offset, an expiry and
/// offset, ...).
std::string encode_integers(std::initializer_list<int64_t> values);
/// Reads exactly `n` integers written by encode_integers, or by earlier
/// versions as decimal text "a|b|...".
bool decode_integers(std::string_view value, int64_t* out, size_t n);

}  // namespace cf
