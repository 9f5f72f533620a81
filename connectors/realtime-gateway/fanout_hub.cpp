#include "fanout_hub.h"

#include <charconv>

namespace cf {

std::string PushCursor::text() const {
  return std::to_string(partition) + ":" + std::to_string(offset);
}

std::optional<PushCursor> parse_cursor(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || text.size() > 40) return std::nullopt;
  PushCursor c;
  auto p = std::from_chars(text.data(), text.data() + colon, c.partition);
  auto o = std::from_chars(text.data() + colon + 1, text.data() + text.size(), c.offset);
  if (p.ec != std::errc() || p.ptr != text.data() + colon || o.ec != std::errc() ||
      o.ptr != text.data() + text.size() || c.partition < 0 || c.partition > 100000 ||
      c.offset < 0) {
    return std::nullopt;
  }
  return c;
}

FanoutHub::Delivery FanoutHub::publish(const HubMessage& message, const std::string& creator) {
  const int32_t partition = message.cursor.partition;
  const int64_t offset = message.cursor.offset;
  auto& ring = rings_[partition];
  const bool first_of_partition = !next_offset_.count(partition);
  ring.push_back({offset, creator, message});
  while (ring.size() > ring_capacity_) ring.pop_front();
  next_offset_[partition] = offset + 1;
  Delivery out;
  if (first_of_partition) {
    // Cursors into this partition waited for its first record.
    for (auto& [id, s] : by_id_) {
      if (s.verified || s.partition != partition) continue;
      s.verified = true;
      if (offset > s.skip_until + 1) {
        out.snapshot.push_back(id);
        s.skip_until = -1;  // the snapshot replaces everything before this record
      }
    }
  }
  auto it = by_creator_.find(creator);
  if (it == by_creator_.end()) return out;
  for (SubscriberId id : it->second) {
    Subscriber& s = by_id_.at(id);
    if (s.partition >= 0 && s.partition != partition) {
      // The cursor named another partition than its creator's: it is not a
      // position in this creator's stream, so nothing after it is known.
      out.snapshot.push_back(id);
      s.skip_until = -1;
      s.verified = true;
    }
    if (s.partition != partition) s.partition = partition;
    if (offset <= s.skip_until) continue;
    out.to.push_back(id);
  }
  return out;
}

FanoutHub::Subscription FanoutHub::subscribe(SubscriberId id, const std::string& creator,
                                             const std::optional<PushCursor>& cursor) {
  Subscription out;
  Subscriber s;
  s.creator = creator;
  if (cursor) {
    auto ring = rings_.find(cursor->partition);
    const int64_t next =
        next_offset_.count(cursor->partition) ? next_offset_[cursor->partition] : -1;
    if (ring != rings_.end() && !ring->second.empty() &&
        ring->second.front().offset <= cursor->offset + 1) {
      // Inside the window: everything of this creator after the cursor.
      out.start = Start::kReplay;
      s.partition = cursor->partition;
      for (const auto& held : ring->second) {
        if (held.offset > cursor->offset && held.creator == creator)
          out.replay.push_back(held.message);
      }
      s.skip_until = cursor->offset;
    } else if (next >= 0 && cursor->offset + 1 >= next) {
      out.start = Start::kReplay;  // ahead of (or at) what this gateway read: skip to it
      s.partition = cursor->partition;
      s.skip_until = cursor->offset;
    } else if (next < 0) {
      // Nothing read from that partition yet (a gateway just started):
      // skip to the cursor, and check it against the first record read.
      out.start = Start::kReplay;
      s.partition = cursor->partition;
      s.skip_until = cursor->offset;
      s.verified = false;
    }
  }
  by_id_[id] = std::move(s);
  by_creator_[creator].insert(id);
  return out;
}

void FanoutHub::unsubscribe(SubscriberId id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto c = by_creator_.find(it->second.creator);
  if (c != by_creator_.end()) {
    c->second.erase(id);
    if (c->second.empty()) by_creator_.erase(c);
  }
  by_id_.erase(it);
}

int64_t FanoutHub::first_held(int32_t partition) const {
  auto it = rings_.find(partition);
  return it == rings_.end() || it->second.empty() ? -1 : it->second.front().offset;
}

}  // namespace cf
