#include "cf/topic_catalog.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdlib>
#include <filesystem>

#include "cf/errors.h"
#include "cf/json_parse.h"

namespace cf {

std::vector<TopicSpec> parse_topic_catalog(const std::string& json) {
  rapidjson::Document doc;
  cf::JsonParseError error;
  if (!cf::parse_json(doc, json, error)) {
    throw ConfigError(std::string("topic catalog") + ": " + error.detail);
  }
  if (!doc.IsObject() || !doc.HasMember("topics") || !doc["topics"].IsArray()) {
    throw ConfigError("topic catalog: expected an object with a 'topics' array");
  }
  int default_rf = 3, default_isr = 2;
  if (doc.HasMember("defaults") && doc["defaults"].IsObject()) {
    const auto& d = doc["defaults"];
    if (d.HasMember("replication_factor")) default_rf = d["replication_factor"].GetInt();
    if (d.HasMember("min_insync_replicas")) default_isr = d["min_insync_replicas"].GetInt();
  }
  std::vector<TopicSpec> specs;
  for (const auto& t : doc["topics"].GetArray()) {
    TopicSpec spec;
    if (!t.IsObject() || !t.HasMember("name") || !t["name"].IsString()) {
      throw ConfigError("topic catalog: entry " + std::to_string(specs.size()) +
                        " is not an object with a name");
    }
    spec.name = t["name"].GetString();
    auto integer = [&](const char* member, int64_t fallback) -> int64_t {
      if (!t.HasMember(member)) return fallback;
      if (!t[member].IsInt64()) {
        throw ConfigError("topic catalog: " + spec.name + "." + member + " must be an integer");
      }
      return t[member].GetInt64();
    };
    auto text = [&](const char* member, const std::string& fallback) {
      return t.HasMember(member) && t[member].IsString() ? std::string(t[member].GetString())
                                                         : fallback;
    };
    spec.partitions = static_cast<int>(integer("partitions", 1));
    spec.replication_factor = static_cast<int>(integer("replication_factor", default_rf));
    spec.min_insync_replicas = static_cast<int>(integer("min_insync_replicas", default_isr));
    spec.retention_ms = integer("retention_ms", -1);
    spec.cleanup_policy = text("cleanup_policy", "delete");
    spec.key = text("key", "");
    spec.value_schema = text("value_schema", "");
    if (spec.partitions < 1) throw ConfigError("topic catalog: " + spec.name + ": partitions < 1");
    if (spec.cleanup_policy != "delete" && spec.cleanup_policy != "compact") {
      throw ConfigError("topic catalog: " + spec.name +
                        ": cleanup_policy must be delete or compact");
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::string default_topic_catalog_path() {
  if (const char* env = std::getenv("CF_TOPIC_CATALOG")) return env;
  if (std::filesystem::exists("topics/catalog.json")) return "topics/catalog.json";
#ifdef CF_SOURCE_DIR
  return std::string(CF_SOURCE_DIR) + "/topics/catalog.json";
#else
  return "topics/catalog.json";
#endif
}

}  // namespace cf
