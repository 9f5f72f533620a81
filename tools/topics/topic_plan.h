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
  /// Every config the broker described; absent when it would not say.
  std::optional<std::map<std::string, std::string>> configs;
  /// The topic's own overrides (source DYNAMIC_TOPIC_CONFIG): AlterConfigs
  /// replaces all of them, so changing one must resend the others.
  std::map<std::string, std::string> dynamic_configs;
};

struct TopicAction {
  enum class Kind { kCreate, kAddPartitions, kAlterConfigs, kWarning } kind;
  std::string topic;
  std::string description;
  int partitions = 0;  ///< kCreate, kAddPartitions
  /// kCreate: the configs to create with; kAlterConfigs: the topic's full set
  /// of overrides after the change (its other overrides kept).
  std::map<std::string, std::string> configs;
};

/// The catalog's managed configs of a topic: cleanup.policy, retention.ms, min.insync.replicas.
std::map<std::string, std::string> desired_configs(const TopicSpec& spec);

/// Actions that make the cluster match the catalog. Never deletes or shrinks.
std::vector<TopicAction> plan_topics(const std::vector<TopicSpec>& catalog,
                                     const std::map<std::string, ExistingTopic>& cluster);

}  // namespace cf
