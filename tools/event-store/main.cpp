// cf-events: the event store from the command line.
//   cf-events aggregate --id <aggregate id> [--from-version N]   replay one aggregate
//   cf-events by-type --type <event type> --from <RFC 3339> --to <RFC 3339> [--limit N]
//   cf-events stream [--after <cursor>] [--limit N]              everything, cursor-paginated
//   cf-events append --file <events.jsonl>                       idempotent on event ids
//   cf-events ensure-partitions [--months-ahead N]
//   cf-events retention --before <RFC 3339> [--apply]            detach and drop old months
// Output: one JSON envelope per line on stdout; cursors and summaries on stderr.
#include <rapidjson/document.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cf/config.h"
#include "cf/errors.h"
#include "cf/event_store.h"
#include "cf/json_parse.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/row_fields.h"
#include "cf/time_format.h"

namespace {

int64_t parse_time(const std::string& text, const char* option) {
  auto t = cf::parse_rfc3339_ms(text);
  if (!t)
    throw cf::ConfigError(std::string(option) + ": expected an RFC 3339 time, got '" + text + "'");
  return *t;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  const std::string usage =
      "cf-events aggregate|by-type|stream|append|ensure-partitions|retention [options]";
  std::string command = argc > 1 ? argv[1] : "";
  std::string url_file, id, type, from, to, after, file, before, log_level = "warn";
  int64_t from_version = 0, limit = 1000;
  int months_ahead = 2;
  bool apply = false;
  return cf::guarded_main("cf-events", [&]() -> int {
    cf::OptionsParser options("cf-events", "Reads and maintains the event store. Usage: " + usage);
    options.add_logging_options(log_level);
    options.add()("postgres-url-file", po::value(&url_file),
                  "file holding the connection string (default: env CF_POSTGRES_URL)")(
        "id", po::value(&id), "aggregate id (aggregate)")("from-version", po::value(&from_version),
                                                          "first version (aggregate)")(
        "type", po::value(&type), "event type (by-type)")("from", po::value(&from),
                                                          "start time, inclusive (by-type)")(
        "to", po::value(&to), "end time, exclusive (by-type)")(
        "after", po::value(&after), "cursor from a previous page (stream)")(
        "limit", po::value(&limit)->default_value(limit), "events per page")(
        "file", po::value(&file), "JSON lines (append)")(
        "months-ahead", po::value(&months_ahead)->default_value(months_ahead),
        "partitions to create ahead")("before", po::value(&before),
                                      "drop months wholly before this time (retention)")(
        "apply", po::bool_switch(&apply), "retention: really detach and drop (default: list only)");
    if (command.empty() || command[0] == '-') {
      options.parse(argc, argv);
      std::cerr << "usage: " << usage << "\n";
      return command == "--help" || command == "-h" ? 0 : 2;
    }
    if (!options.parse(argc - 1, argv + 1)) return 0;
    cf::init_logging("cf-events", log_level);
    pqxx::connection connection(
        cf::secret_from_file_or_env(url_file, "--postgres-url-file", "CF_POSTGRES_URL"));
    cf::EventStore store(connection);
    auto print = [](const std::vector<cf::StoredEvent>& events) {
      for (const auto& e : events) std::cout << e.envelope_json() << "\n";
    };
    if (command == "aggregate") {
      if (id.empty()) throw cf::ConfigError("--id: required");
      print(store.aggregate(id, from_version));
    } else if (command == "by-type") {
      if (type.empty() || from.empty() || to.empty())
        throw cf::ConfigError("--type, --from and --to: required");
      print(store.by_type(type, parse_time(from, "--from"), parse_time(to, "--to"), limit));
    } else if (command == "stream") {
      cf::EventCursor cursor;
      try {
        cursor = cf::EventCursor::parse(after);
      } catch (const std::invalid_argument& e) {
        throw cf::ConfigError(std::string("--after: ") + e.what());
      }
      auto page = store.stream(cursor, limit);
      print(page);
      std::cerr << "next cursor: " << cursor.text()
                << (page.size() < static_cast<size_t>(limit) ? " (end)" : "") << "\n";
    } else if (command == "append") {
      std::ifstream in(file);
      if (!in) throw cf::ConfigError("--file: cannot read '" + file + "'");
      std::vector<cf::EventRow> rows;
      std::string line;
      int line_number = 0;
      while (std::getline(in, line)) {
        ++line_number;
        if (line.empty()) continue;
        rapidjson::Document envelope;
        cf::JsonParseError error;
        if (!cf::parse_json(envelope, line, error)) {
          throw cf::ConfigError("--file line " + std::to_string(line_number) + ": " + error.code +
                                " (" + error.detail + ")");
        }
        try {
          rows.push_back(cf::event_row(envelope));
        } catch (const cf::ProjectionError& e) {
          throw cf::ConfigError("--file line " + std::to_string(line_number) + ": " + e.what());
        }
      }
      std::cerr << "appended " << store.append(rows) << " new of " << rows.size() << " event(s)\n";
    } else if (command == "ensure-partitions") {
      for (const auto& name : store.ensure_partitions(months_ahead))
        std::cerr << "partition " << name << "\n";
    } else if (command == "retention") {
      if (before.empty()) throw cf::ConfigError("--before: required");
      auto old = store.retention(parse_time(before, "--before"), apply);
      for (const auto& [name, upper] : old) {
        std::cerr << (apply ? "dropped " : "would drop ") << name << " (events before " << upper
                  << ")\n";
      }
      if (!apply) std::cerr << old.size() << " partition(s); run again with --apply to drop them\n";
    } else {
      throw cf::ConfigError("unknown command '" + command + "'; usage: " + usage);
    }
    return 0;
  });
}
