#include "cf/offset_tracker.h"

#include <stdexcept>

namespace cf {

OffsetTracker::Input& OffsetTracker::read(int64_t offset, uint32_t outputs, int64_t bytes) {
  if (!pending_.empty() && offset <= pending_.back().offset) {
    throw std::logic_error("offset tracker: " + topic_ + "/" + std::to_string(partition_) +
                           " read " + std::to_string(offset) + " after " +
                           std::to_string(pending_.back().offset));
  }
  Input& input = pending_.emplace_back();
  input.tracker = this;
  input.offset = offset;
  input.remaining = outputs;
  input.bytes = bytes;
  unacknowledged_bytes_ += bytes;
  return input;
}

OffsetTracker::Progress OffsetTracker::done(Input& input, uint32_t n) {
  if (n > input.remaining) {
    throw std::logic_error("offset tracker: " + topic_ + "/" + std::to_string(partition_) + "@" +
                           std::to_string(input.offset) + " acknowledged more outputs than it has");
  }
  input.remaining -= n;
  return complete_front();
}

OffsetTracker::Progress OffsetTracker::complete_front() {
  Progress progress;
  while (!pending_.empty() && pending_.front().remaining == 0 && !pending_.front().failed) {
    commit_position_ = pending_.front().offset + 1;
    unacknowledged_bytes_ -= pending_.front().bytes;
    pending_.pop_front();
    ++progress.completed;
  }
  progress.store = progress.completed > 0 && !retired_;
  return progress;
}

}  // namespace cf
