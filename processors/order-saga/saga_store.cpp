#include "saga_store.h"

#include "cf/binary_codec.h"

namespace cf::saga {

std::string saga_key(std::string_view saga_id) { return "G|" + std::string(saga_id); }

// Format: the saga (encode_saga, length-prefixed), version, manual flag, the
// applied offset and the journal of each input.
std::string encode_entry(const SagaEntry& entry) {
  std::string out;
  BinaryWriter w(out);
  w.bytes(encode_saga(entry.saga)).integer(entry.version).count(entry.manual ? 1 : 0);
  for (size_t i = 0; i < kInputCount; ++i) {
    w.integer(entry.applied[i]);
    entry.journals[i].encode(w);
  }
  return out;
}

bool decode_entry(std::string_view value, SagaEntry& entry) {
  BinaryReader r(value);
  if (!r.ok()) return false;
  entry = SagaEntry{};
  std::string saga;
  uint64_t manual = 0;
  if (!r.bytes(saga) || !decode_saga(saga, entry.saga) || !r.integer(entry.version) ||
      !r.count(manual, 1)) {
    return false;
  }
  entry.manual = manual == 1;
  for (size_t i = 0; i < kInputCount; ++i) {
    if (!r.integer(entry.applied[i]) || !entry.journals[i].decode(r)) return false;
  }
  return r.at_end();
}

SagaPartitionState::SagaPartitionState(std::string changelog_topic, int32_t partition,
                                       int64_t retention_ms)
    : changelog_topic_(std::move(changelog_topic)),
      partition_(partition),
      retention_ms_(retention_ms) {}

SagaEntry* SagaPartitionState::find(const std::string& saga_id) {
  auto it = entries_.find(saga_id);
  return it == entries_.end() ? nullptr : &it->second;
}

void SagaPartitionState::index(const SagaEntry& entry) {
  const SagaState& saga = entry.saga;
  int64_t due = is_terminal(saga.status)
                    ? (saga.finished_ms >= 0 ? saga.finished_ms : 0) + retention_ms_
                    : SagaMachine::next_due_ms(saga);
  if (due >= 0) timers_.emplace(due, saga.saga_id);
  for (int64_t offset : entry.journals[static_cast<size_t>(Input::kOrders)].offsets())
    tick_journals_[offset].insert(saga.saga_id);
}

void SagaPartitionState::put(SagaEntry entry, std::vector<OutputRecord>& outputs) {
  outputs.push_back(
      {changelog_topic_, saga_key(entry.saga.saga_id), encode_entry(entry), {}, partition_});
  index(entry);
  const std::string id = entry.saga.saga_id;
  entries_[id] = std::move(entry);
}

void SagaPartitionState::erase(const std::string& saga_id, std::vector<OutputRecord>& outputs) {
  if (entries_.erase(saga_id) == 0) return;
  outputs.push_back({changelog_topic_, saga_key(saga_id), {}, {}, partition_, true});
}

std::vector<std::string> SagaPartitionState::take_due(int64_t now_ms) {
  std::vector<std::string> due;
  auto end = timers_.upper_bound(now_ms);
  for (auto it = timers_.begin(); it != end; ++it) due.push_back(it->second);
  timers_.erase(timers_.begin(), end);
  return due;
}

std::vector<std::string> SagaPartitionState::journalled_at(int64_t offset,
                                                           int64_t completed_below) {
  tick_journals_.erase(tick_journals_.begin(), tick_journals_.lower_bound(completed_below));
  auto it = tick_journals_.find(offset);
  if (it == tick_journals_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void SagaPartitionState::apply_encoded(std::string_view key, const std::string_view* value) {
  if (key.size() < 2 || key.substr(0, 2) != "G|") return;
  std::string id(key.substr(2));
  if (value == nullptr) {
    entries_.erase(id);
    return;
  }
  SagaEntry entry;
  if (!decode_entry(*value, entry) || entry.saga.saga_id != id) return;
  index(entry);
  entries_[id] = std::move(entry);
}

void SagaPartitionState::for_each_encoded(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  for (const auto& [id, entry] : entries_) visit(saga_key(id), encode_entry(entry));
}

void SagaPartitionState::clear() {
  entries_.clear();
  timers_.clear();
  tick_journals_.clear();
}

}  // namespace cf::saga
