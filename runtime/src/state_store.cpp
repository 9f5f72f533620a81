#include "cf/state_store.h"

#include <chrono>
#include <map>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/worker.h"

namespace cf {

ChangelogStore::ChangelogStore(std::string changelog_topic, int32_t partition,
                               std::string key_prefix)
    : changelog_topic_(std::move(changelog_topic)),
      partition_(partition),
      key_prefix_(std::move(key_prefix)) {}

const std::string* ChangelogStore::get(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void ChangelogStore::put(const std::string& key, std::string value,
                         std::vector<OutputRecord>& outputs) {
  OutputRecord record{changelog_topic_, key_prefix_ + key, value, {}, partition_};
  outputs.push_back(std::move(record));
  entries_[key] = std::move(value);
}

void ChangelogStore::erase(const std::string& key, std::vector<OutputRecord>& outputs) {
  if (entries_.erase(key) == 0) return;
  OutputRecord tombstone{changelog_topic_, key_prefix_ + key, {}, {}, partition_, true};
  outputs.push_back(std::move(tombstone));
}

bool ChangelogStore::apply_changelog(std::string_view key, const std::string_view* value) {
  if (key.substr(0, key_prefix_.size()) != key_prefix_) return false;
  std::string local(key.substr(key_prefix_.size()));
  if (value == nullptr) {
    entries_.erase(local);
  } else {
    entries_[local] = std::string(*value);
  }
  return true;
}

TtlDedupStore::TtlDedupStore(std::string changelog_topic, int32_t partition,
                             std::string key_prefix, int64_t ttl_ms)
    : store_(std::move(changelog_topic), partition, std::move(key_prefix)), ttl_ms_(ttl_ms) {}

namespace {
// Stored value: "<expires_at_ms>|<input offset of first sighting>".
std::string encode(int64_t expires_at, int64_t offset) {
  return std::to_string(expires_at) + '|' + std::to_string(offset);
}
bool decode(std::string_view value, int64_t& expires_at, int64_t& offset) {
  auto bar = value.find('|');
  if (bar == std::string_view::npos) return false;
  try {
    expires_at = std::stoll(std::string(value.substr(0, bar)));
    offset = std::stoll(std::string(value.substr(bar + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}
}  // namespace

DedupVerdict TtlDedupStore::check(const std::string& id, int64_t event_time_ms, int64_t offset,
                                  std::vector<OutputRecord>& outputs) {
  if (event_time_ms > stream_time_ms_) stream_time_ms_ = event_time_ms;
  expire(outputs);
  if (const std::string* seen = store_.get(id)) {
    int64_t expires_at = 0, first_offset = -1;
    if (decode(*seen, expires_at, first_offset) && expires_at > stream_time_ms_) {
      return first_offset == offset ? DedupVerdict::kReplay : DedupVerdict::kDuplicate;
    }
  }
  // A late event is remembered for a full TTL from the current stream time;
  // expiring it at once would let its own duplicate through.
  int64_t expires_at = std::max(event_time_ms, stream_time_ms_) + ttl_ms_;
  store_.put(id, encode(expires_at, offset), outputs);
  expiry_.emplace(expires_at, id);
  return DedupVerdict::kFirst;
}

void TtlDedupStore::expire(std::vector<OutputRecord>& outputs) {
  while (!expiry_.empty() && expiry_.begin()->first <= stream_time_ms_) {
    auto node = expiry_.extract(expiry_.begin());
    const std::string* current = store_.get(node.mapped());
    int64_t expires_at = 0, offset = 0;
    // Only erase if this expiry entry is the live one (an id may be re-recorded).
    if (current && decode(*current, expires_at, offset) && expires_at == node.key()) {
      store_.erase(node.mapped(), outputs);
    }
  }
}

bool TtlDedupStore::apply_changelog(std::string_view key, const std::string_view* value) {
  if (!store_.apply_changelog(key, value)) return false;
  int64_t expires_at = 0, offset = 0;
  if (value && decode(*value, expires_at, offset)) {
    expiry_.emplace(expires_at, std::string(key.substr(store_.key_prefix().size())));
    if (expires_at - ttl_ms_ > stream_time_ms_) stream_time_ms_ = expires_at - ttl_ms_;
  }
  return true;
}

}  // namespace cf
