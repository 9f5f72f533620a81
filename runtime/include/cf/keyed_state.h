#pragma once
// Fault-tolerant keyed state: one in-memory store per input partition,
// mirrored to the same partition of a compacted changelog topic, with a local
// snapshot so a restart replays only the changelog's tail.
//
// Restore of a partition: load <state-dir>/<changelog>/<partition>.snap (the
// entries plus the changelog offset the snapshot covers), then read the
// changelog from that offset to its current end. If the changelog no longer
// starts at or before that offset (retention, or the development broker's
// 5 MiB-per-partition cap), records the state needs are gone: the restore
// throws StateLossError instead of running on partial state, unless
// --allow-truncated-changelog says otherwise.
//
// Snapshot consistency: a snapshot must equal the changelog up to the offset
// it covers, as a restore would read it. The covered offset is therefore not
// the changelog's end but the end of this owner's own writes: the runtime
// reports every changelog write's acknowledged offset to its store, and the
// store knows its writes ran contiguously from its epoch marker on. Before a
// snapshot every output in flight is waited for (the worker quiesces), so the
// memory holds no write that is not in the log. A store whose writes were
// interleaved with someone else's (a newer owner: this one is a zombie) or
// refused is not snapshotted again until its next restore; the last good
// snapshot stays, and any older snapshot is still a correct prefix.
//
// Fencing (zombies): an owner that lost its partitions (a paused process, a
// session timeout) may still deliver changelog writes its producer had
// queued, after the new owner's. Every owner therefore claims a partition by
// writing an epoch marker to it once its restore is done; the marker's offset
// is its epoch, and every changelog record it writes carries that epoch
// (header cf-epoch). A restore skips any record whose epoch is older than the
// latest marker before it: such a record was written by an owner that had
// already been replaced. Snapshots record the epoch they were taken under and
// cover only the owner's own contiguous writes (above), so a zombie that
// snapshots before librdkafka tells it of the loss writes either nothing or a
// correct prefix.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "cf/config.h"
#include "cf/kafka_handles.h"
#include "cf/records.h"

namespace cf {

/// Header naming the epoch (marker offset) a changelog record was written under.
inline constexpr const char* kEpochHeader = "cf-epoch";
/// Header of an epoch marker record (never applied to a store).
inline constexpr const char* kEpochMarkerHeader = "cf-epoch-marker";

/// What the restore machinery needs of a store.
class RestorableStore {
 public:
  virtual ~RestorableStore() = default;
  /// The epoch this instance owns the partition under (-1: not claimed).
  int64_t epoch() const { return epoch_; }
  /// The epoch a snapshot was taken under (restore only; not a claim).
  void set_epoch(int64_t epoch) {
    epoch_ = epoch;
    next_own_offset_ = -1;
  }
  /// This instance claimed the partition with the marker at `epoch`: its own
  /// changelog writes follow from `epoch + 1`.
  void claim(int64_t epoch) {
    epoch_ = epoch;
    next_own_offset_ = epoch + 1;
    snapshot_refusal_.clear();
  }
  /// Kafka acknowledged (`ok`) or refused one of this owner's changelog
  /// writes; reported per partition in the order they were produced.
  void on_changelog_delivery(int64_t offset, bool ok);
  /// The offset a snapshot of the memory covers now, or -1 with `why` set
  /// (not claimed, or another writer or a refused write broke the run).
  /// Valid only when no changelog write is in flight.
  int64_t snapshot_offset(std::string& why) const;
  /// One changelog or snapshot record; value nullptr is a tombstone.
  virtual void apply_encoded(std::string_view key, const std::string_view* value) = 0;
  virtual void for_each_encoded(
      const std::function<void(const std::string& key, const std::string& value)>& visit) const = 0;
  virtual size_t size() const = 0;
  /// How many records for_each_encoded visits (a snapshot's count).
  virtual size_t encoded_count() const { return size(); }
  virtual void clear() = 0;

 private:
  int64_t epoch_ = -1;
  int64_t next_own_offset_ = -1;  ///< offset after this owner's last contiguous write
  std::string snapshot_refusal_;  ///< why no snapshot may be taken any more
};

/// Typed keyed store on a changelog partition. Codec provides
/// `using Value = ...; static std::string encode(const Value&);
///  static bool decode(std::string_view, Value&);`.
/// Values live decoded in memory; every put appends the encoded value to the
/// outputs of the input that caused it.
template <class Codec>
class KeyedStore final : public RestorableStore {
 public:
  using Value = typename Codec::Value;
  KeyedStore(std::string changelog_topic, int32_t partition)
      : changelog_topic_(std::move(changelog_topic)), partition_(partition) {}

  Value* find(const std::string& key) {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  const Value* find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  /// Stores `value` and writes it to the changelog.
  Value& put(const std::string& key, Value value, std::vector<OutputRecord>& outputs) {
    outputs.push_back({changelog_topic_, key, Codec::encode(value), {}, partition_});
    return entries_[key] = std::move(value);
  }
  /// Writes the current value of `key` (changed in place) to the changelog.
  void persist(const std::string& key, std::vector<OutputRecord>& outputs) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      outputs.push_back({changelog_topic_, key, Codec::encode(it->second), {}, partition_});
    }
  }
  void erase(const std::string& key, std::vector<OutputRecord>& outputs) {
    if (entries_.erase(key) == 0) return;
    outputs.push_back({changelog_topic_, key, {}, {}, partition_, true});
  }
  const std::unordered_map<std::string, Value>& entries() const { return entries_; }
  int32_t partition() const { return partition_; }

  void apply_encoded(std::string_view key, const std::string_view* value) override {
    if (value == nullptr) {
      entries_.erase(std::string(key));
      return;
    }
    Value decoded{};
    if (Codec::decode(*value, decoded)) {
      entries_[std::string(key)] = std::move(decoded);
    } else {
      ++undecodable_;
    }
  }
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const override {
    for (const auto& [key, value] : entries_) visit(key, Codec::encode(value));
  }
  size_t size() const override { return entries_.size(); }
  void clear() override { entries_.clear(); }
  /// Changelog records that could not be decoded at restore (skipped).
  uint64_t undecodable() const { return undecodable_; }

 private:
  std::string changelog_topic_;
  int32_t partition_;
  std::unordered_map<std::string, Value> entries_;
  uint64_t undecodable_ = 0;
};

/// Where and how state is kept: from the worker's settings.
struct StateOptions {
  std::string changelog_topic;
  std::string snapshot_dir;  ///< empty: no snapshots
  int snapshot_interval_ms = 30000;
  bool allow_truncated_changelog = false;
  KafkaSettings kafka;
};
StateOptions state_options(const WorkerSettings& settings, std::string changelog_topic);

/// What one restore did.
struct RestoreReport {
  size_t partitions = 0;
  int64_t snapshot_keys = 0;      ///< entries loaded from snapshots
  int64_t changelog_records = 0;  ///< records replayed from the changelog
  int64_t elapsed_ms = 0;
};

/// Snapshot file of one changelog partition: write to a temporary file, then
/// rename, so a crash leaves the old snapshot or the new one, never half.
/// The file also keeps store.epoch().
void write_snapshot_file(const std::string& path, int64_t covered_offset,
                         const RestorableStore& store);
/// Loads a snapshot into `store` (cleared first); returns its covered offset,
/// or -1 when there is none or it is corrupt (the store is then left empty).
int64_t load_snapshot_file(const std::string& path, RestorableStore& store);
/// The decoding half of load_snapshot_file (`data` is a whole file): the
/// covered offset, or -1 with `why` set and `store` cleared. Never trusts a
/// length or count in the data beyond the bytes that are there. Sets the
/// store's epoch to the snapshot's (-1 for files written before epochs).
int64_t decode_snapshot(std::string_view data, RestorableStore& store, std::string& why);
/// The checksum a snapshot file ends with, over everything before it.
uint64_t snapshot_checksum(std::string_view data);

/// Writes an epoch marker to each changelog partition and waits for it:
/// partition -> marker offset (this instance's epoch there). Throws KafkaError.
std::map<int32_t, int64_t> claim_partitions(const StateOptions& options,
                                            const std::vector<int32_t>& partitions);

/// Restores `stores` (changelog partition -> store) of `options.changelog_topic`,
/// then claims their partitions (each store's epoch is set).
/// Throws StateLossError on a truncated changelog (see the header comment).
RestoreReport restore_stores(const StateOptions& options,
                             const std::map<int32_t, RestorableStore*>& stores);

/// The per-partition stores of one changelog, for one processor.
template <class Store>
class PartitionedState {
 public:
  /// Makes the empty store of one changelog partition.
  using Factory =
      std::function<std::unique_ptr<Store>(const std::string& changelog_topic, int32_t partition)>;
  explicit PartitionedState(StateOptions options, Factory factory = {})
      : options_(std::move(options)), factory_(std::move(factory)) {
    if constexpr (std::is_constructible_v<Store, const std::string&, int32_t>) {
      if (!factory_) {
        factory_ = [](const std::string& topic, int32_t partition) {
          return std::make_unique<Store>(topic, partition);
        };
      }
    }
    if (!factory_)
      throw std::logic_error(
          "PartitionedState: a store without (topic, partition) needs a factory");
  }

  /// Restores the partitions not held yet. Blocks; throws StateLossError.
  RestoreReport restore(const std::vector<int32_t>& partitions) {
    std::map<int32_t, RestorableStore*> fresh;
    for (int32_t p : partitions) {
      auto& slot = stores_[p];
      if (slot) continue;
      slot = factory_(options_.changelog_topic, p);
      fresh[p] = slot.get();
    }
    try {
      return restore_stores(options_, fresh);
    } catch (...) {
      for (auto& [p, store] : fresh) stores_.erase(p);
      throw;
    }
  }
  /// Snapshots, then forgets the partitions (their inputs went elsewhere);
  /// every output of theirs must be acknowledged (the worker drained them).
  void release(const std::vector<int32_t>& partitions) {
    for (int32_t p : partitions) {
      auto it = stores_.find(p);
      if (it == stores_.end()) continue;
      snapshot(p, *it->second);
      stores_.erase(it);
    }
  }
  /// Forgets the partitions without a snapshot (the assignment was lost:
  /// the new owner may have written past what this memory holds).
  void drop(const std::vector<int32_t>& partitions) {
    for (int32_t p : partitions) stores_.erase(p);
  }
  Store* find(int32_t partition) {
    auto it = stores_.find(partition);
    return it == stores_.end() ? nullptr : it->second.get();
  }
  Store& at(int32_t partition) {
    auto it = stores_.find(partition);
    if (it == stores_.end()) {
      throw std::logic_error("state of partition " + std::to_string(partition) + " not restored");
    }
    return *it->second;
  }
  std::map<int32_t, std::unique_ptr<Store>>& partitions() { return stores_; }
  /// Snapshots every store when the interval has passed, if
  /// `confirm_ownership` says this instance still owns its partitions and
  /// `quiesce` got every output in flight acknowledged (a snapshot must hold
  /// no write that is not in the log); call from the worker thread.
  void maybe_snapshot(int64_t now_ms, const std::function<bool()>& confirm_ownership,
                      const std::function<bool()>& quiesce) {
    if (options_.snapshot_interval_ms <= 0 || options_.snapshot_dir.empty() || stores_.empty())
      return;
    if (next_snapshot_ms_ == 0) next_snapshot_ms_ = now_ms + options_.snapshot_interval_ms;
    if (now_ms < next_snapshot_ms_) return;
    next_snapshot_ms_ = now_ms + options_.snapshot_interval_ms;
    if (!confirm_ownership() || !quiesce()) return;
    for (auto& [p, store] : stores_) snapshot(p, *store);
  }
  void snapshot_all() {
    for (auto& [p, store] : stores_) snapshot(p, *store);
  }
  const StateOptions& options() const { return options_; }

 private:
  void snapshot(int32_t partition, const Store& store);
  StateOptions options_;
  Factory factory_;
  std::map<int32_t, std::unique_ptr<Store>> stores_;
  int64_t next_snapshot_ms_ = 0;
};

/// Writes the snapshot of one partition, covering store.snapshot_offset();
/// skipped (logged, cf_state_snapshots_skipped_total) when the store cannot
/// vouch for its memory, no-op without a snapshot directory. Returns whether
/// a file was written.
bool snapshot_partition(const StateOptions& options, int32_t partition,
                        const RestorableStore& store);

template <class Store>
void PartitionedState<Store>::snapshot(int32_t partition, const Store& store) {
  snapshot_partition(options_, partition, store);
}

}  // namespace cf

namespace cf {
/// The distinct partition numbers of `partitions` (state is per partition
/// number when inputs are co-partitioned).
std::vector<int32_t> partition_numbers(const std::vector<TopicPartition>& partitions);
}  // namespace cf
