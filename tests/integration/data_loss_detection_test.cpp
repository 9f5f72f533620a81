// The development broker silently drops records beyond ~100k per partition.
// A group whose committed position falls off the log must report data loss
// loudly (error log and metric), with the exact count.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/kafka_handles.h"
#include "cf/producer.h"
#include "harness.h"

namespace cf::test {
namespace {

struct CountingListener : DeliveryListener {
  std::atomic<int> failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.fetch_add(1);
  }
};

// Values are random bytes when `size` > 0, so lz4 cannot shrink them.
void produce_to_partition_zero(const std::string& bootstrap, int count, size_t size,
                               const std::string& topic = "webhooks.tiktok.enriched") {
  KafkaSettings settings;
  settings.brokers = bootstrap;
  CountingListener listener;
  Producer producer(settings, "test-feed", &listener);
  OutputRecord record{
      topic, "k", size ? std::string(size, ' ') : "{}", {{"cf-source", "tiktok"}}, 0};
  std::mt19937_64 rng(42);
  for (int i = 0; i < count; ++i) {
    for (size_t b = 0; b + 8 <= size; b += 8) {
      uint64_t word = rng();
      std::memcpy(&record.value[b], &word, 8);
    }
    producer.produce(record, nullptr);
  }
  ASSERT_EQ(producer.flush(60000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(listener.failed.load(), 0);
}

// First offset partition 0 of `topic` still holds; -1 when it cannot be read.
int64_t log_start(const std::string& bootstrap, const std::string& topic) {
  KafkaSettings settings;
  settings.brokers = bootstrap;
  KafkaHandle rk = make_reader(settings, "test-watermarks");
  int64_t low = -1, high = -1;
  if (rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), 0, &low, &high, 10000)) return -1;
  return low;
}

// Starts the process `args(port)` makes, resuming from offset 10 of
// partition 0 of `topic` whose log now starts at `low`: it must report
// exactly the records in between as lost, then stop cleanly.
void expect_loss_reported(const std::function<std::vector<std::string>(int)>& args,
                          const std::string& log, const std::string& topic, int64_t low) {
  int port = free_port();
  Process process(args(port), log);
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(port, "cf_data_loss_records_total") > 0; }, 60000))
      << process.log();
  EXPECT_EQ(scrape_metric(port, "cf_data_loss_records_total"), static_cast<double>(low - 10));
  EXPECT_NE(process.log().find("DATA LOSS: " + topic + "/0 jumped from offset 10 to " +
                               std::to_string(low)),
            std::string::npos);
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(60000), 0);
}

TEST(DataLossDetection, OffsetBeyondTheLogStartIsReportedAsLoss) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  auto validator_args = [&](int port) {
    return std::vector<std::string>{bin("validator"),
                                    "--brokers",
                                    broker.bootstrap(),
                                    "--shops-file",
                                    dir.file("shops.json"),
                                    "--schema-dir",
                                    source_dir() + "/schemas",
                                    "--state-dir",
                                    dir.file("validator-state"),
                                    "--metrics-port",
                                    std::to_string(port)};
  };
  produce_to_partition_zero(broker.bootstrap(), 10, 0);
  int port = free_port();
  {
    Process validator(validator_args(port), dir.file("validator-1.log"));
    ASSERT_TRUE(
        wait_until([&] { return scrape_metric(port, "cf_records_in_total") >= 10; }, 30000));
    validator.signal(SIGTERM);  // graceful: commits offset 10 of partition 0
    ASSERT_EQ(validator.wait(30000), 0) << validator.log();
  }
  // Push the committed position off the log: the broker keeps about 5 MiB
  // (compressed) per partition, so send 8 MiB that lz4 cannot shrink.
  produce_to_partition_zero(broker.bootstrap(), 1024, 8192);
  const int64_t low = log_start(broker.bootstrap(), "webhooks.tiktok.enriched");
  ASSERT_GT(low, 10) << "the development broker should have dropped the oldest records";

  expect_loss_reported(validator_args, dir.file("validator-2.log"), "webhooks.tiktok.enriched",
                       low);
}

// The sink keeps its positions in PostgreSQL, not in Kafka: a stored position
// that fell off the log is reported the same way when it resumes.
TEST(DataLossDetection, ASinkPositionBeyondTheLogStartIsReportedAsLoss) {
  TempDir dir;
  DevBroker broker(dir);
  TempPostgres postgres(dir);
  { std::ofstream(dir.file("pg.url")) << postgres.url(); }
  auto sink_args = [&](int port) {
    return std::vector<std::string>{
        bin("postgres-sink"),         "--brokers",        broker.bootstrap(),
        "--postgres-url-file",        dir.file("pg.url"), "--migrations-dir",
        source_dir() + "/migrations", "--metrics-port",   std::to_string(port)};
  };
  // Ten records the projection refuses: dead-lettered, and the stored position moves past them.
  produce_to_partition_zero(broker.bootstrap(), 10, 0, "orders.events");
  int port = free_port();
  {
    Process sink(sink_args(port), dir.file("sink-1.log"));
    ASSERT_TRUE(
        wait_until([&] { return scrape_metric(port, "cf_batch_records_total") >= 10; }, 60000))
        << sink.log();
    sink.signal(SIGTERM);
    ASSERT_EQ(sink.wait(30000), 0) << sink.log();
  }
  produce_to_partition_zero(broker.bootstrap(), 1024, 8192, "orders.events");
  const int64_t low = log_start(broker.bootstrap(), "orders.events");
  ASSERT_GT(low, 10) << "the development broker should have dropped the oldest records";
  expect_loss_reported(sink_args, dir.file("sink-2.log"), "orders.events", low);
}

}  // namespace
}  // namespace cf::test
