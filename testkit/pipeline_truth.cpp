#include "pipeline_truth.h"

#include <rapidjson/document.h>

#include <pqxx/pqxx>
#include <set>

#include "cf/directory.h"
#include "cf/tiktok_order.h"

namespace cf::test {
namespace {

int64_t minor(const std::string& amount) {
  auto dot = amount.find('.');
  return std::stoll(amount.substr(0, dot)) * 100 +
         (dot == std::string::npos ? 0 : std::stoll(amount.substr(dot + 1)));
}

}  // namespace

GeneratorSettings pipeline_generator_settings(int64_t start_time_s, uint64_t seed) {
  GeneratorSettings g;
  g.seed = seed;
  g.skus = 60;
  g.event_seconds_per_webhook = 0.00025;
  g.start_time_s = start_time_s;
  return g;
}

std::vector<std::string> loadgen_args(const GeneratorSettings& g, int count) {
  return {"--seed",
          std::to_string(g.seed),
          "--skus",
          std::to_string(g.skus),
          "--event-seconds-per-webhook",
          "0.00025",
          "--start-time",
          std::to_string(g.start_time_s),
          "--count",
          std::to_string(count)};
}

Truth ground_truth(const GeneratorSettings& settings, int count) {
  WebhookGenerator generator(settings);
  ShopDirectory shops = ShopDirectory::from_json(generator.shop_directory_json());
  Truth truth;
  std::set<std::string> orders, paid;
  for (int i = 0; i < count; ++i) {
    GeneratedWebhook w = generator.next();
    if (w.expect != Expectation::kValid) continue;
    rapidjson::Document d;
    d.Parse(w.body.c_str());
    std::string creator, order, amount;
    bool is_paid = false;
    if (w.kind == "order") {
      // TikTok's notification says the status; the amount is in the order
      // detail that channel-api fetches (the one the generator gave the stub).
      creator = *shops.creator_of(d["shop_id"].GetString());
      order = std::string("tiktok:") + d["data"]["order_id"].GetString();
      rapidjson::Document detail;
      detail.Parse(w.order_detail.c_str());
      if (tiktok_status_is_paid(d["data"]["order_status"].GetString()) &&
          detail.HasMember("paid_time")) {
        is_paid = true;
        amount = detail["payment"]["total_amount"].GetString();
      }
    } else if (w.kind == "shopify" && w.shopify_topic != "inventory_levels/update") {
      creator = *shops.creator_of(w.shop_domain);
      order = "shopify:" + std::to_string(d["id"].GetInt64());
      is_paid = w.shopify_topic == "orders/create" &&
                std::string(d["financial_status"].GetString()) == "paid";
      amount = d["total_price"].GetString();
    } else {
      continue;
    }
    if (orders.insert(order).second) ++truth.orders[creator];
    if (is_paid && paid.insert(order).second) truth.revenue[creator] += minor(amount);
  }
  rapidjson::Document stock;
  std::string json = generator.stock_json();
  stock.Parse(json.c_str());
  for (auto& m : stock.GetObject()) truth.stock[m.name.GetString()] = m.value.GetInt64();
  return truth;
}

TableCheck check_tables(const std::string& url, const Truth& truth, size_t min_counted_skus) {
  TableCheck check;
  auto differ = [&](const std::string& what) {
    if (check.first_difference.empty()) check.first_difference = what;
  };
  try {
    pqxx::connection c(url);
    pqxx::work t(c);
    std::map<std::string, int64_t> orders, revenue, stock;
    for (auto r : t.exec("SELECT creator_id, count(*) FROM orders GROUP BY 1"))
      orders[r[0].c_str()] = r[1].as<int64_t>();
    for (auto r :
         t.exec("SELECT creator_id, sum(revenue_minor) FROM creator_daily_metrics GROUP BY 1 "
                "HAVING sum(revenue_minor) > 0")) {
      revenue[r[0].c_str()] = r[1].as<int64_t>();
    }
    for (auto r : t.exec("SELECT creator_id || '|' || product_sku, available FROM inventory_levels "
                         "WHERE counted")) {
      stock[r[0].c_str()] = r[1].as<int64_t>();
    }
    check.duplicate_events =
        t.exec1("SELECT count(*) - count(DISTINCT id) FROM events")[0].as<int64_t>();
    check.reachable = true;
    if (check.duplicate_events != 0)
      differ(std::to_string(check.duplicate_events) + " duplicate event ids in the event store");
    for (auto& [creator, n] : truth.orders) {
      check.orders_expected += n;
      int64_t found = orders.count(creator) ? orders[creator] : 0;
      if (found < n) check.orders_missing += n - found;
      if (found > n) check.orders_extra += found - n;
    }
    for (auto& [creator, n] : orders) {
      check.orders_found += n;
      if (!truth.orders.count(creator)) check.orders_extra += n;
    }
    if (check.orders_missing || check.orders_extra) {
      differ("orders: " + std::to_string(check.orders_found) + " in PostgreSQL, " +
             std::to_string(check.orders_expected) + " expected (" +
             std::to_string(check.orders_missing) + " missing, " +
             std::to_string(check.orders_extra) + " extra)");
    }
    for (auto& [creator, minor_units] : truth.revenue) {
      if (!revenue.count(creator) || revenue[creator] != minor_units) ++check.revenue_mismatches;
    }
    for (auto& [creator, minor_units] : revenue) {
      if (!truth.revenue.count(creator)) ++check.revenue_mismatches;
    }
    if (check.revenue_mismatches)
      differ("revenue differs for " + std::to_string(check.revenue_mismatches) + " creator(s)");
    for (auto& [key, units] : stock) {
      ++check.stock_checked;
      auto it = truth.stock.find(key);
      if (it == truth.stock.end() || it->second != units) {
        ++check.stock_mismatches;
        check.stock_off[key] = {units, it == truth.stock.end() ? -1 : it->second};
        differ("stock of " + key + ": " + std::to_string(units) + ", expected " +
               (it == truth.stock.end() ? std::string("none") : std::to_string(it->second)));
      }
    }
    if (static_cast<size_t>(check.stock_checked) < min_counted_skus) {
      differ("only " + std::to_string(check.stock_checked) + " counted SKUs so far");
    }
  } catch (const std::exception& e) {
    check.reachable = false;
    check.first_difference = e.what();
  }
  return check;
}

}  // namespace cf::test
