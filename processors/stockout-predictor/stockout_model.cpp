#include "stockout_model.h"

#include <rapidjson/document.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/signature.h"

namespace cf {
namespace {

void read_settings(const rapidjson::Value& object, ReorderSettings& s, const std::string& where) {
  if (!object.IsObject()) throw std::invalid_argument(where + ": must be an object");
  struct Field {
    const char* name;
    double* target;
  } fields[] = {{"lead_time_days", &s.lead_time_days},
                {"review_period_days", &s.review_period_days},
                {"service_z", &s.service_z},
                {"low_stock_hours", &s.low_stock_hours},
                {"critical_stock_hours", &s.critical_stock_hours}};
  for (auto& m : object.GetObject()) {
    bool known = false;
    for (auto& f : fields) {
      if (m.name != f.name) continue;
      known = true;
      if (!m.value.IsNumber() || m.value.GetDouble() < 0) {
        throw std::invalid_argument(where + "." + f.name + ": must be a non-negative number");
      }
      *f.target = m.value.GetDouble();
    }
    if (!known)
      throw std::invalid_argument(where + ": unknown setting '" + m.name.GetString() + "'");
  }
  if (s.critical_stock_hours > s.low_stock_hours) {
    throw std::invalid_argument(where + ": critical_stock_hours must not exceed low_stock_hours");
  }
}

std::optional<double> finite(double v) {
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

void optional_hours(JsonBuilder& w, const char* key, const std::optional<double>& v) {
  w.key(key);
  if (v) {
    w.fixed(*v, 2);
  } else {
    w.null();
  }
}

const char* alert_name(uint32_t bit) {
  switch (bit) {
    case kLowStock:
      return "low_stock";
    case kCriticalStock:
      return "critical_stock";
    case kViralSpike:
      return "viral_spike";
    default:
      return "stockout";
  }
}

const char* alert_severity(uint32_t bit) {
  switch (bit) {
    case kLowStock:
      return "warning";
    case kViralSpike:
      return "info";
    default:
      return "critical";
  }
}

}  // namespace

ReorderCatalog ReorderCatalog::from_json(const std::string& json) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok || !doc.IsObject()) {
    throw std::invalid_argument("reorder settings: not a JSON object");
  }
  ReorderCatalog catalog;
  if (doc.HasMember("default")) read_settings(doc["default"], catalog.defaults_, "default");
  if (doc.HasMember("skus")) {
    if (!doc["skus"].IsObject()) throw std::invalid_argument("skus: must be an object");
    for (auto& m : doc["skus"].GetObject()) {
      ReorderSettings s = catalog.defaults_;
      read_settings(m.value, s, std::string("skus.") + m.name.GetString());
      catalog.skus_[m.name.GetString()] = s;
    }
  }
  return catalog;
}

const ReorderSettings& ReorderCatalog::for_sku(std::string_view sku) const {
  auto it = skus_.find(std::string(sku));
  return it == skus_.end() ? defaults_ : it->second;
}

double chi_square_quantile(double p, double k) {
  if (k <= 0) return 0;
  // Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
  auto normal_quantile = [](double q) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (q < 0.02425) {
      double t = std::sqrt(-2 * std::log(q));
      return (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
             ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    }
    if (q > 1 - 0.02425) {
      double t = std::sqrt(-2 * std::log(1 - q));
      return -(((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
             ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    }
    double t = q - 0.5, r = t * t;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * t /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  };
  double z = normal_quantile(p);
  double h = 2.0 / (9.0 * k);
  double base = 1 - h + z * std::sqrt(h);
  return base <= 0 ? 0 : k * base * base * base;
}

RateInterval poisson_rate_interval_90(int64_t count, double hours) {
  RateInterval r;
  if (hours <= 0) return r;
  r.low = count == 0 ? 0 : chi_square_quantile(0.05, 2.0 * static_cast<double>(count)) / 2 / hours;
  r.high = chi_square_quantile(0.95, 2.0 * static_cast<double>(count) + 2) / 2 / hours;
  return r;
}

Prediction predict(int64_t available, int64_t sales_1h, int64_t sales_24h,
                   const ReorderSettings& s) {
  Prediction p;
  const double rate_1h = static_cast<double>(sales_1h);
  const double rate_24h = static_cast<double>(sales_24h) / 24.0;
  const bool hourly = rate_1h > rate_24h;
  p.rate_per_hour = hourly ? rate_1h : rate_24h;
  p.rate_basis = hourly ? "1h" : "24h";
  p.units_behind_rate = hourly ? sales_1h : sales_24h;
  const double window_hours = hourly ? 1.0 : 24.0;
  const double stock = static_cast<double>(std::max<int64_t>(available, 0));
  if (available <= 0) {
    p.hours_to_stockout = p.hours_low = p.hours_high = 0.0;
  } else if (p.rate_per_hour > 0) {
    RateInterval interval = poisson_rate_interval_90(p.units_behind_rate, window_hours);
    p.hours_to_stockout = stock / p.rate_per_hour;
    p.hours_low = finite(stock / interval.high);
    p.hours_high = interval.low > 0 ? finite(stock / interval.low) : std::nullopt;
  }
  const double cover_days = s.lead_time_days + s.review_period_days;
  const double daily = p.rate_per_hour * 24.0;
  p.demand_during_cover = daily * cover_days;
  p.safety_stock = s.service_z * std::sqrt(daily * cover_days);  // Poisson: variance = mean
  p.reorder_quantity =
      static_cast<int64_t>(std::max(0.0, std::ceil(p.demand_during_cover + p.safety_stock -
                                                   static_cast<double>(available) - 1e-9)));
  return p;
}

uint32_t next_alert_state(uint32_t current, int64_t available, const Prediction& p, bool viral,
                          double spike_ratio, const ReorderSettings& s, double clear_factor,
                          double viral_clear_ratio) {
  uint32_t next = current;
  auto band = [&](uint32_t bit, double threshold) {
    const bool below = p.hours_to_stockout && *p.hours_to_stockout < threshold;
    const bool clear = !p.hours_to_stockout || *p.hours_to_stockout >= threshold * clear_factor;
    if (below) next |= bit;
    if (clear) next &= ~bit;
  };
  band(kLowStock, s.low_stock_hours);
  band(kCriticalStock, s.critical_stock_hours);
  if (available <= 0) {
    next |= kStockout;
  } else {
    next &= ~static_cast<uint32_t>(kStockout);
  }
  if (viral) next |= kViralSpike;
  if (!viral && spike_ratio < viral_clear_ratio) next &= ~static_cast<uint32_t>(kViralSpike);
  return next;
}

std::string PredictorCodec::encode(const Value& v) {
  std::string out;
  BinaryWriter w(out);
  w.integer(v.applied_offset).integer(v.version).count(v.alerts);
  v.journal.encode(w);
  return out;
}

bool PredictorCodec::decode(std::string_view text, Value& v) {
  if (is_binary_state(text)) {
    BinaryReader r(text);
    uint64_t alerts = 0;
    if (!r.integer(v.applied_offset) || !r.integer(v.version) || !r.count(alerts, UINT32_MAX))
      return false;
    v.alerts = static_cast<uint32_t>(alerts);
    return v.journal.decode(r) && r.at_end();
  }
  // Written by earlier versions: "1|<offset>|<version>|<alerts>|<journal>".
  if (text.substr(0, 2) != "1|") return false;
  text.remove_prefix(2);
  int64_t fields[3];
  for (auto& f : fields) {
    auto bar = text.find('|');
    if (bar == std::string_view::npos) return false;
    if (std::from_chars(text.data(), text.data() + bar, f).ec != std::errc()) return false;
    text.remove_prefix(bar + 1);
  }
  v.applied_offset = fields[0];
  v.version = fields[1];
  v.alerts = static_cast<uint32_t>(fields[2]);
  return v.journal.decode_legacy(text);
}

StockoutPredictor::StockoutPredictor(ReorderCatalog catalog, PredictorTopics topics,
                                     double clear_factor, double viral_clear_ratio)
    : catalog_(std::move(catalog)),
      topics_(std::move(topics)),
      clear_factor_(clear_factor),
      viral_clear_ratio_(viral_clear_ratio) {}

void StockoutPredictor::on_velocity(PredictorStore& store, std::string_view json, int64_t offset,
                                    int64_t completed_below, std::vector<OutputRecord>& outputs) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, json);
  if (!doc_ok || !doc.IsObject()) {
    throw std::invalid_argument("velocity snapshot is not a JSON object");
  }
  const std::string creator(string_member(doc, "creator_id"));
  const std::string sku(string_member(doc, "product_sku"));
  const int64_t version = int_member(doc, "version", -1);
  const int64_t as_of = int_member(doc, "as_of_ms", -1);
  const int64_t available = int_member(doc, "available", INT64_MIN);
  const int64_t sales_1h = int_member(doc, "sales_1h", -1);
  const int64_t sales_24h = int_member(doc, "sales_24h", -1);
  auto viral_member = doc.FindMember("viral");
  auto ratio_member = doc.FindMember("spike_ratio");
  if (creator.empty() || sku.empty() || version < 0 || as_of < 0 || available == INT64_MIN ||
      sales_1h < 0 || sales_24h < 0 || viral_member == doc.MemberEnd() ||
      !viral_member->value.IsBool() || ratio_member == doc.MemberEnd() ||
      !ratio_member->value.IsNumber()) {
    throw std::invalid_argument(
        "velocity snapshot needs creator_id, product_sku, version, as_of_ms, available, sales_1h, "
        "sales_24h, viral and spike_ratio");
  }
  // No SKU holds or sells a trillion units: beyond that a snapshot is damaged,
  // and the figures derived from it (hours, demand) would leave the range our
  // own consumers read (found by the processor_decoders fuzz target).
  constexpr int64_t kMaxUnits = 1'000'000'000'000;
  if (available < -kMaxUnits || available > kMaxUnits || sales_1h > kMaxUnits ||
      sales_24h > kMaxUnits) {
    throw std::invalid_argument(
        "velocity snapshot: available, sales_1h and sales_24h must be within +-10^12 units");
  }
  // Until a channel count arrives the ledger knows sales but not stock: no
  // time to stockout, no stock alerts (older snapshots lack the field: counted).
  auto counted_member = doc.FindMember("counted");
  const bool counted = counted_member == doc.MemberEnd() || !counted_member->value.IsBool() ||
                       counted_member->value.GetBool();
  const std::string key = creator + "|" + sku;
  PredictorSkuState* existing = store.find(key);
  if (existing && offset <= existing->applied_offset) {
    ++counters_.replays;
    if (const auto* sent = existing->journal.find(offset)) {
      outputs.insert(outputs.end(), sent->begin(), sent->end());
    }
    return;
  }
  PredictorSkuState state = existing ? *existing : PredictorSkuState{};
  state.applied_offset = offset;
  std::vector<OutputRecord> produced;
  if (version < state.version) {
    ++counters_.stale;  // an older snapshot than one already applied
  } else {
    state.version = version;
    const ReorderSettings& settings = catalog_.for_sku(sku);
    Prediction p = predict(available, sales_1h, sales_24h, settings);
    if (!counted) p.hours_to_stockout = p.hours_low = p.hours_high = std::nullopt;
    const std::string as_of_text(string_member(doc, "as_of"));
    JsonBuilder w(640);
    w.begin_object();
    w.key("prediction_id")
        .string(deterministic_uuid("prediction|" + key + "|" + std::to_string(version) + "|" +
                                   std::to_string(as_of)));
    w.key("event_type").string("inventory.prediction_updated");
    w.key("creator_id").string(creator);
    w.key("product_sku").string(sku);
    w.key("version").number(version);
    w.key("as_of").string(as_of_text);
    w.key("as_of_ms").number(as_of);
    w.key("available").number(available);
    w.key("stock_known").boolean(counted);
    w.key("rate_per_hour").fixed(p.rate_per_hour, 4);
    w.key("rate_basis").string(p.rate_basis);
    w.key("units_behind_rate").number(p.units_behind_rate);
    optional_hours(w, "time_to_stockout_hours", p.hours_to_stockout);
    w.key("interval_90").begin_object();
    optional_hours(w, "low_hours", p.hours_low);
    optional_hours(w, "high_hours", p.hours_high);
    w.end_object();
    w.key("reorder").begin_object();
    w.key("quantity").number(p.reorder_quantity);
    w.key("lead_time_days").fixed(settings.lead_time_days, 2);
    w.key("review_period_days").fixed(settings.review_period_days, 2);
    w.key("demand_during_cover").fixed(p.demand_during_cover, 2);
    w.key("safety_stock").fixed(p.safety_stock, 2);
    w.end_object();
    w.end_object();
    produced.push_back({topics_.predictions,
                        creator,
                        w.take(),
                        {{"cf-event-type", "inventory.prediction_updated"}}});
    ++counters_.predictions;

    const uint32_t next =
        !counted ? state.alerts
                 : next_alert_state(state.alerts, available, p, viral_member->value.GetBool(),
                                    ratio_member->value.GetDouble(), settings, clear_factor_,
                                    viral_clear_ratio_);
    for (uint32_t bit : {kStockout, kCriticalStock, kLowStock, kViralSpike}) {
      const bool was = state.alerts & bit, is = next & bit;
      if (was == is) continue;
      JsonBuilder a(512);
      a.begin_object();
      a.key("alert_id")
          .string(deterministic_uuid("alert|" + key + "|" + alert_name(bit) + "|" +
                                     std::to_string(version) + "|" + std::to_string(as_of)));
      a.key("event_type").string(is ? "inventory.alert_raised" : "inventory.alert_cleared");
      a.key("alert").string(alert_name(bit));
      a.key("state").string(is ? "raised" : "cleared");
      a.key("severity").string(alert_severity(bit));
      a.key("creator_id").string(creator);
      a.key("product_sku").string(sku);
      a.key("available").number(available);
      optional_hours(a, "time_to_stockout_hours", p.hours_to_stockout);
      a.key("rate_per_hour").fixed(p.rate_per_hour, 4);
      a.key("as_of").string(as_of_text);
      a.end_object();
      produced.push_back(
          {topics_.alerts,
           creator,
           a.take(),
           {{"cf-event-type", is ? "inventory.alert_raised" : "inventory.alert_cleared"}}});
      ++(is ? counters_.alerts_raised : counters_.alerts_cleared);
    }
    state.alerts = next;
  }
  outputs.insert(outputs.end(), produced.begin(), produced.end());
  state.journal.record(offset, std::move(produced), completed_below);
  store.put(key, std::move(state), outputs);
}

}  // namespace cf
