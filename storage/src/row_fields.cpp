#include "cf/row_fields.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cctype>

#include "cf/event_envelope.h"
#include "cf/time_format.h"

namespace cf {
namespace row_fields {

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

const rapidjson::Value& member(const rapidjson::Value& object, const char* name, const char* what) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd())
    throw ProjectionError(std::string(what) + ": missing field " + name);
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
  if (!v.IsInt64())
    throw ProjectionError(std::string(what) + ": field " + name + " must be an integer");
  return v.GetInt64();
}

bool boolean(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsBool())
    throw ProjectionError(std::string(what) + ": field " + name + " must be a boolean");
  return v.GetBool();
}

std::string decimal(const rapidjson::Value& object, const char* name, const char* what) {
  const auto& v = member(object, name, what);
  if (!v.IsNumber())
    throw ProjectionError(std::string(what) + ": field " + name + " must be a number");
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return to_json(v);
}

std::optional<std::string> optional_decimal(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsNumber())
    throw ProjectionError(std::string("field ") + name + " must be a number or null");
  return to_json(it->value);
}

int64_t time_ms(const rapidjson::Value& object, const char* name, const char* what) {
  auto parsed = parse_rfc3339_ms(text(object, name, what));
  if (!parsed)
    throw ProjectionError(std::string(what) + ": field " + name + " is not an RFC 3339 time");
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

}  // namespace row_fields

EventRow event_row(const rapidjson::Value& doc) {
  using namespace row_fields;
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
  if (auto t = data.FindMember("total_minor"); t != data.MemberEnd() && t->value.IsInt64())
    row.total_minor = t->value.GetInt64();
  if (auto a = data.FindMember("amount_minor"); a != data.MemberEnd() && a->value.IsInt64())
    row.amount_minor = a->value.GetInt64();
  rapidjson::Document metadata;
  metadata.SetObject();
  auto found = doc.FindMember("metadata");
  if (found != doc.MemberEnd() && found->value.IsObject())
    metadata.CopyFrom(found->value, metadata.GetAllocator());
  rapidjson::Value source;
  row.source = text(doc, "source", what);
  source.SetString(row.source.c_str(), metadata.GetAllocator());
  metadata.AddMember("source", source, metadata.GetAllocator());
  auto received = doc.FindMember("received_at");
  if (received != doc.MemberEnd() && received->value.IsString()) {
    rapidjson::Value stamp;
    stamp.SetString(received->value.GetString(), received->value.GetStringLength(),
                    metadata.GetAllocator());
    metadata.AddMember("received_at", stamp, metadata.GetAllocator());
  }
  row.metadata = to_json(metadata);
  return row;
}

}  // namespace cf
