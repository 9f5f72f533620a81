#include "shipment_join.h"

#include "cf/binary_codec.h"

namespace cf {

namespace {

const std::string kLabelPrefix = "join|label|";
const std::string kWaitPrefix = "join|wait|";

void write_update(BinaryWriter& w, const WaitingUpdate& u) {
  w.integer(u.offset)
      .bytes(u.update.event_id)
      .bytes(u.update.tracking_number)
      .bytes(u.update.carrier_slug)
      .bytes(u.update.tag)
      .bytes(u.update.status)
      .integer(u.update.occurred_at_ms)
      .integer(u.update.received_at_ms)
      .bytes(u.update.request_id);
}

bool read_update(BinaryReader& r, WaitingUpdate& u) {
  return r.integer(u.offset) && r.bytes(u.update.event_id) && r.bytes(u.update.tracking_number) &&
         r.bytes(u.update.carrier_slug) && r.bytes(u.update.tag) && r.bytes(u.update.status) &&
         r.integer(u.update.occurred_at_ms) && r.integer(u.update.received_at_ms) &&
         r.bytes(u.update.request_id);
}

}  // namespace

std::string encode_label_entry(const LabelEntry& e) {
  std::string out;
  BinaryWriter w(out);
  w.bytes(e.label.tracking_number)
      .bytes(e.label.carrier_slug)
      .bytes(e.label.creator_id)
      .bytes(e.label.channel)
      .bytes(e.label.order_id)
      .integer(e.offset)
      .count(e.released.size());
  for (const auto& event : e.released) {
    w.bytes(event.event_id)
        .bytes(event.event_type)
        .bytes(event.creator_id)
        .bytes(event.json)
        .integer(event.occurred_at_ms);
  }
  return out;
}

bool decode_label_entry(std::string_view value, LabelEntry& e) {
  BinaryReader r(value);
  uint64_t n = 0;
  e = LabelEntry{};
  bool ok = r.ok() && r.bytes(e.label.tracking_number) && r.bytes(e.label.carrier_slug) &&
            r.bytes(e.label.creator_id) && r.bytes(e.label.channel) && r.bytes(e.label.order_id) &&
            r.integer(e.offset) && r.count(n, kMaxWaiting);
  for (uint64_t i = 0; ok && i < n; ++i) {
    DomainEvent event;
    ok = r.bytes(event.event_id) && r.bytes(event.event_type) && r.bytes(event.creator_id) &&
         r.bytes(event.json) && r.integer(event.occurred_at_ms);
    e.released.push_back(std::move(event));
  }
  return ok && r.at_end();
}

std::string encode_waiting(const std::vector<WaitingUpdate>& waiting) {
  std::string out;
  BinaryWriter w(out);
  w.count(waiting.size());
  for (const auto& u : waiting) write_update(w, u);
  return out;
}

bool decode_waiting(std::string_view value, std::vector<WaitingUpdate>& waiting) {
  BinaryReader r(value);
  uint64_t n = 0;
  waiting.clear();
  bool ok = r.ok() && r.count(n, kMaxWaiting);
  for (uint64_t i = 0; ok && i < n; ++i) {
    WaitingUpdate u;
    ok = read_update(r, u);
    waiting.push_back(std::move(u));
  }
  return ok && r.at_end();
}

void ShipmentJoin::write(const std::string& key, std::string value,
                         std::vector<OutputRecord>& outputs) {
  outputs.push_back({changelog_topic_, key, std::move(value), {}, partition_});
}

JoinResult ShipmentJoin::on_update(const ShipmentUpdate& update, int64_t offset,
                                   std::vector<OutputRecord>& outputs) {
  JoinResult result;
  const std::string& number = update.tracking_number;
  if (auto it = labels_.find(number); it != labels_.end()) {
    result.events.push_back(shipment_event(update, it->second.label));
    return result;
  }
  std::vector<WaitingUpdate>& waiting = waiting_[number];
  for (const auto& w : waiting) {
    if (w.offset == offset) return result;  // read again after a crash: already waiting
  }
  if (waiting.size() >= kMaxWaiting) {
    result.refused = true;
    return result;
  }
  waiting.push_back({offset, update});
  write(kWaitPrefix + number, encode_waiting(waiting), outputs);
  return result;
}

JoinResult ShipmentJoin::on_label(const ShipmentLabel& label, int64_t offset,
                                  std::vector<OutputRecord>& outputs) {
  JoinResult result;
  const std::string& number = label.tracking_number;
  auto known = labels_.find(number);
  if (known != labels_.end() && offset <= known->second.offset) {
    // The label's input read again after a crash: what it released may not
    // have gone out, so it goes out again (same event ids).
    if (offset == known->second.offset) result.events = known->second.released;
    return result;
  }
  LabelEntry entry;
  entry.label = label;
  entry.offset = offset;
  if (auto waiting = waiting_.find(number); waiting != waiting_.end()) {
    for (const auto& w : waiting->second) entry.released.push_back(shipment_event(w.update, label));
    waiting_.erase(waiting);
    outputs.push_back({changelog_topic_, kWaitPrefix + number, {}, {}, partition_, true});
  } else if (known != labels_.end()) {
    // The same label written again (the saga re-sent it): nothing new.
    entry.released.clear();
  }
  result.events = entry.released;
  write(kLabelPrefix + number, encode_label_entry(entry), outputs);
  labels_[number] = std::move(entry);
  return result;
}

void ShipmentJoin::apply_encoded(std::string_view key, const std::string_view* value) {
  if (key.substr(0, kLabelPrefix.size()) == kLabelPrefix) {
    const std::string number(key.substr(kLabelPrefix.size()));
    LabelEntry entry;
    if (value == nullptr) {
      labels_.erase(number);
    } else if (decode_label_entry(*value, entry)) {
      labels_[number] = std::move(entry);
    }
  } else if (key.substr(0, kWaitPrefix.size()) == kWaitPrefix) {
    const std::string number(key.substr(kWaitPrefix.size()));
    std::vector<WaitingUpdate> waiting;
    if (value == nullptr) {
      waiting_.erase(number);
    } else if (decode_waiting(*value, waiting)) {
      waiting_[number] = std::move(waiting);
    }
  }
}

void ShipmentJoin::for_each_encoded(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  for (const auto& [number, entry] : labels_)
    visit(kLabelPrefix + number, encode_label_entry(entry));
  for (const auto& [number, waiting] : waiting_)
    visit(kWaitPrefix + number, encode_waiting(waiting));
}

void ValidatorPartition::apply_encoded(std::string_view key, const std::string_view* value) {
  if (ShipmentJoin::owns(key)) {
    join_.apply_encoded(key, value);
  } else {
    dedup_.apply_encoded(key, value);
  }
}

void ValidatorPartition::for_each_encoded(
    const std::function<void(const std::string&, const std::string&)>& visit) const {
  dedup_.for_each_encoded(visit);
  join_.for_each_encoded(visit);
}

}  // namespace cf
