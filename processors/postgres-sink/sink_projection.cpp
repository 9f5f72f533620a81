#include "sink_projection.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/time_format.h"

namespace cf {
namespace {

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

const rapidjson::Value& member(const rapidjson::Value& object, const char* name, const char* what) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) throw ProjectionError(std::string(what) + ": missing field " + name);
  return it->value;
}

std::string text(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsString() || v.GetStringLength() == 0) {
    throw ProjectionError(std::string(what) + ": field " + name + " must be a non-empty string");
  }
  return {v.GetString(), v.GetStringLength()};
}

int64_t integer(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsInt64()) throw ProjectionError(std::string(what) + ": field " + name + " must be an integer");
  return v.GetInt64();
}

bool boolean(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsBool()) throw ProjectionError(std::string(what) + ": field " + name + " must be a boolean");
  return v.GetBool();
}

// Decimals are kept as the text the processor wrote (deterministic, exact).
std::string decimal(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsNumber()) throw ProjectionError(std::string(what) + ": field " + name + " must be a number");
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return to_json(v);
}

std::optional<std::string> optional_decimal(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsNumber()) throw ProjectionError(std::string("field ") + name + " must be a number or null");
  return to_json(it->value);
}

int64_t time_ms(const rapidjson::Value& object, const char* name, const char* what) {
  auto parsed = parse_rfc3339_ms(text(object, name, what));
  if (!parsed) throw ProjectionError(std::string(what) + ": field " + name + " is not an RFC 3339 time");
  return *parsed;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

void project_event(const rapidjson::Document& doc, SinkBatch& batch) {
  const char* what = "domain event";
  EventRow row;
  row.id = text(doc, "event_id", what);
  if (!is_uuid(row.id)) throw ProjectionError("domain event: event_id is not a UUID");
  row.event_type = text(doc, "event_type", what);
  row.aggregate_type = text(doc, "aggregate_type", what);
  row.aggregate_id = text(doc, "aggregate_id", what);
  row.creator_id = text(doc, "creator_id", what);
  row.version = integer(doc, "version", what);
  row.occurred_at_ms = time_ms(doc, "occurred_at", what);
  const auto& data = member(doc, "data", what);
  if (!data.IsObject()) throw ProjectionError("domain event: data must be an object");
  row.event_data = to_json(data);
  row.status = std::string(string_member(data, "status"));
  row.channel = std::string(string_member(data, "channel"));
  row.currency = std::string(string_member(data, "currency"));
  if (auto t = data.FindMember("total_minor"); t != data.MemberEnd() && t->value.IsInt64()) row.total_minor = t->value.GetInt64();
  if (auto a = data.FindMember("amount_minor"); a != data.MemberEnd() && a->value.IsInt64()) row.amount_minor = a->value.GetInt64();
  rapidjson::Document metadata;
  metadata.SetObject();
  auto found = doc.FindMember("metadata");
  if (found != doc.MemberEnd() && found->value.IsObject()) metadata.CopyFrom(found->value, metadata.GetAllocator());
  rapidjson::Value source;
  row.source = text(doc, "source", what);
  source.SetString(row.source.c_str(), metadata.GetAllocator());
  metadata.AddMember("source", source, metadata.GetAllocator());
  auto received = doc.FindMember("received_at");
  if (received != doc.MemberEnd() && received->value.IsString()) {
    rapidjson::Value stamp;
    stamp.SetString(received->value.GetString(), received->value.GetStringLength(), metadata.GetAllocator());
    metadata.AddMember("received_at", stamp, metadata.GetAllocator());
  }
  row.metadata = to_json(metadata);
  batch.events.push_back(std::move(row));
}

void project_velocity(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "velocity snapshot";
  InventoryLevelRow row;
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.total = integer(d, "total", what);
  row.reserved = integer(d, "reserved", what);
  row.sold = integer(d, "sold", what);
  row.available = integer(d, "available", what);
  auto counted = d.FindMember("counted");
  row.counted = counted == d.MemberEnd() || !counted->value.IsBool() || counted->value.GetBool();
  row.sales_1h = integer(d, "sales_1h", what);
  row.sales_24h = integer(d, "sales_24h", what);
  row.velocity_1h = decimal(d, "velocity_1h", what);
  row.velocity_24h = decimal(d, "velocity_24h", what);
  row.spike_ratio = decimal(d, "spike_ratio", what);
  row.viral = boolean(d, "viral", what);
  row.version = integer(d, "version", what);
  row.as_of_ms = integer(d, "as_of_ms", what);
  auto key = std::make_pair(row.creator_id, row.product_sku);
  auto it = batch.levels.find(key);
  if (it == batch.levels.end() || std::tie(it->second.version, it->second.as_of_ms) <= std::tie(row.version, row.as_of_ms)) {
    batch.levels[key] = std::move(row);
  }
}

void project_prediction(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "prediction";
  PredictionRow row;
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.available = integer(d, "available", what);
  row.rate_per_hour = decimal(d, "rate_per_hour", what);
  row.hours = optional_decimal(d, "time_to_stockout_hours");
  const auto& interval = member(d, "interval_90", what);
  if (!interval.IsObject()) throw ProjectionError("prediction: interval_90 must be an object");
  row.low_hours = optional_decimal(interval, "low_hours");
  row.high_hours = optional_decimal(interval, "high_hours");
  const auto& reorder = member(d, "reorder", what);
  if (!reorder.IsObject()) throw ProjectionError("prediction: reorder must be an object");
  row.reorder_quantity = integer(reorder, "quantity", what);
  row.version = integer(d, "version", what);
  row.as_of_ms = integer(d, "as_of_ms", what);
  auto key = std::make_pair(row.creator_id, row.product_sku);
  auto it = batch.predictions.find(key);
  if (it == batch.predictions.end() || std::tie(it->second.version, it->second.as_of_ms) <= std::tie(row.version, row.as_of_ms)) {
    batch.predictions[key] = std::move(row);
  }
}

void project_alert(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "alert";
  AlertRow row;
  row.alert_id = text(d, "alert_id", what);
  if (!is_uuid(row.alert_id)) throw ProjectionError("alert: alert_id is not a UUID");
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.alert = text(d, "alert", what);
  row.state = text(d, "state", what);
  if (row.state != "raised" && row.state != "cleared") throw ProjectionError("alert: state must be raised or cleared");
  row.severity = text(d, "severity", what);
  row.as_of_ms = time_ms(d, "as_of", what);
  batch.alerts[row.creator_id + "|" + row.product_sku + "|" + row.alert] = std::move(row);
}

void project_conflict(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "conflict";
  ConflictRow row;
  row.conflict_id = text(d, "conflict_id", what);
  if (!is_uuid(row.conflict_id)) throw ProjectionError("conflict: conflict_id is not a UUID");
  row.creator_id = text(d, "creator_id", what);
  row.kind = text(d, "kind", what);
  row.entity_type = text(d, "entity_type", what);
  row.entity_id = text(d, "entity_id", what);
  row.strategy = text(d, "strategy", what);
  auto winner = d.FindMember("winner");
  row.winner = winner != d.MemberEnd() && winner->value.IsString() ? winner->value.GetString() : "ledger";
  row.escalated = boolean(d, "escalated", what);
  row.detected_at_ms = time_ms(d, "detected_at", what);
  auto resolved = d.FindMember("resolved_at");
  if (resolved != d.MemberEnd() && resolved->value.IsString()) row.resolved_at_ms = time_ms(d, "resolved_at", what);
  row.record = to_json(d);
  batch.conflicts.push_back(std::move(row));
}

}  // namespace

std::vector<std::string> sink_input_topics() {
  return {"orders.events",        "inventory.events", "inventory.velocity",  "inventory.predictions",
          "inventory.alerts",     "conflicts.audit",  "webhooks.rejected",   "dlq.validator",
          "dlq.reconciler",       "dlq.inventory-velocity", "dlq.stockout-predictor"};
}

void project_record(std::string_view topic, std::string_view value,
                    const std::function<std::optional<std::string>(const char*)>& header,
                    SinkBatch& batch) {
  ++batch.records;
  if (topic == "webhooks.rejected" || topic.substr(0, 4) == "dlq.") {
    // Counted by reason; the records themselves stay on their topics.
    std::string reason = "unknown";
    if (auto r = header("cf-dlq-error")) reason = *r;
    if (auto code = header("cf-dlq-error-class"); code && topic != "webhooks.rejected") reason = *code;
    if (reason.size() > 200) reason.resize(200);
    ++batch.dead_letters[{std::string(topic), reason}];
    return;
  }
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, value);
  if (!doc_ok || !doc.IsObject()) throw ProjectionError("record is not a JSON object");
  auto type = doc.FindMember("event_type");
  if (type != doc.MemberEnd() && type->value.IsString() && std::string_view(type->value.GetString()) == kTickEventType) {
    return;  // ticks move processors' time; nothing to store
  }
  if (topic == "orders.events" || topic == "inventory.events") {
    project_event(doc, batch);
  } else if (topic == "inventory.velocity") {
    project_velocity(doc, batch);
  } else if (topic == "inventory.predictions") {
    project_prediction(doc, batch);
  } else if (topic == "inventory.alerts") {
    project_alert(doc, batch);
  } else if (topic == "conflicts.audit") {
    project_conflict(doc, batch);
  } else {
    throw ProjectionError("the sink does not read topic " + std::string(topic));
  }
}

}  // namespace cf
