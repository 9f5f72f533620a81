#include "fault_commands.h"

#include <map>
#include <sstream>

namespace cf {
namespace {

bool parse_int(const std::string& text, int& out) {
  try {
    size_t used = 0;
    out = std::stoi(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

bool parse_broker(const std::string& text, int& broker) {
  if (text == "all") {
    broker = 0;
    return true;
  }
  return parse_int(text, broker) && broker > 0;
}

}  // namespace

std::optional<FaultCommand> parse_fault_command(const std::string& line, std::string& error) {
  static const std::map<std::string, int16_t> kApis = {
      {"Produce", 0},      {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
      {"OffsetCommit", 8}, {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
      {"Heartbeat", 12},   {"LeaveGroup", 13}, {"SyncGroup", 14},       {"InitProducerId", 22}};
  std::istringstream words(line);
  std::string verb;
  words >> verb;
  FaultCommand cmd{};
  std::string a, b, c, extra;
  words >> a >> b >> c >> extra;
  if (!extra.empty()) {
    error = "too many arguments";
    return std::nullopt;
  }
  if (verb == "quit") {
    cmd.kind = FaultCommand::Kind::kQuit;
    return cmd;
  }
  if (verb == "down" || verb == "up") {
    cmd.kind = verb == "down" ? FaultCommand::Kind::kDown : FaultCommand::Kind::kUp;
    if (!parse_broker(a, cmd.broker) || !b.empty()) {
      error = verb + " expects a broker id (1..n) or 'all'";
      return std::nullopt;
    }
    return cmd;
  }
  if (verb == "rtt") {
    cmd.kind = FaultCommand::Kind::kRtt;
    if (!parse_broker(a, cmd.broker) || !parse_int(b, cmd.rtt_ms) || cmd.rtt_ms < 0 || !c.empty()) {
      error = "rtt expects <broker|all> <milliseconds>";
      return std::nullopt;
    }
    return cmd;
  }
  if (verb == "error") {
    cmd.kind = FaultCommand::Kind::kError;
    int api = 0;
    auto named = kApis.find(a);
    if (named != kApis.end()) {
      cmd.api_key = named->second;
    } else if (parse_int(a, api) && api >= 0 && api < 100) {
      cmd.api_key = static_cast<int16_t>(api);
    } else {
      error =
          "error expects an API name (Produce, Fetch, Metadata, ...) or number, got '" + a + "'";
      return std::nullopt;
    }
    if (!parse_int(b, cmd.error_code) || !parse_int(c, cmd.count) || cmd.count < 1) {
      error = "error expects <api> <kafka error code> <count>";
      return std::nullopt;
    }
    return cmd;
  }
  error = verb.empty() ? "empty command" : "unknown command '" + verb + "'";
  return std::nullopt;
}

}  // namespace cf
