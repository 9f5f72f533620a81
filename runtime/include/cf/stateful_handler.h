#pragma once
// The glue every stateful processor needs between the runtime and its
// transform: per-partition state restored on assignment and snapshotted on
// revocation, completed offsets tracked for output journals, periodic
// snapshots and metric export. The transform stays a plain function.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/worker.h"

namespace cf {

template <class Store>
class StatefulHandler : public RecordHandler {
 public:
  /// Applies one input to its partition's store; `completed_below` is the
  /// first offset of the input's topic-partition whose outputs may still be
  /// unacknowledged.
  using Apply = std::function<void(Store& store, const InputRecord& input, int64_t completed_below,
                                   std::vector<OutputRecord>& outputs)>;

  StatefulHandler(StateOptions state, Apply apply, std::function<void()> export_metrics = {},
                  typename PartitionedState<Store>::Factory factory = {})
      : state_(std::move(state), std::move(factory)),
        apply_(std::move(apply)),
        export_metrics_(std::move(export_metrics)) {}

  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    Store& store = state_.at(input.partition());
    apply_(store, input, completed_[{std::string(input.topic()), input.partition()}], outputs);
    // Every changelog write carries the epoch this instance claimed the
    // partition under (see keyed_state.h: fencing).
    const std::string epoch = std::to_string(store.epoch());
    for (auto& output : outputs) {
      if (output.topic == state_.options().changelog_topic)
        output.headers.push_back({kEpochHeader, epoch});
    }
  }
  // State is per partition number, shared by every input topic with that
  // number. Under cooperative rebalancing one input's partition may leave
  // while another's with the same number stays: the state is released (or
  // dropped) only when no input holds the number any more, else the records
  // still arriving for it would find no state (found by the fault campaign,
  // seed 1054: the validator dead-lettered them).
  void on_assigned(const std::vector<TopicPartition>& partitions) override {
    state_.restore(partition_numbers(partitions));
    for (const auto& tp : partitions) held_[tp.partition].insert(tp.topic);
  }
  void on_revoked(const std::vector<TopicPartition>& partitions) override {
    state_.release(no_longer_held(partitions));
  }
  void on_lost(const std::vector<TopicPartition>& partitions) override {
    state_.drop(no_longer_held(partitions));
  }
  void on_inputs_completed(std::string_view topic, int32_t partition,
                           int64_t next_offset) override {
    // Per input topic: a journal keyed by input offset belongs to one topic.
    completed_[{std::string(topic), partition}] = next_offset;
  }
  void on_output_delivered(std::string_view topic, int32_t partition, int64_t offset,
                           bool ok) override {
    if (topic != state_.options().changelog_topic) return;
    if (Store* store = state_.find(partition)) store->on_changelog_delivery(offset, ok);
  }
  void maintain(int64_t steady_now_ms, const std::function<bool()>& confirm_ownership,
                const std::function<bool()>& quiesce) override {
    state_.maybe_snapshot(steady_now_ms, confirm_ownership, quiesce);
    if (export_metrics_) export_metrics_();
  }
  PartitionedState<Store>& state() { return state_; }

 private:
  /// Forgets `partitions`; returns the partition numbers no input holds now.
  std::vector<int32_t> no_longer_held(const std::vector<TopicPartition>& partitions) {
    std::vector<int32_t> gone;
    for (const auto& tp : partitions) {
      auto it = held_.find(tp.partition);
      if (it == held_.end()) continue;
      it->second.erase(tp.topic);
      if (it->second.empty()) {
        held_.erase(it);
        gone.push_back(tp.partition);
      }
    }
    return gone;
  }

  PartitionedState<Store> state_;
  std::map<int32_t, std::set<std::string>> held_;  ///< partition number -> input topics holding it
  Apply apply_;
  std::function<void()> export_metrics_;
  std::map<std::pair<std::string, int32_t>, int64_t> completed_;  ///< (input topic, partition)
};

}  // namespace cf
