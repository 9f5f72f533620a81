// cf-bench: validator throughput next to a bare librdkafka consume->produce
// loop, on the same generated webhooks fed live into the development broker
// (it keeps only ~5 MiB per partition, so the input cannot be preloaded).
//   cf-bench --brokers B --mode passthrough|validator --records N
// Prints one line: mode, records, seconds, records/s, feeder records/s.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/kafka_handles.h"
#include "cf/keyed_state.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/schemas.h"
#include "cf/signature.h"
#include "cf/tiktok_order.h"
#include "cf/webhook_generator.h"
#include "cf/worker.h"
#include "validator_handler.h"
#include "velocity_handler.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

struct NullListener : cf::DeliveryListener {
  std::atomic<uint64_t> delivered{0}, failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error)
      failed.fetch_add(1);
    else
      delivered.fetch_add(1);
  }
};

std::vector<cf::OutputRecord> generate(size_t count, uint64_t seed,
                                       const std::string& topic_override) {
  cf::GeneratorSettings settings;
  settings.seed = seed;
  settings.oversize_share = 0;
  cf::WebhookGenerator generator(settings);
  std::vector<cf::OutputRecord> records;
  records.reserve(count);
  while (records.size() < count) {
    cf::GeneratedWebhook w = generator.next();
    if (w.expect == cf::Expectation::kBadSignature) continue;  // the ingest refuses those
    bool tiktok = w.path == "/webhooks/tiktok";
    cf::OutputRecord r;
    // What the validator reads: TikTok notifications as channel-api forwards them.
    r.topic = !topic_override.empty() ? topic_override
              : tiktok                ? "webhooks.tiktok.enriched"
                                      : "webhooks.shipping.raw";
    r.key = w.partition_key;
    std::string enriched = cf::enriched_record(w, 1795000000100);
    r.value = enriched.empty() ? std::move(w.body) : std::move(enriched);
    r.headers = {{"cf-source", tiktok ? "tiktok" : "shipping"},
                 {"cf-received-at", "1795000000000"},
                 {"cf-request-id", "bench-" + std::to_string(w.sequence)}};
    if (tiktok)
      r.headers.push_back(
          {cf::kEnrichmentHeader,
           std::string(enriched.empty() ? cf::kNotEnriched : cf::kEnrichedOrderDetail)});
    if (!tiktok) r.headers.push_back({"cf-provider", settings.shipping_provider});
    records.push_back(std::move(r));
  }
  return records;
}

// Records the measured loop has consumed; the feeder stays at most
// kFeedWindow ahead so the development broker (~5 MiB per partition) never
// drops input the loop has not read yet.
std::atomic<uint64_t> g_consumed{0};
constexpr uint64_t kFeedWindow = 100000;

// Produces every record as fast as the producer takes them (within the
// window); returns records/s.
double feed(const cf::KafkaSettings& kafka, const std::vector<cf::OutputRecord>& records) {
  NullListener listener;
  cf::Producer producer(kafka, "bench-feeder", &listener);
  auto start = Clock::now();
  uint64_t i = 0;
  for (const auto& r : records) {
    while (i >= g_consumed.load() + kFeedWindow) {
      producer.poll(1);
    }
    producer.produce(r, nullptr);
    if ((++i & 4095) == 0) producer.poll(0);
  }
  producer.flush(300000);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (listener.failed) std::cerr << "cf-bench: " << listener.failed << " feed records failed\n";
  return static_cast<double>(records.size()) / seconds;
}

// The ceiling: consume, produce the same bytes, no per-record bookkeeping.
double bare_loop(const cf::KafkaSettings& kafka, size_t expected, const std::string& input,
                 const std::string& output) {
  NullListener listener;
  cf::Producer producer(kafka, "bench-bare-producer", &listener);
  cf::KafkaHandle consumer =
      cf::make_client(kafka, cf::ClientRole::kConsumer,
                      {{"group.id", "bench-bare"}, {"auto.offset.reset", "earliest"}});
  rd_kafka_poll_set_consumer(consumer.get());
  cf::PartitionListHandle topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), input.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer.get(), topics.get());
  size_t consumed = 0;
  Clock::time_point first;
  cf::OutputRecord out{output, "", "", {}};
  auto last_progress = Clock::now();
  uint64_t last_delivered = 0;
  while (listener.delivered < expected) {
    if (listener.delivered != last_delivered) {
      last_delivered = listener.delivered;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > std::chrono::seconds(20)) {
      throw std::runtime_error("no progress for 20 s at " + std::to_string(last_delivered) +
                               " of " + std::to_string(expected));
    }
    cf::MessageHandle msg(rd_kafka_consumer_poll(consumer.get(), consumed < expected ? 1 : 10));
    if (msg && !msg->err) {
      if (consumed++ == 0) first = Clock::now();
      g_consumed.store(consumed, std::memory_order_relaxed);
      out.key.assign(static_cast<const char*>(msg->key), msg->key_len);
      out.value.assign(static_cast<const char*>(msg->payload), msg->len);
      producer.produce(out, nullptr);
    }
    producer.poll(0);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - first).count();
  rd_kafka_consumer_close(consumer.get());
  return static_cast<double>(expected) / seconds;
}

// The runtime with a copy-through handler: what the worker loop itself costs
// (per-input acknowledgement tracking, offset storing) without a transform.
class CopyThrough : public cf::RecordHandler {
 public:
  void handle(const cf::InputRecord& input, std::vector<cf::OutputRecord>& outputs) override {
    outputs.push_back({"bench.output", std::string(input.key()), std::string(input.value()), {}});
  }
};

double worker_loop(const cf::KafkaSettings& kafka, size_t expected, cf::RecordHandler& handler,
                   std::vector<std::string> inputs) {
  cf::WorkerSettings settings;
  settings.name = "validator";
  settings.group = "bench-validator";
  settings.kafka = kafka;
  settings.metrics_port = -1;
  settings.heartbeat_interval_ms = 0;
  cf::Worker worker(settings, inputs, handler);
  std::atomic<bool> stop{false};
  std::thread runner([&] { worker.run(stop); });
  // Throughput counts inputs whose outputs (events, rejections, changelog
  // writes) are all acknowledged: the same bar as the bare loop's deliveries.
  while (worker.stats().records_in == 0)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  auto first = Clock::now();
  auto last_progress = Clock::now();
  uint64_t last_completed = 0;
  while (worker.stats().records_completed < expected) {
    g_consumed.store(worker.stats().records_in.load(), std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    uint64_t completed = worker.stats().records_completed.load();
    if (completed != last_completed) {
      last_completed = completed;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > std::chrono::seconds(20)) {
      stop = true;
      runner.join();
      throw std::runtime_error("no progress for 20 s at " + std::to_string(completed) + " of " +
                               std::to_string(expected) + " (data lost: " +
                               std::to_string(worker.stats().data_loss_records.load()) + ")");
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - first).count();
  stop = true;
  runner.join();
  return static_cast<double>(expected) / seconds;
}

double validator_loop(const cf::KafkaSettings& kafka, size_t expected,
                      const std::string& state_dir) {
  auto schemas = cf::SchemaRegistry::load_directory(cf::default_schema_directory());
  cf::WebhookGenerator reference{cf::GeneratorSettings{}};
  auto shops = cf::ShopDirectory::from_json(reference.shop_directory_json());
  cf::WebhookValidator validator(schemas, shops);
  cf::WorkerSettings settings;
  settings.name = "validator";
  settings.group = "bench-validator";
  settings.kafka = kafka;
  settings.state_dir = state_dir;
  const cf::ValidatorTopics topics;
  cf::ValidatorHandler handler(
      validator, topics, cf::state_options(settings, topics.dedup_changelog), 24LL * 3600 * 1000);
  return worker_loop(kafka, expected, handler,
                     {"webhooks.tiktok.enriched", "webhooks.shipping.raw"});
}

// Inventory events as the reconciler writes them: 50 creators x 200 SKUs
// (Zipf), a count per SKU first, then sales of 1-2 SKUs; 1 ms of event time
// per record.
std::vector<cf::OutputRecord> generate_inventory(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> cdf;
  double total = 0;
  for (int k = 1; k <= 200; ++k) cdf.push_back(total += 1.0 / k);
  auto sku = [&] {
    double u = std::uniform_real_distribution<double>(0, total)(rng);
    return "CF-" + std::to_string(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  };
  std::vector<cf::OutputRecord> records;
  int64_t t = 1795000000000;
  auto envelope = [&](const std::string& type, const std::string& creator,
                      const std::string& data) {
    cf::JsonBuilder w(512);
    cf::EnvelopeFields f;
    f.event_type = type;
    f.aggregate_type = "inventory";
    f.aggregate_id = "bench";
    f.creator_id = creator;
    f.occurred_at_ms = t;
    f.source = "tiktok_webhook";
    f.correlation_id = "bench";
    f.causation_id = "bench";
    cf::begin_envelope(w, cf::deterministic_uuid(std::to_string(records.size())), f);
    return w.take() + data + "}";
  };
  for (int c = 0; c < 50 && records.size() < count; ++c) {
    for (int k = 0; k < 200 && records.size() < count; ++k) {
      std::string creator = "creator-" + std::to_string(c);
      cf::JsonBuilder data(128);
      data.begin_object()
          .key("channel")
          .string("tiktok")
          .key("product_sku")
          .string("CF-" + std::to_string(k));
      data.key("channel_sku_id").string("x").key("available").number(100000).end_object();
      records.push_back(
          {"inventory.events", creator, envelope("inventory.stock_set", creator, data.take())});
    }
  }
  while (records.size() < count) {
    ++t;
    std::string creator = "creator-" + std::to_string(rng() % 50);
    cf::JsonBuilder data(192);
    data.begin_object()
        .key("channel")
        .string("tiktok")
        .key("order_id")
        .string("o" + std::to_string(records.size()));
    data.key("items").begin_array();
    data.begin_object()
        .key("product_sku")
        .string(sku())
        .key("quantity")
        .number(static_cast<int64_t>(1 + rng() % 3))
        .end_object();
    if (rng() % 3 == 0)
      data.begin_object().key("product_sku").string(sku()).key("quantity").number(1).end_object();
    data.end_array().end_object();
    records.push_back(
        {"inventory.events", creator, envelope("inventory.sale_recorded", creator, data.take())});
  }
  return records;
}

double velocity_loop(const cf::KafkaSettings& kafka, size_t expected,
                     const std::string& state_dir) {
  cf::VelocityEngine engine(cf::VelocitySettings{}, cf::VelocityTopics{});
  cf::WorkerSettings settings;
  settings.name = "inventory-velocity";
  settings.group = "bench-velocity";
  settings.kafka = kafka;
  settings.state_dir = state_dir;
  cf::VelocityHandler handler(engine, cf::VelocityInputs{},
                              cf::state_options(settings, "inventory-velocity.ledger.changelog"));
  return worker_loop(kafka, expected, handler, {"inventory.events"});
}

// State restore speed: (1) changelog alone, every partition filled to about
// what the development broker keeps; (2) a local snapshot of 1M keys plus
// that changelog tail on one partition.
void restore_bench(const cf::KafkaSettings& kafka, size_t per_partition, const std::string& dir) {
  const std::string topic = "inventory-velocity.ledger.changelog";
  {
    NullListener listener;
    cf::Producer producer(kafka, "bench-changelog", &listener);
    for (int p = 0; p < 12; ++p) {
      for (size_t i = 0; i < per_partition; ++i) {
        cf::SkuLedger l;
        l.total = static_cast<int64_t>(i);
        l.version = static_cast<int64_t>(i);
        producer.produce(
            {topic,
             cf::ledger_key("creator-" + std::to_string(p), "SKU-" + std::to_string(i)),
             cf::encode_ledger(l),
             {},
             p},
            nullptr);
        if ((i & 1023) == 0) producer.poll(0);
      }
    }
    producer.flush(120000);
    if (listener.failed) throw std::runtime_error("changelog feed failed");
  }
  cf::StateOptions options;
  options.changelog_topic = topic;
  options.kafka = kafka;
  options.snapshot_dir = dir + "/none";
  std::map<int32_t, std::unique_ptr<cf::InventoryPartitionState>> stores;
  std::map<int32_t, cf::RestorableStore*> view;
  for (int p = 0; p < 12; ++p) {
    stores[p] = std::make_unique<cf::InventoryPartitionState>(topic, p);
    view[p] = stores[p].get();
  }
  auto report = cf::restore_stores(options, view);
  std::printf("restore changelog_only partitions=12 records=%lld seconds=%.2f records_per_s=%.0f\n",
              static_cast<long long>(report.changelog_records), report.elapsed_ms / 1000.0,
              static_cast<double>(report.changelog_records) /
                  std::max<double>(report.elapsed_ms / 1000.0, 1e-3));

  // 1M keys in a snapshot of partition 0 that covers nothing of the changelog:
  // the restore loads the file, then replays partition 0's whole changelog as its tail.
  cf::InventoryPartitionState big(topic, 0);
  for (int i = 0; i < 1000000; ++i) {
    std::string key =
        cf::ledger_key("creator-x" + std::to_string(i % 1000), "SKU-" + std::to_string(i));
    std::string value = cf::encode_ledger(cf::SkuLedger{});
    std::string_view v = value;
    big.apply_encoded(key, &v);
  }
  options.snapshot_dir = dir + "/snap";
  cf::write_snapshot_file(options.snapshot_dir + "/" + topic + "/0.snap", 0, big);
  cf::InventoryPartitionState restored(topic, 0);
  report = cf::restore_stores(options, {{0, &restored}});
  double seconds = report.elapsed_ms / 1000.0;
  std::printf(
      "restore snapshot_plus_tail snapshot_keys=%lld tail_records=%lld seconds=%.2f "
      "keys_per_s=%.0f\n",
      static_cast<long long>(report.snapshot_keys),
      static_cast<long long>(report.changelog_records), seconds,
      static_cast<double>(report.snapshot_keys + report.changelog_records) /
          std::max(seconds, 1e-3));
}

}  // namespace

int main(int argc, char** argv) {
  cf::KafkaSettings kafka;
  std::string mode = "validator", log_level = "warn";
  size_t records = 600000;
  uint64_t seed = 42;
  return cf::guarded_main("cf-bench", [&]() -> int {
    cf::OptionsParser options("cf-bench",
                              "Validator throughput next to a bare consume->produce loop.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()(
        "mode", po::value(&mode)->default_value(mode),
        "passthrough (bare librdkafka loop), runtime (worker loop, copy-through) or validator")(
        "records", po::value(&records)->default_value(records), "records to feed and process")(
        "seed", po::value(&seed)->default_value(seed), "generator seed");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("bench", log_level);
    if (mode != "passthrough" && mode != "validator" && mode != "runtime" && mode != "velocity" &&
        mode != "velocity-passthrough" && mode != "restore") {
      throw cf::ConfigError(
          "--mode: passthrough, runtime, validator, velocity, velocity-passthrough or restore");
    }
    char dir_template[] = "/tmp/cf-bench-state.XXXXXX";
    std::string state_dir = mkdtemp(dir_template);
    if (mode == "restore") {
      restore_bench(kafka, records, state_dir);
      std::filesystem::remove_all(state_dir);
      return 0;
    }
    std::cerr << "cf-bench: generating " << records << " records\n";
    const bool inventory = mode.rfind("velocity", 0) == 0;
    auto input = inventory ? generate_inventory(records, seed)
                           : generate(records, seed, mode == "validator" ? "" : "bench.input");
    size_t bytes = 0;
    for (auto& r : input) bytes += r.value.size();
    double feed_rate = 0, rate = 0;
    std::thread feeder([&] { feed_rate = feed(kafka, input); });
    if (mode == "passthrough") {
      rate = bare_loop(kafka, records, "bench.input", "bench.output");
    } else if (mode == "velocity-passthrough") {
      rate = bare_loop(kafka, records, "inventory.events", "inventory.velocity");
    } else if (mode == "velocity") {
      rate = velocity_loop(kafka, records, state_dir);
    } else if (mode == "runtime") {
      CopyThrough copy;
      rate = worker_loop(kafka, records, copy, {"bench.input"});
    } else {
      rate = validator_loop(kafka, records, state_dir);
    }
    feeder.join();
    std::filesystem::remove_all(state_dir);
    std::printf("%s records=%zu avg_bytes=%zu records_per_s=%.0f feeder_records_per_s=%.0f\n",
                mode.c_str(), records, bytes / records, rate, feed_rate);
    return 0;
  });
}
