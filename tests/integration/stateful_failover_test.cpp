// Failover of the stateful processors, real binaries on the development
// broker: two copies in one group, kill -9 one mid-stream, restart it later.
// The final result must equal a clean run of the same transform over the same
// input (computed in-process here), and no effect may be applied twice.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "../unit/event_fixtures.h"
#include "cf/event_envelope.h"
#include "cf/producer.h"
#include "harness.h"
#include "reconciler.h"
#include "stockout_model.h"
#include "velocity_engine.h"

namespace cf::test {
namespace {

class Feeder : public DeliveryListener {
 public:
  explicit Feeder(const std::string& bootstrap) {
    KafkaSettings settings;
    settings.brokers = bootstrap;
    producer_ = std::make_unique<Producer>(settings, "test-feeder", this);
  }
  void send(const OutputRecord& r) {
    while (!producer_->produce(r, nullptr, 1000)) producer_->poll(10);
    producer_->poll(0);
  }
  void flush() {
    ASSERT_EQ(producer_->flush(30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(failures_.load(), 0u);
  }
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failures_.fetch_add(1);
  }

 private:
  std::unique_ptr<Producer> producer_;
  std::atomic<uint64_t> failures_{0};
};

std::unique_ptr<Process> start_worker(const std::string& binary, const DevBroker& broker,
                                      const TempDir& dir, const std::string& name, int port) {
  return std::make_unique<Process>(
      std::vector<std::string>{bin(binary), "--brokers", broker.bootstrap(), "--metrics-port",
                               std::to_string(port), "--state-dir", dir.file("state-" + name),
                               "--snapshot-interval-ms", "1500", "--instance-id", name},
      dir.file(name + ".log"));
}

// Latest record per key function, by the order records were read (per partition order).
std::map<std::string, rapidjson::Document> latest_by(
    const std::vector<Record>& records,
    const std::function<std::string(const rapidjson::Document&)>& key, const char* version_field) {
  std::map<std::string, rapidjson::Document> latest;
  for (const auto& r : records) {
    rapidjson::Document d;
    d.Parse(r.value.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember(version_field)) continue;
    std::string k = key(d);
    auto it = latest.find(k);
    if (it == latest.end() || it->second[version_field].GetInt64() <= d[version_field].GetInt64()) {
      latest[k].CopyFrom(d, latest[k].GetAllocator());
    }
  }
  return latest;
}

// Runs the feed in the background while `during` kills and restarts copies.
void feed_in_background(Feeder& feeder, const std::vector<OutputRecord>& records, int per_second,
                        std::atomic<size_t>& sent) {
  auto start = std::chrono::steady_clock::now();
  for (const auto& r : records) {
    feeder.send(r);
    size_t n = sent.fetch_add(1) + 1;
    auto due = start + std::chrono::microseconds(static_cast<int64_t>(n) * 1000000 / per_second);
    std::this_thread::sleep_until(due);
  }
  feeder.flush();
}

// Two copies of `binary` in one group; feeds `input` live at `rate`/s, kills
// copy a with -9 once it acknowledged `kill_after` outputs (mid-stream), waits
// `takeover` for b to take its partitions, then restarts a from its state dir.
struct KillOneOfTwo {
  std::unique_ptr<Process> a, b, a2;
  int port_b = 0, port_a2 = 0;
};
// Starts copies a and b of `binary` and waits until they share every input
// partition; returns a's metrics port, -1 when they never did.
int start_pair(const std::string& binary, const DevBroker& broker, const TempDir& dir,
               double input_partitions, KillOneOfTwo& run) {
  int port_a = free_port();
  run.port_b = free_port();
  run.a = start_worker(binary, broker, dir, "a", port_a);
  run.b = start_worker(binary, broker, dir, "b", run.port_b);
  bool shared = wait_until(
      [&] {
        return scrape_metric(port_a, "cf_assigned_partitions") +
                   scrape_metric(run.port_b, "cf_assigned_partitions") ==
               input_partitions;
      },
      30000);
  EXPECT_TRUE(shared) << run.a->log() << run.b->log();
  return shared ? port_a : -1;
}

void kill_one_of_two(const std::string& binary, const DevBroker& broker, const TempDir& dir,
                     const std::vector<OutputRecord>& input, int rate, double input_partitions,
                     double kill_after, std::chrono::seconds takeover, KillOneOfTwo& run) {
  const int port_a = start_pair(binary, broker, dir, input_partitions, run);
  ASSERT_GT(port_a, 0);
  Feeder feeder(broker.bootstrap());
  std::atomic<size_t> sent{0};
  std::thread feed([&] { feed_in_background(feeder, input, rate, sent); });
  bool reached = wait_until(
      [&] { return scrape_metric(port_a, "cf_outputs_acknowledged_total") > kill_after; }, 60000);
  run.a->kill9();
  EXPECT_LT(sent.load(), input.size()) << "the kill should land mid-stream";
  std::this_thread::sleep_for(takeover);
  run.port_a2 = free_port();
  run.a2 = start_worker(binary, broker, dir, "a", run.port_a2);  // snapshot + changelog tail
  feed.join();
  ASSERT_TRUE(reached) << run.a->log();
}

// Two copies; SIGSTOP copy a past the session timeout once it acknowledged
// `pause_after` outputs (its producer may hold changelog writes not yet
// sent), wait until b holds every partition and has moved on, then SIGCONT a:
// a rejoins as a zombie that has lost its partitions, and the range assignor
// hands half of them back to it, restored from its own older snapshot.
void pause_one_of_two(const std::string& binary, const DevBroker& broker, const TempDir& dir,
                      const std::vector<OutputRecord>& input, int rate, double input_partitions,
                      double pause_after, KillOneOfTwo& run) {
  const int port_a = start_pair(binary, broker, dir, input_partitions, run);
  ASSERT_GT(port_a, 0);
  Feeder feeder(broker.bootstrap());
  std::atomic<size_t> sent{0};
  std::thread feed([&] { feed_in_background(feeder, input, rate, sent); });
  bool reached = wait_until(
      [&] { return scrape_metric(port_a, "cf_outputs_acknowledged_total") > pause_after; }, 60000);
  run.a->signal(SIGSTOP);
  // a's metrics endpoint is frozen with it: only b is asked.
  bool taken = wait_until(
      [&] { return scrape_metric(run.port_b, "cf_assigned_partitions") == input_partitions; },
      60000);
  double b_acked = scrape_metric(run.port_b, "cf_outputs_acknowledged_total");
  bool moved_on = wait_until(
      [&] { return scrape_metric(run.port_b, "cf_outputs_acknowledged_total") > b_acked + 2000; },
      60000);
  run.a->signal(SIGCONT);
  bool back =
      wait_until([&] { return scrape_metric(port_a, "cf_assigned_partitions") > 0; }, 60000);
  EXPECT_LT(sent.load(), input.size()) << "the pause should end mid-stream";
  feed.join();
  run.port_a2 = port_a;
  ASSERT_TRUE(reached && taken && moved_on && back)
      << reached << taken << moved_on << back << run.a->log() << run.b->log();
}

// 24 creators x 8 SKUs, a count of 100000 each, then sales; ticks every 500
// records to every partition. Event time advances 200 ms per record.
std::vector<OutputRecord> velocity_input(std::map<std::string, int64_t>& sold) {
  std::mt19937_64 rng(7);
  std::vector<OutputRecord> input;
  int64_t t = kT0;
  for (int c = 0; c < 24; ++c) {
    for (int s = 0; s < 8; ++s) {
      std::string creator = "creator-" + std::to_string(c), sku = "SKU-" + std::to_string(s);
      input.push_back(
          {"inventory.events", creator, stock_set(creator, t, sku, 100000, "set" + creator + sku)});
    }
  }
  for (int i = 0; i < 30000; ++i) {
    t += 200;
    std::string creator = "creator-" + std::to_string(rng() % 24);
    std::string sku = "SKU-" + std::to_string(rng() % 8);
    int q = 1 + static_cast<int>(rng() % 3);
    sold[creator + "|" + sku] += q;
    input.push_back(
        {"inventory.events", creator, sale(creator, t, {{sku, q}}, "o" + std::to_string(i))});
    if (i % 500 == 499) {
      for (int p = 0; p < 12; ++p) input.push_back({"inventory.events", "", tick_json(t), {}, p});
    }
  }
  for (int p = 0; p < 12; ++p)
    input.push_back({"inventory.events", "", tick_json(t + 5000), {}, p});
  return input;
}

// The final velocity snapshots equal a clean run of the transform and the
// ground truth; returns how many SKUs were compared.
size_t expect_velocity_equals_clean_run(const DevBroker& broker,
                                        const std::vector<OutputRecord>& input,
                                        std::map<std::string, int64_t>& sold) {
  // The clean run: the same transform over the same input, no crash.
  VelocityEngine engine{VelocitySettings{}, VelocityTopics{}};
  InventoryPartitionState clean("x", 0);
  std::vector<OutputRecord> ignored;
  int64_t offset = 0;
  for (auto& r : input) engine.on_event(clean, r.value, offset++, ignored);

  std::map<std::string, rapidjson::Document> final_snapshots;
  bool converged = wait_until(
      [&] {
        final_snapshots = latest_by(
            read_all(broker.bootstrap(), "inventory.velocity"),
            [](const rapidjson::Document& d) {
              return std::string(d["creator_id"].GetString()) + "|" + d["product_sku"].GetString();
            },
            "version");
        if (final_snapshots.size() != sold.size()) return false;
        for (auto& [key, d] : final_snapshots) {
          if (d["available"].GetInt64() != 100000 - sold[key]) return false;
        }
        return true;
      },
      90000, 2000);
  EXPECT_TRUE(converged) << "final ledger differs from the ground truth";
  size_t compared = 0;
  for (auto& [key, d] : final_snapshots) {
    const SkuLedger& l = clean.ledgers().at("L|" + key);
    auto f = compute_velocity(l, clean.stream_time_ms(), {});
    EXPECT_EQ(d["available"].GetInt64(), l.available()) << key;
    EXPECT_EQ(d["sold"].GetInt64(), sold[key]) << key << ": an effect applied twice or lost";
    EXPECT_EQ(d["sales_1h"].GetInt64(), f.sales_1h) << key;
    EXPECT_EQ(d["sales_24h"].GetInt64(), f.sales_24h) << key;
    ++compared;
  }
  EXPECT_EQ(compared, sold.size());
  return compared;
}

TEST(InventoryVelocityFailover, KillNineMidStreamEqualsCleanRunAndGroundTruth) {
  TempDir dir;
  DevBroker broker(dir);
  std::map<std::string, int64_t> sold;  // creator|sku -> ground truth
  const std::vector<OutputRecord> input = velocity_input(sold);
  KillOneOfTwo run;
  kill_one_of_two("inventory-velocity", broker, dir, input, 6000, 24, 6000, std::chrono::seconds(8),
                  run);
  ASSERT_FALSE(HasFatalFailure());
  auto& b = run.b;
  auto& a2 = run.a2;
  const int port_b = run.port_b, port_a2 = run.port_a2;
  size_t compared = expect_velocity_equals_clean_run(broker, input, sold);
  EXPECT_NE(a2->log().find("from snapshots"), std::string::npos) << a2->log();
  std::cout << "velocity failover: " << input.size() << " inputs, " << compared
            << " SKUs equal to the clean run and the ground truth; replays recognised: "
            << scrape_metric(port_b, "cf_inventory_replayed_inputs_total") +
                   scrape_metric(port_a2, "cf_inventory_replayed_inputs_total")
            << std::endl;
  for (auto* p : {b.get(), a2.get()}) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(30000), 0) << p->log();
  }
}

// Regression (zombie): a copy paused past the session timeout used to treat
// the lost assignment as a revoke and snapshot stale memory stamped with the
// changelog's current end (which already held the new owner's writes), and
// its queued changelog writes landed after the new owner's. When the
// partitions came back, the restore skipped the new owner's sales.
TEST(InventoryVelocityFailover, APausedCopyThatComesBackLosesNothing) {
  TempDir dir;
  DevBroker broker(dir);
  std::map<std::string, int64_t> sold;
  const std::vector<OutputRecord> input = velocity_input(sold);
  KillOneOfTwo run;
  pause_one_of_two("inventory-velocity", broker, dir, input, 1500, 24, 6000, run);
  ASSERT_FALSE(HasFatalFailure());
  size_t compared = expect_velocity_equals_clean_run(broker, input, sold);
  EXPECT_NE(run.a->log().find("lost"), std::string::npos)
      << "the pause did not cost a its partitions";
  std::cout
      << "velocity pause: " << input.size() << " inputs, " << compared
      << " SKUs equal to the clean run and the ground truth; zombie changelog records fenced: "
      << scrape_metric(run.port_b, "cf_changelog_fenced_records_total") +
             scrape_metric(run.port_a2, "cf_changelog_fenced_records_total")
      << std::endl;
  for (auto* p : {run.b.get(), run.a.get()}) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(30000), 0) << p->log();
  }
}

std::string order_event(const std::string& creator, int64_t at, const std::string& order_id,
                        const std::string& status, const std::string& id) {
  return event_json(
      "order.received_from_tiktok", creator, at,
      R"({"channel":"tiktok","order_id":")" + order_id + R"(","status":")" + status +
          R"(","on_hold":false,"line_items":[{"sku_id":"17","seller_sku":"CF-1","quantity":1,"unit_price_minor":100,"currency":"USD"}],"total_minor":100,"currency":"USD","updated_at":"x"})",
      id, "tiktok_webhook", "tiktok:" + order_id);
}

TEST(ReconcilerFailover, KillNineMidStreamSendsEveryResolvedEventOfACleanRun) {
  TempDir dir;
  DevBroker broker(dir);
  const char* statuses[] = {"UNPAID", "AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED"};
  std::vector<OutputRecord> input;
  std::mt19937_64 rng(11);
  int64_t t = kT0;
  for (int o = 0; o < 4000; ++o) {
    std::string creator = "creator-" + std::to_string(o % 24);
    int steps = 1 + static_cast<int>(rng() % 5);
    for (int s = 0; s < steps; ++s) {
      t += 7000;  // outside the conflict window
      input.push_back({"events.validated", creator,
                       order_event(creator, t, "O" + std::to_string(o), statuses[s],
                                   "ev" + std::to_string(o) + "-" + std::to_string(s))});
    }
    if (o % 10 == 0) {  // a nonsense step back: a conflict
      input.push_back({"events.validated", creator,
                       order_event(creator, t + 1, "O" + std::to_string(o), "UNPAID",
                                   "back" + std::to_string(o))});
    }
  }
  // Clean run per partition: entity keys are per creator, and a creator's
  // records keep their order, so one store gives the same outputs.
  Reconciler clean_reconciler(ReconcilerSettings{}, ReconcilerTopics{}, SkuMapping{});
  EntityStore clean("x", 0);
  std::vector<OutputRecord> clean_out;
  int64_t offset = 0;
  for (auto& r : input)
    clean_reconciler.on_event(clean, r.value, offset, offset, clean_out), ++offset;
  std::set<std::string> expected;
  for (auto& r : clean_out) {
    if (r.topic == "orders.events" || r.topic == "inventory.events" ||
        r.topic == "conflicts.audit") {
      expected.insert(r.topic + "|" + r.value);
    }
  }

  KillOneOfTwo run;
  kill_one_of_two("reconciler", broker, dir, input, 3000, 12, 3000, std::chrono::seconds(0), run);
  ASSERT_FALSE(HasFatalFailure());
  auto& b = run.b;
  auto& a2 = run.a2;

  std::set<std::string> seen;
  size_t total = 0;
  bool complete = wait_until(
      [&] {
        seen.clear();
        total = 0;
        for (const char* topic : {"orders.events", "inventory.events", "conflicts.audit"}) {
          for (auto& r : read_all(broker.bootstrap(), topic)) {
            seen.insert(std::string(topic) + "|" + r.value);
            ++total;
          }
        }
        return seen.size() >= expected.size();
      },
      90000, 2000);
  EXPECT_TRUE(complete);
  size_t missing = 0, strangers = 0;
  for (auto& e : expected) missing += seen.count(e) ? 0 : 1;
  for (auto& e : seen) strangers += expected.count(e) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "resolved events of the clean run never sent";
  EXPECT_EQ(strangers, 0u)
      << "events the clean run does not send (an effect applied twice changes versions)";
  std::cout << "reconciler failover: " << expected.size()
            << " distinct outputs as in the clean run, " << total - seen.size()
            << " byte-identical repeats" << std::endl;
  for (auto* p : {b.get(), a2.get()}) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(30000), 0) << p->log();
  }
}

TEST(StockoutPredictorFailover, KillNineMidStreamSendsExactlyTheCleanRunsAlerts) {
  TempDir dir;
  DevBroker broker(dir);
  std::vector<OutputRecord> input;
  // 96 SKUs draining at different rates, restocked now and then: alerts rise and clear.
  for (int v = 1; v <= 150; ++v) {
    for (int k = 0; k < 96; ++k) {
      std::string creator = "creator-" + std::to_string(k % 24), sku = "SKU-" + std::to_string(k);
      int64_t available = std::max<int64_t>(0, 3000 - static_cast<int64_t>(v % 75) * (10 + k) * 2);
      int64_t sales_1h = 10 + k, sales_24h = 24 * (10 + k);
      std::string json = R"({"event_type":"inventory.velocity_updated","creator_id":")" + creator +
                         R"(","product_sku":")" + sku + R"(","version":)" + std::to_string(v) +
                         R"(,"as_of":"x","as_of_ms":)" + std::to_string(kT0 + v * 1000) +
                         R"(,"available":)" + std::to_string(available) + R"(,"sales_1h":)" +
                         std::to_string(sales_1h) + R"(,"sales_24h":)" + std::to_string(sales_24h) +
                         R"(,"viral":false,"spike_ratio":1.0})";
      input.push_back({"inventory.velocity", creator, json});
    }
  }
  StockoutPredictor clean_predictor(ReorderCatalog{}, PredictorTopics{});
  PredictorStore clean("x", 0);
  std::vector<OutputRecord> clean_out;
  int64_t offset = 0;
  for (auto& r : input)
    clean_predictor.on_velocity(clean, r.value, offset, offset, clean_out), ++offset;
  std::multiset<std::string> expected_alerts;
  for (auto& r : clean_out)
    if (r.topic == "inventory.alerts") expected_alerts.insert(r.value);
  ASSERT_GT(expected_alerts.size(), 100u);

  KillOneOfTwo run;
  kill_one_of_two("stockout-predictor", broker, dir, input, 1500, 12, 2000, std::chrono::seconds(0),
                  run);
  ASSERT_FALSE(HasFatalFailure());
  auto& b = run.b;
  auto& a2 = run.a2;

  std::set<std::string> seen;
  std::set<std::string> expected(expected_alerts.begin(), expected_alerts.end());
  bool complete = wait_until(
      [&] {
        seen.clear();
        for (auto& r : read_all(broker.bootstrap(), "inventory.alerts")) seen.insert(r.value);
        return seen.size() >= expected.size();
      },
      90000, 2000);
  EXPECT_TRUE(complete);
  size_t missing = 0, strangers = 0;
  for (auto& e : expected) missing += seen.count(e) ? 0 : 1;
  for (auto& e : seen) strangers += expected.count(e) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "alert transitions lost";
  EXPECT_EQ(strangers, 0u)
      << "alert transitions the clean run does not raise (a state change applied twice)";
  std::cout << "predictor failover: " << expected.size() << " alert transitions as in the clean run"
            << std::endl;
  for (auto* p : {b.get(), a2.get()}) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(30000), 0) << p->log();
  }
}

}  // namespace
}  // namespace cf::test
