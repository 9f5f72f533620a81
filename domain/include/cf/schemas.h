#pragma once
// JSON Schemas of schemas/, compiled once, checked with RapidJSON's
// SchemaValidator. Violations are reported as the field (JSON pointer), the
// rule (schema keyword) and a human-readable detail.
#include <rapidjson/document.h>
#include <rapidjson/schema.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace cf {

struct SchemaViolation {
  std::string field;   ///< JSON pointer into the document, "" for the root
  std::string rule;    ///< the schema keyword that failed: required, type, enum, ...
  std::string detail;  ///< e.g. "missing property 'order_id'"
};

class SchemaRegistry {
 public:
  /// Loads every *.schema.json under `directory`; the name is the file name
  /// without ".schema.json". Throws ConfigError naming a bad file.
  static SchemaRegistry load_directory(const std::string& directory);
  void add(const std::string& name, const std::string& schema_json);
  bool has(const std::string& name) const { return schemas_.count(name) > 0; }
  /// nullopt when `document` satisfies schema `name`. Throws std::out_of_range for
  /// an unknown schema name.
  std::optional<SchemaViolation> validate(const std::string& name,
                                          const rapidjson::Value& document) const;

 private:
  struct Compiled {
    rapidjson::Document source;
    std::unique_ptr<rapidjson::SchemaDocument> schema;
  };
  std::map<std::string, std::shared_ptr<Compiled>> schemas_;
};

/// Locates schemas/: $CF_SCHEMA_DIR, then ./schemas, then the source tree's.
std::string default_schema_directory();

}  // namespace cf
