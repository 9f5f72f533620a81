// The fault campaign's schedule: seeded (a failing seed replays the same
// faults), in time order, within the window, every kind reachable, pauses
// past the development profile's 6 s session timeout.
#include "chaos_plan.h"

#include <gtest/gtest.h>

#include <set>

namespace cf::chaos {
namespace {

const std::vector<std::string> kProcesses{"validator-1", "velocity-2", "sink-1"};

TEST(ChaosPlan, TheSameSeedGivesTheSameSchedule) {
  auto a = plan_faults(42, 5, 30000, kProcesses);
  auto b = plan_faults(42, 5, 30000, kProcesses);
  ASSERT_EQ(a.size(), 5u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(describe(a[i]), describe(b[i]));
  auto c = plan_faults(43, 5, 30000, kProcesses);
  std::string sa, sc;
  for (auto& f : a) sa += describe(f);
  for (auto& f : c) sc += describe(f);
  EXPECT_NE(sa, sc) << "another seed, another schedule";
}

TEST(ChaosPlan, FaultsAreOrderedBoundedAndCoverEveryKind) {
  std::set<FaultKind> kinds;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto faults = plan_faults(seed, 4, 20000, kProcesses);
    for (size_t i = 0; i < faults.size(); ++i) {
      const Fault& f = faults[i];
      kinds.insert(f.kind);
      if (i) {
        EXPECT_LE(faults[i - 1].at_ms, f.at_ms);
      }
      EXPECT_GE(f.at_ms, 1000);
      EXPECT_LT(f.at_ms, 20000);
      if (f.kind == FaultKind::kPause) {
        EXPECT_GT(f.duration_ms, 6000) << "a pause must outlast the session timeout";
      }
      if (f.kind == FaultKind::kKill9 || f.kind == FaultKind::kPause) {
        EXPECT_TRUE(std::set<std::string>(kProcesses.begin(), kProcesses.end()).count(f.target))
            << f.target;
      }
      if (f.kind == FaultKind::kRequestErrors) {
        EXPECT_FALSE(f.target.empty());
      }
    }
  }
  EXPECT_EQ(kinds.size(), 5u) << "every kind of fault appears within 50 seeds";
}

}  // namespace
}  // namespace cf::chaos
