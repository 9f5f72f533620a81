// Google Benchmark of the pure transforms (no Kafka): where the validator's
// CPU goes per record.
#include <benchmark/benchmark.h>

#include <vector>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/schemas.h"
#include "cf/signature.h"
#include "cf/state_store.h"
#include "cf/webhook_generator.h"
#include "velocity_engine.h"
#include "webhook_validator.h"

namespace {

struct Fixture {
  cf::SchemaRegistry schemas = cf::SchemaRegistry::load_directory(cf::default_schema_directory());
  cf::WebhookGenerator generator{cf::GeneratorSettings{}};
  cf::ShopDirectory shops = cf::ShopDirectory::from_json(generator.shop_directory_json());
  std::vector<cf::GeneratedWebhook> webhooks;
  Fixture() {
    while (webhooks.size() < 4096) {
      auto w = generator.next();
      if (w.expect == cf::Expectation::kValid) webhooks.push_back(std::move(w));
    }
  }
  cf::RawWebhook raw(size_t i) const {
    const auto& w = webhooks[i % webhooks.size()];
    cf::RawWebhook r;
    r.body = w.body;
    r.source = w.path == "/webhooks/tiktok" ? "tiktok" : "shipping";
    r.provider = "shipfast";
    r.request_id = "bench";
    r.received_at_ms = 1795000000000;
    return r;
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_ValidateAndNormalise(benchmark::State& state) {
  auto& f = fixture();
  cf::WebhookValidator validator(f.schemas, f.shops);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(validator.validate(f.raw(i++)));
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_ValidateAndNormalise);

void BM_ParseOnly(benchmark::State& state) {
  auto& f = fixture();
  size_t i = 0;
  for (auto _ : state) {
    rapidjson::Document doc;
    auto raw = f.raw(i++);
    benchmark::DoNotOptimize(cf::parse_json(doc, raw.body));  // what the validator runs
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_ParseOnly);

void BM_EnvelopeSchemaOnly(benchmark::State& state) {
  auto& f = fixture();
  std::vector<rapidjson::Document> docs(64);
  for (size_t k = 0; k < docs.size(); ++k) {
    const auto& body = f.webhooks[k].body;
    cf::parse_json(docs[k], body);
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& d = docs[i++ % docs.size()];
    benchmark::DoNotOptimize(f.schemas.validate(
        d.HasMember("tts_notification_id") ? "tiktok_webhook" : "shipping_webhook", d));
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_EnvelopeSchemaOnly);

void BM_DedupCheck(benchmark::State& state) {
  cf::TtlDedupStore store("cl", 0, "t|", 24LL * 3600 * 1000);
  std::vector<cf::OutputRecord> out;
  int64_t i = 0;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(store.check("tiktok:" + std::to_string(i), 1795000000000 + i, i, out));
    ++i;
  }
  state.SetItemsProcessed(i);
}
BENCHMARK(BM_DedupCheck);

void BM_TikTokSignature(benchmark::State& state) {
  auto& f = fixture();
  size_t i = 0;
  for (auto _ : state) {
    const auto& w = f.webhooks[i++ % f.webhooks.size()];
    benchmark::DoNotOptimize(
        cf::verify_tiktok_signature("cf-dev-app", "cf-dev-app-secret", w.body, w.authorization));
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_TikTokSignature);

}  // namespace

namespace {

void BM_OrderDataSchemaOnly(benchmark::State& state) {
  auto& f = fixture();
  std::vector<rapidjson::Document> docs;
  for (const auto& w : f.webhooks) {
    if (w.kind != "order") continue;
    docs.emplace_back();
    cf::parse_json(docs.back(), w.body);
    if (docs.size() == 64) break;
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        f.schemas.validate("tiktok_order_status_change", docs[i++ % docs.size()]["data"]));
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_OrderDataSchemaOnly);

}  // namespace
namespace {
void BM_DeterministicUuid(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(cf::deterministic_uuid("tiktok:742-" + std::to_string(i++) + ":0"));
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_DeterministicUuid);
}  // namespace

BENCHMARK_MAIN();

namespace {

// inventory-velocity's transform on sales spread over 10,000 SKUs.
void BM_VelocitySale(benchmark::State& state) {
  cf::VelocityEngine engine(cf::VelocitySettings{}, cf::VelocityTopics{});
  cf::InventoryPartitionState ledger("changelog", 0);
  std::vector<std::string> sales;
  for (int i = 0; i < 4096; ++i) {
    cf::JsonBuilder w;
    cf::EnvelopeFields f;
    f.event_type = "inventory.sale_recorded";
    f.aggregate_type = "inventory";
    f.aggregate_id = "o";
    std::string creator = "creator-" + std::to_string(i % 50);
    f.creator_id = creator;
    f.occurred_at_ms = 1795000000000 + i;
    f.source = "tiktok_webhook";
    cf::begin_envelope(w, cf::deterministic_uuid(std::to_string(i)), f);
    sales.push_back(w.take() +
                    R"({"channel":"tiktok","order_id":"o","items":[{"product_sku":"CF-)" +
                    std::to_string((i * 7919) % 200) + R"(","quantity":1}]}})");
  }
  std::vector<cf::OutputRecord> out;
  int64_t offset = 0;
  for (auto _ : state) {
    out.clear();
    engine.on_event(ledger, sales[static_cast<size_t>(offset) % sales.size()], offset, out);
    ++offset;
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_VelocitySale);

}  // namespace
