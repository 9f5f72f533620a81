#include "chaos_plan.h"

#include <algorithm>
#include <cstdio>
#include <random>

namespace cf::chaos {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill9:
      return "kill9";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kBrokerDown:
      return "broker_down";
    case FaultKind::kRequestErrors:
      return "request_errors";
    case FaultKind::kPostgresRestart:
      return "postgres_restart";
  }
  return "?";
}

std::vector<Fault> plan_faults(uint64_t seed, int count, int64_t window_ms,
                               const std::vector<std::string>& processes) {
  // Retriable errors only: what a healthy cluster answers during leader
  // moves and coordinator changes (NOT_LEADER_FOR_PARTITION 6,
  // REQUEST_TIMED_OUT 7, NOT_COORDINATOR 16).
  static const char* const kRequestErrors[] = {"Produce 6 3",    "Produce 7 2",
                                               "Fetch 6 3",      "OffsetCommit 16 2",
                                               "Heartbeat 16 2", "JoinGroup 16 1"};
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::vector<Fault> faults;
  for (int i = 0; i < count; ++i) {
    Fault f{static_cast<FaultKind>(uniform(0, 4)),
            uniform(1000, std::max<int64_t>(1001, window_ms - 1)), 0, ""};
    switch (f.kind) {
      case FaultKind::kKill9:
        f.target =
            processes[static_cast<size_t>(uniform(0, static_cast<int64_t>(processes.size()) - 1))];
        f.duration_ms = uniform(500, 4000);
        break;
      case FaultKind::kPause:
        f.target =
            processes[static_cast<size_t>(uniform(0, static_cast<int64_t>(processes.size()) - 1))];
        f.duration_ms = uniform(7000, 10000);
        break;
      case FaultKind::kBrokerDown:
        f.duration_ms = uniform(1000, 5000);
        break;
      case FaultKind::kRequestErrors:
        f.target = kRequestErrors[uniform(0, std::size(kRequestErrors) - 1)];
        break;
      case FaultKind::kPostgresRestart:
        f.duration_ms = uniform(1000, 4000);
        break;
    }
    faults.push_back(f);
  }
  std::sort(faults.begin(), faults.end(),
            [](const Fault& a, const Fault& b) { return a.at_ms < b.at_ms; });
  return faults;
}

std::string describe(const Fault& f) {
  char buf[160];
  const double at = static_cast<double>(f.at_ms) / 1000,
               lasting = static_cast<double>(f.duration_ms) / 1000;
  switch (f.kind) {
    case FaultKind::kKill9:
      std::snprintf(buf, sizeof buf, "kill9(%s @%.1fs, back after %.1fs)", f.target.c_str(), at,
                    lasting);
      break;
    case FaultKind::kPause:
      std::snprintf(buf, sizeof buf, "pause(%s @%.1fs for %.1fs)", f.target.c_str(), at, lasting);
      break;
    case FaultKind::kBrokerDown:
      std::snprintf(buf, sizeof buf, "broker_down(all @%.1fs for %.1fs)", at, lasting);
      break;
    case FaultKind::kRequestErrors:
      std::snprintf(buf, sizeof buf, "request_errors(%s @%.1fs)", f.target.c_str(), at);
      break;
    case FaultKind::kPostgresRestart:
      std::snprintf(buf, sizeof buf, "postgres_restart(@%.1fs, down %.1fs)", at, lasting);
      break;
  }
  return buf;
}

}  // namespace cf::chaos
