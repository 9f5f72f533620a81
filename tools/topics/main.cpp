// cf-topics: make a cluster's topics match topics/catalog.json through the
// Admin API. --dry-run (the default) prints the difference; --apply changes
// the cluster (creates topics, adds partitions, sets managed configs); it
// never deletes or shrinks anything.
#include <iostream>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/topic_catalog.h"
#include "topic_plan.h"

namespace po = boost::program_options;

namespace {

using namespace cf;

KafkaHandle admin_client(const KafkaSettings& settings) {
  return make_client(settings, ClientRole::kProducer, {});
}

EventHandle wait_result(rd_kafka_queue_t* queue, int timeout_ms) {
  EventHandle event(rd_kafka_queue_poll(queue, timeout_ms));
  if (!event) throw KafkaError("admin request", RD_KAFKA_RESP_ERR__TIMED_OUT);
  if (rd_kafka_event_error(event.get())) {
    throw KafkaError(std::string("admin request: ") + rd_kafka_event_error_string(event.get()),
                     rd_kafka_event_error(event.get()));
  }
  return event;
}

std::map<std::string, ExistingTopic> describe_cluster(rd_kafka_t* rk,
                                                      const std::vector<TopicSpec>& catalog,
                                                      int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  if (auto err = rd_kafka_metadata(rk, 1, nullptr, &raw, timeout_ms))
    throw KafkaError("metadata", err);
  MetadataHandle metadata(raw);
  std::map<std::string, ExistingTopic> cluster;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const auto& t = metadata->topics[i];
    if (t.err) continue;
    ExistingTopic e;
    e.partitions = t.partition_cnt;
    e.replication_factor = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
    cluster[t.topic] = e;
  }
  // Managed configs of the catalog topics that exist.
  std::vector<ConfigResourceHandle> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto& spec : catalog) {
    if (!cluster.count(spec.name)) continue;
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, spec.name.c_str()));
    resources.push_back(owned.back().get());
  }
  if (resources.empty()) return cluster;
  QueueHandle queue(rd_kafka_queue_new(rk));
  rd_kafka_DescribeConfigs(rk, resources.data(), resources.size(), nullptr, queue.get());
  try {
    EventHandle event = wait_result(queue.get(), timeout_ms);
    const rd_kafka_DescribeConfigs_result_t* result =
        rd_kafka_event_DescribeConfigs_result(event.get());
    size_t count = 0;
    const rd_kafka_ConfigResource_t** described =
        rd_kafka_DescribeConfigs_result_resources(result, &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_ConfigResource_error(described[i])) continue;
      std::map<std::string, std::string> configs;
      size_t entries = 0;
      const rd_kafka_ConfigEntry_t** list = rd_kafka_ConfigResource_configs(described[i], &entries);
      for (size_t j = 0; j < entries; ++j) {
        const char* value = rd_kafka_ConfigEntry_value(list[j]);
        configs[rd_kafka_ConfigEntry_name(list[j])] = value ? value : "";
        if (rd_kafka_ConfigEntry_source(list[j]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
            value) {
          cluster[rd_kafka_ConfigResource_name(described[i])]
              .dynamic_configs[rd_kafka_ConfigEntry_name(list[j])] = value;
        }
      }
      cluster[rd_kafka_ConfigResource_name(described[i])].configs = configs;
    }
  } catch (const KafkaError& e) {
    std::cerr << "cf-topics: configs not described (" << e.what() << "); partitions only\n";
  }
  return cluster;
}

// Throws for the first topic whose admin request failed.
void throw_on_topic_errors(const rd_kafka_topic_result_t** results, size_t count,
                           const std::string& what) {
  for (size_t i = 0; i < count; ++i) {
    if (auto e = rd_kafka_topic_result_error(results[i])) {
      const char* detail = rd_kafka_topic_result_error_string(results[i]);
      throw KafkaError(what + (detail ? std::string(": ") + detail : ""), e);
    }
  }
}

void apply_actions(rd_kafka_t* rk, const std::vector<TopicSpec>& catalog,
                   const std::vector<TopicAction>& actions, int timeout_ms) {
  std::map<std::string, const TopicSpec*> specs;
  for (const auto& s : catalog) specs[s.name] = &s;
  QueueHandle queue(rd_kafka_queue_new(rk));
  char err[512];
  for (const auto& action : actions) {
    if (action.kind == TopicAction::Kind::kCreate) {
      const TopicSpec& spec = *specs.at(action.topic);
      NewTopicHandle topic(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                 spec.replication_factor, err, sizeof err));
      if (!topic) throw ConfigError(spec.name + ": " + err);
      for (const auto& [key, value] : action.configs) {
        rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str());
      }
      rd_kafka_NewTopic_t* list[] = {topic.get()};
      rd_kafka_CreateTopics(rk, list, 1, nullptr, queue.get());
      EventHandle event = wait_result(queue.get(), timeout_ms);
      size_t n = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &n);
      throw_on_topic_errors(results, n, "create " + spec.name);
    } else if (action.kind == TopicAction::Kind::kAddPartitions) {
      NewPartitionsHandle np(rd_kafka_NewPartitions_new(
          action.topic.c_str(), static_cast<size_t>(action.partitions), err, sizeof err));
      if (!np) throw ConfigError(action.topic + ": " + err);
      rd_kafka_NewPartitions_t* list[] = {np.get()};
      rd_kafka_CreatePartitions(rk, list, 1, nullptr, queue.get());
      EventHandle event = wait_result(queue.get(), timeout_ms);
      size_t n = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreatePartitions_result_topics(
          rd_kafka_event_CreatePartitions_result(event.get()), &n);
      throw_on_topic_errors(results, n, "add partitions to " + action.topic);
    } else if (action.kind == TopicAction::Kind::kAlterConfigs) {
      // AlterConfigs replaces a topic's whole dynamic config; the plan's set
      // is the topic's other overrides plus the catalog's managed keys.
      ConfigResourceHandle resource(
          rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, action.topic.c_str()));
      for (const auto& [key, value] : action.configs) {
        rd_kafka_ConfigResource_set_config(resource.get(), key.c_str(), value.c_str());
      }
      rd_kafka_ConfigResource_t* list[] = {resource.get()};
      rd_kafka_AlterConfigs(rk, list, 1, nullptr, queue.get());
      EventHandle event = wait_result(queue.get(), timeout_ms);
      size_t n = 0;
      const rd_kafka_ConfigResource_t** results = rd_kafka_AlterConfigs_result_resources(
          rd_kafka_event_AlterConfigs_result(event.get()), &n);
      for (size_t i = 0; i < n; ++i) {
        if (auto e = rd_kafka_ConfigResource_error(results[i]))
          throw KafkaError("alter configs of " + action.topic, e);
      }
    } else {
      continue;
    }
    std::cout << "applied  " << action.topic << ": " << action.description << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  KafkaSettings kafka;
  std::string catalog_path = default_topic_catalog_path(), log_level = "warn";
  bool apply = false, check = false;
  int timeout_ms = 30000;
  return cf::guarded_main("cf-topics", [&]() -> int {
    OptionsParser options("cf-topics",
                          "Applies topics/catalog.json to a Kafka cluster (dry run by default).");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("catalog", po::value(&catalog_path)->default_value(catalog_path),
                  "topic catalog")(
        "apply", po::bool_switch(&apply),
        "change the cluster (without it: dry run, print the difference)")(
        "check", po::bool_switch(&check), "exit 3 when the cluster differs from the catalog")(
        "timeout-ms", po::value(&timeout_ms)->default_value(timeout_ms), "per admin request");
    if (!options.parse(argc, argv)) return 0;
    init_logging("topics", log_level);
    auto catalog = parse_topic_catalog(read_file_or_throw(catalog_path, "--catalog"));
    KafkaHandle rk = admin_client(kafka);
    auto cluster = describe_cluster(rk.get(), catalog, timeout_ms);
    auto actions = plan_topics(catalog, cluster);
    size_t changes = 0;
    for (const auto& a : actions) {
      const char* verb =
          a.kind == TopicAction::Kind::kWarning ? "warning" : (apply ? "apply" : "would");
      changes += a.kind != TopicAction::Kind::kWarning;
      std::cout << verb << "  " << a.topic << ": " << a.description << "\n";
    }
    std::cout << catalog.size() << " catalog topic(s), " << changes << " change(s) "
              << (apply ? "to apply" : "needed (dry run)") << "\n";
    if (apply && changes) apply_actions(rk.get(), catalog, actions, timeout_ms);
    if (check && changes && !apply) return 3;
    return 0;
  });
}
