#include "cf/schemas.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cf/json_parse.h"

namespace cf {
namespace {

std::string pointer_text(const rapidjson::Pointer& pointer) {
  rapidjson::StringBuffer buffer;
  pointer.Stringify(buffer);
  return buffer.GetString();
}

std::string short_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  std::string text = buffer.GetString();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

const char* type_name(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "boolean";
    case rapidjson::kObjectType:
      return "object";
    case rapidjson::kArrayType:
      return "array";
    case rapidjson::kStringType:
      return "string";
    case rapidjson::kNumberType:
      return v.IsInt64() || v.IsUint64() ? "integer" : "number";
  }
  return "unknown";
}

// RapidJSON 1.1 names the keyword and the object, not the missing member; look
// the member up so the reason says which field is missing.
SchemaViolation describe(const rapidjson::SchemaValidator& validator,
                         const rapidjson::Value& schema_root, const rapidjson::Value& document) {
  SchemaViolation v;
  v.rule = validator.GetInvalidSchemaKeyword();
  v.field = pointer_text(validator.GetInvalidDocumentPointer());
  const rapidjson::Value* schema = validator.GetInvalidSchemaPointer().Get(schema_root);
  const rapidjson::Value* value = validator.GetInvalidDocumentPointer().Get(document);
  if (v.rule == "required" && schema && value && value->IsObject() &&
      schema->HasMember("required")) {
    for (const auto& name : (*schema)["required"].GetArray()) {
      if (!value->HasMember(name)) {
        v.field += std::string("/") + name.GetString();
        v.detail = std::string("missing required property '") + name.GetString() + "'";
        break;
      }
    }
  } else if (v.rule == "type" && schema && value && schema->HasMember("type")) {
    v.detail = "expected " + short_json((*schema)["type"]) + ", got " + type_name(*value);
  } else if (v.rule == "enum" && schema && value && schema->HasMember("enum")) {
    v.detail = short_json(*value) + " is not one of " + short_json((*schema)["enum"]);
  } else if ((v.rule == "minimum" || v.rule == "maximum" || v.rule == "minLength" ||
              v.rule == "maxLength" || v.rule == "pattern" || v.rule == "minItems" ||
              v.rule == "maxItems") &&
             schema && value && schema->HasMember(v.rule.c_str())) {
    v.detail =
        short_json(*value) + " violates " + v.rule + " " + short_json((*schema)[v.rule.c_str()]);
  } else if (v.rule == "additionalProperties") {
    v.detail = "property not allowed here";
  } else {
    v.detail = "violates '" + v.rule + "'";
  }
  if (v.field.empty()) v.field = "";
  return v;
}

}  // namespace

void SchemaRegistry::add(const std::string& name, const std::string& schema_json) {
  auto compiled = std::make_shared<Compiled>();
  JsonParseError error;
  if (!parse_json(compiled->source, schema_json, error)) {
    throw std::invalid_argument("schema " + name + ": " + error.detail);
  }
  compiled->schema = std::make_unique<rapidjson::SchemaDocument>(compiled->source);
  schemas_[name] = std::move(compiled);
}

SchemaRegistry SchemaRegistry::load_directory(const std::string& directory) {
  namespace fs = std::filesystem;
  SchemaRegistry registry;
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    throw std::invalid_argument("--schema-dir: '" + directory + "' is not a directory");
  }
  const std::string suffix = ".schema.json";
  for (const auto& entry : fs::directory_iterator(directory)) {
    std::string file = entry.path().filename().string();
    if (file.size() <= suffix.size() ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    registry.add(file.substr(0, file.size() - suffix.size()), text.str());
  }
  return registry;
}

std::optional<SchemaViolation> SchemaRegistry::validate(const std::string& name,
                                                        const rapidjson::Value& document) const {
  const auto& compiled = schemas_.at(name);
  // A fresh validator per call: RapidJSON 1.1's Reset() does not fully clear
  // a validator's state, and reusing one gave wrong verdicts (measured: it
  // would have saved under 10% of the transform's time).
  rapidjson::SchemaValidator validator(*compiled->schema);
  if (document.Accept(validator)) return std::nullopt;
  return describe(validator, compiled->source, document);
}

std::string default_schema_directory() {
  if (const char* env = std::getenv("CF_SCHEMA_DIR")) return env;
  if (std::filesystem::is_directory("schemas")) return "schemas";
#ifdef CF_SOURCE_SCHEMA_DIR
  return CF_SOURCE_SCHEMA_DIR;
#else
  return "schemas";
#endif
}

}  // namespace cf
