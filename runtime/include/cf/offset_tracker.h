#pragma once
// Offset bookkeeping of one input partition, as plain code (no Kafka): which
// offset may be committed when the outputs of many inputs are acknowledged in
// any order. An input's offset is committable once every output of it and of
// every earlier input is acknowledged or given up (replaced by a dead letter
// that was acknowledged). An input whose output failed for good never
// completes: the commit position stays before it, so a restart reads it
// again (repeats, never loss).
#include <cstdint>
#include <deque>
#include <string>

namespace cf {

class OffsetTracker {
 public:
  /// One input read and not yet complete. The reference stays valid until it
  /// completes (it is the producer's delivery token for its outputs).
  struct Input {
    OffsetTracker* tracker = nullptr;
    int64_t offset = 0;
    uint32_t remaining = 0;        ///< outputs not yet acknowledged or given up
    int64_t bytes = 0;             ///< size of its outputs, for backpressure
    bool failed = false;           ///< an output failed for good: never completes
    int refusals = 0;              ///< deliveries of its outputs the broker refused
    bool dead_lettered = false;    ///< given up after refusals: dead letter sent
    int dead_letter_refusals = 0;  ///< deliveries of that dead letter refused
  };

  /// What an acknowledgement changed.
  struct Progress {
    int64_t completed = 0;  ///< inputs completed now, in offset order
    bool store = false;     ///< the commit position moved and the partition is still owned
  };

  OffsetTracker(std::string topic, int32_t partition)
      : topic_(std::move(topic)), partition_(partition) {}
  OffsetTracker(const OffsetTracker&) = delete;
  OffsetTracker& operator=(const OffsetTracker&) = delete;

  /// An input was read and handled into `outputs` outputs of `bytes` bytes.
  /// Inputs must be read in increasing offset order.
  Input& read(int64_t offset, uint32_t outputs, int64_t bytes);
  /// One more output for `input` (a dead letter in place of a refused output).
  void add_output(Input& input) { ++input.remaining; }
  /// `n` outputs of `input` are done: acknowledged, or given up and replaced.
  Progress done(Input& input, uint32_t n = 1);
  /// An output of `input` failed for good: the commit position never passes it.
  void fail(Input& input) { input.failed = true; }
  /// The partition was revoked or lost: deliveries still complete inputs (so
  /// the tracker can be released) but the position is no longer to be stored.
  void retire() { retired_ = true; }

  /// Offset to commit (the next one to read), -1 while nothing completed.
  int64_t commit_position() const { return commit_position_; }
  int64_t unacknowledged_bytes() const { return unacknowledged_bytes_; }
  size_t pending() const { return pending_.size(); }
  bool idle() const { return pending_.empty(); }
  bool retired() const { return retired_; }
  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }

 private:
  Progress complete_front();

  std::string topic_;
  int32_t partition_;
  std::deque<Input> pending_;  // offset order; push_back/pop_front keep references valid
  int64_t commit_position_ = -1;
  int64_t unacknowledged_bytes_ = 0;
  bool retired_ = false;
};

}  // namespace cf
