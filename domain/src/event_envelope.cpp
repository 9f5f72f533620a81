#include "cf/event_envelope.h"

#include "cf/time_format.h"

namespace cf {

void begin_envelope(JsonBuilder& w, std::string_view event_id, const EnvelopeFields& f) {
  w.begin_object();
  w.key("event_id").string(event_id);
  w.key("event_type").string(f.event_type);
  w.key("aggregate_type").string(f.aggregate_type);
  w.key("aggregate_id").string(f.aggregate_id);
  w.key("creator_id").string(f.creator_id);
  w.key("version").number(f.version);
  w.key("occurred_at").string(format_rfc3339_ms(f.occurred_at_ms));
  if (f.received_at_ms >= 0) w.key("received_at").string(format_rfc3339_ms(f.received_at_ms));
  w.key("source").string(f.source);
  w.key("metadata").begin_object();
  w.key("correlation_id").string(f.correlation_id);
  w.key("causation_id").string(f.causation_id);
  w.key("user_id").null();
  w.end_object();
  w.key("data");
}

std::string_view string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return {};
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

int64_t int_member(const rapidjson::Value& object, const char* name, int64_t fallback) {
  if (!object.IsObject()) return fallback;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsInt64()) return fallback;
  return it->value.GetInt64();
}

double number_member(const rapidjson::Value& object, const char* name, double fallback) {
  const rapidjson::Value& v = member_or_null(object, name);
  return v.IsNumber() ? v.GetDouble() : fallback;
}

const rapidjson::Value& member_or_null(const rapidjson::Value& object, const char* name) {
  static const rapidjson::Value kNull;
  if (!object.IsObject()) return kNull;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? kNull : it->value;
}

std::optional<EventView> read_envelope(const rapidjson::Document& doc, std::string& error) {
  if (!doc.IsObject()) {
    error = "event is not a JSON object";
    return std::nullopt;
  }
  EventView view;
  view.event_type = string_member(doc, "event_type");
  if (view.event_type.empty()) {
    error = "missing string field /event_type";
    return std::nullopt;
  }
  if (view.event_type == kTickEventType) {
    view.occurred_at_ms = int_member(doc, "tick_ms", -1);
    if (view.occurred_at_ms < 0) {
      error = "tick without integer /tick_ms";
      return std::nullopt;
    }
    return view;
  }
  view.event_id = string_member(doc, "event_id");
  view.aggregate_id = string_member(doc, "aggregate_id");
  view.creator_id = string_member(doc, "creator_id");
  view.source = string_member(doc, "source");
  auto occurred = parse_rfc3339_ms(string_member(doc, "occurred_at"));
  if (view.event_id.empty() || view.creator_id.empty() || !occurred) {
    error = "envelope needs string event_id, creator_id and an RFC 3339 occurred_at";
    return std::nullopt;
  }
  view.occurred_at_ms = *occurred;
  if (auto received = parse_rfc3339_ms(string_member(doc, "received_at")))
    view.received_at_ms = *received;
  auto metadata = doc.FindMember("metadata");
  if (metadata != doc.MemberEnd())
    view.correlation_id = string_member(metadata->value, "correlation_id");
  auto data = doc.FindMember("data");
  if (data == doc.MemberEnd() || !data->value.IsObject()) {
    error = "missing object field /data";
    return std::nullopt;
  }
  view.data = &data->value;
  return view;
}

std::string tick_json(int64_t tick_ms) {
  JsonBuilder w(96);
  w.begin_object();
  w.key("event_type").string(kTickEventType);
  w.key("tick_ms").number(tick_ms);
  w.key("tick_at").string(format_rfc3339_ms(tick_ms));
  w.end_object();
  return w.take();
}

}  // namespace cf
