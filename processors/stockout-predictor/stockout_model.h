#pragma once
// stockout-predictor's model (README: "Stockout model"): time to stockout
// from the SKU's sales rate with a 90% Poisson interval, reorder suggestions,
// and alerts raised and cleared on state transitions only.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/output_journal.h"
#include "cf/records.h"

namespace cf {

struct ReorderSettings {
  double lead_time_days = 7;
  double review_period_days = 7;
  double service_z = 1.645;          ///< safety stock at a ~95% service level
  double low_stock_hours = 48;       ///< low_stock below this time to stockout
  double critical_stock_hours = 12;  ///< critical_stock below this
};

/// Per-SKU settings from a JSON file:
/// {"default": {...ReorderSettings fields...}, "skus": {"<product_sku>": {...}}}.
class ReorderCatalog {
 public:
  static ReorderCatalog from_json(const std::string& json);  ///< throws std::invalid_argument
  const ReorderSettings& for_sku(std::string_view sku) const;
  const ReorderSettings& defaults() const { return defaults_; }

 private:
  ReorderSettings defaults_;
  std::unordered_map<std::string, ReorderSettings> skus_;
};

/// Quantile of the chi-square distribution (Wilson-Hilferty; within 0.5% for k >= 2).
double chi_square_quantile(double p, double degrees_of_freedom);

/// 90% interval of a Poisson rate from `count` events over `hours`.
struct RateInterval {
  double low = 0;
  double high = 0;
};
RateInterval poisson_rate_interval_90(int64_t count, double hours);

struct Prediction {
  double rate_per_hour = 0;
  std::string rate_basis;  ///< "1h" or "24h": which window the rate came from
  int64_t units_behind_rate = 0;
  std::optional<double> hours_to_stockout;  ///< none when nothing sells
  std::optional<double> hours_low;          ///< 90% interval; none = unbounded
  std::optional<double> hours_high;
  int64_t reorder_quantity = 0;
  double demand_during_cover = 0;
  double safety_stock = 0;
};

/// rate = the larger of the 1 h and 24 h rates (a spike shortens the horizon
/// at once, a lull does not lengthen it); time = available / rate.
Prediction predict(int64_t available, int64_t sales_1h, int64_t sales_24h,
                   const ReorderSettings& settings);

enum AlertBit : uint32_t {
  kLowStock = 1,
  kCriticalStock = 2,
  kViralSpike = 4,
  kStockout = 8,
};

/// Raise at the threshold, clear only past threshold * clear_factor (or on
/// the opposite condition), so a SKU hovering at a threshold does not flap.
uint32_t next_alert_state(uint32_t current, int64_t available, const Prediction& p, bool viral,
                          double spike_ratio, const ReorderSettings& settings, double clear_factor,
                          double viral_clear_ratio);

struct PredictorSkuState {
  int64_t applied_offset = -1;
  int64_t version = -1;  ///< velocity snapshot version last applied
  uint32_t alerts = 0;
  OutputJournal journal;
};

struct PredictorCodec {
  using Value = PredictorSkuState;
  static std::string encode(const Value& v);
  static bool decode(std::string_view text, Value& v);
};
using PredictorStore = KeyedStore<PredictorCodec>;

struct PredictorTopics {
  std::string predictions = "inventory.predictions";
  std::string alerts = "inventory.alerts";
};

struct PredictorCounters {
  uint64_t predictions = 0;
  uint64_t alerts_raised = 0;
  uint64_t alerts_cleared = 0;
  uint64_t replays = 0;
  uint64_t stale = 0;
};

class StockoutPredictor {
 public:
  StockoutPredictor(ReorderCatalog catalog, PredictorTopics topics, double clear_factor = 1.2,
                    double viral_clear_ratio = 2.5);
  /// One inventory.velocity snapshot at `offset`; inputs of this partition
  /// below `completed_below` are fully acknowledged. Throws
  /// std::invalid_argument for a malformed snapshot.
  void on_velocity(PredictorStore& store, std::string_view json, int64_t offset,
                   int64_t completed_below, std::vector<OutputRecord>& outputs);
  const PredictorCounters& counters() const { return counters_; }

 private:
  ReorderCatalog catalog_;
  PredictorTopics topics_;
  double clear_factor_;
  double viral_clear_ratio_;
  PredictorCounters counters_;
};

}  // namespace cf
