#include "topic_plan.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TopicSpec spec(const std::string& name, int partitions, const std::string& cleanup = "delete") {
  TopicSpec s;
  s.name = name;
  s.partitions = partitions;
  s.replication_factor = 3;
  s.cleanup_policy = cleanup;
  s.retention_ms = 1000;
  return s;
}

TEST(TopicPlan, CreatesMissingGrowsPartitionsAndFixesConfigs) {
  std::map<std::string, ExistingTopic> cluster;
  cluster["grow"] = {
      4, 3,
      std::map<std::string, std::string>{
          {"cleanup.policy", "delete"}, {"retention.ms", "1000"}, {"min.insync.replicas", "2"}}};
  cluster["drift"] = {
      6,
      3,
      std::map<std::string, std::string>{
          {"cleanup.policy", "delete"}, {"retention.ms", "5"}, {"min.insync.replicas", "2"}},
      {{"retention.ms", "5"}, {"max.message.bytes", "2097152"}}};
  cluster["same"] = {
      6, 3,
      std::map<std::string, std::string>{
          {"cleanup.policy", "compact"}, {"retention.ms", "1000"}, {"min.insync.replicas", "2"}}};
  auto actions = plan_topics(
      {spec("new", 3), spec("grow", 6), spec("drift", 6), spec("same", 6, "compact")}, cluster);
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(actions[0].kind, TopicAction::Kind::kCreate);
  EXPECT_EQ(actions[0].topic, "new");
  EXPECT_EQ(actions[0].configs.at("retention.ms"), "1000");
  EXPECT_EQ(actions[1].kind, TopicAction::Kind::kAddPartitions);
  EXPECT_EQ(actions[1].partitions, 6);
  EXPECT_EQ(actions[2].kind, TopicAction::Kind::kAlterConfigs);
  EXPECT_EQ(actions[2].description, "retention.ms 5 -> 1000");
  // AlterConfigs replaces every override: the topic's own one is resent.
  EXPECT_EQ(actions[2].configs, (std::map<std::string, std::string>{
                                    {"max.message.bytes", "2097152"}, {"retention.ms", "1000"}}));
}

TEST(TopicPlan, NeverShrinksAndWarnsAboutWhatItCannotDo) {
  std::map<std::string, ExistingTopic> cluster;
  cluster["big"] = {12, 1, std::nullopt};
  auto actions = plan_topics({spec("big", 6)}, cluster);
  ASSERT_EQ(actions.size(), 3u);
  for (const auto& a : actions) EXPECT_EQ(a.kind, TopicAction::Kind::kWarning) << a.description;
  EXPECT_NE(actions[0].description.find("cannot shrink"), std::string::npos);
  EXPECT_NE(actions[1].description.find("replication factor 1"), std::string::npos);
}

}  // namespace
}  // namespace cf
