#pragma once
// Strict readers for the fields of records that become PostgreSQL rows, and
// the event-store row of a domain event envelope. A missing or mistyped field
// is a ProjectionError naming it: such a record goes to a dead-letter topic,
// never half into a table.
#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cf/read_model_rows.h"

namespace cf {

/// A record PostgreSQL must not see: it goes to the dead-letter topic alone.
class ProjectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The event-store row of a domain event envelope (DESIGN.md section 2);
/// the read models' fields are taken from its data once here.
EventRow event_row(const rapidjson::Value& envelope);

namespace row_fields {
// `what` names the kind of record in the error message.
std::string to_json(const rapidjson::Value& value);
const rapidjson::Value& member(const rapidjson::Value& object, const char* name, const char* what);
std::string text(const rapidjson::Value& object, const char* name,
                 const char* what);  ///< non-empty string
int64_t integer(const rapidjson::Value& object, const char* name, const char* what);
bool boolean(const rapidjson::Value& object, const char* name, const char* what);
/// Decimals are kept as the text the processor wrote (deterministic, exact).
std::string decimal(const rapidjson::Value& object, const char* name, const char* what);
std::optional<std::string> optional_decimal(const rapidjson::Value& object, const char* name);
int64_t time_ms(const rapidjson::Value& object, const char* name, const char* what);  ///< RFC 3339
bool is_uuid(std::string_view s);
}  // namespace row_fields

}  // namespace cf
