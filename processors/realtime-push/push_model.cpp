#include "push_model.h"

#include <algorithm>
#include <stdexcept>

#include "cf/binary_codec.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/time_format.h"

namespace cf {
namespace {

constexpr std::array<std::string_view, kPushChannels> kChannelNames = {
    "order_metrics", "critical_stock", "inventory_alerts", "sync_status", "system_health"};
constexpr std::array<int64_t, kPushChannels> kWindowsMs = {5000, 1000, 1000, 2000, 1000};

std::string push_key(const std::string& creator, PushChannel channel) {
  return creator + "|" + std::string(channel_name(channel));
}

std::string json_string(std::string_view text) {
  JsonBuilder w(text.size() + 8);
  w.string(text);
  return w.take();
}

std::string json_number(const rapidjson::Value& v) {
  JsonBuilder w(32);
  if (v.IsInt64()) {
    w.number(v.GetInt64());
  } else if (v.IsNumber()) {
    w.real(v.GetDouble());
  } else {
    w.null();
  }
  return w.take();
}

// sync_status's time only moves forward (events arrive out of order).
bool field_is_max(PushChannel channel, const std::string& name) {
  return channel == PushChannel::kSyncStatus && name == "last_event_ms";
}

std::string utc_day(int64_t ms) { return format_rfc3339_ms(ms).substr(0, 10); }

// Encodes a field map as a count and name/value pairs.
void encode_fields(BinaryWriter& w, const std::map<std::string, std::string>& fields) {
  w.count(fields.size());
  for (const auto& [k, v] : fields) w.bytes(k).bytes(v);
}
bool decode_fields(BinaryReader& r, std::map<std::string, std::string>& fields) {
  uint64_t n = 0;
  if (!r.count(n, 1 << 16)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.bytes(k) || !r.bytes(v)) return false;
    fields[std::move(k)] = std::move(v);
  }
  return true;
}

}  // namespace

std::string_view channel_name(PushChannel channel) {
  return kChannelNames[static_cast<size_t>(channel)];
}
int64_t channel_window_ms(PushChannel channel) { return kWindowsMs[static_cast<size_t>(channel)]; }

bool split_push_key(std::string_view key, std::string& creator, PushChannel& channel) {
  const auto bar = key.rfind('|');
  if (bar == std::string_view::npos) return false;
  for (size_t i = 0; i < kPushChannels; ++i) {
    if (key.substr(bar + 1) == kChannelNames[i]) {
      creator = std::string(key.substr(0, bar));
      channel = static_cast<PushChannel>(i);
      return true;
    }
  }
  return false;
}

std::string PushCodec::encode(const Value& v) {
  std::string out;
  BinaryWriter w(out);
  w.integer(v.last_sent_ms).count(v.entities.size());
  for (const auto& [id, e] : v.entities) {
    w.bytes(id).integer(e.version).boolean(e.present).boolean(e.sent_present).boolean(e.dirty);
    encode_fields(w, e.current);
    encode_fields(w, e.sent);
  }
  w.count(v.applied.size());
  for (const auto& [topic, offset] : v.applied) {
    w.bytes(topic).integer(offset);
    auto it = v.journals.find(topic);
    const OutputJournal empty;
    (it == v.journals.end() ? empty : it->second).encode(w);
  }
  return out;
}

bool PushCodec::decode(std::string_view data, Value& v) {
  if (!is_binary_state(data)) return false;
  BinaryReader r(data);
  uint64_t entities = 0;
  if (!r.integer(v.last_sent_ms) || !r.count(entities, 1 << 20)) return false;
  for (uint64_t i = 0; i < entities; ++i) {
    std::string id;
    PushEntity e;
    if (!r.bytes(id) || !r.integer(e.version) || !r.boolean(e.present) ||
        !r.boolean(e.sent_present) || !r.boolean(e.dirty) || !decode_fields(r, e.current) ||
        !decode_fields(r, e.sent)) {
      return false;
    }
    v.entities[std::move(id)] = std::move(e);
  }
  uint64_t topics = 0;
  if (!r.count(topics, 64)) return false;
  for (uint64_t i = 0; i < topics; ++i) {
    std::string topic;
    int64_t offset = 0;
    if (!r.bytes(topic) || !r.integer(offset) || !v.journals[topic].decode(r)) return false;
    v.applied[topic] = offset;
  }
  return r.at_end();
}

std::vector<std::string> RealtimePush::input_topics() {
  return {"orders.events", "inventory.events", "inventory.predictions", "inventory.alerts"};
}

void RealtimePush::on_record(PushStore& store, std::string_view topic, std::string_view value,
                             int64_t offset, int64_t completed_below,
                             std::vector<OutputRecord>& outputs) {
  ++counters_.records;
  rapidjson::Document doc;
  if (!parse_json(doc, value) || !doc.IsObject())
    throw std::invalid_argument("record is not a JSON object");
  const std::string_view type = string_member(doc, "event_type");
  if (type == kTickEventType) {
    const int64_t tick_ms = int_member(doc, "tick_ms", -1);
    if (tick_ms < 0) throw std::invalid_argument("tick without tick_ms");
    ++counters_.ticks;
    on_tick(store, topic, offset, completed_below, tick_ms, outputs);
    return;
  }
  std::vector<Change> changes;
  std::string creator;
  int64_t at_ms = -1;
  if (topic == "orders.events" || topic == "inventory.events") {
    std::string error;
    auto event = read_envelope(doc, error);
    if (!event) throw std::invalid_argument("event envelope: " + error);
    creator = std::string(event->creator_id);
    at_ms = event->occurred_at_ms;
    if (!event->source.empty()) {
      // To the second: a busy source changes its entity once a second, not
      // on every event (each change is a state write).
      const int64_t second = at_ms - at_ms % 1000;
      changes.push_back({PushChannel::kSyncStatus,
                         std::string(event->source),
                         true,
                         {{"last_event_ms", std::to_string(second)}},
                         false});
    }
    const int64_t version = int_member(doc, "version", 0);
    const rapidjson::Value& data = event->data ? *event->data : member_or_null(doc, "data");
    if (event->event_type == "order.status_changed" && version == 1) {
      changes.push_back({PushChannel::kOrderMetrics, utc_day(at_ms), true, {{"+orders", "1"}}});
    } else if (event->event_type == "order.payment_completed" && data.IsObject()) {
      const auto amount = data.FindMember("amount_minor");
      const std::string_view currency = string_member(data, "currency");
      if (amount != data.MemberEnd() && amount->value.IsInt64() && !currency.empty() &&
          currency.size() <= 8) {
        changes.push_back({PushChannel::kOrderMetrics,
                           utc_day(at_ms),
                           true,
                           {{"+revenue_minor." + std::string(currency),
                             std::to_string(amount->value.GetInt64())}}});
      }
    }
  } else if (topic == "inventory.predictions") {
    creator = std::string(string_member(doc, "creator_id"));
    const std::string sku(string_member(doc, "product_sku"));
    at_ms = int_member(doc, "as_of_ms", -1);
    if (creator.empty() || sku.empty() || at_ms < 0)
      throw std::invalid_argument("prediction needs creator_id, product_sku and as_of_ms");
    const rapidjson::Value& hours = member_or_null(doc, "time_to_stockout_hours");
    const bool critical = hours.IsNumber() && hours.GetDouble() < settings_.critical_hours;
    Change c{PushChannel::kCriticalStock, sku, critical, {}, true};
    if (critical) {
      const rapidjson::Value& interval = member_or_null(doc, "interval_90");
      const rapidjson::Value& reorder = member_or_null(doc, "reorder");
      c.fields = {{"available", json_number(member_or_null(doc, "available"))},
                  {"rate_per_hour", json_number(member_or_null(doc, "rate_per_hour"))},
                  {"hours", json_number(hours)},
                  {"low_hours", json_number(member_or_null(interval, "low_hours"))},
                  {"high_hours", json_number(member_or_null(interval, "high_hours"))},
                  {"reorder_quantity", json_number(member_or_null(reorder, "quantity"))}};
    }
    changes.push_back(std::move(c));
  } else if (topic == "inventory.alerts") {
    creator = std::string(string_member(doc, "creator_id"));
    const std::string sku(string_member(doc, "product_sku"));
    const std::string alert(string_member(doc, "alert"));
    const std::string state(string_member(doc, "state"));
    const auto as_of = parse_rfc3339_ms(string_member(doc, "as_of"));
    if (creator.empty() || sku.empty() || alert.empty() || !as_of ||
        (state != "raised" && state != "cleared")) {
      throw std::invalid_argument(
          "alert needs creator_id, product_sku, alert, state (raised|cleared) and as_of");
    }
    at_ms = *as_of;
    const bool raised = state == "raised";
    Change c{PushChannel::kInventoryAlerts, sku + "|" + alert, raised, {}, true};
    if (raised) {
      c.fields = {{"sku", json_string(sku)},
                  {"alert", json_string(alert)},
                  {"severity", json_string(string_member(doc, "severity"))},
                  {"available", json_number(member_or_null(doc, "available"))},
                  {"hours", json_number(member_or_null(doc, "time_to_stockout_hours"))},
                  {"raised_ms", std::to_string(at_ms)}};
    }
    changes.push_back(std::move(c));
    if (alert == "viral_spike") {
      // The critical-stock card names the cause; only for SKUs on it.
      changes.push_back(
          {PushChannel::kCriticalStock, sku, true, {{"viral", raised ? "true" : "false"}}, false});
    }
  } else {
    ++counters_.ignored;
    return;
  }
  if (creator.empty() || creator.size() > 128)
    throw std::invalid_argument("record without a usable creator_id");
  apply(store, topic, offset, completed_below, creator, at_ms, changes, outputs);
}

void RealtimePush::apply(PushStore& store, std::string_view topic, int64_t offset,
                         int64_t completed_below, const std::string& creator, int64_t at_ms,
                         const std::vector<Change>& changes, std::vector<OutputRecord>& outputs) {
  const std::string topic_name(topic);
  for (size_t i = 0; i < kPushChannels; ++i) {
    const auto channel = static_cast<PushChannel>(i);
    const std::string key = push_key(creator, channel);
    // Only the channels this record changes: the others' windows close on
    // ticks (every key of the partition is looked at then), so a busy input
    // (stock counts) costs one lookup per change, not one per channel.
    bool touched = false;
    for (const auto& c : changes) touched = touched || c.channel == channel;
    if (!touched) continue;
    const PushChannelState* existing = store.find(key);
    if (existing) {
      auto applied = existing->applied.find(topic_name);
      if (applied != existing->applied.end() && offset <= applied->second) {
        ++counters_.replays;
        auto journal = existing->journals.find(topic_name);
        if (journal != existing->journals.end()) {
          if (const auto* sent = journal->second.find(offset))
            outputs.insert(outputs.end(), sent->begin(), sent->end());
        }
        continue;
      }
    }
    PushChannelState state = existing ? *existing : PushChannelState{};
    bool changed = false;
    for (const auto& c : changes) {
      if (c.channel != channel) continue;
      auto found = state.entities.find(c.entity);
      if (!c.present) {
        if (found == state.entities.end() || !found->second.present) continue;
        PushEntity& e = found->second;
        e.present = false;
        // The viral flag outlives the card: it is the cause when the SKU returns.
        auto viral = e.current.find("viral");
        std::map<std::string, std::string> kept;
        if (viral != e.current.end()) kept.insert(*viral);
        e.current = std::move(kept);
        e.dirty = true;
        changed = true;
        continue;
      }
      if (!c.replace && channel == PushChannel::kCriticalStock &&
          (found == state.entities.end() || !found->second.present)) {
        // The viral cause of a SKU not on the card (yet): kept, nothing sent.
        PushEntity& e = state.entities[c.entity];
        for (const auto& [name, v] : c.fields) {
          if (e.current[name] != v) {
            e.current[name] = v;
            changed = true;
          }
        }
        continue;
      }
      PushEntity& e = state.entities[c.entity];
      std::map<std::string, std::string> next =
          c.replace ? std::map<std::string, std::string>{} : e.current;
      if (channel == PushChannel::kCriticalStock && c.replace)
        next["viral"] = e.current.count("viral") ? e.current.at("viral") : "false";
      for (const auto& [name, v] : c.fields) {
        if (name[0] == '+') {  // a counter: add
          const std::string field = name.substr(1);
          const int64_t before = next.count(field) ? std::stoll(next[field]) : 0;
          next[field] = std::to_string(before + std::stoll(v));
        } else if (field_is_max(channel, name) && next.count(name)) {
          if (std::stoll(v) > std::stoll(next[name])) next[name] = v;
        } else {
          next[name] = v;
        }
      }
      if (next != e.current || !e.present) {
        e.current = std::move(next);
        e.present = true;
        e.dirty = true;
        changed = true;
      }
    }
    const bool due = state.pending() && (state.last_sent_ms == INT64_MIN ||
                                         at_ms >= state.last_sent_ms + channel_window_ms(channel));
    if (!changed && !due) continue;  // nothing to write: a replay does the same
    std::vector<OutputRecord> produced;
    if (due) send(creator, channel, state, at_ms, produced);
    outputs.insert(outputs.end(), produced.begin(), produced.end());
    state.applied[topic_name] = offset;
    state.journals[topic_name].record(offset, std::move(produced), completed_below);
    store.put(key, std::move(state), outputs);
  }
}

void RealtimePush::on_tick(PushStore& store, std::string_view topic, int64_t offset,
                           int64_t completed_below, int64_t tick_ms,
                           std::vector<OutputRecord>& outputs) {
  const std::string topic_name(topic);
  std::vector<std::string> due;
  for (const auto& [key, state] : store.entries()) {
    std::string creator;
    PushChannel channel;
    if (!split_push_key(key, creator, channel)) continue;
    auto applied = state.applied.find(topic_name);
    if (applied != state.applied.end() && offset <= applied->second) {
      ++counters_.replays;
      auto journal = state.journals.find(topic_name);
      if (journal != state.journals.end()) {
        if (const auto* sent = journal->second.find(offset))
          outputs.insert(outputs.end(), sent->begin(), sent->end());
      }
      continue;
    }
    if (state.pending() && tick_ms >= state.last_sent_ms + channel_window_ms(channel))
      due.push_back(key);
  }
  std::sort(due.begin(), due.end());  // the same order on every replay
  for (const auto& key : due) {
    std::string creator;
    PushChannel channel;
    split_push_key(key, creator, channel);
    PushChannelState state = *store.find(key);
    std::vector<OutputRecord> produced;
    send(creator, channel, state, tick_ms, produced);
    outputs.insert(outputs.end(), produced.begin(), produced.end());
    state.applied[topic_name] = offset;
    state.journals[topic_name].record(offset, std::move(produced), completed_below);
    store.put(key, std::move(state), outputs);
  }
}

void RealtimePush::send(const std::string& creator, PushChannel channel, PushChannelState& state,
                        int64_t at_ms, std::vector<OutputRecord>& produced) {
  size_t updates = 0;
  JsonBuilder w(512);
  w.begin_object();
  w.key("creator_id").string(creator);
  w.key("channel").string(channel_name(channel));
  w.key("at_ms").number(at_ms);
  w.key("updates").begin_array();
  for (auto it = state.entities.begin(); it != state.entities.end();) {
    PushEntity& e = it->second;
    if (!e.dirty) {
      ++it;
      continue;
    }
    e.dirty = false;
    if (!e.present && !e.sent_present) {  // appeared and went within one window
      it = e.current.empty() ? state.entities.erase(it) : std::next(it);
      continue;
    }
    ++e.version;
    ++updates;
    w.begin_object();
    w.key("entity").string(it->first);
    w.key("version").number(e.version);
    if (!e.present) {
      w.key("removed").boolean(true);
    } else {
      w.key("fields").begin_object();
      for (const auto& [name, value] : e.current) {
        auto sent = e.sent.find(name);
        if (e.sent_present && sent != e.sent.end() && sent->second == value) continue;
        w.escaped_key(name).raw(value);  // values are JSON this class built
      }
      w.end_object();
    }
    w.end_object();
    e.sent = e.current;
    e.sent_present = e.present;
    ++it;
  }
  w.end_array();
  w.end_object();
  if (updates == 0) return;  // everything that changed is back as it was sent
  state.last_sent_ms = at_ms;
  ++counters_.messages;
  counters_.updates += updates;
  produced.push_back(
      {settings_.output_topic,
       creator,
       w.take(),
       {{"cf-event-type", "realtime.delta"}, {"cf-channel", std::string(channel_name(channel))}}});
}

}  // namespace cf
