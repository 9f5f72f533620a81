#pragma once
// The fault campaign's schedule: which faults hit which process when. Pure
// and seeded, so a failing run's seed replays the same schedule.
#include <cstdint>
#include <string>
#include <vector>

namespace cf::chaos {

enum class FaultKind { kKill9, kPause, kBrokerDown, kRequestErrors, kPostgresRestart };
const char* to_string(FaultKind kind);

struct Fault {
  FaultKind kind;
  int64_t at_ms;        ///< after the feed starts
  int64_t duration_ms;  ///< until restart / SIGCONT / broker up / PostgreSQL start; 0 for request
                        ///< errors
  std::string target;   ///< the process (kill9, pause) or the broker command (request errors)
};

/// `count` faults in [1 s, window_ms) after the feed starts, in time order.
/// Pauses last past the development profile's 6 s session timeout.
std::vector<Fault> plan_faults(uint64_t seed, int count, int64_t window_ms,
                               const std::vector<std::string>& processes);

/// "kill9(velocity-2 @4.1s, back after 2.0s)" and the like.
std::string describe(const Fault& fault);

}  // namespace cf::chaos
