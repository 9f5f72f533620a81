#include "inventory_state.h"

#include <charconv>

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
  // The reply is JSON and goes last so it may contain '|'.
  return std::to_string(r.product_sku.size()) + "|" + r.product_sku + "|" +
         std::to_string(r.quantity) + "|" + r.status + "|" + r.last_command_id + "|" + r.last_reply;
}

bool decode_reservation(std::string_view text, Reservation& r) {
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
  std::string out = "1";
  for (int64_t v :
       {l.total, l.reserved, l.sold, l.last_set_ms, l.last_event_ms, l.version, l.applied_offset,
        l.emitted_ms, l.emitted_version, l.emitted_sales_1h, l.emitted_sales_24h}) {
    out += '|';
    out += std::to_string(v);
  }
  out += '|';
  bool first = true;
  for (const auto& [at, units] : l.recent) {
    if (!first) out += ',';
    first = false;
    out += std::to_string(at) + ':' + std::to_string(units);
  }
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
                     std::to_string(bucket) + "|" + std::to_string(offset),
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
  reservations_[key] = std::move(value);
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
  outputs.push_back({changelog_topic_,
                     "E|" + id,
                     std::to_string(expires_ms) + "|" + std::to_string(offset),
                     {},
                     partition_});
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
  outputs.push_back({changelog_topic_,
                     "S|",
                     std::to_string(stream_time_ms_) + "|" + std::to_string(offset),
                     {},
                     partition_});
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
      int64_t minute = 0, units = 0;
      if (bar == std::string_view::npos || !parse_int(rest.substr(bar + 1), minute) ||
          !split_creator(rest.substr(0, bar), creator, sku)) {
        return;
      }
      std::string map_key = ledger_key(creator, sku);
      SkuLedger& l = ledgers_[map_key];
      l.creator_id = std::string(creator);
      l.product_sku = std::string(sku);
      // "<units>|<last input offset>"
      int64_t offset = -1;
      auto sep = value ? value->find('|') : std::string_view::npos;
      if (value == nullptr || sep == std::string_view::npos ||
          !parse_int(value->substr(0, sep), units) || !parse_int(value->substr(sep + 1), offset)) {
        l.minute_sales.erase(minute);
        l.bucket_offsets.erase(minute);
      } else {
        l.minute_sales[minute] = units;
        l.bucket_offsets[minute] = offset;
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
        reservations_[map_key] = std::move(r);
      }
      return;
    }
    case 'E': {
      std::string id(rest);
      auto sep = value ? value->find('|') : std::string_view::npos;
      int64_t expires = 0, offset = -1;
      if (value == nullptr || sep == std::string_view::npos ||
          !parse_int(value->substr(0, sep), expires) ||
          !parse_int(value->substr(sep + 1), offset)) {
        events_.erase(id);
      } else {
        events_[id] = {expires, offset};
        event_expiry_.emplace(expires, id);
      }
      return;
    }
    case 'S': {
      if (value == nullptr) return;
      auto bar = value->find('|');
      int64_t stream = 0, offset = 0;
      if (bar != std::string_view::npos && parse_int(value->substr(0, bar), stream) &&
          parse_int(value->substr(bar + 1), offset)) {
        advance_stream_time(stream);
        last_tick_offset_ = std::max(last_tick_offset_, offset);
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
            std::to_string(units) + "|" +
                std::to_string(offset == l.bucket_offsets.end() ? -1 : offset->second));
    }
  }
  for (const auto& [key, r] : reservations_) visit(key, encode_reservation(r));
  for (const auto& [id, e] : events_)
    visit("E|" + id, std::to_string(e.first) + "|" + std::to_string(e.second));
  visit("S|", std::to_string(stream_time_ms_) + "|" + std::to_string(last_tick_offset_));
}

size_t InventoryPartitionState::size() const {
  size_t n = ledgers_.size() + reservations_.size() + events_.size() + 1;
  for (const auto& [key, l] : ledgers_) n += l.minute_sales.size();
  return n;
}

void InventoryPartitionState::clear() {
  ledgers_.clear();
  reservations_.clear();
  active_.clear();
  events_.clear();
  event_expiry_.clear();
  stream_time_ms_ = -1;
  last_tick_offset_ = -1;
}

}  // namespace cf
