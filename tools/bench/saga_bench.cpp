// cf-bench-saga: order sagas through the running topology (order-saga,
// saga-http, cf-participant-stub, inventory-velocity; started by
// run_bench.sh). Feeds paid orders' events as the reconciler writes them
// (the generator's webhooks through the real validator and reconciler
// transforms, in-process), reads saga.events back and prints one line:
//   saga orders=N rate=R seconds=S sagas_per_s=X completed=C compensated=K
//        p50_ms=.. p99_ms=.. max_in_flight=M
// Duration of a saga: its order event entering the log -> its last step's
// reply entering the log (saga.events' started_ms / finished_ms).
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/json_parse.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/schemas.h"
#include "order_events.h"
#include "saga_messages.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

struct Listener : cf::DeliveryListener {
  std::atomic<uint64_t> failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.fetch_add(1);
  }
};

/// One paid order event per order, as the reconciler writes them.
std::vector<cf::OutputRecord> paid_orders(size_t count, uint64_t seed) {
  std::vector<cf::OutputRecord> out;
  std::set<std::string> seen;
  cf::GeneratorSettings settings;
  settings.seed = seed;
  settings.oversize_share = 0;
  settings.shops = 200;  // many creators: sagas spread over every partition
  int webhooks = static_cast<int>(count) * 4;
  for (auto& r :
       cf::test::reconciled_order_events(webhooks, settings, cf::default_schema_directory())) {
    auto update = cf::saga::read_order_event(r.value);
    if (!update || !update->paid) continue;
    if (!seen.insert(update->order.channel + "|" + update->order.order_id).second) continue;
    out.push_back(std::move(r));
    if (out.size() == count) break;
  }
  if (out.size() < count)
    throw cf::ConfigError("the generator gave only " + std::to_string(out.size()) +
                          " paid orders; ask for fewer --orders");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  cf::KafkaSettings kafka;
  std::string log_level = "warn";
  size_t orders = 5000;
  double rate = 0;
  uint64_t seed = 7;
  int idle_timeout_s = 120;
  return cf::guarded_main("cf-bench-saga", [&]() -> int {
    cf::OptionsParser options("cf-bench-saga",
                              "Sagas per second and saga duration through the running topology.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("orders", po::value(&orders)->default_value(orders), "paid orders to feed")(
        "rate", po::value(&rate)->default_value(rate),
        "orders per second (0: as fast as possible)")("seed", po::value(&seed)->default_value(seed),
                                                      "generator seed")(
        "idle-timeout-s", po::value(&idle_timeout_s)->default_value(idle_timeout_s),
        "give up when no saga finished for this long");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("bench", log_level);
    std::cerr << "cf-bench-saga: generating " << orders << " paid orders\n";
    const auto input = paid_orders(orders, seed);

    // Reader: saga.events from the start; first and terminal record per saga.
    cf::KafkaHandle consumer =
        cf::make_client(kafka, cf::ClientRole::kConsumer,
                        {{"group.id", "bench-saga-reader-" + std::to_string(seed)},
                         {"auto.offset.reset", "earliest"}});
    rd_kafka_poll_set_consumer(consumer.get());
    cf::PartitionListHandle topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), "saga.events", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer.get(), topics.get());

    std::atomic<bool> fed{false};
    Clock::time_point start = Clock::now();
    std::thread feeder([&] {
      Listener listener;
      cf::Producer producer(kafka, "bench-saga-feeder", &listener);
      start = Clock::now();
      for (size_t i = 0; i < input.size(); ++i) {
        if (rate > 0) {
          auto due = start + std::chrono::microseconds(static_cast<int64_t>(1e6 * i / rate));
          while (Clock::now() < due) producer.poll(1);
        }
        producer.produce(input[i], nullptr);
        if ((i & 255) == 0) producer.poll(0);
      }
      producer.flush(60000);
      if (listener.failed) std::cerr << "cf-bench-saga: " << listener.failed << " feed failures\n";
      fed = true;
    });

    std::set<std::string> started;
    std::map<std::string, std::string> finished;  // saga -> terminal status
    std::vector<int64_t> durations;
    size_t max_in_flight = 0;
    Clock::time_point last_progress = Clock::now(), last_finish = Clock::now();
    while (finished.size() < orders) {
      cf::MessageHandle msg(rd_kafka_consumer_poll(consumer.get(), 100));
      if (Clock::now() - last_progress > std::chrono::seconds(idle_timeout_s)) {
        feeder.join();
        throw std::runtime_error("no saga finished for " + std::to_string(idle_timeout_s) + " s: " +
                                 std::to_string(finished.size()) + " of " + std::to_string(orders));
      }
      if (!msg || msg->err) continue;
      rapidjson::Document d;
      if (!cf::parse_json(d, std::string_view(static_cast<const char*>(msg->payload), msg->len)) ||
          !d.IsObject())
        continue;
      const std::string id = d["saga_id"].GetString();
      const std::string status = d["status"].GetString();
      started.insert(id);
      if ((status == "completed" || status == "compensated" || status == "needs_manual") &&
          finished.emplace(id, status).second) {
        if (d["finished_ms"].IsInt64())
          durations.push_back(d["finished_ms"].GetInt64() - d["started_ms"].GetInt64());
        last_progress = last_finish = Clock::now();
      }
      max_in_flight = std::max(max_in_flight, started.size() - finished.size());
    }
    feeder.join();
    rd_kafka_consumer_close(consumer.get());
    const double seconds = std::chrono::duration<double>(last_finish - start).count();
    std::sort(durations.begin(), durations.end());
    auto pct = [&](double p) {
      return durations.empty()
                 ? -1
                 : durations[std::min(
                       durations.size() - 1,
                       static_cast<size_t>(p * static_cast<double>(durations.size())))];
    };
    size_t completed = 0, compensated = 0;
    for (const auto& [id, status] : finished) {
      completed += status == "completed";
      compensated += status == "compensated";
    }
    std::printf(
        "saga orders=%zu rate=%.0f seconds=%.2f sagas_per_s=%.0f completed=%zu compensated=%zu "
        "p50_ms=%lld p99_ms=%lld max_in_flight=%zu\n",
        orders, rate, seconds, static_cast<double>(orders) / seconds, completed, compensated,
        static_cast<long long>(pct(0.5)), static_cast<long long>(pct(0.99)), max_in_flight);
    return 0;
  });
}
