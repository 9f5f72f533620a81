#include "chaos_run.h"

#include <rapidjson/document.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "cf/json_parse.h"
#include "harness.h"

namespace cf::chaos {
namespace {

using Clock = std::chrono::steady_clock;

// The fleet: every processor of the topology behind the raw topics, two
// copies of each that keeps state, and two sinks.
struct Fleet {
  const test::TempDir& dir;
  const test::DevBroker& broker;
  std::map<std::string, std::vector<std::string>> argv;
  std::map<std::string, std::unique_ptr<test::Process>> running;

  Fleet(const test::TempDir& d, const test::DevBroker& b) : dir(d), broker(b) {
    auto common = [&](const std::string& binary, const std::string& name) {
      return std::vector<std::string>{test::bin(binary),
                                      "--brokers",
                                      broker.bootstrap(),
                                      "--metrics-port",
                                      "-1",
                                      "--state-dir",
                                      dir.file("state-" + name),
                                      "--instance-id",
                                      name,
                                      "--snapshot-interval-ms",
                                      "2000"};
    };
    for (const char* n : {"1", "2"}) {
      std::string v = std::string("validator-") + n;
      argv[v] = common("validator", v);
      argv[v].insert(argv[v].end(), {"--shops-file", dir.file("shops.json"), "--schema-dir",
                                     test::source_dir() + "/schemas"});
      std::string r = std::string("reconciler-") + n;
      argv[r] = common("reconciler", r);
      argv[r].insert(argv[r].end(), {"--sku-mapping", dir.file("skus.json")});
      argv[std::string("velocity-") + n] =
          common("inventory-velocity", std::string("velocity-") + n);
      argv[std::string("predictor-") + n] =
          common("stockout-predictor", std::string("predictor-") + n);
      argv[std::string("sink-") + n] = {test::bin("postgres-sink"),
                                        "--brokers",
                                        broker.bootstrap(),
                                        "--postgres-url-file",
                                        dir.file("pg.url"),
                                        "--migrations-dir",
                                        test::source_dir() + "/migrations",
                                        "--metrics-port",
                                        "-1",
                                        "--batch-max-records",
                                        "2000"};
    }
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (auto& [name, args] : argv) n.push_back(name);
    return n;
  }
  void start(const std::string& name) {
    running[name] = std::make_unique<test::Process>(argv.at(name), dir.file(name + ".log"));
  }
  void start_all() {
    for (auto& [name, args] : argv) start(name);
  }
  void stop_all() {
    for (auto& [name, p] : running) p->signal(SIGCONT), p->signal(SIGTERM);
    for (auto& [name, p] : running) p->wait(30000);
  }
};

std::string tail(const std::string& text, size_t bytes) {
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

RunResult run_once(const RunSettings& settings) {
  const auto started = Clock::now();
  RunResult result;
  result.seed = settings.seed;
  test::TempDir dir;
  test::TempPostgres postgres(dir);
  test::DevBroker broker(dir);
  if (test::Process({test::bin("cf-loadgen"), "--write-shops-file", dir.file("shops.json"),
                     "--write-sku-mapping-file", dir.file("skus.json")},
                    dir.file("files.log"))
          .wait(10000) != 0) {
    throw std::runtime_error("cf-loadgen could not write the reference files");
  }
  std::ofstream(dir.file("pg.url")) << postgres.url();
  Fleet fleet(dir, broker);
  fleet.start_all();

  const auto generator = test::pipeline_generator_settings(std::time(nullptr));
  const test::Truth truth = test::ground_truth(generator, settings.webhooks);
  const int64_t feed_ms =
      static_cast<int64_t>(settings.webhooks) * 1000 / std::max(1, settings.rate);
  result.faults = plan_faults(settings.seed, settings.faults, feed_ms, fleet.names());

  // The schedule: each fault and its end as timed actions. Outages of the
  // broker or PostgreSQL may overlap: the service goes down at the first
  // one's start and comes back at the last one's end (starting a PostgreSQL
  // that is already up fails; bringing the broker up early would shorten
  // the second outage).
  std::multimap<int64_t, std::function<void()>> actions;
  int brokers_down = 0, postgres_down = 0;
  for (const Fault& f : result.faults) {
    switch (f.kind) {
      case FaultKind::kKill9:
        actions.emplace(f.at_ms, [&fleet, name = f.target] { fleet.running.at(name)->kill9(); });
        actions.emplace(f.at_ms + f.duration_ms, [&fleet, name = f.target] {
          if (!fleet.running.at(name)->running()) fleet.start(name);
        });
        break;
      case FaultKind::kPause:
        actions.emplace(f.at_ms,
                        [&fleet, name = f.target] { fleet.running.at(name)->signal(SIGSTOP); });
        actions.emplace(f.at_ms + f.duration_ms,
                        [&fleet, name = f.target] { fleet.running.at(name)->signal(SIGCONT); });
        break;
      case FaultKind::kBrokerDown:
        actions.emplace(f.at_ms, [&broker, &brokers_down] {
          if (brokers_down++ == 0) broker.command("down all");
        });
        actions.emplace(f.at_ms + f.duration_ms, [&broker, &brokers_down] {
          if (--brokers_down == 0) broker.command("up all");
        });
        break;
      case FaultKind::kRequestErrors:
        actions.emplace(f.at_ms, [&broker, cmd = f.target] { broker.command("error " + cmd); });
        break;
      case FaultKind::kPostgresRestart:
        actions.emplace(f.at_ms, [&postgres, &postgres_down] {
          if (postgres_down++ == 0) postgres.stop();
        });
        actions.emplace(f.at_ms + f.duration_ms, [&postgres, &postgres_down] {
          if (--postgres_down == 0) postgres.start();
        });
        break;
    }
  }

  std::vector<std::string> feed_args{
      test::bin("cf-loadgen"), "--to-kafka", "--brokers",
      broker.bootstrap(),      "--rate",     std::to_string(settings.rate)};
  for (auto& a : test::loadgen_args(generator, settings.webhooks)) feed_args.push_back(a);
  test::Process feed(feed_args, dir.file("feed.log"));
  const auto feed_start = Clock::now();
  for (auto& [at_ms, action] : actions) {
    std::this_thread::sleep_until(feed_start + std::chrono::milliseconds(at_ms));
    action();
  }
  auto fed = feed.wait(static_cast<int>(feed_ms) + 180000);
  if (!fed || *fed != 0)
    result.check.first_difference = "the load generator did not finish: " + tail(feed.log(), 400);

  // Converge: ticks move the windows and flush coalesced snapshots.
  const auto deadline = Clock::now() + std::chrono::seconds(settings.converge_timeout_s);
  while (Clock::now() < deadline &&
         result.check.first_difference.rfind("the load generator", 0) != 0) {
    test::Process({test::bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic",
                   "inventory.events", "--topic", "events.validated", "--count", "1"},
                  dir.file("ticker.log"))
        .wait(30000);
    result.check = test::check_tables(postgres.url(), truth);
    if (result.check.matches()) break;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  for (auto& [name, p] : fleet.running) {
    if (!p->running()) result.crashed.push_back(name);
  }
  // Where a stock level is off: is it the ledger (the last velocity snapshot
  // says the same) or the sink (the snapshot has the expected figure)?
  if (!result.check.stock_off.empty()) {
    std::map<std::string, std::pair<int64_t, std::string>> latest;  // key -> (version, record)
    for (const auto& r : test::read_all(broker.bootstrap(), "inventory.velocity")) {
      rapidjson::Document d;
      if (!cf::parse_json(d, r.value) || !d.IsObject()) continue;
      auto version = d.FindMember("version"), creator = d.FindMember("creator_id"),
           sku = d.FindMember("product_sku");
      if (version == d.MemberEnd() || !version->value.IsInt64() || creator == d.MemberEnd() ||
          !creator->value.IsString() || sku == d.MemberEnd() || !sku->value.IsString()) {
        continue;
      }
      std::string key =
          std::string(d["creator_id"].GetString()) + "|" + d["product_sku"].GetString();
      if (!result.check.stock_off.count(key)) continue;
      if (!latest.count(key) || latest[key].first <= d["version"].GetInt64())
        latest[key] = {d["version"].GetInt64(), r.value};
    }
    for (const auto& [key, off] : result.check.stock_off) {
      result.diagnostics += "\n  " + key + ": PostgreSQL " + std::to_string(off.first) +
                            ", expected " + std::to_string(off.second) +
                            "; last inventory.velocity record: " +
                            (latest.count(key) ? latest[key].second : std::string("none"));
    }
  }
  if (!result.passed() && !settings.log_dir.empty()) {
    const std::string to = settings.log_dir + "/seed-" + std::to_string(settings.seed);
    std::filesystem::create_directories(to);
    for (auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().extension() == ".log") {
        std::filesystem::copy_file(entry.path(), to + "/" + entry.path().filename().string(),
                                   std::filesystem::copy_options::overwrite_existing);
      }
    }
  }
  fleet.stop_all();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

std::string describe(const RunResult& r) {
  std::ostringstream out;
  out << "seed " << r.seed << ": ";
  for (size_t i = 0; i < r.faults.size(); ++i) out << (i ? ", " : "") << describe(r.faults[i]);
  out << " -> " << (r.passed() ? "PASS" : "FAIL") << "; orders " << r.check.orders_found << "/"
      << r.check.orders_expected << " (lost " << r.check.orders_missing << ", duplicated "
      << r.check.orders_extra << "), duplicate events " << r.check.duplicate_events
      << ", revenue mismatches " << r.check.revenue_mismatches << ", stock "
      << r.check.stock_checked << " SKUs checked, " << r.check.stock_mismatches << " off, crashes "
      << r.crashed.size();
  for (auto& c : r.crashed) out << " " << c;
  if (!r.passed() && !r.check.first_difference.empty())
    out << "; first difference: " << r.check.first_difference;
  char secs[32];
  std::snprintf(secs, sizeof secs, " (%.0f s)", r.seconds);
  out << secs << r.diagnostics;
  return out.str();
}

}  // namespace cf::chaos
