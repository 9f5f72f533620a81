#include "inventory_state.h"

#include <charconv>

#include "cf/binary_codec.h"

namespace cf {
namespace {

bool parse_int(std::string_view text, int64_t& out) {
  return !text.empty() &&
         std::from_chars(text.data(), text.data() + text.size(), out).ec == std::errc() &&
         std::from_chars(text.data(), text.data() + text.size(), out).ptr ==
             text.data() + text.size();
}

// Splits "<creator>|<rest>" (creator ids never contain '|': they come from the directory).
bool split_creator(std::string_view key, std::string_view& creator, std::string_view& rest) {
  auto bar = key.find('|');
  if (bar == std::string_view::npos) return false;
  creator = key.substr(0, bar);
  rest = key.substr(bar + 1);
  return true;
}

std::string encode_reservation(const Reservation& r) {
  std::string out;
  BinaryWriter(out)
      .integer(r.finished_ms)
      .bytes(r.product_sku)
      .integer(r.quantity)
      .bytes(r.status)
      .bytes(r.last_command_id)
      .bytes(r.last_reply);
  return out;
}

bool decode_reservation(std::string_view text, Reservation& r) {
  if (is_binary_state(text)) {
    BinaryReader in(text);
    return in.integer(r.finished_ms) && in.bytes(r.product_sku) && in.integer(r.quantity) &&
           in.bytes(r.status) && in.bytes(r.last_command_id) && in.bytes(r.last_reply) &&
           in.at_end();
  }
  // Written by earlier versions: ["v2|<finished>|"]<sku
  // size>|<sku>|<quantity>|<status>|<command>|<reply>.
  r.finished_ms = -1;
  if (text.substr(0, 3) == "v2|") {
    text.remove_prefix(3);
    auto bar = text.find('|');
    if (bar == std::string_view::npos || !parse_int(text.substr(0, bar), r.finished_ms) ||
        r.finished_ms < -1) {
      return false;
    }
    text.remove_prefix(bar + 1);
  }
  auto bar = text.find('|');
  int64_t sku_size = 0;
  if (bar == std::string_view::npos || !parse_int(text.substr(0, bar), sku_size) || sku_size < 0)
    return false;
  text.remove_prefix(bar + 1);
  if (static_cast<int64_t>(text.size()) < sku_size + 1) return false;
  r.product_sku = std::string(text.substr(0, static_cast<size_t>(sku_size)));
  text.remove_prefix(static_cast<size_t>(sku_size) + 1);
  std::string_view parts[3];
  for (auto& part : parts) {
    bar = text.find('|');
    if (bar == std::string_view::npos) return false;
    part = text.substr(0, bar);
    text.remove_prefix(bar + 1);
  }
  if (!parse_int(parts[0], r.quantity)) return false;
  r.status = std::string(parts[1]);
  r.last_command_id = std::string(parts[2]);
  r.last_reply = std::string(text);
  return true;
}

}  // namespace

std::string ledger_key(std::string_view creator, std::string_view sku) {
  std::string key;
  key.reserve(3 + creator.size() + sku.size());
  key.append("L|").append(creator).append("|").append(sku);
  return key;
}

std::string bucket_key(std::string_view creator, std::string_view sku, int64_t minute) {
  std::string key;
  key.reserve(16 + creator.size() + sku.size());
  key.append("B|").append(creator).append("|").append(sku).append("|").append(
      std::to_string(minute));
  return key;
}

std::string reservation_key(std::string_view creator, std::string_view reservation_id) {
  return "R|" + std::string(creator) + "|" + std::string(reservation_id);
}

std::string encode_ledger(const SkuLedger& l) {
  std::string out;
  BinaryWriter w(out);
  for (int64_t v :
       {l.total, l.reserved, l.sold, l.last_set_ms, l.last_event_ms, l.version, l.applied_offset,
        l.emitted_ms, l.emitted_version, l.emitted_sales_1h, l.emitted_sales_24h}) {
    w.integer(v);
  }
  w.count(l.recent.size());
  for (const auto& [at, units] : l.recent) w.integer(at).integer(units);
  return out;
}

bool decode_ledger(std::string_view text, SkuLedger& l) {
  int64_t* fields[] = {&l.total,
                       &l.reserved,
                       &l.sold,
                       &l.last_set_ms,
                       &l.last_event_ms,
                       &l.version,
                       &l.applied_offset,
                       &l.emitted_ms,
                       &l.emitted_version,
                       &l.emitted_sales_1h,
                       &l.emitted_sales_24h};
  if (is_binary_state(text)) {
    BinaryReader in(text);
    for (int64_t* field : fields) {
      if (!in.integer(*field)) return false;
    }
    uint64_t recent = 0;
    if (!in.count(recent, text.size())) return false;
    l.recent.clear();
    for (uint64_t i = 0; i < recent; ++i) {
      int64_t at = 0, units = 0;
      if (!in.integer(at) || !in.integer(units)) return false;
      l.recent[at] = units;
    }
    return in.at_end();
  }
  // Written by earlier versions: "1|<fields>|<at>:<units>,...".
  if (text.substr(0, 2) != "1|") return false;
  text.remove_prefix(2);
  for (size_t i = 0; i < std::size(fields); ++i) {
    auto bar = text.find('|');
    std::string_view part = bar == std::string_view::npos ? text : text.substr(0, bar);
    if (!parse_int(part, *fields[i])) return false;
    if (bar == std::string_view::npos) return i + 1 == std::size(fields);
    text.remove_prefix(bar + 1);
  }
  l.recent.clear();
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    auto colon = entry.find(':');
    int64_t at = 0, units = 0;
    if (colon == std::string_view::npos || !parse_int(entry.substr(0, colon), at) ||
        !parse_int(entry.substr(colon + 1), units)) {
      return false;
    }
    l.recent[at] = units;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return true;
}

InventoryPartitionState::InventoryPartitionState(std::string changelog_topic, int32_t partition)
    : changelog_topic_(std::move(changelog_topic)), partition_(partition) {}

SkuLedger* InventoryPartitionState::find(const std::string& creator, const std::string& sku) {
  auto it = ledgers_.find(ledger_key(creator, sku));
  return it == ledgers_.end() ? nullptr : &it->second;
}

SkuLedger& InventoryPartitionState::ledger(const std::string& creator, const std::string& sku) {
  auto [it, inserted] = ledgers_.try_emplace(ledger_key(creator, sku));
  if (inserted) {
    it->second.creator_id = creator;
    it->second.product_sku = sku;
  }
  return it->second;
}

void InventoryPartitionState::persist_ledger(const SkuLedger& l,
                                             std::vector<OutputRecord>& outputs) {
  outputs.push_back({changelog_topic_,
                     ledger_key(l.creator_id, l.product_sku),
                     encode_ledger(l),
                     {},
                     partition_});
}

void InventoryPartitionState::add_sales(SkuLedger& l, int64_t minute, int64_t units, int64_t offset,
                                        std::vector<OutputRecord>& outputs) {
  auto applied = l.bucket_offsets.find(minute);
  if (applied != l.bucket_offsets.end() && offset <= applied->second)
    return;  // added before a crash
  int64_t& bucket = l.minute_sales[minute];
  bucket += units;
  l.bucket_offsets[minute] = offset;
  outputs.push_back({changelog_topic_,
                     bucket_key(l.creator_id, l.product_sku, minute),
                     encode_integers({bucket, offset}),
                     {},
                     partition_});
  active_.insert(ledger_key(l.creator_id, l.product_sku));
}

void InventoryPartitionState::expire_buckets(SkuLedger& l, int64_t oldest_excluded_minute,
                                             std::vector<OutputRecord>& outputs) {
  while (!l.minute_sales.empty() && l.minute_sales.begin()->first <= oldest_excluded_minute) {
    outputs.push_back({changelog_topic_,
                       bucket_key(l.creator_id, l.product_sku, l.minute_sales.begin()->first),
                       {},
                       {},
                       partition_,
                       true});
    l.bucket_offsets.erase(l.minute_sales.begin()->first);
    l.minute_sales.erase(l.minute_sales.begin());
  }
}

Reservation* InventoryPartitionState::reservation(const std::string& creator,
                                                  const std::string& id) {
  auto it = reservations_.find(reservation_key(creator, id));
  return it == reservations_.end() ? nullptr : &it->second;
}

void InventoryPartitionState::put_reservation(const std::string& creator, const std::string& id,
                                              Reservation value,
                                              std::vector<OutputRecord>& outputs) {
  std::string key = reservation_key(creator, id);
  outputs.push_back({changelog_topic_, key, encode_reservation(value), {}, partition_});
  if (value.finished_ms >= 0) reservation_expiry_.emplace(value.finished_ms, key);
  reservations_[key] = std::move(value);
}

void InventoryPartitionState::expire_reservations(int64_t cutoff_ms,
                                                  std::vector<OutputRecord>& outputs) {
  while (!reservation_expiry_.empty() && reservation_expiry_.begin()->first <= cutoff_ms) {
    auto node = reservation_expiry_.extract(reservation_expiry_.begin());
    auto it = reservations_.find(node.mapped());
    // Only a finished reservation whose finish time is this one (it may
    // have been reserved again since).
    if (it == reservations_.end() || it->second.finished_ms != node.key() ||
        it->second.status == "reserved") {
      continue;
    }
    reservations_.erase(it);
    outputs.push_back({changelog_topic_, node.mapped(), {}, {}, partition_, true});
  }
}

int64_t InventoryPartitionState::applied_event_offset(std::string_view event_id) const {
  auto it = events_.find(std::string(event_id));
  return it == events_.end() ? -1 : it->second.second;
}

void InventoryPartitionState::remember_event(std::string_view event_id, int64_t expires_ms,
                                             int64_t offset, std::vector<OutputRecord>& outputs) {
  std::string id(event_id);
  events_[id] = {expires_ms, offset};
  event_expiry_.emplace(expires_ms, id);
  outputs.push_back(
      {changelog_topic_, "E|" + id, encode_integers({expires_ms, offset}), {}, partition_});
}

void InventoryPartitionState::expire_events(int64_t stream_time_ms,
                                            std::vector<OutputRecord>& outputs) {
  while (!event_expiry_.empty() && event_expiry_.begin()->first <= stream_time_ms) {
    auto node = event_expiry_.extract(event_expiry_.begin());
    auto it = events_.find(node.mapped());
    if (it == events_.end() || it->second.first != node.key()) continue;  // re-remembered since
    events_.erase(it);
    outputs.push_back({changelog_topic_, "E|" + node.mapped(), {}, {}, partition_, true});
  }
}

void InventoryPartitionState::record_tick(int64_t offset, std::vector<OutputRecord>& outputs) {
  last_tick_offset_ = offset;
  outputs.push_back(
      {changelog_topic_, "S|", encode_integers({stream_time_ms_, offset}), {}, partition_});
}

void InventoryPartitionState::apply_encoded(std::string_view key, const std::string_view* value) {
  if (key.size() < 2 || key[1] != '|') return;
  std::string_view rest = key.substr(2);
  switch (key[0]) {
    case 'L': {
      std::string_view creator, sku;
      if (!split_creator(rest, creator, sku)) return;
      std::string map_key(key);
      if (value == nullptr) {
        ledgers_.erase(map_key);
        active_.erase(map_key);
        return;
      }
      SkuLedger& l = ledgers_[map_key];
      l.creator_id = std::string(creator);
      l.product_sku = std::string(sku);
      if (decode_ledger(*value, l)) {
        advance_stream_time(l.last_event_ms);
        if (l.emitted_version != l.version) active_.insert(map_key);
      }
      return;
    }
    case 'B': {
      auto bar = rest.rfind('|');
      std::string_view creator, sku;
      int64_t minute = 0;
      if (bar == std::string_view::npos || !parse_int(rest.substr(bar + 1), minute) ||
          !split_creator(rest.substr(0, bar), creator, sku)) {
        return;
      }
      std::string map_key = ledger_key(creator, sku);
      SkuLedger& l = ledgers_[map_key];
      l.creator_id = std::string(creator);
      l.product_sku = std::string(sku);
      // units, last input offset
      int64_t fields[2] = {0, -1};
      if (value == nullptr || !decode_integers(*value, fields, 2)) {
        l.minute_sales.erase(minute);
        l.bucket_offsets.erase(minute);
      } else {
        l.minute_sales[minute] = fields[0];
        l.bucket_offsets[minute] = fields[1];
        active_.insert(map_key);
      }
      return;
    }
    case 'R': {
      std::string map_key(key);
      Reservation r;
      if (value == nullptr) {
        reservations_.erase(map_key);
      } else if (decode_reservation(*value, r)) {
        if (r.finished_ms >= 0) reservation_expiry_.emplace(r.finished_ms, map_key);
        reservations_[map_key] = std::move(r);
      }
      return;
    }
    case 'E': {
      std::string id(rest);
      int64_t fields[2] = {0, -1};  // expires, first offset
      if (value == nullptr || !decode_integers(*value, fields, 2)) {
        events_.erase(id);
      } else {
        events_[id] = {fields[0], fields[1]};
        event_expiry_.emplace(fields[0], id);
      }
      return;
    }
    case 'S': {
      if (value == nullptr) return;
      int64_t fields[2] = {0, 0};  // stream time, last tick offset
      if (decode_integers(*value, fields, 2)) {
        advance_stream_time(fields[0]);
        last_tick_offset_ = std::max(last_tick_offset_, fields[1]);
      }
      return;
    }
    default:
      return;
  }
}

void InventoryPartitionState::for_each_encoded(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  for (const auto& [key, l] : ledgers_) {
    visit(key, encode_ledger(l));
    for (const auto& [minute, units] : l.minute_sales) {
      auto offset = l.bucket_offsets.find(minute);
      visit(bucket_key(l.creator_id, l.product_sku, minute),
            encode_integers({units, offset == l.bucket_offsets.end() ? -1 : offset->second}));
    }
  }
  for (const auto& [key, r] : reservations_) visit(key, encode_reservation(r));
  for (const auto& [id, e] : events_) visit("E|" + id, encode_integers({e.first, e.second}));
  visit("S|", encode_integers({stream_time_ms_, last_tick_offset_}));
}

size_t InventoryPartitionState::size() const {
  size_t n = ledgers_.size() + reservations_.size() + events_.size() + 1;
  for (const auto& [key, l] : ledgers_) n += l.minute_sales.size();
  return n;
}

void InventoryPartitionState::clear() {
  ledgers_.clear();
  reservations_.clear();
  reservation_expiry_.clear();
  active_.clear();
  events_.clear();
  event_expiry_.clear();
  stream_time_ms_ = -1;
  last_tick_offset_ = -1;
}

}  // namespace cf
