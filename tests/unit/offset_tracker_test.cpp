// The worker's offset bookkeeping without Kafka: which offset may be
// committed after reads, acknowledgements in any order, refused outputs
// replaced by dead letters, failed deliveries and revokes mid-batch.
#include "cf/offset_tracker.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cf {
namespace {

enum class Op { kRead, kAck, kAddOutput, kFail, kRetire };

struct Step {
  Op op;
  int64_t offset = 0;
  uint32_t n = 0;     // read: outputs; ack: outputs done
  int64_t bytes = 0;  // read: size of the outputs
  // After the step:
  int64_t commit = -1;    // commit_position()
  int64_t unacked = 0;    // unacknowledged_bytes()
  size_t pending = 0;     // inputs not complete
  bool store = false;     // ack: the position moved and is to be stored
  int64_t completed = 0;  // ack: inputs completed by this step
};

struct Case {
  const char* name;
  std::vector<Step> steps;
};

Step read(int64_t offset, uint32_t outputs, int64_t bytes, int64_t commit, int64_t unacked,
          size_t pending) {
  return {Op::kRead, offset, outputs, bytes, commit, unacked, pending};
}
Step ack(int64_t offset, uint32_t n, int64_t commit, int64_t unacked, size_t pending, bool store,
         int64_t completed) {
  return {Op::kAck, offset, n, 0, commit, unacked, pending, store, completed};
}
Step op(Op kind, int64_t offset, int64_t commit, int64_t unacked, size_t pending) {
  return {kind, offset, 0, 0, commit, unacked, pending};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"acknowledged in order",
       {read(10, 2, 100, -1, 100, 1), read(11, 1, 50, -1, 150, 2), ack(10, 1, -1, 150, 2, false, 0),
        ack(10, 1, 11, 50, 1, true, 1), ack(11, 1, 12, 0, 0, true, 1)}},
      {"acknowledged out of order: the position waits for the oldest input",
       {read(10, 1, 10, -1, 10, 1), read(11, 1, 10, -1, 20, 2), read(12, 1, 10, -1, 30, 3),
        ack(12, 1, -1, 30, 3, false, 0), ack(11, 1, -1, 30, 3, false, 0),
        ack(10, 1, 13, 0, 0, true, 3)}},
      {"an input without outputs completes at once",
       {read(5, 0, 0, -1, 0, 1), ack(5, 0, 6, 0, 0, true, 1)}},
      {"offsets with gaps (compacted topic, transaction markers)",
       {read(10, 1, 5, -1, 5, 1), read(15, 1, 5, -1, 10, 2), ack(15, 1, -1, 10, 2, false, 0),
        ack(10, 1, 16, 0, 0, true, 2)}},
      {"a failed delivery blocks the position for good",
       {read(10, 1, 5, -1, 5, 1), read(11, 1, 5, -1, 10, 2), op(Op::kFail, 10, -1, 10, 2),
        ack(11, 1, -1, 10, 2, false, 0)}},
      {"a refused output replaced by an acknowledged dead letter",
       {read(10, 2, 40, -1, 40, 1), ack(10, 1, -1, 40, 1, false, 0),
        op(Op::kAddOutput, 10, -1, 40, 1), ack(10, 1, -1, 40, 1, false, 0),
        ack(10, 1, 11, 0, 0, true, 1)}},
      {"a dead letter that cannot be sent either: never committed",
       {read(10, 1, 5, -1, 5, 1), read(11, 1, 5, -1, 10, 2), op(Op::kAddOutput, 10, -1, 10, 2),
        op(Op::kFail, 10, -1, 10, 2), ack(10, 1, -1, 10, 2, false, 0),
        ack(10, 1, -1, 10, 2, false, 0), ack(11, 1, -1, 10, 2, false, 0)}},
      {"revoked mid-batch: later acknowledgements complete inputs but store nothing",
       {read(10, 1, 5, -1, 5, 1), read(11, 2, 5, -1, 10, 2), ack(10, 1, 11, 5, 1, true, 1),
        op(Op::kRetire, 0, 11, 5, 1), ack(11, 1, 11, 5, 1, false, 0),
        ack(11, 1, 12, 0, 0, false, 1)}},
  };
  return all;
}

class OffsetTrackerTable : public ::testing::TestWithParam<size_t> {};

TEST_P(OffsetTrackerTable, FollowsTheTable) {
  const Case& c = cases()[GetParam()];
  OffsetTracker tracker("orders.events", 3);
  std::map<int64_t, OffsetTracker::Input*> inputs;
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    SCOPED_TRACE(std::string(c.name) + ", step " + std::to_string(i + 1));
    switch (s.op) {
      case Op::kRead: {
        auto& input = tracker.read(s.offset, s.n, s.bytes);
        EXPECT_EQ(input.tracker, &tracker);
        inputs[s.offset] = &input;
        break;
      }
      case Op::kAck: {
        auto progress = tracker.done(*inputs.at(s.offset), s.n);
        EXPECT_EQ(progress.store, s.store);
        EXPECT_EQ(progress.completed, s.completed);
        break;
      }
      case Op::kAddOutput:
        tracker.add_output(*inputs.at(s.offset));
        break;
      case Op::kFail:
        tracker.fail(*inputs.at(s.offset));
        break;
      case Op::kRetire:
        tracker.retire();
        break;
    }
    EXPECT_EQ(tracker.commit_position(), s.commit);
    EXPECT_EQ(tracker.unacknowledged_bytes(), s.unacked);
    EXPECT_EQ(tracker.pending(), s.pending);
    EXPECT_EQ(tracker.idle(), s.pending == 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, OffsetTrackerTable, ::testing::Range<size_t>(0, cases().size()));

TEST(OffsetTracker, RefusesReadsOutOfOrderAndExtraAcknowledgements) {
  OffsetTracker tracker("orders.events", 0);
  auto& first = tracker.read(7, 1, 1);
  EXPECT_THROW(tracker.read(7, 1, 1), std::logic_error);
  EXPECT_THROW(tracker.read(3, 1, 1), std::logic_error);
  EXPECT_THROW(tracker.done(first, 2), std::logic_error);
  EXPECT_EQ(tracker.commit_position(), -1);
  tracker.done(first, 1);
  EXPECT_EQ(tracker.commit_position(), 8);
}

}  // namespace
}  // namespace cf
