#pragma once
// The validator's dedup state: idempotency keys remembered for a TTL of
// event time, per input partition, mirrored to a compacted changelog and kept
// by the runtime's one state model (keyed_state.h: snapshots, changelog tail,
// epochs). Every write appends a changelog record to the outputs of the input
// that caused it, so the runtime acknowledges the changelog write before it
// stores that input's offset.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/config.h"
#include "cf/keyed_state.h"
#include "cf/records.h"

namespace cf {

/// What a TTL dedup store says about an id.
enum class DedupVerdict {
  kFirst,      ///< never seen: process it
  kReplay,     ///< seen at this very input offset: a re-delivery after a crash, process again
  kDuplicate,  ///< seen at another offset within the TTL: drop it
};

/// Idempotency keys remembered for `ttl_ms` of event time, mirrored to a
/// changelog. Expiry follows the partition's stream time (largest event time
/// seen), never the wall clock, so a replay gives the same verdicts.
///
/// Memory is what bounds the dedup horizon (96 h at production volume is
/// billions of ids), so an id is kept as 64 bits of its SHA-256 in an
/// open-addressing table (hash, first offset, expiry in seconds: 20 bytes a
/// slot at a load of 0.42-0.85) plus a 12-byte entry in the expiry queue:
/// 36-60 bytes an id (memory_bytes() counts them). Expiry has a granularity
/// of one second, rounded up: an id is never forgotten before its TTL. Two different ids share a
/// hash with probability about n / 2^64 (1e-10 at a billion live ids): the
/// later one would be dropped as a duplicate. Changelog keys are the prefix
/// plus the hash in hex, values "<expires_at_ms>|<first offset>".
class TtlDedupStore {
 public:
  TtlDedupStore(std::string changelog_topic, int32_t partition, std::string key_prefix,
                int64_t ttl_ms);
  /// Checks `id` seen at event time `event_time_ms` at input `offset`, records
  /// it when first seen, and expires old ids. Changelog writes go to `outputs`.
  DedupVerdict check(std::string_view id, int64_t event_time_ms, int64_t offset,
                     std::vector<OutputRecord>& outputs);
  /// Applies one changelog or snapshot record during restore (value nullptr:
  /// tombstone). Records of other prefixes are ignored. Returns true if it applied.
  bool apply_changelog(std::string_view key, const std::string_view* value);
  /// The store as records apply_changelog takes back: first the stream time
  /// (key "<prefix>stream-time", a snapshot's alone: the changelog derives it
  /// from expiries), then every live id in expiry order, so a store loaded
  /// from them expires in the same order.
  void for_each_record(
      const std::function<void(const std::string&, const std::string&)>& visit) const;
  /// How many records for_each_record visits.
  size_t record_count() const;
  void clear();
  size_t size() const { return live_; }
  int64_t stream_time_ms() const { return stream_time_ms_; }
  /// Bytes held by the table and the expiry queue (capacity, not just use).
  size_t memory_bytes() const;
  /// The 64-bit hash an id is remembered by (never 0).
  static uint64_t id_hash(std::string_view id);

 private:
  struct Due {
    uint32_t expires_s;
    uint32_t hash_low;
    uint32_t hash_high;
  };
  size_t slot_of(uint64_t hash) const;  // its slot, or the empty slot where it would go
  /// Each live id once, in expiry order: visit(hash, slot).
  void for_each_live(const std::function<void(uint64_t, size_t)>& visit) const;
  void insert(uint64_t hash, int64_t offset, uint32_t expires_s);
  void erase_slot(size_t slot);
  void grow();
  void expire(std::vector<OutputRecord>& outputs);
  std::string changelog_key(uint64_t hash) const;

  std::string changelog_topic_;
  int32_t partition_;
  std::string key_prefix_;
  int64_t ttl_ms_;
  int64_t stream_time_ms_ = 0;
  size_t live_ = 0;
  std::vector<uint64_t> hashes_;  // 0: empty slot
  std::vector<int64_t> offsets_;
  std::vector<uint32_t> expires_s_;
  // Expiry queue in non-decreasing expiry. A deque grows by fixed blocks, so
  // it never holds the spare half a doubling vector would.
  std::deque<Due> due_;
};

/// The dedup state of one changelog partition: one TtlDedupStore per input
/// topic with that partition number (the raw topics share one changelog;
/// keys carry "<input topic>|" as prefix). A RestorableStore, so the runtime
/// restores it from a snapshot plus the changelog's tail, fences zombies by
/// epoch and snapshots it like every other keyed store.
class DedupPartition final : public RestorableStore {
 public:
  DedupPartition(std::string changelog_topic, int32_t partition, int64_t ttl_ms);
  /// The store of one input topic (created on first use).
  TtlDedupStore& store(std::string_view input_topic);
  void apply_encoded(std::string_view key, const std::string_view* value) override;
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const override;
  size_t size() const override;
  size_t encoded_count() const override;
  void clear() override { stores_.clear(); }
  size_t memory_bytes() const;

 private:
  std::string changelog_topic_;
  int32_t partition_;
  int64_t ttl_ms_;
  std::map<std::string, std::unique_ptr<TtlDedupStore>, std::less<>> stores_;  // by input topic
};

using ChangelogApply = std::function<void(int32_t, std::string_view, const std::string_view*)>;

/// Reads changelog `topic` from the given offset of each partition to the end
/// it has now, with one consumer, calling apply(partition, key, value) per
/// record (value nullptr for tombstones); logs progress every second and
/// exports cf_state_restore_remaining_records. A partition that no longer
/// starts at or before its offset lost state: StateLossError, or with
/// `allow_truncated` an error log and the records that remain.
/// cf_changelog_truncated_total counts such partitions either way.
int64_t replay_changelog(const KafkaSettings& settings, const std::string& topic,
                         const std::map<int32_t, int64_t>& from, bool allow_truncated,
                         const ChangelogApply& apply);
/// The same, fenced: `epochs` holds each partition's latest known epoch
/// marker (in: from the snapshot, out: the latest one read); records written
/// under an older epoch than the latest marker before them are skipped
/// (cf_changelog_fenced_records_total). `ends` receives the offset each
/// partition was read to.
int64_t replay_changelog(const KafkaSettings& settings, const std::string& topic,
                         const std::map<int32_t, int64_t>& from, bool allow_truncated,
                         const ChangelogApply& apply, std::map<int32_t, int64_t>& epochs,
                         std::map<int32_t, int64_t>& ends);

}  // namespace cf
