// The inventory path's transforms chained in-process (validator -> reconciler
// -> inventory-velocity) over generated webhooks of both channels: every
// counted SKU's ledger equals the generator's ground truth. No broker.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <utility>

#include "cf/webhook_generator.h"
#include "raw_webhook.h"
#include "reconciler.h"
#include "velocity_engine.h"
#include "webhook_validator.h"

namespace cf {
namespace {

/// (event seconds per webhook, how many webhooks Shopify's topic lags TikTok's)
class PipelineTruth : public ::testing::TestWithParam<std::pair<double, int>> {};

TEST_P(PipelineTruth, LedgerEqualsGeneratorUnitsForEveryCountedSku) {
  GeneratorSettings settings;
  settings.event_seconds_per_webhook = GetParam().first;
  // Positive: Shopify lags; negative: TikTok (orders and counts) lags.
  const size_t lag = static_cast<size_t>(std::abs(GetParam().second));
  const std::string lagging = GetParam().second >= 0 ? "shopify" : "order";
  settings.seed = 5;
  settings.skus = 60;
  settings.oversize_share = 0;
  WebhookGenerator generator(settings);
  auto schemas = SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  ShopDirectory shops = ShopDirectory::from_json(generator.shop_directory_json());
  WebhookValidator validator(schemas, shops);
  Reconciler reconciler(ReconcilerSettings{}, ReconcilerTopics{},
                        SkuMapping::from_json(generator.sku_mapping_json()));
  VelocityEngine velocity(VelocitySettings{}, VelocityTopics{});
  EntityStore entities("e", 0);
  InventoryPartitionState ledger("l", 0);
  std::map<std::string, bool> seen_ids;
  int64_t offset = 0;
  // The validator reads the channels' raw topics independently: Shopify's
  // webhooks may reach the reconciler `lag` webhooks late.
  std::deque<GeneratedWebhook> delayed;
  std::vector<GeneratedWebhook> order;
  for (int i = 0; i < 20000; ++i) {
    GeneratedWebhook w = generator.next();
    if ((w.kind == lagging || (lagging == "order" && w.kind == "stock")) && lag > 0) {
      delayed.push_back(std::move(w));
      if (delayed.size() > lag) {
        order.push_back(std::move(delayed.front()));
        delayed.pop_front();
      }
      continue;
    }
    order.push_back(std::move(w));
  }
  for (auto& w : delayed) order.push_back(std::move(w));
  for (GeneratedWebhook& w : order) {
    if (w.expect == Expectation::kBadSignature || w.expect == Expectation::kOversize) continue;
    std::string storage;
    const RawWebhook raw = test::raw_webhook(w, settings.shipping_provider, storage);
    auto out = validator.validate(raw);
    if (!out.valid || seen_ids[out.idempotency_key])
      continue;  // rejected, or a duplicate the dedup drops
    seen_ids[out.idempotency_key] = true;
    for (auto& event : out.events) {
      std::vector<OutputRecord> resolved;
      reconciler.on_event(entities, event.json, offset, offset, resolved);
      ++offset;
      std::vector<OutputRecord> velocity_out;
      for (auto& r : resolved) {
        if (r.topic != "inventory.events") continue;
        const char* watch = std::getenv("CF_WATCH");
        if (watch && r.key == std::string(watch).substr(0, std::string(watch).find('|')) &&
            r.value.find("\"" + std::string(watch).substr(std::string(watch).find('|') + 1) +
                         "\"") != std::string::npos) {
          std::cout << "PIPE gen#" << w.sequence << " "
                    << r.value.substr(r.value.find("occurred_at") + 25, 8) << " "
                    << r.value.substr(r.value.find("\"data\""), 160) << "\n";
        }
        velocity.on_event(ledger, r.value, offset++, velocity_out);
      }
    }
  }
  rapidjson::Document truth;
  std::string truth_json = generator.stock_json();
  truth.Parse(truth_json.c_str());
  size_t compared = 0, matching = 0;
  for (auto& [key, l] : ledger.ledgers()) {
    if (l.last_set_ms < 0) continue;
    std::string name = l.creator_id + "|" + l.product_sku;
    ASSERT_TRUE(truth.HasMember(name.c_str())) << name;
    ++compared;
    if (l.available() == truth[name.c_str()].GetInt64()) {
      ++matching;
    } else {
      ADD_FAILURE() << name << ": ledger " << l.available() << ", generator "
                    << truth[name.c_str()].GetInt64();
    }
  }
  EXPECT_GT(compared, 300u);
  EXPECT_EQ(matching, compared);
}

// 0.05 s of event time per webhook (days of history in a run) and 0.25 ms
// (thousands of webhooks in one second, where counts and sales share seconds);
// Shopify lagging by 300 of its webhooks (~0.5 s at 0.25 ms) or 100 (~33 s
// at 0.05 s), both inside the 60 s allowed lateness.
INSTANTIATE_TEST_SUITE_P(EventTimePaceAndSkew, PipelineTruth,
                         ::testing::Values(std::make_pair(0.05, 0), std::make_pair(0.00025, 0),
                                           std::make_pair(0.00025, 300), std::make_pair(0.05, 100),
                                           std::make_pair(0.00025, -300),
                                           std::make_pair(0.05, -100)));

}  // namespace
}  // namespace cf
