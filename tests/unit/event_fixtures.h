#pragma once
// Builders of domain events for transform tests.
#include <string>
#include <utility>
#include <vector>

#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/signature.h"

namespace cf::test {

constexpr int64_t kT0 = 1795000000000;  // 2026-11-18T...Z, a fixed event time base
constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;

inline std::string event_json(std::string_view type, std::string_view creator, int64_t at_ms,
                              const std::string& data_json, std::string_view id_seed,
                              std::string_view source = "tiktok_webhook",
                              std::string_view aggregate_id = "agg") {
  JsonBuilder w;
  EnvelopeFields f;
  f.event_type = type;
  f.aggregate_type = "inventory";
  f.aggregate_id = aggregate_id;
  f.creator_id = creator;
  f.occurred_at_ms = at_ms;
  f.source = source;
  f.correlation_id = "test";
  f.causation_id = id_seed;
  std::string id = deterministic_uuid(std::string(id_seed));
  begin_envelope(w, id, f);
  return w.take() + data_json + "}";
}

inline std::string items_json(const std::vector<std::pair<std::string, int>>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + std::string("{\"product_sku\":\"") + items[i].first +
           "\",\"quantity\":" + std::to_string(items[i].second) + "}";
  }
  return out + "]";
}

inline std::string sale(std::string_view creator, int64_t at_ms,
                        const std::vector<std::pair<std::string, int>>& items,
                        std::string_view id) {
  return event_json("inventory.sale_recorded", creator, at_ms,
                    "{\"channel\":\"tiktok\",\"order_id\":\"" + std::string(id) +
                        "\",\"items\":" + items_json(items) + "}",
                    "sale:" + std::string(id));
}

inline std::string cancel(std::string_view creator, int64_t at_ms,
                          const std::vector<std::pair<std::string, int>>& items, bool restock,
                          std::string_view id) {
  return event_json("inventory.sale_cancelled", creator, at_ms,
                    "{\"channel\":\"tiktok\",\"order_id\":\"" + std::string(id) +
                        "\",\"restock\":" + (restock ? "true" : "false") +
                        ",\"items\":" + items_json(items) + "}",
                    "cancel:" + std::string(id));
}

inline std::string stock_set(std::string_view creator, int64_t at_ms, std::string_view sku,
                             int64_t available, std::string_view id) {
  return event_json("inventory.stock_set", creator, at_ms,
                    "{\"channel\":\"tiktok\",\"product_sku\":\"" + std::string(sku) +
                        "\",\"channel_sku_id\":\"x\",\"available\":" + std::to_string(available) +
                        "}",
                    id, "scheduled_sync");
}

}  // namespace cf::test
