#include "reconciler.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"
#include "cf/time_format.h"

namespace cf {
namespace {

bool successful_shipment(std::string_view status) {
  return status == "picked_up" || status == "in_transit" || status == "out_for_delivery" ||
         status == "delivered";
}

// Earlier versions' text values: "<size>:<bytes>" fields.
bool get_field(std::string_view& in, std::string& field) {
  auto colon = in.find(':');
  size_t size = 0;
  if (colon == std::string_view::npos ||
      std::from_chars(in.data(), in.data() + colon, size).ec != std::errc() ||
      colon + 1 + size > in.size()) {
    return false;
  }
  field.assign(in.substr(colon + 1, size));
  in.remove_prefix(colon + 1 + size);
  return true;
}

}  // namespace

int source_priority(std::string_view source) {
  if (source == "tiktok_webhook" || source == "shopify_webhook") return 10;
  if (source == "payment_processor") return 9;
  if (source == "shipping_provider") return 8;
  if (source == "manual_admin") return 7;
  if (source == "automated_system") return 6;
  if (source == "scheduled_sync") return 5;
  return 0;
}

SkuMapping SkuMapping::from_json(const std::string& json) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok || !doc.IsObject()) throw std::invalid_argument("SKU mapping: not a JSON object");
  SkuMapping mapping;
  for (auto& channel : doc.GetObject()) {
    if (!channel.value.IsObject()) {
      throw std::invalid_argument(std::string("SKU mapping: '") + channel.name.GetString() +
                                  "' must be an object");
    }
    for (auto& entry : channel.value.GetObject()) {
      if (!entry.value.IsString() || entry.value.GetStringLength() == 0) {
        throw std::invalid_argument(std::string("SKU mapping: ") + channel.name.GetString() + "." +
                                    entry.name.GetString() + " must be a product SKU string");
      }
      mapping.by_channel_id_[std::string(channel.name.GetString()) + ":" + entry.name.GetString()] =
          entry.value.GetString();
    }
  }
  return mapping;
}

std::string SkuMapping::product_sku(std::string_view channel, std::string_view id,
                                    std::string_view seller_sku) const {
  auto it = by_channel_id_.find(std::string(channel) + ":" + std::string(id));
  if (it != by_channel_id_.end()) return it->second;
  if (!seller_sku.empty()) return std::string(seller_sku);
  return std::string(channel) + ":" + std::string(id);
}

std::string EntityCodec::encode(const Value& v) {
  std::string out;
  BinaryWriter w(out);
  w.integer(v.applied_offset).integer(v.version).integer(v.updated_ms).integer(v.total_minor);
  w.boolean(v.shipped).boolean(v.sale_recorded).bytes(v.source).bytes(v.value).bytes(v.items);
  v.journal.encode(w);
  return out;
}

bool EntityCodec::decode(std::string_view text, Value& v) {
  if (is_binary_state(text)) {
    BinaryReader r(text);
    return r.integer(v.applied_offset) && r.integer(v.version) && r.integer(v.updated_ms) &&
           r.integer(v.total_minor) && r.boolean(v.shipped) && r.boolean(v.sale_recorded) &&
           r.bytes(v.source) && r.bytes(v.value) && r.bytes(v.items) && v.journal.decode(r) &&
           r.at_end();
  }
  // Written by earlier versions: "1|<numbers>|<flags>|<fields><journal>".
  if (text.substr(0, 2) != "1|") return false;
  text.remove_prefix(2);
  int64_t numbers[4];
  for (auto& n : numbers) {
    auto bar = text.find('|');
    if (bar == std::string_view::npos ||
        std::from_chars(text.data(), text.data() + bar, n).ec != std::errc()) {
      return false;
    }
    text.remove_prefix(bar + 1);
  }
  if (text.size() < 3 || text[2] != '|') return false;
  v.applied_offset = numbers[0];
  v.version = numbers[1];
  v.updated_ms = numbers[2];
  v.total_minor = numbers[3];
  v.shipped = text[0] == '1';
  v.sale_recorded = text[1] == '1';
  text.remove_prefix(3);
  return get_field(text, v.source) && get_field(text, v.value) && get_field(text, v.items) &&
         v.journal.decode_legacy(text);
}

struct Reconciler::Context {
  EntityStore& store;
  const EventView& event;
  const rapidjson::Value& data;
  int64_t offset;
  std::vector<OutputRecord> produced;      ///< journalled: re-sent if the input is re-read
  std::vector<OutputRecord> state_writes;  ///< changelog writes of entities other than the primary
  std::vector<OutputRecord> scratch;       ///< primary writes; on_event writes the primary once
  int outputs_made = 0;
  std::string creator;

  std::string next_id() {
    return deterministic_uuid(std::string(event.event_id) + "|reconciled|" +
                              std::to_string(outputs_made++));
  }
};

Reconciler::Reconciler(ReconcilerSettings settings, ReconcilerTopics topics, SkuMapping mapping)
    : settings_(settings), topics_(std::move(topics)), mapping_(std::move(mapping)) {}

namespace {

// A resolved event in the shared envelope.
std::string resolved_event(const std::string& event_id, std::string_view type,
                           std::string_view aggregate_type, std::string_view aggregate_id,
                           const EventView& cause, int64_t version, const std::string& data_json) {
  JsonBuilder w(512 + data_json.size());
  EnvelopeFields f;
  f.event_type = type;
  f.aggregate_type = aggregate_type;
  f.aggregate_id = aggregate_id;
  f.creator_id = cause.creator_id;
  f.version = version;
  f.occurred_at_ms = cause.occurred_at_ms;
  f.received_at_ms =
      cause.received_at_ms;  // end-to-end latency is measured from the ingest's stamp
  f.source = cause.source;
  f.correlation_id = cause.correlation_id;
  f.causation_id = cause.event_id;
  begin_envelope(w, event_id, f);
  w.raw(data_json);  // built by the builder in this file
  w.end_object();
  return w.take();
}

std::string state_json(std::string_view value_name, std::string_view value, std::string_view source,
                       int64_t at_ms, int64_t version) {
  JsonBuilder w(256);
  w.begin_object();
  w.key(value_name).string(value);
  w.key("source").string(source);
  w.key("at").string(format_rfc3339_ms(at_ms));
  w.key("version").number(version);
  w.end_object();
  return w.take();
}

}  // namespace

void Reconciler::on_event(EntityStore& store, std::string_view json, int64_t offset,
                          int64_t completed_below, std::vector<OutputRecord>& outputs) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok) throw std::invalid_argument("event is not valid JSON");
  std::string error;
  auto event = read_envelope(doc, error);
  if (!event) throw std::invalid_argument(error);
  if (event->event_type == kTickEventType) {
    evict(store, event->occurred_at_ms, offset, outputs);
    return;
  }
  Context c{store, *event, *event->data, offset, {}, {}, {}, 0, std::string(event->creator_id)};

  // The entity the event is about: where the journal of its outputs lives.
  std::string primary;
  const std::string_view type = event->event_type;
  if (type == "order.received_from_tiktok" || type == "order.received_from_shopify") {
    primary = "order|" + c.creator + "|" + std::string(event->aggregate_id);
  } else if (type == "payment.completed") {
    primary = "payment|" + c.creator + "|" + std::string(event->aggregate_id);
  } else if (type == "shipment.tracking_updated") {
    primary = "shipment|" + c.creator + "|" + std::string(string_member(c.data, "order_id"));
  } else if (type == "inventory.stock_updated") {
    primary = "inventory|" + c.creator + "|" + inventory_sku(store, c.creator, c.data);
  } else {
    throw std::invalid_argument("reconciler has no rule for event type '" + std::string(type) +
                                "'");
  }
  if (EntityState* existing = store.find(primary); existing && offset <= existing->applied_offset) {
    ++counters_.replays;
    if (const auto* sent = existing->journal.find(offset)) {
      outputs.insert(outputs.end(), sent->begin(), sent->end());
    }
    return;
  }
  if (type == "payment.completed") {
    payment(c);
  } else if (type == "shipment.tracking_updated") {
    shipment(c);
  } else if (type == "inventory.stock_updated") {
    inventory(c);
  } else {
    order(c);
  }
  // Other entities the rule touched were written inside it; the primary
  // carries the offset and the journal.
  EntityState* state = store.find(primary);
  EntityState updated = state ? *state : EntityState{};
  updated.applied_offset = offset;
  outputs.insert(outputs.end(), c.produced.begin(), c.produced.end());
  outputs.insert(outputs.end(), c.state_writes.begin(), c.state_writes.end());
  updated.journal.record(offset, std::move(c.produced), completed_below);
  store.put(primary, std::move(updated), outputs);
}

bool evictable(const std::string& key, const EntityState& entity, int64_t now_ms,
               int64_t retention_ms) {
  if (entity.updated_ms < 0 || entity.updated_ms > now_ms - retention_ms) return false;
  if (key.rfind("payment|", 0) == 0 || key.rfind("shipment|", 0) == 0) return true;
  if (key.rfind("order|", 0) == 0)
    return entity.value == "COMPLETED" || entity.value == "CANCELLED";
  return false;  // inventory and learned SKUs: one per SKU or item, bounded by the catalog
}

void Reconciler::evict(EntityStore& store, int64_t tick_ms, int64_t offset,
                       std::vector<OutputRecord>& outputs) {
  const EntityState* clock = store.find(kEvictionClockKey);
  if (clock && (tick_ms < clock->updated_ms || offset <= clock->applied_offset)) return;
  // Sorted, so the tombstones come in one order whatever the hash map holds.
  std::vector<std::string> finished;
  for (const auto& [key, entity] : store.entries()) {
    if (key != kEvictionClockKey &&
        evictable(key, entity, tick_ms, settings_.entity_retention_ms)) {
      finished.push_back(key);
    }
  }
  std::sort(finished.begin(), finished.end());
  for (const auto& key : finished) store.erase(key, outputs);
  counters_.evicted += finished.size();
  // The clock goes last: written to the same changelog partition after the
  // tombstones, so a restore that holds it holds them too.
  EntityState next;
  next.applied_offset = offset;
  next.updated_ms = tick_ms + settings_.eviction_interval_ms;
  store.put(kEvictionClockKey, std::move(next), outputs);
}

namespace {

struct Conflict {
  std::string_view kind;
  std::string_view entity_type;
  std::string entity_id;
  std::string current;   ///< JSON
  std::string incoming;  ///< JSON
  std::string_view strategy;
  std::string_view winner;  ///< current | incoming | merged
  bool escalated = false;
};

}  // namespace

namespace {

void audit_conflict(Reconciler::Context& c, const Conflict& k, const ReconcilerTopics& topics,
                    ReconcilerCounters& counters) {
  JsonBuilder w(768);
  w.begin_object();
  w.key("conflict_id").string(c.next_id());
  w.key("kind").string(k.kind);
  w.key("creator_id").string(c.creator);
  w.key("entity_type").string(k.entity_type);
  w.key("entity_id").string(k.entity_id);
  w.key("entities").begin_array().string(k.entity_id).end_array();
  w.key("states").begin_object();
  // current and incoming are state_json() values: built here by the builder.
  w.key("current").raw(k.current);
  w.key("incoming").raw(k.incoming);
  w.end_object();  // states
  w.key("strategy").string(k.strategy);
  w.key("winner").string(k.winner);
  w.key("escalated").boolean(k.escalated);
  w.key("detected_at").string(format_rfc3339_ms(c.event.occurred_at_ms));
  w.key("resolved_at");
  if (k.escalated && k.winner == "current") {
    w.null();  // waits for an operator in conflicts.manual
  } else {
    w.string(format_rfc3339_ms(c.event.occurred_at_ms));
  }
  // Resolution is synchronous with detection, in event time.
  w.key("detection_to_resolution_ms").number(0);
  w.key("causation_id").string(c.event.event_id);
  w.end_object();
  std::string text = w.take();
  c.produced.push_back({topics.audit, c.creator, text, {{"cf-event-type", "conflict.detected"}}});
  ++counters.conflicts;
  if (k.escalated) {
    c.produced.push_back(
        {topics.manual, c.creator, std::move(text), {{"cf-event-type", "conflict.escalated"}}});
    ++counters.escalated;
  }
}

}  // namespace

void Reconciler::order(Context& c) {
  const std::string aggregate(c.event.aggregate_id);
  // Entity keys carry the creator: two creators on one partition never share one.
  const std::string key = "order|" + c.creator + "|" + aggregate;
  const std::string status(string_member(c.data, "status"));
  if (order_status_rank(status) < 0)
    throw std::invalid_argument("order event with unknown /data/status");
  const int64_t total = int_member(c.data, "total_minor", 0);
  const std::string channel(string_member(c.data, "channel"));
  EntityState* found = c.store.find(key);
  EntityState e = found ? *found : EntityState{};
  bool apply = !found;
  if (found) {
    const bool concurrent =
        e.source != c.event.source && e.updated_ms >= 0 &&
        std::llabs(c.event.occurred_at_ms - e.updated_ms) <= settings_.conflict_window_ms;
    const std::string current = state_json("status", e.value, e.source, e.updated_ms, e.version);
    const std::string incoming =
        state_json("status", status, c.event.source, c.event.occurred_at_ms, e.version);
    if (status == e.value) {
      ++counters_.ignored;
    } else if (!valid_order_transition(e.value, status) || (status == "CANCELLED" && e.shipped)) {
      const bool shipped_cancel =
          status == "CANCELLED" && (e.shipped || order_status_shipped(e.value));
      audit_conflict(c,
                     {shipped_cancel ? "shipped_order_immutable" : "invalid_transition", "order",
                      aggregate, current, incoming,
                      shipped_cancel ? "shipped_orders_immutable" : "reject_invalid_transition",
                      "current", std::max(e.total_minor, total) > settings_.escalate_order_minor},
                     topics_, counters_);
    } else if (concurrent && source_priority(c.event.source) < source_priority(e.source)) {
      audit_conflict(c,
                     {"concurrent_update", "order", aggregate, current, incoming,
                      "last_write_wins_by_source_priority", "current",
                      std::max(e.total_minor, total) > settings_.escalate_order_minor},
                     topics_, counters_);
    } else {
      if (concurrent) {
        audit_conflict(c,
                       {"concurrent_update", "order", aggregate, current, incoming,
                        "last_write_wins_by_source_priority", "incoming",
                        std::max(e.total_minor, total) > settings_.escalate_order_minor},
                       topics_, counters_);
      }
      apply = true;
    }
  }
  if (!apply) {
    c.store.put(key, std::move(e), c.scratch);  // on_event sets the offset and writes it
    return;
  }
  const std::string previous = e.value;
  e.value = status;
  e.source = std::string(c.event.source);
  e.updated_ms = c.event.occurred_at_ms;
  e.version += 1;
  e.total_minor = std::max(e.total_minor, total);
  if (order_status_shipped(status)) e.shipped = true;

  // Items as the ledger sees them: product SKUs and quantities.
  auto items = c.data.FindMember("line_items");
  if (e.items.empty() && items != c.data.MemberEnd() && items->value.IsArray()) {
    JsonBuilder w(256);
    w.begin_array();
    for (const auto& item : items->value.GetArray()) {
      w.begin_object();
      w.key("product_sku")
          .string(mapping_.product_sku(channel, string_member(item, "sku_id"),
                                       string_member(item, "seller_sku")));
      w.key("quantity").number(int_member(item, "quantity", 0));
      w.end_object();
    }
    w.end_array();
    e.items = w.take();
  }
  {
    JsonBuilder w(256);
    w.begin_object();
    w.key("channel").string(channel);
    w.key("order_id").string(string_member(c.data, "order_id"));
    w.key("status").string(status);
    w.key("previous_status");
    if (previous.empty())
      w.null();
    else
      w.string(previous);
    w.key("total_minor").number(e.total_minor);
    w.key("currency").string(string_member(c.data, "currency"));
    w.key("items").raw(e.items.empty() ? "[]" : e.items);  // built by the builder above
    w.end_object();
    std::string data = w.take();
    c.produced.push_back({topics_.orders,
                          c.creator,
                          resolved_event(c.next_id(), "order.status_changed", "order", aggregate,
                                         c.event, e.version, data),
                          {{"cf-event-type", "order.status_changed"}}});
    ++counters_.events_out;
  }
  auto ledger_event = [&](std::string_view type, const std::string& data) {
    c.produced.push_back(
        {topics_.inventory,
         c.creator,
         resolved_event(c.next_id(), type, "inventory", aggregate, c.event, e.version, data),
         {{"cf-event-type", std::string(type)}}});
    ++counters_.events_out;
  };
  // The ledger's view of the order: built by the builder, so an order id
  // with quotes or backslashes stays a value and can never forge items.
  auto ledger_data = [&](std::optional<bool> restock) {
    JsonBuilder w(256);
    w.begin_object();
    w.key("channel").string(channel);
    w.key("order_id").string(aggregate);
    if (restock) w.key("restock").boolean(*restock);
    w.key("items").raw(e.items);
    w.end_object();
    return w.take();
  };
  if (!e.sale_recorded && order_status_paid(status) && !e.items.empty()) {
    e.sale_recorded = true;
    ledger_event("inventory.sale_recorded", ledger_data(std::nullopt));
  } else if (e.sale_recorded && status == "CANCELLED") {
    e.sale_recorded = false;
    ledger_event("inventory.sale_cancelled", ledger_data(!e.shipped));
  }
  c.store.put(key, std::move(e), c.scratch);
}

void Reconciler::payment(Context& c) {
  const std::string aggregate(c.event.aggregate_id);
  const std::string key = "payment|" + c.creator + "|" + aggregate;
  const int64_t amount = int_member(c.data, "amount_minor", -1);
  if (amount < 0) throw std::invalid_argument("payment.completed needs integer /data/amount_minor");
  EntityState* found = c.store.find(key);
  if (found) {
    if (found->value != std::to_string(amount)) {
      audit_conflict(c,
                     {"payment_changed", "payment", aggregate,
                      state_json("amount_minor", found->value, found->source, found->updated_ms,
                                 found->version),
                      state_json("amount_minor", std::to_string(amount), c.event.source,
                                 c.event.occurred_at_ms, found->version),
                      "completed_payments_immutable", "current",
                      std::max<int64_t>(amount, std::atoll(found->value.c_str())) >
                          settings_.escalate_payment_minor},
                     topics_, counters_);
    } else {
      ++counters_.ignored;  // the same completion, repeated in later order notifications
    }
    return;
  }
  EntityState e;
  e.value = std::to_string(amount);
  e.source = std::string(c.event.source);
  e.updated_ms = c.event.occurred_at_ms;
  e.version = 1;
  JsonBuilder w(256);
  w.begin_object();
  w.key("channel").string(string_member(c.data, "channel"));
  w.key("order_id").string(string_member(c.data, "order_id"));
  w.key("amount_minor").number(amount);
  w.key("currency").string(string_member(c.data, "currency"));
  w.end_object();
  c.produced.push_back({topics_.orders,
                        c.creator,
                        resolved_event(c.next_id(), "order.payment_completed", "payment", aggregate,
                                       c.event, 1, w.take()),
                        {{"cf-event-type", "order.payment_completed"}}});
  ++counters_.events_out;
  c.store.put(key, std::move(e), c.scratch);
}

void Reconciler::shipment(Context& c) {
  const std::string order_id(string_member(c.data, "order_id"));
  const std::string tracking(string_member(c.data, "tracking_number"));
  const std::string status(string_member(c.data, "status"));
  if (order_id.empty() || tracking.empty() || status.empty()) {
    throw std::invalid_argument(
        "shipment.tracking_updated needs /data/order_id, tracking_number and status");
  }
  const std::string key = "shipment|" + c.creator + "|" + order_id;
  EntityState* found = c.store.find(key);
  EntityState e = found ? *found : EntityState{};
  if (found && !e.value.empty() && e.value != tracking && successful_shipment(status)) {
    audit_conflict(
        c,
        {"second_shipment", "shipment", order_id,
         state_json("tracking_number", e.value, e.source, e.updated_ms, e.version),
         state_json("tracking_number", tracking, c.event.source, c.event.occurred_at_ms, e.version),
         "first_successful_shipment_wins", "current", false},
        topics_, counters_);
    return;
  }
  if (e.value.empty() && successful_shipment(status)) e.value = tracking;
  e.source = std::string(c.event.source);
  e.updated_ms = c.event.occurred_at_ms;
  e.version += 1;
  // The order's own entity learns it shipped: a later cancellation is refused.
  // The validator names the order as the reconciler keys it ("<channel>:<id>").
  const std::string order_key = "order|" + c.creator + "|" + order_id;
  if (successful_shipment(status)) {
    if (EntityState* order = c.store.find(order_key); order && !order->shipped) {
      const bool concurrent =
          order->source != c.event.source &&
          std::llabs(c.event.occurred_at_ms - order->updated_ms) <= settings_.conflict_window_ms;
      EntityState copy = *order;
      copy.shipped = true;
      c.store.put(order_key, std::move(copy), c.state_writes);
      if (concurrent) {
        // Status from the channel, shipment from the carrier: different fields, both kept.
        audit_conflict(
            c,
            {"concurrent_update", "order", order_key.substr(6),
             state_json("status", order->value, order->source, order->updated_ms, order->version),
             state_json("tracking_number", tracking, c.event.source, c.event.occurred_at_ms,
                        order->version),
             "field_level_merge", "merged", false},
            topics_, counters_);
      }
    }
  }
  JsonBuilder w(256);
  w.begin_object();
  w.key("order_id").string(order_id);
  w.key("tracking_number").string(tracking);
  w.key("carrier").string(string_member(c.data, "carrier"));
  w.key("status").string(status);
  w.end_object();
  c.produced.push_back({topics_.orders,
                        c.creator,
                        resolved_event(c.next_id(), "order.shipment_updated", "shipment", order_id,
                                       c.event, e.version, w.take()),
                        {{"cf-event-type", "order.shipment_updated"}}});
  ++counters_.events_out;
  c.store.put(key, std::move(e), c.scratch);
}

std::string Reconciler::inventory_sku(EntityStore& store, const std::string& creator,
                                      const rapidjson::Value& data) const {
  const std::string_view channel = string_member(data, "channel");
  const std::string_view channel_sku = string_member(data, "sku_id");
  std::string_view seller_sku = string_member(data, "seller_sku");
  if (channel == "shopify" && seller_sku.empty()) {
    if (const EntityState* learned =
            store.find("skumap|" + creator + "|shopify|" + std::string(channel_sku)))
      seller_sku = learned->value;
  }
  return mapping_.product_sku(channel, channel_sku, seller_sku);
}

void Reconciler::inventory(Context& c) {
  const std::string channel(string_member(c.data, "channel"));
  const std::string channel_sku(string_member(c.data, "sku_id"));
  const std::string_view seller_sku = string_member(c.data, "seller_sku");
  if (channel == "shopify" && !seller_sku.empty()) {
    // Shopify's inventory webhooks name an inventory item, not a SKU; the
    // scheduled sync's counts carry the item's SKU (looked up through the
    // Admin API). Learn it, per creator and item, so the webhooks that follow
    // reach the same ledger entry (inventory_sku). The mapping file still
    // wins over both.
    const std::string learned = "skumap|" + c.creator + "|shopify|" + channel_sku;
    const EntityState* known = c.store.find(learned);
    if (!known || known->value != seller_sku) {
      EntityState m;
      m.applied_offset = c.offset;
      m.value = std::string(seller_sku);
      c.store.put(learned, std::move(m), c.state_writes);
    }
  }
  const std::string sku = inventory_sku(c.store, c.creator, c.data);
  const int64_t available = int_member(c.data, "available", -1);
  if (available < 0)
    throw std::invalid_argument("inventory.stock_updated needs a non-negative /data/available");
  const std::string key = "inventory|" + c.creator + "|" + sku;
  EntityState* found = c.store.find(key);
  EntityState e = found ? *found : EntityState{};
  if (found && e.source != c.event.source &&
      std::llabs(c.event.occurred_at_ms - e.updated_ms) <= settings_.conflict_window_ms) {
    const int64_t current = std::atoll(e.value.c_str());
    const bool incoming_wins = available < current;  // lower stock is safer
    const double ratio = static_cast<double>(std::llabs(available - current)) /
                         static_cast<double>(std::max<int64_t>(current, 1));
    audit_conflict(c,
                   {"concurrent_update", "inventory", sku,
                    state_json("available", e.value, e.source, e.updated_ms, e.version),
                    state_json("available", std::to_string(available), c.event.source,
                               c.event.occurred_at_ms, e.version),
                    "stock_decrease_wins", incoming_wins ? "incoming" : "current",
                    ratio > settings_.escalate_inventory_ratio},
                   topics_, counters_);
    if (!incoming_wins) return;
  }
  e.value = std::to_string(available);
  e.source = std::string(c.event.source);
  e.updated_ms = c.event.occurred_at_ms;
  e.version += 1;
  JsonBuilder w(256);
  w.begin_object();
  w.key("channel").string(channel);
  w.key("product_sku").string(sku);
  w.key("channel_sku_id").string(channel_sku);
  w.key("available").number(available);
  w.end_object();
  c.produced.push_back({topics_.inventory,
                        c.creator,
                        resolved_event(c.next_id(), "inventory.stock_set", "inventory", sku,
                                       c.event, e.version, w.take()),
                        {{"cf-event-type", "inventory.stock_set"}}});
  ++counters_.events_out;
  c.store.put(key, std::move(e), c.scratch);
}

}  // namespace cf
