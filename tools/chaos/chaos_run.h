#pragma once
// One run of the fault campaign: the whole topology with two copies of every
// stateful processor and of the sink, on the development broker and a
// throwaway PostgreSQL, fed by the load generator while the planned faults
// hit it; then the read models are compared with the generator's ground truth.
#include <cstdint>
#include <string>
#include <vector>

#include "chaos_plan.h"
#include "pipeline_truth.h"

namespace cf::chaos {

struct RunSettings {
  uint64_t seed = 1;
  int webhooks = 6000;
  int rate = 500;  ///< webhooks/s fed to the raw topics
  int faults = 3;
  int converge_timeout_s = 150;  ///< after the feed and the last fault
  std::string log_dir;           ///< a failing run's logs are copied here
};

struct RunResult {
  uint64_t seed = 0;
  std::vector<Fault> faults;
  test::TableCheck check;
  std::vector<std::string> crashed;  ///< processes that exited on their own
  double seconds = 0;
  std::string diagnostics;  ///< what a failing run found out about its differences
  bool passed() const { return check.matches() && crashed.empty(); }
};

RunResult run_once(const RunSettings& settings);

/// One line: seed, faults, verdict and the figures behind it.
std::string describe(const RunResult& result);

}  // namespace cf::chaos
