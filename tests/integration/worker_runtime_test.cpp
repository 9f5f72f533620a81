// The worker runtime against the development broker, with a handler that
// fails on purpose: a poison record goes to the dead-letter topic with the
// original bytes and cf-dlq-* headers and does not block its partition; a
// transient failure is retried with backoff and then succeeds; offsets are
// committed past both, so a restart re-reads nothing. The batch mode
// (BatchWorker) with an in-memory store: exactly once, positions from the
// store, retries, dead letters once, fencing.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cf/batch_worker.h"
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

WorkerSettings test_settings(const KafkaSettings& kafka, const std::string& group) {
  WorkerSettings settings;
  settings.name = "test";
  settings.group = group;
  settings.kafka = kafka;
  settings.metrics_port = -1;
  settings.heartbeat_interval_ms = 0;  // only the test's records go to the broker
  settings.dead_letter_topic = "dlq.test";
  return settings;
}

// Runs `worker` until `inputs` inputs completed; returns whether it failed.
bool run_until_completed(Worker& worker, uint64_t inputs) {
  std::atomic<bool> stop{false};
  std::exception_ptr failure;
  std::thread runner([&] {
    try {
      worker.run(stop);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  EXPECT_TRUE(wait_until([&] { return worker.stats().records_completed >= inputs; }, 60000))
      << "completed " << worker.stats().records_completed;
  stop = true;
  runner.join();
  return failure != nullptr;
}

TEST(WorkerRuntime, DeadLettersPoisonRetriesTransientFailuresAndMovesOn) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
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
  Gauge& assigned =
      metrics().gauge("cf_assigned_partitions", "input partitions assigned, state restored");
  EXPECT_TRUE(wait_until([&] { return assigned.value() > 0; }, 20000))
      << "second worker never joined";
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
    if (value == "huge")
      outputs.push_back({"test.out", "k", std::string(2 * 1024 * 1024, 'x'), {}});
  }
};

TEST(WorkerRuntime, AnOutputKafkaRefusesDeadLettersItsInputAndTheWorkerMovesOn) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"a", "huge", "b"});
  OversizeHandler handler;
  Worker worker(test_settings(kafka, "oversize-group"), {"test.in"}, handler);
  EXPECT_FALSE(run_until_completed(worker, 3)) << "the worker must not die on a refused output";
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

// Regression: a refusal reported by the broker at delivery (not at produce
// time) stopped the worker for good. Now the output is re-sent, and when the
// broker keeps refusing, its input is dead-lettered with its original bytes
// (read back from the input partition) and the partition moves on.
class EchoHandler : public RecordHandler {
 public:
  explicit EchoHandler(int64_t output_bytes = 0) : output_bytes_(output_bytes) {}
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    std::string value = "seen:" + std::string(input.value());
    if (output_bytes_ > 0) value.resize(static_cast<size_t>(output_bytes_), '.');
    outputs.push_back({"test.out", std::string(input.key()), std::move(value), {}});
    if (stats) {
      // Outputs handled minus outputs acknowledged: what is still in flight.
      int64_t in_flight = static_cast<int64_t>(++handled) -
                          static_cast<int64_t>(stats->outputs_acknowledged.load());
      max_in_flight = std::max(max_in_flight.load(), in_flight);
    }
  }
  const WorkerStats* stats = nullptr;
  std::atomic<uint64_t> handled{0};
  std::atomic<int64_t> max_in_flight{0};

 private:
  int64_t output_bytes_;
};

TEST(WorkerRuntime, AnOutputRefusedAtDeliveryIsResentOnce) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"a", "b", "c"});
  broker.command("error Produce 10 1");  // MESSAGE_TOO_LARGE for the next produce request
  EchoHandler handler;
  Worker worker(test_settings(kafka, "refused-once"), {"test.in"}, handler);
  EXPECT_FALSE(run_until_completed(worker, 3)) << "the worker must not die on a refused delivery";
  EXPECT_EQ(worker.stats().dead_lettered, 0u);
  std::vector<std::string> values;
  for (auto& r : read_all(kafka.brokers, "test.out")) values.push_back(r.value);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"seen:a", "seen:b", "seen:c"}));
  EXPECT_TRUE(read_all(kafka.brokers, "dlq.test").empty());
}

TEST(WorkerRuntime, AnOutputTheBrokerKeepsRefusingDeadLettersItsInput) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"only"}, {{"origin", "test"}});
  // The first send and both re-sends are refused; the dead letter goes through.
  broker.command("error Produce 10 3");
  EchoHandler handler;
  Worker worker(test_settings(kafka, "refused-always"), {"test.in"}, handler);
  EXPECT_FALSE(run_until_completed(worker, 1)) << "the worker must not die on a refused delivery";
  EXPECT_EQ(worker.stats().dead_lettered, 1u);
  EXPECT_TRUE(read_all(kafka.brokers, "test.out").empty());
  auto dlq = read_all(kafka.brokers, "dlq.test");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].value, "only");
  EXPECT_EQ(dlq[0].headers["origin"], "test");
  EXPECT_EQ(dlq[0].headers["cf-dlq-error-class"], "produce_refused");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-offset"], "0");
  EXPECT_NE(dlq[0].headers["cf-dlq-error"].find("test.out"), std::string::npos);
}

TEST(WorkerRuntime, ADeadLetterTheBrokerRefusesStopsTheWorkerLoudly) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"only"});
  broker.command("error Produce 10 50");  // everything refused, dead letters too
  EchoHandler handler;
  Worker worker(test_settings(kafka, "refused-dlq"), {"test.in"}, handler);
  std::atomic<bool> stop{false};
  std::string failure;
  std::thread runner([&] {
    try {
      worker.run(stop);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  bool ended = wait_until([&] { return !failure.empty(); }, 60000);
  stop = true;
  runner.join();
  EXPECT_TRUE(ended) << "the worker kept running without anywhere to put the input";
  EXPECT_NE(failure.find("dlq.test"), std::string::npos) << failure;
  EXPECT_EQ(worker.stats().records_completed, 0u)
      << "the input must stay unstored, to be read again";
}

// Backpressure: a partition's unacknowledged outputs stay under
// max_unacknowledged_bytes (which bounds every key's output journal). Before
// it, a slow broker let a whole fetch (here ~20 inputs) pile up in flight.
TEST(WorkerRuntime, UnacknowledgedOutputsPerPartitionAreBounded) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  std::vector<std::string> values;
  for (int i = 0; i < 40; ++i) values.push_back("v" + std::to_string(i));
  {
    Ignore ignore;
    Producer producer(kafka, "test-feed", &ignore);
    for (auto& v : values) producer.produce({"test.in", "k", v, {}, 0}, nullptr);
    ASSERT_EQ(producer.flush(10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  broker.command("rtt all 100");  // every acknowledgement takes a while
  constexpr int64_t kOutputBytes = 20 * 1024;
  EchoHandler handler(kOutputBytes);
  WorkerSettings settings = test_settings(kafka, "backpressure");
  settings.max_unacknowledged_bytes = 2 * kOutputBytes;
  Worker worker(settings, {"test.in"}, handler);
  handler.stats = &worker.stats();
  EXPECT_FALSE(run_until_completed(worker, values.size()));
  // At most the bound plus the input being handled.
  EXPECT_LE(handler.max_in_flight.load(), 3) << "outputs in flight per partition are not bounded";
  EXPECT_EQ(read_all(kafka.brokers, "test.out").size(), values.size());
}

// A lost assignment is not a revoke: a worker that stalls past
// max.poll.interval.ms (as a paused process does past the session timeout)
// may already have been replaced, so its handler is told on_lost (drop state,
// write nothing), never on_revoked (which snapshots and flushes).
class StallingHandler : public RecordHandler {
 public:
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override {
    if (input.value() == "stall" && !stalled.exchange(true)) {
      // The fault itself: the worker thread stops polling for longer than
      // max.poll.interval.ms, like a SIGSTOPped process.
      std::this_thread::sleep_for(std::chrono::milliseconds(9000));
    }
    outputs.push_back({"test.out", "k", std::string(input.value()), {}});
  }
  void on_revoked(const std::vector<TopicPartition>&) override {
    if (!stopping) ++revoked;
  }
  void on_lost(const std::vector<TopicPartition>&) override { ++lost; }
  std::atomic<bool> stalled{false}, stopping{false};
  std::atomic<int> revoked{0}, lost{0};
};

TEST(WorkerRuntime, AStallPastThePollIntervalIsALossNotARevoke) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "test.out:1",
                         "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  kafka.properties.push_back("max.poll.interval.ms=7000");
  feed(kafka, {"a", "stall", "b"});
  StallingHandler handler;
  Worker worker(test_settings(kafka, "stall-group"), {"test.in"}, handler);
  std::atomic<bool> stop{false};
  std::thread runner([&] {
    try {
      worker.run(stop);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "worker failed: " << e.what();
    }
  });
  EXPECT_TRUE(wait_until([&] { return handler.lost > 0; }, 60000))
      << "the stall was never reported as a loss";
  EXPECT_EQ(handler.revoked, 0)
      << "a lost assignment was handled as a revoke (snapshot of stale state)";
  // It rejoins and finishes: nothing is skipped (inputs re-read, repeats allowed).
  EXPECT_TRUE(wait_until([&] { return worker.stats().records_completed >= 3; }, 60000));
  handler.stopping = true;
  stop = true;
  runner.join();
  std::set<std::string> values;
  for (auto& r : read_all(kafka.brokers, "test.out")) values.insert(r.value);
  EXPECT_EQ(values, (std::set<std::string>{"a", "stall", "b"}));
}

// ---- Batch mode (BatchWorker), with an in-memory store instead of PostgreSQL ----

// A store that keeps the contract BatchHandler asks for: rows and positions
// change together, and a batch whose first record of a partition is behind
// that partition's stored position is refused whole (BatchFenced).
class MemoryStore : public BatchHandler {
 public:
  PartitionOffsets positions(const std::vector<TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(mu);
    if (unreachable > 0) {
      --unreachable;
      throw RetriableError("store unreachable");
    }
    PartitionOffsets out;
    for (const auto& tp : partitions) {
      auto it = stored.find({tp.topic, tp.partition});
      if (it != stored.end()) out[it->first] = it->second;
    }
    return out;
  }
  void write(const std::vector<InputRecord>& records, BatchContext& context) override {
    std::lock_guard<std::mutex> lock(mu);
    PartitionOffsets first, next;
    for (const auto& r : records) {
      std::pair<std::string, int32_t> tp{std::string(r.topic()), r.partition()};
      first.emplace(tp, r.offset());
      next[tp] = r.offset() + 1;
    }
    for (const auto& [tp, offset] : first) {
      auto it = stored.find(tp);
      if (it != stored.end() && it->second > offset) throw BatchFenced("position already past");
    }
    std::vector<std::string> batch_rows;
    for (const auto& r : records) {
      if (r.value() == "poison") {
        context.dead_letter(r, "handler_error", "poison row");
      } else {
        batch_rows.emplace_back(r.value());
      }
    }
    // A transient failure after the dead letters: the batch is rebuilt and
    // meets the poison record again.
    if (failing_writes > 0) {
      --failing_writes;
      throw RetriableError("store busy");
    }
    context.await_dead_letters();
    rows.insert(rows.end(), batch_rows.begin(), batch_rows.end());
    for (const auto& [tp, offset] : next) stored[tp] = offset;
  }
  size_t row_count() {
    std::lock_guard<std::mutex> lock(mu);
    return rows.size();
  }
  std::mutex mu;
  PartitionOffsets stored;
  std::vector<std::string> rows;
  int unreachable = 0;
  int failing_writes = 0;
};

// Runs a BatchWorker in a thread for the scope's lifetime.
class RunningBatchWorker {
 public:
  RunningBatchWorker(const WorkerSettings& settings, BatchHandler& handler)
      : worker_(settings, BatchSettings{200, 50}, {"test.in"}, handler), thread_([this] {
          try {
            worker_.run(stop_);
          } catch (const std::exception& e) {
            ADD_FAILURE() << "batch worker failed: " << e.what();
          }
        }) {}
  ~RunningBatchWorker() {
    stop_ = true;
    thread_.join();
  }
  BatchWorker& worker() { return worker_; }

 private:
  std::atomic<bool> stop_{false};
  BatchWorker worker_;
  std::thread thread_;
};

// Writes `count` records "p<partition>-<offset>" to each partition of test.in.
void feed_partitions(const KafkaSettings& kafka, int partitions, int from, int count) {
  Ignore ignore;
  Producer producer(kafka, "test-feed", &ignore);
  for (int p = 0; p < partitions; ++p) {
    for (int i = from; i < from + count; ++i) {
      producer.produce({"test.in", "k", "p" + std::to_string(p) + "-" + std::to_string(i), {}, p},
                       nullptr);
    }
  }
  ASSERT_EQ(producer.flush(10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

std::multiset<std::string> expected_rows(int partitions, int from, int to) {
  std::multiset<std::string> rows;
  for (int p = 0; p < partitions; ++p)
    for (int i = from; i < to; ++i) rows.insert("p" + std::to_string(p) + "-" + std::to_string(i));
  return rows;
}

// Every record written once; a restart resumes from the store's positions,
// not from Kafka's committed offsets (which are informational only): a fresh
// store that holds a position for partition 0 only gets partition 0 from
// there and the others from the beginning, although Kafka's commits say
// everything was done.
TEST(BatchWorker, WritesEveryRecordOnceAndResumesFromTheStoresPositions) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:3", "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed_partitions(kafka, 3, 0, 400);
  const WorkerSettings settings = test_settings(kafka, "batch-group");
  MemoryStore store;
  {
    RunningBatchWorker run(settings, store);
    ASSERT_TRUE(wait_until([&] { return store.row_count() >= 1200; }, 60000)) << store.row_count();
  }
  EXPECT_EQ(std::multiset<std::string>(store.rows.begin(), store.rows.end()),
            expected_rows(3, 0, 400));
  EXPECT_EQ(
      store.stored,
      (PartitionOffsets{{{"test.in", 0}, 400}, {{"test.in", 1}, 400}, {{"test.in", 2}, 400}}));

  MemoryStore fresh;
  fresh.stored[{"test.in", 0}] = 350;
  {
    RunningBatchWorker run(settings, fresh);
    ASSERT_TRUE(wait_until([&] { return fresh.row_count() >= 850; }, 60000)) << fresh.row_count();
    EXPECT_FALSE(wait_until([&] { return fresh.row_count() > 850; }, 1000));
  }
  std::multiset<std::string> again(fresh.rows.begin(), fresh.rows.end());
  std::multiset<std::string> want = expected_rows(1, 350, 400);
  for (int p = 1; p < 3; ++p)
    for (int i = 0; i < 400; ++i) want.insert("p" + std::to_string(p) + "-" + std::to_string(i));
  EXPECT_EQ(again, want);
}

// The store unreachable at assignment and failing writes: positions and
// batches are retried with backoff, the same records each time, never
// dead-lettered for it; the poison record reaches the dead-letter topic
// exactly once however often its batch was rebuilt.
TEST(BatchWorker, RetriesAnUnreachableStoreAndDeadLettersPoisonOnce) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed(kafka, {"a", "b", "poison", "c"});
  WorkerSettings settings = test_settings(kafka, "batch-retry-group");
  settings.retry_backoff_ms = 10;
  settings.retry_backoff_max_ms = 50;
  MemoryStore store;
  store.unreachable = 2;
  store.failing_writes = 3;
  {
    RunningBatchWorker run(settings, store);
    ASSERT_TRUE(wait_until([&] { return store.row_count() >= 3; }, 30000)) << store.row_count();
    EXPECT_EQ(run.worker().stats().dead_lettered, 1u);
  }
  EXPECT_EQ(store.rows, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(store.stored[std::make_pair(std::string("test.in"), 0)], 4);
  auto dlq = read_all(kafka.brokers, "dlq.test");
  ASSERT_EQ(dlq.size(), 1u) << "a rebuilt batch must not dead-letter its record again";
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].headers["cf-dlq-source-offset"], "2");
  EXPECT_EQ(dlq[0].headers["cf-dlq-error"], "poison row");
}

// Another owner wrote past this worker's position (it took the partition
// while this one was paused): this worker's next batch is refused whole, and
// it resumes from the store's position, so no record is written twice and
// none is skipped.
TEST(BatchWorker, AFencedBatchIsDroppedAndTheWorkerResumesFromTheStore) {
  TempDir dir;
  DevBroker broker(dir, {"--extra-topic", "test.in:1", "--extra-topic", "dlq.test:1"});
  KafkaSettings kafka;
  kafka.brokers = broker.bootstrap();
  feed_partitions(kafka, 1, 0, 100);
  MemoryStore store;
  Counter& fenced = metrics().counter(
      "cf_batches_fenced_total", "batches dropped because another instance had written past them");
  const uint64_t fenced_before = fenced.value();
  {
    RunningBatchWorker run(test_settings(kafka, "batch-fence-group"), store);
    ASSERT_TRUE(wait_until([&] { return store.row_count() >= 100; }, 30000)) << store.row_count();
    {
      // The other owner: records 100..149, written with their position.
      std::lock_guard<std::mutex> lock(store.mu);
      for (int i = 100; i < 150; ++i) store.rows.push_back("p0-" + std::to_string(i));
      store.stored[{"test.in", 0}] = 150;
    }
    feed_partitions(kafka, 1, 100, 100);
    ASSERT_TRUE(wait_until([&] { return store.row_count() >= 200; }, 30000)) << store.row_count();
    EXPECT_FALSE(wait_until([&] { return store.row_count() > 200; }, 1000));
  }
  EXPECT_GT(fenced.value(), fenced_before) << "the stale batch was not refused";
  EXPECT_EQ(std::multiset<std::string>(store.rows.begin(), store.rows.end()),
            expected_rows(1, 0, 200));
  EXPECT_EQ(store.stored[std::make_pair(std::string("test.in"), 0)], 200);
}

}  // namespace
}  // namespace cf::test
