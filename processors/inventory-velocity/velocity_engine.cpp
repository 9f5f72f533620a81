#include "velocity_engine.h"

#include <rapidjson/document.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"
#include "cf/time_format.h"

namespace cf {
namespace {

constexpr int64_t kMinutesPerDay = 24 * 60;

struct SkuChange {
  int64_t quantity = 0;
};

// Per-SKU quantities of an event's items (an order may list a SKU twice).
std::map<std::string, int64_t> items_by_sku(const rapidjson::Value& data) {
  auto items = data.FindMember("items");
  if (items == data.MemberEnd() || !items->value.IsArray() || items->value.Empty()) {
    throw std::invalid_argument("inventory event needs a non-empty /data/items array");
  }
  std::map<std::string, int64_t> by_sku;
  for (const auto& item : items->value.GetArray()) {
    std::string_view sku = string_member(item, "product_sku");
    int64_t quantity = int_member(item, "quantity", -1);
    if (sku.empty() || quantity <= 0) {
      throw std::invalid_argument(
          "every /data/items entry needs product_sku and a positive quantity");
    }
    by_sku[std::string(sku)] += quantity;
  }
  return by_sku;
}

void write_conflict(JsonBuilder& w, std::string_view conflict_id, const SkuLedger& l,
                    int64_t reported, std::string_view channel, int64_t event_ms,
                    std::string_view event_id, double ratio) {
  w.begin_object();
  w.key("conflict_id").string(conflict_id);
  w.key("kind").string("inventory_discrepancy");
  w.key("creator_id").string(l.creator_id);
  w.key("entity_type").string("inventory");
  w.key("entity_id").string(l.product_sku);
  w.key("entities").begin_array().string(l.product_sku).end_array();
  w.key("states").begin_object();
  w.key("ledger").begin_object();
  w.key("total").number(l.total);
  w.key("reserved").number(l.reserved);
  w.key("sold").number(l.sold);
  w.key("available").number(l.available());
  w.end_object();
  w.key("reported").begin_object();
  w.key("channel").string(channel);
  w.key("available").number(reported);
  w.key("event_id").string(event_id);
  w.end_object();
  w.end_object();
  w.key("discrepancy_ratio").fixed(ratio, 4);
  w.key("strategy").string("channel_count_applied");
  w.key("escalated").boolean(true);
  w.key("detected_at").string(format_rfc3339_ms(event_ms));
  w.key("resolved_at").string(format_rfc3339_ms(event_ms));
  w.key("detection_to_resolution_ms").number(0);
  w.end_object();
}

}  // namespace

VelocityFigures compute_velocity(const SkuLedger& l, int64_t stream_ms, const VelocitySettings& s) {
  VelocityFigures f;
  const int64_t now_minute = minute_of(stream_ms);
  for (auto it = l.minute_sales.upper_bound(now_minute - kMinutesPerDay);
       it != l.minute_sales.end() && it->first <= now_minute; ++it) {
    f.sales_24h += it->second;
    if (it->first > now_minute - 60) f.sales_1h += it->second;
  }
  f.velocity_1h = static_cast<double>(f.sales_1h);
  f.velocity_24h = static_cast<double>(f.sales_24h) / 24.0;
  f.spike_ratio = f.velocity_24h > 0 ? f.velocity_1h / f.velocity_24h : 0.0;
  f.viral = f.sales_1h >= s.spike_min_units && f.velocity_1h > s.spike_factor * f.velocity_24h;
  return f;
}

std::string velocity_snapshot_json(const SkuLedger& l, const VelocityFigures& f,
                                   int64_t stream_ms) {
  JsonBuilder w(512);
  w.begin_object();
  w.key("event_id")
      .string(deterministic_uuid("velocity|" + l.creator_id + "|" + l.product_sku + "|" +
                                 std::to_string(l.version) + "|" + std::to_string(stream_ms)));
  w.key("event_type").string("inventory.velocity_updated");
  w.key("creator_id").string(l.creator_id);
  w.key("product_sku").string(l.product_sku);
  w.key("version").number(l.version);
  w.key("as_of").string(format_rfc3339_ms(stream_ms));
  w.key("as_of_ms").number(stream_ms);
  w.key("total").number(l.total);
  w.key("reserved").number(l.reserved);
  w.key("sold").number(l.sold);
  w.key("available").number(l.available());
  // False until a channel count arrived: the ledger then knows sales, not stock.
  w.key("counted").boolean(l.last_set_ms >= 0);
  w.key("sales_1h").number(f.sales_1h);
  w.key("sales_24h").number(f.sales_24h);
  w.key("velocity_1h").fixed(f.velocity_1h, 4);
  w.key("velocity_24h").fixed(f.velocity_24h, 4);
  w.key("spike_ratio").fixed(f.spike_ratio, 4);
  w.key("viral").boolean(f.viral);
  w.end_object();
  return w.take();
}

VelocityEngine::VelocityEngine(VelocitySettings settings, VelocityTopics topics)
    : settings_(settings), topics_(std::move(topics)) {}

bool VelocityEngine::maybe_emit(InventoryPartitionState& state, SkuLedger& l, bool force,
                                std::vector<OutputRecord>& outputs) {
  const int64_t now = state.stream_time_ms();
  VelocityFigures f = compute_velocity(l, now, settings_);
  bool changed = l.version != l.emitted_version || f.sales_1h != l.emitted_sales_1h ||
                 f.sales_24h != l.emitted_sales_24h;
  if (!changed && !force) return false;
  if (!force && l.emitted_ms >= 0 && now - l.emitted_ms < settings_.coalesce_ms) {
    state.active().insert(
        ledger_key(l.creator_id, l.product_sku));  // sent by a later record or tick
    return false;
  }
  OutputRecord out{topics_.velocity, l.creator_id, velocity_snapshot_json(l, f, now)};
  out.headers.push_back({"cf-event-type", "inventory.velocity_updated"});
  outputs.push_back(std::move(out));
  l.emitted_ms = now;
  l.emitted_version = l.version;
  l.emitted_sales_1h = f.sales_1h;
  l.emitted_sales_24h = f.sales_24h;
  ++counters_.snapshots;
  return true;
}

int64_t VelocityEngine::bounded_stream_time(int64_t event_ms, int64_t record_timestamp_ms) {
  if (record_timestamp_ms < 0 || event_ms <= record_timestamp_ms + settings_.max_future_skew_ms)
    return event_ms;
  ++counters_.clamped;
  return record_timestamp_ms + settings_.max_future_skew_ms;
}

void VelocityEngine::on_event(InventoryPartitionState& state, std::string_view json, int64_t offset,
                              std::vector<OutputRecord>& outputs, int64_t record_timestamp_ms) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok) throw std::invalid_argument("inventory event is not valid JSON");
  std::string error;
  auto event = read_envelope(doc, error);
  if (!event) throw std::invalid_argument(error);
  if (event->event_type == kTickEventType) {
    on_tick(state, bounded_stream_time(event->occurred_at_ms, record_timestamp_ms), offset,
            outputs);
    return;
  }
  // Deltas (sales, cancellations, adjustments) must count once per event, not
  // once per record: an upstream processor re-reading its input after a
  // crash re-sends the same events (same ids) at new offsets here.
  const int64_t first_offset = state.applied_event_offset(event->event_id);
  if (first_offset >= 0 && first_offset != offset) {
    ++counters_.duplicate_events;
    return;
  }
  if (first_offset < 0 && !event->event_id.empty()) {
    state.remember_event(event->event_id, event->occurred_at_ms + settings_.event_dedup_ms, offset,
                         outputs);
  }
  const int64_t t = event->occurred_at_ms;
  const std::string creator(event->creator_id);
  const rapidjson::Value& data = *event->data;
  const bool late =
      state.stream_time_ms() >= 0 && t < state.stream_time_ms() - settings_.allowed_lateness_ms;

  // Each SKU applies the event at most once: a SKU whose ledger already holds
  // this offset saw it before a crash, and only its snapshot is sent again.
  auto apply = [&](const std::string& sku, auto&& change) {
    SkuLedger& l = state.ledger(creator, sku);
    if (offset <= l.applied_offset) {
      ++counters_.replays;
      maybe_emit(state, l, true, outputs);
      return;
    }
    change(l);
    l.recent.erase(l.recent.begin(),
                   l.recent.lower_bound(state.stream_time_ms() - settings_.allowed_lateness_ms));
    l.version += 1;
    l.applied_offset = offset;
    if (t > l.last_event_ms) l.last_event_ms = t;
    maybe_emit(state, l, false, outputs);
    state.persist_ledger(l, outputs);
  };
  if (late) ++counters_.late_events;
  state.advance_stream_time(bounded_stream_time(t, record_timestamp_ms));
  // A sale or return before the last count is inside that count already.
  auto change_sold = [&](SkuLedger& l, int64_t units) {
    if (l.last_set_ms >= 0 && t < l.last_set_ms) return;
    l.sold += units;
    if (!late) l.recent[t] += units;
  };

  const std::string_view type = event->event_type;
  if (type == "inventory.sale_recorded") {
    for (auto& [sku, quantity] : items_by_sku(data)) {
      apply(sku, [&, q = quantity](SkuLedger& l) {
        change_sold(l, q);
        if (!late) state.add_sales(l, minute_of(t), q, offset, outputs);
      });
    }
  } else if (type == "inventory.sale_cancelled") {
    auto restock = data.FindMember("restock");
    if (restock == data.MemberEnd() || !restock->value.IsBool()) {
      throw std::invalid_argument("inventory.sale_cancelled needs boolean /data/restock");
    }
    if (!restock->value.GetBool()) return;  // shipped or refunded without return: stock unchanged
    for (auto& [sku, quantity] : items_by_sku(data)) {
      apply(sku, [&, q = quantity](SkuLedger& l) { change_sold(l, -q); });
    }
  } else if (type == "inventory.stock_set") {
    std::string sku(string_member(data, "product_sku"));
    int64_t reported = int_member(data, "available", -1);
    if (sku.empty() || reported < 0) {
      throw std::invalid_argument(
          "inventory.stock_set needs /data/product_sku and a non-negative /data/available");
    }
    // A count at or before the one applied is a repeat (a replay, a platform
    // retry) or older news: ignored before anything changes. Re-applying the
    // same count would recompute `sold` from the recent window, which no
    // longer holds every sale since that count, and erase them.
    if (const SkuLedger* known = state.find(creator, sku);
        known && known->last_set_ms >= 0 && t <= known->last_set_ms) {
      ++counters_.stale_syncs;
      return;
    }
    apply(sku, [&](SkuLedger& l) {
      if (l.last_set_ms >= 0) {
        const int64_t available = l.available();
        const double ratio = static_cast<double>(std::llabs(reported - available)) /
                             static_cast<double>(std::max<int64_t>(available, 1));
        if (ratio > settings_.discrepancy_ratio) {
          ++counters_.discrepancies;
          JsonBuilder w(512);
          std::string id =
              deterministic_uuid("inventory-discrepancy|" + std::string(event->event_id));
          write_conflict(w, id, l, reported, string_member(data, "channel"), t, event->event_id,
                         ratio);
          std::string conflict = w.take();
          outputs.push_back(
              {topics_.audit, creator, conflict, {{"cf-event-type", "conflict.detected"}}});
          outputs.push_back({topics_.manual,
                             creator,
                             std::move(conflict),
                             {{"cf-event-type", "conflict.escalated"}}});
        }
      }
      l.total = reported;
      l.last_set_ms = t;
      // The count includes what happened before t; what came after stays sold.
      l.recent.erase(l.recent.begin(), l.recent.lower_bound(t));
      l.sold = 0;
      for (const auto& [at, units] : l.recent) l.sold += units;
    });
  } else if (type == "inventory.stock_adjusted") {
    std::string sku(string_member(data, "product_sku"));
    auto delta = data.FindMember("delta");
    if (sku.empty() || delta == data.MemberEnd() || !delta->value.IsInt64()) {
      throw std::invalid_argument(
          "inventory.stock_adjusted needs /data/product_sku and integer /data/delta");
    }
    apply(sku, [d = delta->value.GetInt64()](SkuLedger& l) { l.total += d; });
  } else {
    throw std::invalid_argument("unknown inventory event type '" + std::string(type) + "'");
  }
}

void VelocityEngine::on_tick(InventoryPartitionState& state, int64_t tick_ms, int64_t offset,
                             std::vector<OutputRecord>& outputs) {
  if (offset <= state.last_tick_offset()) {
    // Re-read after a crash: its snapshots may not have reached Kafka.
    for (auto& [key, l] : state.ledgers()) {
      if (l.emitted_ms >= tick_ms) maybe_emit(state, l, true, outputs);
    }
    return;
  }
  state.advance_stream_time(tick_ms);
  state.expire_events(state.stream_time_ms(), outputs);
  state.expire_reservations(state.stream_time_ms() - settings_.reservation_retention_ms, outputs);
  const int64_t oldest_excluded = minute_of(state.stream_time_ms()) - kMinutesPerDay;
  auto& active = state.active();
  for (auto it = active.begin(); it != active.end();) {
    auto found = state.ledgers().find(*it);
    if (found == state.ledgers().end()) {
      it = active.erase(it);
      continue;
    }
    SkuLedger& l = found->second;
    size_t buckets = l.minute_sales.size();
    state.expire_buckets(l, oldest_excluded, outputs);
    bool emitted = maybe_emit(state, l, false, outputs);
    if (emitted || buckets != l.minute_sales.size()) state.persist_ledger(l, outputs);
    if (l.minute_sales.empty() && l.emitted_version == l.version) {
      it = active.erase(it);
    } else {
      ++it;
    }
  }
  state.record_tick(offset, outputs);
}

void VelocityEngine::on_command(InventoryPartitionState& state, std::string_view json,
                                std::vector<OutputRecord>& outputs, int64_t record_timestamp_ms) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok || !doc.IsObject()) throw std::invalid_argument("command is not a JSON object");
  const std::string command_id(string_member(doc, "command_id"));
  const std::string_view command = string_member(doc, "command");
  const std::string creator(string_member(doc, "creator_id"));
  const std::string reservation_id(string_member(doc, "reservation_id"));
  const std::string sku(string_member(doc, "product_sku"));
  const int64_t quantity = int_member(doc, "quantity", -1);
  if (command_id.empty() || creator.empty() || reservation_id.empty() ||
      (command != "reserve" && command != "release")) {
    throw std::invalid_argument(
        "command needs command_id, creator_id, reservation_id and command reserve|release");
  }
  Reservation* existing = state.reservation(creator, reservation_id);
  auto reply = [&](std::string_view status, const SkuLedger* l, int64_t q,
                   std::string_view detail) {
    JsonBuilder w(384);
    w.begin_object();
    w.key("command_id").string(command_id);
    w.key("reply_id").string(deterministic_uuid("inventory-reply|" + command_id));
    w.key("command").string(command);
    w.key("creator_id").string(creator);
    w.key("reservation_id").string(reservation_id);
    w.key("product_sku").string(l ? std::string_view(l->product_sku) : std::string_view(sku));
    w.key("quantity").number(q);
    w.key("status").string(status);
    if (l) w.key("available_after").number(l->available());
    if (!detail.empty()) w.key("detail").string(detail);
    w.end_object();
    return w.take();
  };
  auto send = [&](std::string text) {
    outputs.push_back(
        {topics_.replies, creator, std::move(text), {{"cf-event-type", "inventory.reply"}}});
  };
  if (existing && existing->last_command_id == command_id) {
    send(existing->last_reply);  // a repeated command gets the same answer
    return;
  }
  Reservation next = existing ? *existing : Reservation{};
  next.last_command_id = command_id;
  if (command == "reserve") {
    if (sku.empty() || quantity <= 0)
      throw std::invalid_argument("reserve needs product_sku and a positive quantity");
    if (existing && existing->status == "reserved") {
      next.last_reply = reply("already_reserved", state.find(creator, existing->product_sku),
                              existing->quantity, "");
    } else {
      SkuLedger& l = state.ledger(creator, sku);
      // A saga's order was counted as sold when it arrived (the reconciler's
      // inventory.sale_recorded): its units are in `sold` already, so the
      // order fits when the ledger is not oversold, and a SKU whose stock no
      // channel count has told yet cannot refuse it. The hold still counts in
      // `reserved` until the saga releases it (conservative: lower is safer).
      const rapidjson::Value& counted = member_or_null(doc, "sale_counted");
      const bool sale_counted = counted.IsBool() && counted.GetBool();
      const bool fits =
          sale_counted ? (l.last_set_ms < 0 || l.available() >= 0) : l.available() >= quantity;
      if (fits) {
        l.reserved += quantity;
        l.version += 1;
        next.product_sku = sku;
        next.quantity = quantity;
        next.status = "reserved";
        maybe_emit(state, l, false, outputs);
        state.persist_ledger(l, outputs);
        next.last_reply = reply("reserved", &l, quantity, "");
      } else {
        next.product_sku = sku;
        next.quantity = quantity;
        next.status = "rejected";
        next.last_reply = reply("insufficient_stock", &l, quantity, "");
      }
    }
  } else {
    if (existing && existing->status == "reserved") {
      SkuLedger& l = state.ledger(creator, existing->product_sku);
      l.reserved -= existing->quantity;
      l.version += 1;
      next.status = "released";
      maybe_emit(state, l, false, outputs);
      state.persist_ledger(l, outputs);
      next.last_reply = reply("released", &l, existing->quantity, "");
    } else {
      next.last_reply = reply("not_reserved", nullptr, 0, "no active reservation with this id");
    }
  }
  if (next.status != "reserved") {
    next.finished_ms = state.stream_time_ms() >= 0 ? state.stream_time_ms()
                                                   : std::max<int64_t>(-1, record_timestamp_ms);
  }
  std::string text = next.last_reply;
  state.put_reservation(creator, reservation_id, std::move(next), outputs);
  send(std::move(text));
}

}  // namespace cf
