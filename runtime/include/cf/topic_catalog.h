#pragma once
// topics/catalog.json: the topics of the topology and their settings.
#include <cstdint>
#include <string>
#include <vector>

namespace cf {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 3;
  int min_insync_replicas = 2;
  std::string cleanup_policy = "delete";
  int64_t retention_ms = -1;
  std::string key;
  std::string value_schema;
};

/// Parses the catalog JSON; throws ConfigError with the offending entry.
std::vector<TopicSpec> parse_topic_catalog(const std::string& json);
/// $CF_TOPIC_CATALOG, ./topics/catalog.json, or the source tree's.
std::string default_topic_catalog_path();

}  // namespace cf
