#pragma once
// The difference between the topic catalog and what a cluster has: pure code,
// so the plan is unit-tested without a broker.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cf/topic_catalog.h"

namespace cf {

/// What the cluster has for one topic.
struct ExistingTopic {
  int partitions = 0;
  int replication_factor = 0;
  /// Only the configs the catalog manages; absent when the broker would not say.
  std::optional<std::map<std::string, std::string>> configs;
};

struct TopicAction {
  enum class Kind { kCreate, kAddPartitions, kAlterConfigs, kWarning } kind;
  std::string topic;
  std::string description;
  int partitions = 0;                          ///< kCreate, kAddPartitions
  std::map<std::string, std::string> configs;  ///< kCreate, kAlterConfigs: desired values
};

/// The catalog's managed configs of a topic: cleanup.policy, retention.ms, min.insync.replicas.
std::map<std::string, std::string> desired_configs(const TopicSpec& spec);

/// Actions that make the cluster match the catalog. Never deletes or shrinks.
std::vector<TopicAction> plan_topics(const std::vector<TopicSpec>& catalog,
                                     const std::map<std::string, ExistingTopic>& cluster);

}  // namespace cf
