#pragma once
// The pipeline's ground truth: what the PostgreSQL read models must hold
// after the load generator's webhooks went through validator, reconciler,
// inventory-velocity, stockout-predictor and postgres-sink, computed by
// replaying the same seeded generator. Shared by the sink's integration tests
// and the fault campaign (cf-chaos).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cf/webhook_generator.h"

namespace cf::test {

struct Truth {
  std::map<std::string, int64_t> orders;   ///< creator -> distinct orders seen
  std::map<std::string, int64_t> revenue;  ///< creator -> sum of completed payments (minor units)
  std::map<std::string, int64_t> stock;    ///< creator|sku -> units
};

/// The generator settings the tests and the campaign use (seeded, 60 SKUs,
/// event time from `start_time_s` at 0.25 ms per webhook).
GeneratorSettings pipeline_generator_settings(int64_t start_time_s, uint64_t seed = 9);
/// cf-loadgen arguments that send the same `count` webhooks.
std::vector<std::string> loadgen_args(const GeneratorSettings& g, int count);
/// Replays the generator and derives what the tables must hold.
Truth ground_truth(const GeneratorSettings& settings, int count);

/// What the read models hold against the truth.
struct TableCheck {
  bool reachable = false;  ///< PostgreSQL answered
  int64_t orders_expected = 0;
  int64_t orders_found = 0;
  int64_t orders_missing = 0;      ///< per creator, fewer than expected (lost)
  int64_t orders_extra = 0;        ///< per creator, more than expected (duplicated or foreign)
  int64_t duplicate_events = 0;    ///< event ids stored more than once
  int64_t revenue_mismatches = 0;  ///< creators whose revenue differs
  int64_t stock_checked = 0;
  int64_t stock_mismatches = 0;
  std::map<std::string, std::pair<int64_t, int64_t>>
      stock_off;                 ///< creator|sku -> (in PostgreSQL, expected)
  std::string first_difference;  ///< empty when everything matches
  bool matches() const { return reachable && first_difference.empty(); }
};
/// Reads the tables at `url` and compares them with `truth`. Stock is checked
/// for every counted SKU; at least `min_counted_skus` must be counted.
TableCheck check_tables(const std::string& url, const Truth& truth, size_t min_counted_skus = 100);

}  // namespace cf::test
