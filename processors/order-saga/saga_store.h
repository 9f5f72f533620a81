#pragma once
// State of order-saga for one partition, and its changelog encoding.
//
// Changelog keys (order-saga.state.changelog, co-partitioned with
// orders.events, inventory.replies, saga.replies and saga.operator: all keyed
// by creator):
//   G|<saga id>   the saga, the offset of the last record of each input topic
//                 applied to it, and the outputs of its recent inputs (journal)
//
// Exactly once per saga: records of one input partition arrive in offset
// order, so a record at or below the saga's applied offset for its topic was
// applied before a crash; its journalled outputs are re-sent byte-identical
// instead of applying it twice. A tick touches many sagas: the store indexes
// which sagas journalled each tick offset, so a re-read tick re-sends theirs.
//
// Timers: an in-memory index (due time -> saga) rebuilt from the entries on
// restore; a terminal saga is due for eviction a retention after it finished.
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/output_journal.h"
#include "cf/records.h"
#include "saga_machine.h"

namespace cf::saga {

/// The saga's input topics, in the order of SagaEntry::applied.
enum class Input : uint8_t { kOrders, kInventoryReplies, kSagaReplies, kOperator };
inline constexpr size_t kInputCount = 4;

struct SagaEntry {
  SagaState saga;
  int64_t version = 0;  ///< bumped on every change; saga.events records carry it
  bool manual = false;  ///< an operator was needed (needs_manual, retry or abort)
  std::array<int64_t, kInputCount> applied{{-1, -1, -1, -1}};
  std::array<OutputJournal, kInputCount> journals;
};

std::string saga_key(std::string_view saga_id);
std::string encode_entry(const SagaEntry& entry);
bool decode_entry(std::string_view value, SagaEntry& entry);

class SagaPartitionState final : public RestorableStore {
 public:
  SagaPartitionState(std::string changelog_topic, int32_t partition, int64_t retention_ms);

  SagaEntry* find(const std::string& saga_id);
  /// Stores `entry` (new or changed), writes it to the changelog and indexes
  /// its timer and its journalled tick offsets.
  void put(SagaEntry entry, std::vector<OutputRecord>& outputs);
  /// Deletes a saga (tombstone).
  void erase(const std::string& saga_id, std::vector<OutputRecord>& outputs);
  /// Sagas with a timer due at or before `now_ms`, removed from the index
  /// (the caller checks each against its state: the index may hold stale pairs).
  std::vector<std::string> take_due(int64_t now_ms);
  /// Sagas that journalled outputs for the orders.events record at `offset`
  /// (a tick); forgets index entries below `completed_below`.
  std::vector<std::string> journalled_at(int64_t offset, int64_t completed_below);
  const std::unordered_map<std::string, SagaEntry>& entries() const { return entries_; }

  // RestorableStore
  void apply_encoded(std::string_view key, const std::string_view* value) override;
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const override;
  size_t size() const override { return entries_.size(); }
  void clear() override;

 private:
  void index(const SagaEntry& entry);

  std::string changelog_topic_;
  int32_t partition_;
  int64_t retention_ms_;
  std::unordered_map<std::string, SagaEntry> entries_;      ///< by saga id
  std::multimap<int64_t, std::string> timers_;              ///< due -> saga id (may be stale)
  std::map<int64_t, std::set<std::string>> tick_journals_;  ///< orders.events offset -> sagas
};

}  // namespace cf::saga
