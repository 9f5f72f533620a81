#pragma once
// The gateway's fan-out as plain code (no sockets, no Kafka): the recent
// records of realtime.push per partition, the subscribers per creator, and
// what a resuming client gets.
//
// Cursor: "<partition>:<offset>" of realtime.push, the position of the last
// message a client applied. Every creator's messages are in one partition
// (the topic is keyed by creator), so one cursor says everything.
//
// Resume: the hub keeps the last `ring_capacity` records of each partition
// it read. A cursor inside that window gets every message of its creator
// after it, then live ones: no gap, no duplicate (one thread publishes and
// subscribes). A cursor older than the window (or than the log) gets a full
// snapshot from the read models, marked as such, then live messages. A
// cursor ahead of what this gateway has read (the client came from a faster
// gateway, or this one has just started and not read that partition yet) is
// honoured by skipping messages up to it; if the first record the hub then
// reads of that partition is past the cursor's next offset, the client would
// have missed some: it gets a snapshot instead. So does a cursor naming
// another partition than its creator's (not a position in its stream).
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace cf {

struct PushCursor {
  int32_t partition = -1;
  int64_t offset = -1;
  std::string text() const;
};
/// nullopt unless `text` is "<partition>:<offset>" with both in range.
std::optional<PushCursor> parse_cursor(std::string_view text);

/// One message for a client: the record's value with its cursor.
struct HubMessage {
  PushCursor cursor;
  std::string channel;
  std::string value;  ///< the realtime.push record (JSON)
};

class FanoutHub {
 public:
  using SubscriberId = uint64_t;
  explicit FanoutHub(size_t ring_capacity) : ring_capacity_(ring_capacity) {}

  struct Delivery {
    std::vector<SubscriberId> to;  ///< those of its creator, past their cursor
    /// Subscribers whose cursor turned out to be older than what this hub
    /// read of the partition: they need a snapshot (then get this message).
    std::vector<SubscriberId> snapshot;
  };
  /// A record read from realtime.push (offsets ascend per partition).
  Delivery publish(const HubMessage& message, const std::string& creator);

  enum class Start { kReplay, kSnapshot };
  struct Subscription {
    Start start = Start::kSnapshot;
    std::vector<HubMessage> replay;  ///< kReplay: the creator's messages after the cursor
  };
  /// Subscribes `id` to `creator`'s messages; `cursor` is where it resumes.
  Subscription subscribe(SubscriberId id, const std::string& creator,
                         const std::optional<PushCursor>& cursor);
  void unsubscribe(SubscriberId id);

  /// The first offset the hub still holds of a partition (-1: none read).
  int64_t first_held(int32_t partition) const;
  size_t subscribers() const { return by_id_.size(); }

 private:
  struct Held {
    int64_t offset;
    std::string creator;
    HubMessage message;
  };
  struct Subscriber {
    std::string creator;
    int32_t partition = -1;   ///< -1 until its creator's partition is known
    int64_t skip_until = -1;  ///< messages at or below this offset were applied already
    /// False while its cursor's partition has not been read yet (a gateway
    /// just started): the first record read of it says whether the cursor
    /// is inside what the hub reads, or older (then a snapshot).
    bool verified = true;
  };
  size_t ring_capacity_;
  std::map<int32_t, std::deque<Held>> rings_;
  std::map<int32_t, int64_t> next_offset_;  ///< per partition: the offset after the last read
  std::map<SubscriberId, Subscriber> by_id_;
  std::map<std::string, std::set<SubscriberId>> by_creator_;
};

}  // namespace cf
