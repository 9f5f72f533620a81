#pragma once
// Parsing of the development broker's fault commands (one per line):
//   down <broker|all>            take a broker (or every broker) down
//   up <broker|all>              bring it back
//   rtt <broker|all> <ms>        add round-trip time
//   error <api> <code> <count>   fail the next <count> requests of <api>
//                                (name such as Produce, Fetch, Metadata, or its number)
//   quit                         stop the broker
#include <cstdint>
#include <optional>
#include <string>

namespace cf {

struct FaultCommand {
  enum class Kind { kDown, kUp, kRtt, kError, kQuit } kind;
  int broker = 0;  ///< 0 = all
  int rtt_ms = 0;
  int16_t api_key = 0;
  int error_code = 0;
  int count = 0;
};

/// Parses one line; on failure returns nullopt and sets `error`.
std::optional<FaultCommand> parse_fault_command(const std::string& line, std::string& error);

}  // namespace cf
