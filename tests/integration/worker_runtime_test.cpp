// The worker runtime against the development broker, with a handler that
// fails on purpose: a poison record goes to the dead-letter topic with the
// original bytes and cf-dlq-* headers and does not block its partition; a
// transient failure is retried with backoff and then succeeds; offsets are
// committed past both, so a restart re-reads nothing.
#include <gtest/gtest.h>

#include <thread>

#include "cf/errors.h"
#include "cf/metrics.h"
#include "cf/producer.h"
#include "cf/worker.h"
#include "harness.h"

namespace cf::test {
namespace {

class FlakyHandler : public RecordHandler {
 public:
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    std::string value(input.value());
    ++calls;
    if (value == "poison") throw std::runtime_error("cannot handle 'poison'");
    if (value == "flaky" && ++flaky_attempts < 3) throw RetriableError("downstream busy");
    if (value == "always-busy") throw RetriableError("downstream still busy");
    outputs.push_back({"test.out", std::string(input.key()), "seen:" + value, {}});
  }
  std::atomic<int> calls{0};
  int flaky_attempts = 0;
};

struct Ignore : DeliveryListener {
  void on_delivery(rd_kafka_resp_err_t, void*) override {}
};

// Writes `values` (key "k", `headers` on each) to partition 0 of test.in.
void feed(const KafkaSettings& kafka, std::initializer_list<const char*> values,
          std::vector<Header> headers = {}) {
  Ignore ignore;
  Producer producer(kafka, "test-feed", &ignore);
  for (const char* value : values) producer.produce({"test.in", "k", value, headers, 0}, nullptr);
  ASSERT_EQ(producer.flush(10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

TEST(WorkerRuntime, DeadLettersPoisonRetriesTransientFailuresAndMovesOn) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1", "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"a", "poison", "flaky", "b", "always-busy", "c"}, {{"origin", "test"}});
  WorkerSettings settings;
  settings.name = "test";
  settings.group = "test-group";
  settings.kafka = kafka;
  settings.metrics_port = -1;
  settings.dead_letter_topic = "dlq.test";
  settings.max_retries = 4;
  settings.retry_backoff_ms = 10;
  settings.retry_backoff_max_ms = 50;
  FlakyHandler handler;
  {
    Worker worker(settings, {"test.in"}, handler);
    std::atomic<bool> stop{false};
    std::thread runner([&] { worker.run(stop); });
    EXPECT_TRUE(wait_until([&] { return worker.stats().records_completed >= 6; }, 30000));
    stop = true;
    runner.join();
    EXPECT_EQ(worker.stats().dead_lettered, 2u);
  }
  auto out = read_all(kafka.brokers, "test.out");
  std::vector<std::string> values;
  for (auto& r : out) values.push_back(r.value);
  EXPECT_EQ(values, (std::vector<std::string>{"seen:a", "seen:flaky", "seen:b", "seen:c"}));
  EXPECT_EQ(handler.flaky_attempts, 3);

  auto dlq = read_all(kafka.brokers, "dlq.test");
  ASSERT_EQ(dlq.size(), 2u);
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].key, "k");
  EXPECT_EQ(dlq[0].headers["origin"], "test");
  EXPECT_EQ(dlq[0].headers["cf-dlq-error-class"], "handler_error");
  EXPECT_EQ(dlq[0].headers["cf-dlq-error"], "cannot handle 'poison'");
  EXPECT_EQ(dlq[0].headers["cf-dlq-processor"], "test");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-topic"], "test.in");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-partition"], "0");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-offset"], "1");
  EXPECT_EQ(dlq[1].value, "always-busy");
  EXPECT_EQ(dlq[1].headers["cf-dlq-error-class"], "retries_exhausted");

  // Offsets were committed past everything: a second run handles nothing.
  FlakyHandler second_handler;
  Worker second(settings, {"test.in"}, second_handler);
  std::atomic<bool> stop{false};
  std::thread runner([&] { second.run(stop); });
  Gauge& assigned = metrics().gauge("cf_assigned_partitions", "input partitions assigned, state restored");
  EXPECT_TRUE(wait_until([&] { return assigned.value() > 0; }, 20000)) << "second worker never joined";
  EXPECT_FALSE(wait_until([&] { return second_handler.calls > 0; }, 3000));
  stop = true;
  runner.join();
}

// Regression: an output Kafka refuses per record (here: larger than
// message.max.bytes) threw out of the poll loop and killed the worker; on
// restart the same input killed it again, blocking the partition for good.
class OversizeHandler : public RecordHandler {
 public:
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    std::string value(input.value());
    outputs.push_back({"test.out", "k", "first-of:" + value, {}});
    if (value == "huge") outputs.push_back({"test.out", "k", std::string(2 * 1024 * 1024, 'x'), {}});
  }
};

TEST(WorkerRuntime, AnOutputKafkaRefusesDeadLettersItsInputAndTheWorkerMovesOn) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1", "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"a", "huge", "b"});
  WorkerSettings settings;
  settings.name = "test";
  settings.group = "oversize-group";
  settings.kafka = kafka;
  settings.metrics_port = -1;
  settings.dead_letter_topic = "dlq.test";
  OversizeHandler handler;
  Worker worker(settings, {"test.in"}, handler);
  std::atomic<bool> stop{false};
  std::exception_ptr failure;
  std::thread runner([&] {
    try {
      worker.run(stop);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  EXPECT_TRUE(wait_until([&] { return worker.stats().records_completed >= 3; }, 30000));
  stop = true;
  runner.join();
  EXPECT_FALSE(failure) << "the worker must not die on a refused output";
  EXPECT_EQ(worker.stats().dead_lettered, 1u);
  std::vector<std::string> values;
  for (auto& r : read_all(kafka.brokers, "test.out")) values.push_back(r.value.substr(0, 20));
  EXPECT_EQ(values, (std::vector<std::string>{"first-of:a", "first-of:huge", "first-of:b"}));
  auto dlq = read_all(kafka.brokers, "dlq.test");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].value, "huge");
  EXPECT_EQ(dlq[0].headers["cf-dlq-error-class"], "produce_refused");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-offset"], "1");
  EXPECT_NE(dlq[0].headers["cf-dlq-error"].find("test.out"), std::string::npos);
}

}  // namespace
}  // namespace cf::test
