#include "cf/state_store.h"

#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>

#include "cf/binary_codec.h"
#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/worker.h"

namespace cf {

TtlDedupStore::TtlDedupStore(std::string changelog_topic, int32_t partition, std::string key_prefix,
                             int64_t ttl_ms)
    : changelog_topic_(std::move(changelog_topic)),
      partition_(partition),
      key_prefix_(std::move(key_prefix)),
      ttl_ms_(ttl_ms),
      hashes_(1024, 0),
      offsets_(1024, 0),
      expires_s_(1024, 0) {}

namespace {
// Changelog value: expiry (ms), input offset of the first sighting.
std::string encode(int64_t expires_at, int64_t offset) {
  return encode_integers({expires_at, offset});
}
uint32_t to_seconds(int64_t ms) {
  int64_t s = (ms + 999) / 1000;
  return static_cast<uint32_t>(std::clamp<int64_t>(s, 0, UINT32_MAX));
}
}  // namespace

uint64_t TtlDedupStore::id_hash(std::string_view id) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), digest);
  uint64_t h = 0;
  std::memcpy(&h, digest, sizeof h);
  return h == 0 ? 1 : h;
}

std::string TtlDedupStore::changelog_key(uint64_t hash) const {
  static const char kHex[] = "0123456789abcdef";
  std::string key = key_prefix_;
  for (int i = 15; i >= 0; --i) key += kHex[(hash >> (4 * i)) & 15];
  return key;
}

size_t TtlDedupStore::slot_of(uint64_t hash) const {
  const size_t mask = hashes_.size() - 1;
  size_t i = static_cast<size_t>(hash) & mask;
  while (hashes_[i] != 0 && hashes_[i] != hash) i = (i + 1) & mask;
  return i;
}

void TtlDedupStore::grow() {
  std::vector<uint64_t> hashes(hashes_.size() * 2, 0);
  std::vector<int64_t> offsets(hashes.size(), 0);
  std::vector<uint32_t> expires(hashes.size(), 0);
  hashes.swap(hashes_);
  offsets.swap(offsets_);
  expires.swap(expires_s_);
  live_ = 0;
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (hashes[i] != 0) insert(hashes[i], offsets[i], expires[i]);
  }
}

void TtlDedupStore::insert(uint64_t hash, int64_t offset, uint32_t expires_s) {
  if ((live_ + 1) * 100 > hashes_.size() * 85) grow();
  size_t i = slot_of(hash);
  if (hashes_[i] == 0) ++live_;
  hashes_[i] = hash;
  offsets_[i] = offset;
  expires_s_[i] = expires_s;
}

// Backward-shift deletion keeps every probe chain unbroken without tombstones.
void TtlDedupStore::erase_slot(size_t slot) {
  const size_t mask = hashes_.size() - 1;
  size_t hole = slot;
  for (size_t i = (slot + 1) & mask; hashes_[i] != 0; i = (i + 1) & mask) {
    size_t home = static_cast<size_t>(hashes_[i]) & mask;
    // Move i into the hole unless its home lies cyclically in (hole, i].
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (stays) continue;
    hashes_[hole] = hashes_[i];
    offsets_[hole] = offsets_[i];
    expires_s_[hole] = expires_s_[i];
    hole = i;
  }
  hashes_[hole] = 0;
  --live_;
}

size_t TtlDedupStore::memory_bytes() const {
  // libstdc++'s deque: 512-byte blocks plus a map of block pointers.
  const size_t per_block = 512 / sizeof(Due);
  const size_t blocks = due_.size() / per_block + 1;
  return hashes_.capacity() * sizeof(uint64_t) + offsets_.capacity() * sizeof(int64_t) +
         expires_s_.capacity() * sizeof(uint32_t) + blocks * (512 + 2 * sizeof(void*));
}

DedupVerdict TtlDedupStore::check(std::string_view id, int64_t event_time_ms, int64_t offset,
                                  std::vector<OutputRecord>& outputs) {
  if (event_time_ms > stream_time_ms_) stream_time_ms_ = event_time_ms;
  expire(outputs);
  const uint64_t hash = id_hash(id);
  size_t slot = slot_of(hash);
  if (hashes_[slot] == hash) {
    return offsets_[slot] == offset ? DedupVerdict::kReplay : DedupVerdict::kDuplicate;
  }
  // A late event is remembered for a full TTL from the current stream time;
  // expiring it at once would let its own duplicate through. Expiries are
  // therefore non-decreasing in processing order, which keeps due_ sorted.
  const int64_t expires_at = std::max(event_time_ms, stream_time_ms_) + ttl_ms_;
  const uint32_t expires_s = to_seconds(expires_at);
  insert(hash, offset, expires_s);
  due_.push_back({expires_s, static_cast<uint32_t>(hash), static_cast<uint32_t>(hash >> 32)});
  outputs.push_back(
      {changelog_topic_, changelog_key(hash), encode(expires_at, offset), {}, partition_});
  return DedupVerdict::kFirst;
}

void TtlDedupStore::expire(std::vector<OutputRecord>& outputs) {
  while (!due_.empty() && static_cast<int64_t>(due_.front().expires_s) * 1000 <= stream_time_ms_) {
    const Due d = due_.front();
    due_.pop_front();
    const uint64_t hash = (static_cast<uint64_t>(d.hash_high) << 32) | d.hash_low;
    size_t slot = slot_of(hash);
    // Only the live sighting expires (an id may have been recorded again).
    if (hashes_[slot] == hash && expires_s_[slot] == d.expires_s) {
      erase_slot(slot);
      outputs.push_back({changelog_topic_, changelog_key(hash), {}, {}, partition_, true});
    }
  }
}

namespace {
constexpr std::string_view kStreamTimeKey = "stream-time";
}

bool TtlDedupStore::apply_changelog(std::string_view key, const std::string_view* value) {
  if (key.substr(0, key_prefix_.size()) != key_prefix_) return false;
  std::string_view hex = key.substr(key_prefix_.size());
  if (hex == kStreamTimeKey) {
    int64_t ms = 0;
    if (value != nullptr && decode_integers(*value, &ms, 1) && ms > stream_time_ms_) {
      stream_time_ms_ = ms;
    }
    return true;
  }
  uint64_t hash = 0;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), hash, 16);
  if (ec != std::errc() || end != hex.data() + hex.size() || hex.size() != 16 || hash == 0) {
    return true;  // ours, but not a record this store wrote: ignored
  }
  if (value == nullptr) {
    size_t slot = slot_of(hash);
    if (hashes_[slot] == hash) erase_slot(slot);
    return true;
  }
  // A snapshot's entry carries a third field, 1: its expiry is in seconds
  // (what the table keeps), and the stream time comes from the snapshot's
  // stream-time record; a changelog record's exact expiry (ms) gives the
  // stream time it was written at.
  // Changelog records (the many) are tried first.
  int64_t fields[3] = {0, 0, 0};
  const bool from_changelog = decode_integers(*value, fields, 2);
  const bool from_snapshot =
      !from_changelog && decode_integers(*value, fields, 3) && fields[2] == 1;
  if (!from_changelog && !from_snapshot) return true;
  const int64_t expires_at = fields[0], offset = fields[1];
  const uint32_t expires_s =
      from_snapshot ? static_cast<uint32_t>(std::clamp<int64_t>(expires_at, 0, UINT32_MAX))
                    : to_seconds(expires_at);
  insert(hash, offset, expires_s);
  // Changelog order is write order, whose expiries never decrease; a snapshot
  // lists its entries in expiry order.
  due_.push_back({expires_s, static_cast<uint32_t>(hash), static_cast<uint32_t>(hash >> 32)});
  if (!from_snapshot && expires_at - ttl_ms_ > stream_time_ms_)
    stream_time_ms_ = expires_at - ttl_ms_;
  return true;
}

void TtlDedupStore::for_each_record(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  visit(key_prefix_ + std::string(kStreamTimeKey), encode_integers({stream_time_ms_}));
  for_each_live([&](uint64_t hash, size_t slot) {
    visit(changelog_key(hash), encode_integers({expires_s_[slot], offsets_[slot], 1}));
  });
}

size_t TtlDedupStore::record_count() const {
  size_t n = 1;  // the stream time
  for_each_live([&](uint64_t, size_t) { ++n; });
  return n;
}

void TtlDedupStore::for_each_live(const std::function<void(uint64_t, size_t)>& visit) const {
  // The expiry queue is in expiry order; it may name ids erased or recorded
  // again since (only the entry whose expiry matches the live one counts),
  // and a restore that replayed records twice may name one twice.
  std::vector<bool> visited(hashes_.size(), false);
  for (const Due& d : due_) {
    const uint64_t hash = (static_cast<uint64_t>(d.hash_high) << 32) | d.hash_low;
    const size_t slot = slot_of(hash);
    if (hashes_[slot] != hash || expires_s_[slot] != d.expires_s || visited[slot]) continue;
    visited[slot] = true;
    visit(hash, slot);
  }
}

void TtlDedupStore::clear() {
  std::fill(hashes_.begin(), hashes_.end(), 0);
  live_ = 0;
  due_.clear();
  stream_time_ms_ = 0;
}

DedupPartition::DedupPartition(std::string changelog_topic, int32_t partition, int64_t ttl_ms)
    : changelog_topic_(std::move(changelog_topic)), partition_(partition), ttl_ms_(ttl_ms) {}

TtlDedupStore& DedupPartition::store(std::string_view input_topic) {
  auto it = stores_.find(input_topic);
  if (it == stores_.end()) {
    it = stores_
             .emplace(std::string(input_topic),
                      std::make_unique<TtlDedupStore>(changelog_topic_, partition_,
                                                      std::string(input_topic) + "|", ttl_ms_))
             .first;
  }
  return *it->second;
}

void DedupPartition::apply_encoded(std::string_view key, const std::string_view* value) {
  // Kafka topic names have no '|': the prefix is everything before the first one.
  const size_t bar = key.find('|');
  if (bar == std::string_view::npos || bar == 0) return;  // not a record of this store
  store(key.substr(0, bar)).apply_changelog(key, value);
}

void DedupPartition::for_each_encoded(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  for (const auto& [topic, store] : stores_) store->for_each_record(visit);
}

size_t DedupPartition::size() const {
  size_t n = 0;
  for (const auto& [topic, store] : stores_) n += store->size();
  return n;
}

size_t DedupPartition::encoded_count() const {
  size_t n = 0;
  for (const auto& [topic, store] : stores_) n += store->record_count();
  return n;
}

size_t DedupPartition::memory_bytes() const {
  size_t n = 0;
  for (const auto& [topic, store] : stores_) n += store->memory_bytes();
  return n;
}

}  // namespace cf
