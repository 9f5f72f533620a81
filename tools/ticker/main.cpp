// cf-ticker: writes a tick record to every partition of the given topics at a
// fixed interval. Ticks carry the wall-clock time of their writing; as they
// are in the log, a replay sees the same ticks, so processors that advance
// windows and clear alerts on stream time stay deterministic while idle keys
// and quiet partitions still move on.
#include <atomic>
#include <chrono>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/worker.h"

namespace {

class CountingListener : public cf::DeliveryListener {
 public:
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failures.fetch_add(1);
  }
  std::atomic<uint64_t> failures{0};
};

int partition_count(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* metadata = nullptr;
  cf::TopicHandle handle(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  auto err = rd_kafka_metadata(rk, 0, handle.get(), &metadata, 10000);
  if (err) throw cf::KafkaError("metadata of " + topic, err);
  int count =
      metadata->topic_cnt == 1 && !metadata->topics[0].err ? metadata->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(metadata);
  if (count == 0) throw cf::ConfigError("topic " + topic + " does not exist");
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::KafkaSettings kafka;
  std::vector<std::string> topics;
  int interval_ms = 1000;
  int64_t count = -1;
  std::string log_level = "info";
  return cf::guarded_main("cf-ticker", [&]() -> int {
    cf::OptionsParser options("cf-ticker", "Writes tick records to every partition of topics.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("topic", po::value(&topics)->composing()->required(),
                  "topic to tick (repeatable)")(
        "interval-ms", po::value(&interval_ms)->default_value(interval_ms), "time between ticks")(
        "count", po::value(&count)->default_value(count),
        "stop after this many rounds (-1: run until SIGTERM)");
    if (!options.parse(argc, argv)) return 0;
    if (interval_ms <= 0) throw cf::ConfigError("--interval-ms: must be positive");
    cf::init_logging("cf-ticker", log_level);
    CountingListener listener;
    cf::Producer producer(kafka, "cf-ticker", &listener);
    std::vector<std::pair<std::string, int>> partitions;
    for (auto& topic : topics)
      partitions.emplace_back(topic, partition_count(producer.handle(), topic));
    const auto& stop = cf::stop_requested_by_signal();
    auto next = std::chrono::steady_clock::now();
    for (int64_t round = 0; (count < 0 || round < count) && !stop.load(); ++round) {
      std::string value = cf::tick_json(cf::wall_clock_ms());
      for (auto& [topic, n] : partitions) {
        for (int p = 0; p < n; ++p) {
          cf::OutputRecord tick{topic, "", value, {{"cf-event-type", "tick"}}, p};
          producer.produce(tick, nullptr);
        }
      }
      producer.poll(0);
      next += std::chrono::milliseconds(interval_ms);
      while (!stop.load() && std::chrono::steady_clock::now() < next) {
        producer.poll(50);
      }
    }
    producer.flush(10000);
    if (listener.failures.load() > 0) {
      spdlog::error("{} tick(s) were not delivered", listener.failures.load());
      return 1;
    }
    return 0;
  });
}
