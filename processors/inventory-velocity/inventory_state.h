#pragma once
// State of inventory-velocity for one partition, and its changelog encoding.
//
// Changelog keys (one compacted topic, co-partitioned with inventory.events):
//   L|<creator>|<sku>           the SKU's ledger and emission bookkeeping
//   B|<creator>|<sku>|<minute>  units sold in one event-time minute (24 h kept)
//   R|<creator>|<reservation>   a saga's reservation and the last reply sent
//                               (deleted a retention after it was released/rejected)
//   S|                          the partition's stream time and last tick
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/records.h"

namespace cf {

struct SkuLedger {
  std::string creator_id;
  std::string product_sku;
  int64_t total = 0;     ///< units on hand as of the last absolute set, plus deltas and restocks
  int64_t reserved = 0;  ///< held by sagas
  int64_t sold = 0;      ///< sold since the last absolute set, net of restocked cancellations
  int64_t last_set_ms = -1;     ///< event time of the last absolute set applied
  int64_t last_event_ms = -1;   ///< largest event time that touched this SKU
  int64_t version = 0;          ///< bumped on every change; velocity snapshots carry it
  int64_t applied_offset = -1;  ///< inventory.events offset of the last input applied
  int64_t emitted_ms = -1;      ///< stream time of the last snapshot sent
  int64_t emitted_version = -1;
  int64_t emitted_sales_1h = -1;
  int64_t emitted_sales_24h = -1;
  std::map<int64_t, int64_t> minute_sales;  ///< minute index -> units; from B| records
  /// minute index -> the last input offset added to that bucket. A bucket is
  /// its own changelog record: a crash can keep the bucket's write and lose
  /// the ledger's, and the re-read input must not add to the bucket again.
  std::map<int64_t, int64_t> bucket_offsets;
  /// Units added to `sold` (negative: restocked) by event time, kept for the
  /// allowed lateness: a channel count at time T then resets `sold` to what
  /// happened after T, whatever order the count and the sales arrived in.
  std::map<int64_t, int64_t> recent;

  int64_t available() const { return total - reserved - sold; }
};

struct Reservation {
  std::string product_sku;
  int64_t quantity = 0;
  std::string status;           ///< reserved | released | rejected
  std::string last_command_id;  ///< a repeat of this command gets `last_reply` again
  std::string last_reply;
  /// Stream time at which it was released or rejected (-1: still reserved,
  /// or finished before any time was known); deleted a retention later.
  int64_t finished_ms = -1;
};

/// Keys and encodings, exposed for tests and tools.
std::string ledger_key(std::string_view creator, std::string_view sku);
std::string bucket_key(std::string_view creator, std::string_view sku, int64_t minute);
std::string reservation_key(std::string_view creator, std::string_view reservation_id);
std::string encode_ledger(const SkuLedger& ledger);
bool decode_ledger(std::string_view text, SkuLedger& ledger);

class InventoryPartitionState final : public RestorableStore {
 public:
  InventoryPartitionState(std::string changelog_topic, int32_t partition);

  SkuLedger* find(const std::string& creator, const std::string& sku);
  /// The SKU's ledger, created empty when new.
  SkuLedger& ledger(const std::string& creator, const std::string& sku);
  void persist_ledger(const SkuLedger& ledger, std::vector<OutputRecord>& outputs);
  /// Adds `units` sold by input `offset` to a minute bucket (once per input)
  /// and writes the bucket to the changelog.
  void add_sales(SkuLedger& ledger, int64_t minute, int64_t units, int64_t offset,
                 std::vector<OutputRecord>& outputs);
  /// Drops buckets at or before `oldest_excluded_minute` (tombstones).
  void expire_buckets(SkuLedger& ledger, int64_t oldest_excluded_minute,
                      std::vector<OutputRecord>& outputs);
  Reservation* reservation(const std::string& creator, const std::string& id);
  void put_reservation(const std::string& creator, const std::string& id, Reservation value,
                       std::vector<OutputRecord>& outputs);
  /// Deletes reservations finished at or before `cutoff_ms` (tombstones).
  void expire_reservations(int64_t cutoff_ms, std::vector<OutputRecord>& outputs);
  size_t reservations() const { return reservations_.size(); }

  int64_t stream_time_ms() const { return stream_time_ms_; }
  void advance_stream_time(int64_t event_ms) {
    if (event_ms > stream_time_ms_) stream_time_ms_ = event_ms;
  }
  /// The input offset an event id was first applied at, or -1 when unknown.
  int64_t applied_event_offset(std::string_view event_id) const;
  /// Remembers an applied event id until stream time passes `expires_ms`.
  void remember_event(std::string_view event_id, int64_t expires_ms, int64_t offset,
                      std::vector<OutputRecord>& outputs);
  /// Forgets event ids that expired at or before `stream_time_ms` (tombstones).
  void expire_events(int64_t stream_time_ms, std::vector<OutputRecord>& outputs);
  size_t remembered_events() const { return events_.size(); }
  int64_t last_tick_offset() const { return last_tick_offset_; }
  void record_tick(int64_t offset, std::vector<OutputRecord>& outputs);
  /// SKUs that may change on a tick: sales in their window or an unsent change.
  std::set<std::string>& active() { return active_; }
  std::unordered_map<std::string, SkuLedger>& ledgers() { return ledgers_; }

  // RestorableStore
  void apply_encoded(std::string_view key, const std::string_view* value) override;
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const override;
  size_t size() const override;
  void clear() override;

 private:
  std::string changelog_topic_;
  int32_t partition_;
  std::unordered_map<std::string, SkuLedger> ledgers_;  ///< by ledger_key
  std::unordered_map<std::string, Reservation> reservations_;
  /// finished_ms -> reservation key (may hold stale pairs: checked when due).
  std::multimap<int64_t, std::string> reservation_expiry_;
  std::set<std::string> active_;  ///< ledger keys
  /// Applied event ids ("E|<id>" in the changelog): id -> (expires, first offset).
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> events_;
  std::multimap<int64_t, std::string> event_expiry_;  ///< expires -> id (may hold stale pairs)
  int64_t stream_time_ms_ = -1;
  int64_t last_tick_offset_ = -1;
};

}  // namespace cf
