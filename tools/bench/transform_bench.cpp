// Google Benchmark of the pure transforms (no Kafka): where the validator's
// CPU goes per record.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <vector>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/schemas.h"
#include "cf/signature.h"
#include "cf/state_store.h"
#include "cf/webhook_generator.h"
#include "raw_webhook.h"
#include "reconciler.h"
#include "stockout_model.h"
#include "validator_handler.h"
#include "velocity_engine.h"
#include "webhook_validator.h"

namespace {

struct Fixture {
  cf::SchemaRegistry schemas = cf::SchemaRegistry::load_directory(cf::default_schema_directory());
  cf::WebhookGenerator generator{cf::GeneratorSettings{}};
  cf::ShopDirectory shops = cf::ShopDirectory::from_json(generator.shop_directory_json());
  std::vector<cf::GeneratedWebhook> webhooks;
  std::vector<std::string> enriched;  ///< what the validator reads for each (raw_webhook)
  Fixture() {
    while (webhooks.size() < 4096) {
      auto w = generator.next();
      if (w.expect == cf::Expectation::kValid) webhooks.push_back(std::move(w));
    }
    enriched.resize(webhooks.size());
  }
  cf::RawWebhook raw(size_t i) {
    const size_t k = i % webhooks.size();
    cf::RawWebhook r = cf::test::raw_webhook(webhooks[k], "aftership", enriched[k]);
    r.request_id = "bench";
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
        d.HasMember("tts_notification_id") ? "tiktok_webhook" : "aftership_tracking_webhook", d));
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

namespace {

size_t heap_bytes_in_use() { return mallinfo2().uordblks; }

// Heap bytes per key of every processor's state, measured, not estimated:
// glibc's count of bytes in use before and after a fresh store is filled by
// the real transforms from generated traffic (validator -> dedup,
// reconciler, inventory-velocity, stockout model). The inputs of each stage
// are built first, outside the measured window; outputs are discarded.
void BM_StateMemoryPerKey(benchmark::State& state) {
  constexpr int64_t kHour = 3600 * 1000;
  for (auto _ : state) {
    cf::GeneratorSettings settings;
    settings.seed = 11;
    cf::WebhookGenerator generator{settings};
    auto shops = cf::ShopDirectory::from_json(generator.shop_directory_json());
    cf::WebhookValidator validator(fixture().schemas, shops);
    std::vector<std::pair<std::string, cf::ValidationOutcome>> valid;  // body, outcome
    while (valid.size() < 20000) {
      cf::GeneratedWebhook w = generator.next();
      if (w.expect != cf::Expectation::kValid) continue;
      std::string storage;
      const cf::RawWebhook raw = cf::test::raw_webhook(w, settings.shipping_provider, storage);
      auto outcome = validator.validate(raw);
      if (outcome.valid) valid.emplace_back(w.body, std::move(outcome));
    }
    cf::Reconciler reconciler(cf::ReconcilerSettings{}, cf::ReconcilerTopics{}, cf::SkuMapping{});
    cf::VelocityEngine velocity(cf::VelocitySettings{}, cf::VelocityTopics{});
    cf::StockoutPredictor predictor(cf::ReorderCatalog::from_json("{}"), cf::PredictorTopics{});
    std::vector<cf::OutputRecord> out;
    out.reserve(256);
    // A stage over all its inputs into `store`; with `collect`, the outputs
    // on `topic` (the next stage's inputs) are kept.
    auto collect_from = [&](std::vector<std::string>* collect, const char* topic) {
      if (!collect) return;
      for (auto& r : out)
        if (r.topic == topic) collect->push_back(r.value);
    };
    auto reconcile = [&](cf::EntityStore& entities, std::vector<std::string>* collect) {
      int64_t offset = 0;
      for (auto& [body, outcome] : valid) {
        for (auto& event : outcome.events) {
          out.clear();
          reconciler.on_event(entities, event.json, offset, offset, out);
          ++offset;
          collect_from(collect, "inventory.events");
        }
      }
    };
    std::vector<std::string> inventory_events, velocity_records;
    auto track = [&](cf::InventoryPartitionState& ledger, std::vector<std::string>* collect) {
      for (size_t i = 0; i < inventory_events.size(); ++i) {
        out.clear();
        velocity.on_event(ledger, inventory_events[i], static_cast<int64_t>(i), out);
        collect_from(collect, "inventory.velocity");
      }
    };
    {  // Unmeasured: each stage's inputs.
      cf::EntityStore entities("c", 0);
      cf::InventoryPartitionState ledger("c", 0);
      reconcile(entities, &inventory_events);
      track(ledger, &velocity_records);
    }
    auto measure = [&](const char* name, auto make, auto fill) {
      const size_t before = heap_bytes_in_use();
      auto store = make();
      fill(*store);
      const size_t keys = store->size();
      const double bytes = static_cast<double>(heap_bytes_in_use() - before);
      state.counters[std::string(name) + "_keys"] = static_cast<double>(keys);
      state.counters[std::string(name) + "_B_per_key"] =
          keys ? bytes / static_cast<double>(keys) : 0;
    };
    measure(
        "dedup", [] { return std::make_unique<cf::DedupPartition>("c", 0, 96 * kHour); },
        [&](cf::DedupPartition& d) {
          int64_t offset = 0;
          for (auto& [body, outcome] : valid) {
            out.clear();
            cf::dedup_webhook(d.store("webhooks.tiktok.raw"), outcome, body, offset++, out);
          }
        });
    measure(
        "reconciler", [] { return std::make_unique<cf::EntityStore>("c", 0); },
        [&](cf::EntityStore& entities) { reconcile(entities, nullptr); });
    measure(
        "velocity", [] { return std::make_unique<cf::InventoryPartitionState>("c", 0); },
        [&](cf::InventoryPartitionState& ledger) { track(ledger, nullptr); });
    measure(
        "predictor", [] { return std::make_unique<cf::PredictorStore>("c", 0); },
        [&](cf::PredictorStore& store) {
          for (size_t i = 0; i < velocity_records.size(); ++i) {
            out.clear();
            const auto offset = static_cast<int64_t>(i);
            predictor.on_velocity(store, velocity_records[i], offset, offset, out);
          }
        });
  }
}
BENCHMARK(BM_StateMemoryPerKey)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
