#pragma once
// The outputs of a key's recent inputs, kept inside that key's state until
// the runtime reports those inputs completed (every output acknowledged).
//
// Why: a state change reaches the changelog independently of the outputs it
// caused. After a crash the input is read again, its state change is already
// there (the key records the input offset it applied), and re-computing would
// apply it twice. Instead the processor re-sends the journalled outputs of
// that offset: byte-identical, so sinks de-duplicate them, and nothing is lost.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cf/binary_codec.h"
#include "cf/records.h"

namespace cf {

class OutputJournal {
 public:
  /// Records the outputs of input `offset` and forgets inputs below
  /// `completed_below` (their outputs are all acknowledged).
  void record(int64_t offset, std::vector<OutputRecord> outputs, int64_t completed_below);
  /// Outputs of input `offset`, or nullptr when not journalled (then they
  /// were acknowledged before the key was last written).
  const std::vector<OutputRecord>* find(int64_t offset) const;
  bool empty() const { return entries_.empty(); }
  /// The input offsets journalled, oldest first.
  std::vector<int64_t> offsets() const {
    std::vector<int64_t> out;
    for (const auto& entry : entries_) out.push_back(entry.first);
    return out;
  }

  void encode(BinaryWriter& out) const;
  /// Reads what encode() wrote, advancing `in`.
  bool decode(BinaryReader& in);
  /// Reads the text form earlier versions wrote from the front of `in`,
  /// advancing it (state written before the binary codec).
  bool decode_legacy(std::string_view& in);

 private:
  std::vector<std::pair<int64_t, std::vector<OutputRecord>>> entries_;
};

}  // namespace cf
