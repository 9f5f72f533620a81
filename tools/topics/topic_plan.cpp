#include "topic_plan.h"

namespace cf {

std::map<std::string, std::string> desired_configs(const TopicSpec& spec) {
  std::map<std::string, std::string> c;
  c["cleanup.policy"] = spec.cleanup_policy;
  c["retention.ms"] = std::to_string(spec.retention_ms);
  c["min.insync.replicas"] = std::to_string(spec.min_insync_replicas);
  return c;
}

std::vector<TopicAction> plan_topics(const std::vector<TopicSpec>& catalog,
                                     const std::map<std::string, ExistingTopic>& cluster) {
  std::vector<TopicAction> actions;
  for (const auto& spec : catalog) {
    auto desired = desired_configs(spec);
    auto it = cluster.find(spec.name);
    if (it == cluster.end()) {
      actions.push_back({TopicAction::Kind::kCreate, spec.name,
                         "create with " + std::to_string(spec.partitions) +
                             " partitions, replication " + std::to_string(spec.replication_factor) +
                             ", " + spec.cleanup_policy,
                         spec.partitions, desired});
      continue;
    }
    const ExistingTopic& have = it->second;
    if (have.partitions < spec.partitions) {
      actions.push_back(
          {TopicAction::Kind::kAddPartitions,
           spec.name,
           "partitions " + std::to_string(have.partitions) + " -> " +
               std::to_string(spec.partitions) +
               " (keys move to new partitions: per-key order breaks across the change)",
           spec.partitions,
           {}});
    } else if (have.partitions > spec.partitions) {
      actions.push_back({TopicAction::Kind::kWarning,
                         spec.name,
                         "has " + std::to_string(have.partitions) + " partitions, catalog says " +
                             std::to_string(spec.partitions) + "; Kafka cannot shrink a topic",
                         0,
                         {}});
    }
    if (have.replication_factor != spec.replication_factor) {
      actions.push_back({TopicAction::Kind::kWarning,
                         spec.name,
                         "replication factor " + std::to_string(have.replication_factor) +
                             ", catalog says " + std::to_string(spec.replication_factor) +
                             " (change it with a partition reassignment)",
                         0,
                         {}});
    }
    if (!have.configs) {
      actions.push_back({TopicAction::Kind::kWarning,
                         spec.name,
                         "configs not checked: the broker did not describe them",
                         0,
                         {}});
      continue;
    }
    std::map<std::string, std::string> changes;
    std::string description;
    for (const auto& [key, value] : desired) {
      auto current = have.configs->find(key);
      std::string now = current == have.configs->end() ? "<default>" : current->second;
      if (now != value) {
        changes[key] = value;
        description += (description.empty() ? "" : ", ") + key + " " + now + " -> " + value;
      }
    }
    if (!changes.empty()) {
      std::map<std::string, std::string> full = have.dynamic_configs;
      for (const auto& [key, value] : changes) full[key] = value;
      actions.push_back({TopicAction::Kind::kAlterConfigs, spec.name, description, 0, full});
    }
  }
  return actions;
}

}  // namespace cf
