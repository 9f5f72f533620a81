// kill -9 the validator mid-stream and restart it: the output set is still
// complete (repeats on the topic are allowed, losses and strangers are not),
// and the restarted copy restores its dedup store from the changelog.
#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "harness.h"

namespace cf::test {
namespace {

TEST(ValidatorKill9, RestartLosesNothing) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  auto start_validator = [&](const std::string& log, int metrics_port) {
    return std::make_unique<Process>(
        std::vector<std::string>{bin("validator"), "--brokers", broker.bootstrap(), "--shops-file",
                                 dir.file("shops.json"), "--schema-dir", source_dir() + "/schemas",
                                 "--state-dir", dir.file("validator-state"), "--metrics-port",
                                 std::to_string(metrics_port)},
        dir.file(log));
  };
  int first_port = free_port();
  auto first = start_validator("validator-1.log", first_port);

  // Feed 24000 raw records at 2000/s straight into the raw topics while the
  // validator runs, so the kill lands mid-stream, after some of its outputs and
  // changelog writes were acknowledged and while the feed is still going.
  Process feed({bin("cf-loadgen"), "--to-kafka", "--brokers", broker.bootstrap(), "--count",
                "24000", "--rate", "2000", "--seed", "21", "--duplicates", "0.1", "--report",
                dir.file("report.jsonl")},
               dir.file("feed.log"));
  ASSERT_TRUE(wait_until(
      [&] { return scrape_metric(first_port, "cf_outputs_acknowledged_total") > 12000; }, 60000))
      << first->log();
  first->kill9();
  ASSERT_TRUE(feed.running()) << "the feed should still be running when the validator dies";
  size_t changelog_records = read_all(broker.bootstrap(), "validator.dedup.changelog").size();
  EXPECT_GT(changelog_records, 0u) << "the first copy wrote its dedup store to the changelog";

  int second_port = free_port();
  auto second = start_validator("validator-2.log", second_port);
  ASSERT_EQ(feed.wait(120000), 0) << feed.log();

  std::set<std::string> expected;
  std::set<std::string> all_generated;
  for (const auto& r : read_report(dir.file("report.jsonl"))) {
    for (auto& id : r.event_ids) expected.insert(id);
  }
  std::map<std::string, int> counts;
  bool complete = wait_until(
      [&] {
        counts = event_id_counts(broker.bootstrap(), "events.validated");
        size_t present = 0;
        for (auto& id : expected) present += counts.count(id);
        return present == expected.size();
      },
      90000, 1000);
  size_t missing = 0, strangers = 0, repeats = 0;
  for (auto& id : expected) missing += counts.count(id) ? 0 : 1;
  for (auto& [id, n] : counts) {
    strangers += expected.count(id) ? 0 : 1;
    repeats += static_cast<size_t>(n - 1);
  }
  EXPECT_TRUE(complete);
  EXPECT_EQ(missing, 0u) << "events lost across kill -9";
  EXPECT_EQ(strangers, 0u) << "events nobody sent";
  std::cout << "kill -9 test: " << expected.size() << " expected events, " << repeats
            << " repeats after the restart (allowed)" << std::endl;
  // The second copy restored the dedup store the first one wrote.
  EXPECT_NE(second->log().find("of validator.dedup.changelog:"), std::string::npos)
      << second->log();
  EXPECT_GT(scrape_metric(second_port, "cf_state_restored_records_total"), 0);
  second->signal(SIGTERM);
  EXPECT_EQ(second->wait(30000), 0);
}

}  // namespace
}  // namespace cf::test
