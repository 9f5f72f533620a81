#pragma once
// The envelope every domain event shares (DESIGN.md section 2): writing it,
// and reading the fields processors route on.
#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cf/json_builder.h"

namespace cf {

struct EnvelopeFields {
  std::string_view event_type;
  std::string_view aggregate_type;
  std::string_view aggregate_id;
  std::string_view creator_id;
  int64_t version = 0;
  int64_t occurred_at_ms = 0;
  int64_t received_at_ms = -1;  ///< written only when >= 0
  std::string_view source;
  std::string_view correlation_id;
  std::string_view causation_id;
};

/// Writes the envelope up to and including the "data" key; the caller writes
/// the data value and then closes the envelope with end_object().
void begin_envelope(JsonBuilder& out, std::string_view event_id, const EnvelopeFields& fields);

/// The routing fields of a parsed event; string views point into the document.
struct EventView {
  std::string_view event_id;
  std::string_view event_type;
  std::string_view aggregate_id;
  std::string_view creator_id;
  std::string_view source;
  std::string_view correlation_id;
  int64_t occurred_at_ms = 0;
  int64_t received_at_ms = -1;  ///< the ingest's stamp, when the envelope has one
  const rapidjson::Value* data = nullptr;
};

/// Reads the envelope of `doc`; nullopt with `error` set when a field is
/// missing or mistyped.
std::optional<EventView> read_envelope(const rapidjson::Document& doc, std::string& error);

/// String member of `object`, empty when absent or not a string.
std::string_view string_member(const rapidjson::Value& object, const char* name);
/// Integer member of `object`, `fallback` when absent or not an integer.
int64_t int_member(const rapidjson::Value& object, const char* name, int64_t fallback = 0);
/// Numeric member of `object` as a double, `fallback` when absent or not a number.
double number_member(const rapidjson::Value& object, const char* name, double fallback);
/// Member of `object`; a null value when absent or `object` is not an object.
const rapidjson::Value& member_or_null(const rapidjson::Value& object, const char* name);

/// Record of the ticker: advances a partition's stream time (see tools/ticker).
constexpr std::string_view kTickEventType = "tick";
std::string tick_json(int64_t tick_ms);

}  // namespace cf
