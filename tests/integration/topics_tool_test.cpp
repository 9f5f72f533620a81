// cf-topics against the development broker: the dry run shows the difference
// between a catalog and the cluster and --check turns drift into exit code 3.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace cf::test {
namespace {

TEST(TopicsTool, DryRunShowsTheDifference) {
  TempDir dir;
  DevBroker broker(dir);
  Process in_sync({bin("cf-topics"), "--brokers", broker.bootstrap(), "--catalog",
                   source_dir() + "/topics/catalog.json", "--check", "--timeout-ms", "2000"},
                  dir.file("in-sync.log"));
  EXPECT_EQ(in_sync.wait(60000), 0) << in_sync.log();
  EXPECT_NE(in_sync.log().find(" 0 change(s) needed (dry run)"), std::string::npos)
      << in_sync.log();

  std::ofstream(dir.file("catalog.json"))
      << R"({"topics":[{"name":"brand.new","partitions":4},{"name":"events.validated","partitions":16}]})";
  Process drift({bin("cf-topics"), "--brokers", broker.bootstrap(), "--catalog",
                 dir.file("catalog.json"), "--check", "--timeout-ms", "2000"},
                dir.file("drift.log"));
  EXPECT_EQ(drift.wait(60000), 3) << drift.log();
  EXPECT_NE(drift.log().find("would  brand.new: create with 4 partitions"), std::string::npos)
      << drift.log();
  EXPECT_NE(drift.log().find("would  events.validated: partitions 12 -> 16"), std::string::npos);

  Process bad(
      {bin("cf-topics"), "--brokers", broker.bootstrap(), "--catalog", dir.file("nope.json")},
      dir.file("bad.log"));
  EXPECT_EQ(bad.wait(30000), 2);
  EXPECT_NE(bad.log().find("--catalog: cannot read"), std::string::npos) << bad.log();
}

}  // namespace
}  // namespace cf::test
