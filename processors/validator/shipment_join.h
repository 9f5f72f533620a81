#pragma once
// Carriers' tracking updates joined to their orders. An AfterShip update
// names a tracking number, never our order or creator; the order saga writes
// each label it has made to shipping.labels, keyed by that number and so
// co-partitioned with webhooks.shipping.raw. Per partition the validator
// keeps, beside its dedup state and in the same changelog:
//
//   join|label|<number>  the label (creator, channel, order), and the events
//                        released when it arrived (replayed if its input is
//                        read again after a crash)
//   join|wait|<number>   updates that arrived before their label (at most
//                        kMaxWaiting per number), each with its input offset
//
// An update whose label is known becomes a shipment.tracking_updated event at
// once; one that comes first waits and is released, in arrival order, by the
// label. Either order of the two inputs ends in the same events (same ids).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/records.h"
#include "cf/state_store.h"
#include "webhook_validator.h"

namespace cf {

inline constexpr size_t kMaxWaiting = 16;  ///< updates kept per unknown number

struct WaitingUpdate {
  int64_t offset = -1;  ///< its input offset on webhooks.shipping.raw
  ShipmentUpdate update;
};

struct LabelEntry {
  ShipmentLabel label;
  int64_t offset = -1;                ///< its input offset on shipping.labels
  std::vector<DomainEvent> released;  ///< the waiting updates it released
};

/// What joining one input did.
struct JoinResult {
  std::vector<DomainEvent> events;  ///< to emit now
  bool refused = false;             ///< an update over kMaxWaiting for its number
};

/// The join's state of one partition (plain code over maps; changelog writes
/// go to `outputs` like every keyed store's).
class ShipmentJoin {
 public:
  ShipmentJoin(std::string changelog_topic, int32_t partition)
      : changelog_topic_(std::move(changelog_topic)), partition_(partition) {}
  /// A valid update at `offset`: its event if the label is known, else it waits.
  JoinResult on_update(const ShipmentUpdate& update, int64_t offset,
                       std::vector<OutputRecord>& outputs);
  /// A label at `offset`: releases the updates waiting for it.
  JoinResult on_label(const ShipmentLabel& label, int64_t offset,
                      std::vector<OutputRecord>& outputs);

  /// Changelog records of this store start with "join|".
  static bool owns(std::string_view key) { return key.substr(0, 5) == "join|"; }
  void apply_encoded(std::string_view key, const std::string_view* value);
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const;
  size_t size() const { return labels_.size() + waiting_.size(); }
  size_t waiting_numbers() const { return waiting_.size(); }
  void clear() {
    labels_.clear();
    waiting_.clear();
  }

 private:
  void write(const std::string& key, std::string value, std::vector<OutputRecord>& outputs);
  std::string changelog_topic_;
  int32_t partition_;
  std::unordered_map<std::string, LabelEntry> labels_;                   ///< by number
  std::unordered_map<std::string, std::vector<WaitingUpdate>> waiting_;  ///< by number
};

std::string encode_label_entry(const LabelEntry& entry);
bool decode_label_entry(std::string_view value, LabelEntry& entry);
std::string encode_waiting(const std::vector<WaitingUpdate>& waiting);
bool decode_waiting(std::string_view value, std::vector<WaitingUpdate>& waiting);

/// The validator's state of one partition: dedup ids and the shipment join,
/// restored, fenced and snapshotted together on validator.dedup.changelog.
class ValidatorPartition final : public RestorableStore {
 public:
  ValidatorPartition(const std::string& changelog_topic, int32_t partition, int64_t ttl_ms)
      : dedup_(changelog_topic, partition, ttl_ms), join_(changelog_topic, partition) {}
  DedupPartition& dedup() { return dedup_; }
  ShipmentJoin& join() { return join_; }
  void apply_encoded(std::string_view key, const std::string_view* value) override;
  void for_each_encoded(
      const std::function<void(const std::string&, const std::string&)>& visit) const override;
  size_t size() const override { return dedup_.size() + join_.size(); }
  size_t encoded_count() const override { return dedup_.encoded_count() + join_.size(); }
  void clear() override {
    dedup_.clear();
    join_.clear();
  }

 private:
  DedupPartition dedup_;
  ShipmentJoin join_;
};

}  // namespace cf
