// cf-chaos: the randomized fault campaign. Each run starts the topology (two
// copies of every stateful processor and of the sink), feeds it, injects
// seeded faults (kill -9, SIGSTOP past the session timeout, broker down,
// injected request errors, PostgreSQL restart) and compares the PostgreSQL
// read models with the load generator's ground truth. `--seed S --runs 1`
// replays run S's schedule.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "cf/config.h"
#include "cf/errors.h"
#include "cf/main_guard.h"
#include "chaos_run.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::chaos::RunSettings run;
  int runs = 1;
  return cf::guarded_main("cf-chaos", [&]() -> int {
    cf::OptionsParser options("cf-chaos", "Randomized fault campaign against the whole topology.");
    options.add()("runs", po::value(&runs)->default_value(runs), "runs; run i uses seed S+i")(
        "seed", po::value(&run.seed)->default_value(run.seed), "seed of the first run")(
        "webhooks", po::value(&run.webhooks)->default_value(run.webhooks), "webhooks per run")(
        "rate", po::value(&run.rate)->default_value(run.rate),
        "webhooks/s (the feed lasts webhooks/rate s)")(
        "faults", po::value(&run.faults)->default_value(run.faults), "faults per run")(
        "converge-timeout-s",
        po::value(&run.converge_timeout_s)->default_value(run.converge_timeout_s),
        "how long the read models may take to reach the ground truth after the feed")(
        "log-dir", po::value(&run.log_dir)->default_value("chaos-logs"),
        "where a failing run's logs are copied");
    if (!options.parse(argc, argv)) return 0;
    if (runs < 1 || run.webhooks < 1 || run.rate < 1 || run.faults < 0) {
      throw cf::ConfigError(
          "--runs, --webhooks and --rate must be positive, --faults not negative");
    }
    // The fleet's binaries sit next to this one.
    const std::string self = std::filesystem::canonical("/proc/self/exe").parent_path().string();
    setenv("CF_BIN_DIR", self.c_str(), 0);
    setenv("CF_SOURCE_DIR", CF_SOURCE_DIR, 0);
    std::map<std::string, int> faults_by_kind;
    int passed = 0, crashes = 0;
    int64_t orders_checked = 0, stock_checked = 0, lost = 0, duplicated = 0;
    std::vector<uint64_t> failing;
    const uint64_t first_seed = run.seed;
    for (int i = 0; i < runs; ++i) {
      run.seed = first_seed + static_cast<uint64_t>(i);
      cf::chaos::RunResult r = cf::chaos::run_once(run);
      std::printf("chaos run %d/%d %s\n", i + 1, runs, cf::chaos::describe(r).c_str());
      std::fflush(stdout);
      for (auto& f : r.faults) ++faults_by_kind[cf::chaos::to_string(f.kind)];
      orders_checked += r.check.orders_expected;
      stock_checked += r.check.stock_checked;
      lost += r.check.orders_missing + r.check.stock_mismatches + r.check.revenue_mismatches;
      duplicated += r.check.orders_extra + r.check.duplicate_events;
      crashes += static_cast<int>(r.crashed.size());
      if (r.passed()) {
        ++passed;
      } else {
        failing.push_back(r.seed);
      }
    }
    std::printf("chaos campaign: %d run(s), %d passed; faults:", runs, passed);
    for (auto& [kind, n] : faults_by_kind) std::printf(" %s=%d", kind.c_str(), n);
    std::printf(
        "; checked %lld orders and %lld SKU stock levels; lost or wrong %lld, duplicated %lld, "
        "crashes %d\n",
        static_cast<long long>(orders_checked), static_cast<long long>(stock_checked),
        static_cast<long long>(lost), static_cast<long long>(duplicated), crashes);
    for (uint64_t s : failing) {
      std::printf("replay a failing run: ./cf chaos --seed %llu --runs 1 (logs in %s/seed-%llu)\n",
                  static_cast<unsigned long long>(s), run.log_dir.c_str(),
                  static_cast<unsigned long long>(s));
    }
    return failing.empty() ? 0 : 1;
  });
}
