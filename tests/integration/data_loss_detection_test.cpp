// The development broker silently drops records beyond ~100k per partition.
// A group whose committed position falls off the log must report data loss
// loudly (error log and metric), with the exact count.
#include <gtest/gtest.h>

#include <cstring>
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
void produce_to_partition_zero(const std::string& bootstrap, int count, size_t size) {
  KafkaSettings settings;
  settings.brokers = bootstrap;
  CountingListener listener;
  Producer producer(settings, "test-feed", &listener);
  OutputRecord record{"webhooks.tiktok.raw", "k", size ? std::string(size, ' ') : "{}",
                      {{"cf-source", "tiktok"}}, 0};
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

TEST(DataLossDetection, OffsetBeyondTheLogStartIsReportedAsLoss) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  auto validator_args = [&](int port) {
    return std::vector<std::string>{bin("validator"), "--brokers", broker.bootstrap(), "--shops-file",
                                    dir.file("shops.json"), "--schema-dir", source_dir() + "/schemas",
                                    "--metrics-port", std::to_string(port)};
  };
  produce_to_partition_zero(broker.bootstrap(), 10, 0);
  int port = free_port();
  {
    Process validator(validator_args(port), dir.file("validator-1.log"));
    ASSERT_TRUE(wait_until([&] { return scrape_metric(port, "cf_records_in_total") >= 10; }, 30000));
    validator.signal(SIGTERM);  // graceful: commits offset 10 of partition 0
    ASSERT_EQ(validator.wait(30000), 0) << validator.log();
  }
  // Push the committed position off the log: the broker keeps about 5 MiB
  // (compressed) per partition, so send 8 MiB that lz4 cannot shrink.
  produce_to_partition_zero(broker.bootstrap(), 1024, 8192);
  int64_t low = 0, high = 0;
  {
    KafkaSettings settings;
    settings.brokers = broker.bootstrap();
    KafkaHandle rk = make_reader(settings, "test-watermarks");
    ASSERT_EQ(rd_kafka_query_watermark_offsets(rk.get(), "webhooks.tiktok.raw", 0, &low, &high, 10000), 0);
  }
  ASSERT_GT(low, 10) << "the development broker should have dropped the oldest records";

  int second_port = free_port();
  Process validator(validator_args(second_port), dir.file("validator-2.log"));
  ASSERT_TRUE(wait_until([&] { return scrape_metric(second_port, "cf_data_loss_records_total") > 0; }, 60000))
      << validator.log();
  EXPECT_EQ(scrape_metric(second_port, "cf_data_loss_records_total"), static_cast<double>(low - 10));
  EXPECT_NE(validator.log().find("DATA LOSS: webhooks.tiktok.raw/0 jumped from offset 10 to " +
                                 std::to_string(low)),
            std::string::npos);
  validator.signal(SIGTERM);
  EXPECT_EQ(validator.wait(60000), 0);
}

}  // namespace
}  // namespace cf::test
