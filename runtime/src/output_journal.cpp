#include "cf/output_journal.h"

#include <charconv>
#include <climits>

namespace cf {
namespace {

bool get_number(std::string_view& in, int64_t& value) {
  auto colon = in.find(':');
  if (colon == std::string_view::npos) return false;
  auto result = std::from_chars(in.data(), in.data() + colon, value);
  if (result.ec != std::errc() || result.ptr != in.data() + colon || value < -1) return false;
  in.remove_prefix(colon + 1);
  return true;
}

bool get_field(std::string_view& in, std::string& field) {
  int64_t size = 0;
  if (!get_number(in, size) || size < 0 || static_cast<size_t>(size) > in.size()) return false;
  field.assign(in.data(), static_cast<size_t>(size));
  in.remove_prefix(static_cast<size_t>(size));
  return true;
}

}  // namespace

void OutputJournal::record(int64_t offset, std::vector<OutputRecord> outputs,
                           int64_t completed_below) {
  std::vector<std::pair<int64_t, std::vector<OutputRecord>>> kept;
  for (auto& entry : entries_) {
    if (entry.first >= completed_below && entry.first != offset) kept.push_back(std::move(entry));
  }
  kept.emplace_back(offset, std::move(outputs));
  entries_ = std::move(kept);
}

const std::vector<OutputRecord>* OutputJournal::find(int64_t offset) const {
  for (const auto& entry : entries_) {
    if (entry.first == offset) return &entry.second;
  }
  return nullptr;
}

// Format: <entries>: then per entry <offset>:<count>: and per record the
// length-prefixed topic, key, value, partition, tombstone flag, header count
// and headers. Length prefixes make any byte in values safe.
void OutputJournal::encode(BinaryWriter& out) const {
  out.count(entries_.size());
  for (const auto& [offset, records] : entries_) {
    out.integer(offset).count(records.size());
    for (const auto& r : records) {
      out.bytes(r.topic).bytes(r.key).bytes(r.value).integer(r.partition).boolean(r.tombstone);
      out.count(r.headers.size());
      for (const auto& h : r.headers) out.bytes(h.name).bytes(h.value);
    }
  }
}

bool OutputJournal::decode(BinaryReader& in) {
  entries_.clear();
  // Counts are bounded by the bytes left: every entry, record and header
  // takes at least one byte, so a hostile count cannot size a loop.
  constexpr uint64_t kMax = 1 << 24;
  uint64_t count = 0;
  if (!in.count(count, kMax)) return false;
  for (uint64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    uint64_t records = 0;
    if (!in.integer(offset) || !in.count(records, kMax)) return false;
    std::vector<OutputRecord> list;
    for (uint64_t j = 0; j < records; ++j) {
      OutputRecord r;
      int64_t partition = 0;
      uint64_t headers = 0;
      if (!in.bytes(r.topic) || !in.bytes(r.key) || !in.bytes(r.value) || !in.integer(partition) ||
          !in.boolean(r.tombstone) || !in.count(headers, kMax) || partition < INT32_MIN ||
          partition > INT32_MAX) {
        return false;
      }
      r.partition = static_cast<int32_t>(partition);
      for (uint64_t k = 0; k < headers; ++k) {
        Header h;
        if (!in.bytes(h.name) || !in.bytes(h.value)) return false;
        r.headers.push_back(std::move(h));
      }
      list.push_back(std::move(r));
    }
    entries_.emplace_back(offset, std::move(list));
  }
  return true;
}

// Earlier text format: <entries>: then per entry <offset>:<count>: and per
// record the length-prefixed topic, key, value, partition, tombstone flag,
// header count and headers.
bool OutputJournal::decode_legacy(std::string_view& in) {
  entries_.clear();
  int64_t count = 0;
  if (!get_number(in, count)) return false;
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0, records = 0;
    if (!get_number(in, offset) || !get_number(in, records)) return false;
    std::vector<OutputRecord> list;
    for (int64_t j = 0; j < records; ++j) {
      OutputRecord r;
      int64_t partition = 0, tombstone = 0, headers = 0;
      if (!get_field(in, r.topic) || !get_field(in, r.key) || !get_field(in, r.value) ||
          !get_number(in, partition) || !get_number(in, tombstone) || !get_number(in, headers)) {
        return false;
      }
      r.partition = static_cast<int32_t>(partition);
      r.tombstone = tombstone != 0;
      for (int64_t k = 0; k < headers; ++k) {
        Header h;
        if (!get_field(in, h.name) || !get_field(in, h.value)) return false;
        r.headers.push_back(std::move(h));
      }
      list.push_back(std::move(r));
    }
    entries_.emplace_back(offset, std::move(list));
  }
  return true;
}

}  // namespace cf
