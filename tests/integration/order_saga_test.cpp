// The order saga on real binaries: generated TikTok Shop and Shopify webhooks
// -> validator -> reconciler -> order-saga <-> inventory-velocity, and
// order-saga <-> saga-http <-> the participant stub. The stub counts effects
// per order, which is the oracle: one capture per paid order, a refund for
// every capture of a compensated saga, whatever failed on the way.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "cf/carrier_tracking.h"
#include "cf/order_status.h"
#include "cf/signature.h"
#include "cf/time_format.h"
#include "harness.h"

namespace cf::test {
namespace {

struct SagaView {
  std::string status, step, failure;
  std::string tracking_number;  ///< the label's, once the label step succeeded
  int64_t version = -1;
  bool captured = false, refunded = false;
  std::string history;  ///< "at_ms step#attempt what" lines, for failure messages
};

struct Topology {
  TempDir dir;
  std::unique_ptr<DevBroker> broker;
  std::unique_ptr<Process> stub, saga, http, ticker, sink;
  std::unique_ptr<TempPostgres> postgres;
  std::vector<std::unique_ptr<Process>> workers;
  int stub_port = 0;
  int saga_restarts = 0, http_restarts = 0;

  Topology() {
    write_reference_files(dir);
    broker = std::make_unique<DevBroker>(dir);
    stub_port = free_port();
    stub = std::make_unique<Process>(
        std::vector<std::string>{bin("cf-participant-stub"), "--port", std::to_string(stub_port)},
        dir.file("stub.log"));
    EXPECT_TRUE(wait_until([&] { return status_of(stats_response()) == 200; }, 10000));
    for (const char* name : {"validator", "reconciler", "inventory-velocity"}) {
      workers.push_back(std::make_unique<Process>(
          worker_command(name, broker->bootstrap(), dir, dir.file(std::string("state-") + name)),
          dir.file(std::string(name) + ".log")));
    }
    start_saga();
    start_http();
    ticker = std::make_unique<Process>(
        std::vector<std::string>{bin("cf-ticker"), "--brokers", broker->bootstrap(), "--topic",
                                 "orders.events", "--topic", "inventory.events", "--topic",
                                 "events.validated", "--interval-ms", "200"},
        dir.file("ticker.log"));
  }

  void start_saga() {
    // Short timeouts and backoff so that a test's sagas give up in seconds (a
    // step's 5 attempts take about 17 s).
    saga = std::make_unique<Process>(
        std::vector<std::string>{bin("order-saga"), "--brokers", broker->bootstrap(),
                                 "--metrics-port", "0", "--state-dir", dir.file("state-saga"),
                                 "--step-timeout-ms", "2000", "--backoff-base-ms", "500",
                                 "--backoff-max-ms", "4000"},
        dir.file("saga-" + std::to_string(saga_restarts++) + ".log"));
  }
  void start_http() {
    const std::string url = "http://127.0.0.1:" + std::to_string(stub_port);
    setenv("CF_SAGA_PAYMENT_URL", url.c_str(), 1);
    setenv("CF_SAGA_SHIPPING_URL", url.c_str(), 1);
    setenv("CF_SAGA_CHANNEL_URL", url.c_str(), 1);
    http = std::make_unique<Process>(
        std::vector<std::string>{bin("saga-http"), "--brokers", broker->bootstrap(),
                                 "--metrics-port", "0", "--call-timeout-ms", "1000"},
        dir.file("http-" + std::to_string(http_restarts++) + ".log"));
  }

  /// PostgreSQL and the sink (sagas read model, revenue).
  void start_sink() {
    postgres = std::make_unique<TempPostgres>(dir);
    std::ofstream(dir.file("pg.url")) << postgres->url();
    sink = std::make_unique<Process>(
        std::vector<std::string>{bin("postgres-sink"), "--brokers", broker->bootstrap(),
                                 "--postgres-url-file", dir.file("pg.url"), "--migrations-dir",
                                 source_dir() + "/migrations", "--metrics-port", "-1"},
        dir.file("sink.log"));
  }
  /// One SQL value (first column of the first row; "" when no row).
  std::string sql(const std::string& query) const {
    pqxx::connection c(postgres->url());
    pqxx::work t(c);
    auto rows = t.exec(query);
    return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].as<std::string>();
  }
  int saga_tool(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{bin("cf-saga")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(),
                {"--brokers", broker->bootstrap(), "--postgres-url-file", dir.file("pg.url")});
    return Process(argv, dir.file(log)).wait(30000).value_or(-1);
  }

  std::string stats_response() const {
    return raw_http(stub_port, "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }
  void fault(const std::string& json) {
    std::string request =
        "POST /faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
        std::to_string(json.size()) + "\r\n\r\n" + json;
    ASSERT_EQ(status_of(raw_http(stub_port, request)), 200);
  }
  /// kind -> field -> value, from the stub.
  std::map<std::string, std::map<std::string, int64_t>> stats() const {
    std::string response = stats_response();
    rapidjson::Document doc;
    doc.Parse(response.substr(response.find("\r\n\r\n") + 4).c_str());
    std::map<std::string, std::map<std::string, int64_t>> out;
    if (!doc.IsObject()) return out;
    for (auto& kind : doc.GetObject())
      for (auto& field : kind.value.GetObject())
        out[kind.name.GetString()][field.name.GetString()] = field.value.GetInt64();
    return out;
  }

  /// Posts generated webhooks straight to the raw topics (`report`: cf-loadgen's --report).
  void feed(int webhooks, int seed, const std::string& report = "") {
    std::vector<std::string> argv{bin("cf-loadgen"), "--to-kafka",
                                  "--brokers",       broker->bootstrap(),
                                  "--count",         std::to_string(webhooks),
                                  "--rate",          "500",
                                  "--seed",          std::to_string(seed),
                                  "--skus",          "40",
                                  "--start-time",    std::to_string(std::time(nullptr))};
    if (!report.empty()) argv.insert(argv.end(), {"--report", report});
    Process feed(argv, dir.file("feed.log"));
    ASSERT_EQ(feed.wait(120000), 0) << feed.log();
  }

  /// Paid orders on orders.events ("channel|order_id").
  std::set<std::string> paid_orders() const {
    std::set<std::string> paid;
    for (const auto& r : read_all(broker->bootstrap(), "orders.events")) {
      rapidjson::Document doc;
      doc.Parse(r.value.c_str());
      if (!doc.IsObject() || !doc.HasMember("data") || !doc["data"].IsObject()) continue;
      const auto& data = doc["data"];
      if (!data.HasMember("status") || !data["status"].IsString()) continue;
      if (order_status_paid(data["status"].GetString()))
        paid.insert(std::string(data["channel"].GetString()) + "|" + data["order_id"].GetString());
    }
    return paid;
  }

  /// The latest saga.events record of each saga, by "channel|order_id".
  std::map<std::string, SagaView> sagas() const {
    std::map<std::string, SagaView> out;
    for (const auto& r : read_all(broker->bootstrap(), "saga.events")) {
      rapidjson::Document doc;
      doc.Parse(r.value.c_str());
      if (!doc.IsObject()) continue;
      const std::string order =
          std::string(doc["channel"].GetString()) + "|" + doc["order_id"].GetString();
      SagaView& v = out[order];
      if (doc["version"].GetInt64() <= v.version) continue;
      v.version = doc["version"].GetInt64();
      v.status = doc["status"].GetString();
      v.step = doc["step"].GetString();
      v.failure = doc["failure"].GetString();
      v.captured = doc["payment_captured"].GetBool();
      v.refunded = doc["payment_refunded"].GetBool();
      v.tracking_number =
          doc.HasMember("tracking_number") ? doc["tracking_number"].GetString() : "";
      v.history.clear();
      for (const auto& h : doc["history"].GetArray()) {
        v.history += "    " + std::to_string(h["at_ms"].GetInt64()) + " " + h["step"].GetString() +
                     "#" + std::to_string(h["attempt"].GetInt()) + " " + h["what"].GetString() +
                     "\n";
      }
    }
    return out;
  }

  /// Every paid order's saga has ended; returns the sagas. Without
  /// `manual_ends`, needs_manual is not an end: a compensation escalated while
  /// the connector was down resolves itself once its answers arrive.
  std::map<std::string, SagaView> wait_for_terminal_sagas(int timeout_ms, bool manual_ends = true) {
    std::map<std::string, SagaView> last;
    std::set<std::string> paid;
    bool done = wait_until(
        [&] {
          paid = paid_orders();
          last = sagas();
          if (paid.empty() || last.size() < paid.size()) return false;
          for (const auto& [order, v] : last)
            if (v.status != "completed" && v.status != "compensated" &&
                (v.status != "needs_manual" || !manual_ends))
              return false;
          return true;
        },
        timeout_ms, 1000);
    std::map<std::string, int> outcomes;  // printed: what the sagas did
    for (const auto& [order, v] : last) ++outcomes[v.status + " " + v.failure.substr(0, 60)];
    for (const auto& [what, n] : outcomes) std::cout << "  " << n << " x " << what << "\n";
    EXPECT_TRUE(done) << paid.size() << " paid orders, " << last.size() << " sagas";
    for (const auto& order : paid) EXPECT_EQ(last.count(order), 1U) << "no saga for " << order;
    return last;
  }

  /// The latest reserved count of every SKU on inventory.velocity.
  std::map<std::string, int64_t> reserved() const {
    std::map<std::string, std::pair<int64_t, int64_t>> latest;
    for (const auto& r : read_all(broker->bootstrap(), "inventory.velocity")) {
      rapidjson::Document doc;
      doc.Parse(r.value.c_str());
      if (!doc.IsObject() || !doc.HasMember("reserved")) continue;
      const std::string sku =
          std::string(doc["creator_id"].GetString()) + "|" + doc["product_sku"].GetString();
      auto& slot = latest[sku];
      if (doc["version"].GetInt64() >= slot.first)
        slot = {doc["version"].GetInt64(), doc["reserved"].GetInt64()};
    }
    std::map<std::string, int64_t> out;
    for (const auto& [sku, v] : latest) out[sku] = v.second;
    return out;
  }
};

/// Effects at the stub agree with the sagas' end states.
void expect_effects_match(const Topology& t, const std::map<std::string, SagaView>& sagas) {
  auto s = t.stats();
  int64_t completed = 0, cancelled = 0;
  for (const auto& [order, v] : sagas) {
    EXPECT_NE(v.status, "needs_manual") << order << ": " << v.failure;
    if (v.status == "completed") {
      ++completed;
      // The label provider's number made it through saga-http and the saga.
      const size_t bar = order.find('|');
      EXPECT_EQ(v.tracking_number,
                stub_label_tracking_number(order.substr(0, bar), order.substr(bar + 1)))
          << order;
    }
    if (v.failure.rfind("order cancelled", 0) == 0) ++cancelled;
    // A compensated saga whose payment may have been captured refunded it
    // (the refund blocks a capture that had not happened yet).
    if (v.status == "compensated" && v.captured) {
      EXPECT_TRUE(v.refunded) << order;
    }
  }
  EXPECT_EQ(s["captures"]["max_per_order"], 1) << "one capture per order";
  EXPECT_LE(s["refunds"]["max_per_order"], 1) << "at most one refund per order";
  EXPECT_EQ(s["captures"]["net_orders"], completed)
      << "every completed saga holds its one capture; every other capture was refunded";
  // The channel's fulfillment has no undo: an order cancelled on the channel
  // while it was being marked shipped keeps it (the channel's own state).
  EXPECT_GE(s["fulfillments"]["applied"], completed);
  EXPECT_LE(s["fulfillments"]["applied"], completed + cancelled) << [&] {
    // Where a saga gave up on marking the order shipped.
    for (const auto& [order, v] : sagas)
      if (v.failure.rfind("update_channel_status", 0) == 0) return order + "\n" + v.history;
    return std::string();
  }();
  EXPECT_EQ(s["fulfillments"]["max_per_order"], 1);
  EXPECT_GT(completed, 0);
}

void expect_reservations_released(const Topology& t) {
  std::map<std::string, int64_t> held;
  bool released = wait_until(
      [&] {
        held.clear();
        for (const auto& [sku, reserved] : t.reserved())
          if (reserved != 0) held[sku] = reserved;
        return !t.reserved().empty() && held.empty();
      },
      30000, 1000);
  EXPECT_TRUE(released) << held.size() << " SKUs still hold reservations, e.g. "
                        << (held.empty() ? "" : held.begin()->first);
}

TEST(OrderSaga, TransientPaymentFailuresStillCaptureEachOrderOnce) {
  Topology t;
  // 30% of capture calls fail (503, no effect; at most 2 per key so a step's
  // 5 attempts get through), and 10% of applied calls lose their answer (the
  // retry then gets the stored answer: a duplicate reply).
  t.fault(
      R"({"participant":"payment","error_rate":0.3,"max_errors_per_key":2,"ack_loss_rate":0.1})");
  t.feed(3000, 21);
  auto sagas = t.wait_for_terminal_sagas(240000);
  ASSERT_GT(sagas.size(), 100U);
  for (const auto& [order, v] : sagas)
    EXPECT_EQ(v.failure.find("process_payment"), std::string::npos) << order << ": " << v.failure;
  expect_effects_match(t, sagas);
  auto s = t.stats();
  EXPECT_GT(s["captures"]["errors"], 0);
  EXPECT_GT(s["captures"]["replays"], 0);
  expect_reservations_released(t);
}

// Carriers' updates (AfterShip) name only a tracking number. The feed posts
// them before any saga has made its label, so they wait in the validator and
// the labels release them; an update posted through the ingest once the
// label exists joins at once. Each reaches its order's creator exactly once.
TEST(OrderSaga, CarrierUpdatesReachTheirOrdersThroughTheSagasLabels) {
  Topology t;
  t.feed(1500, 23, t.dir.file("feed.jsonl"));
  auto sagas = t.wait_for_terminal_sagas(240000);
  struct Label {
    std::string creator, order;
  };
  std::map<std::string, Label> labels;  // tracking number -> the order it ships
  for (const auto& r : read_all(t.broker->bootstrap(), "shipping.labels")) {
    rapidjson::Document d;
    d.Parse(r.value.c_str());
    ASSERT_TRUE(d.IsObject()) << r.value;
    EXPECT_EQ(r.key, d["tracking_number"].GetString());
    labels[r.key] = {d["creator_id"].GetString(),
                     std::string(d["channel"].GetString()) + ":" + d["order_id"].GetString()};
  }
  size_t labelled = 0;
  for (const auto& [order, v] : sagas) {
    if (v.tracking_number.empty()) continue;
    ++labelled;
    EXPECT_EQ(labels.count(v.tracking_number), 1U) << order << " has no label record";
  }
  ASSERT_GT(labelled, 100U);

  std::map<std::string, std::string> expected;  // event id -> tracking number
  std::set<std::string> unjoined;
  for (const auto& line : read_report(t.dir.file("feed.jsonl"))) {
    if (line.tracking_number.empty() || line.expect != "valid") continue;
    for (const auto& id : line.joined_event_ids) {
      if (labels.count(line.tracking_number)) {
        expected[id] = line.tracking_number;
      } else {
        unjoined.insert(id);  // an unpaid order's number: no saga made its label
      }
    }
  }
  ASSERT_GT(expected.size(), 20U);
  // The reconciler's view of each update: order.shipment_updated for the order.
  auto shipments_on = [&](const std::string& topic) {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> seen;
    for (const auto& r : read_all(t.broker->bootstrap(), topic)) {
      rapidjson::Document d;
      d.Parse(r.value.c_str());
      if (!d.IsObject() || !d.HasMember("event_type")) continue;
      const std::string type = d["event_type"].GetString();
      if (type != "shipment.tracking_updated" && type != "order.shipment_updated") continue;
      const std::string key = topic == "events.validated"
                                  ? d["event_id"].GetString()
                                  : d["data"]["tracking_number"].GetString();
      seen[key].push_back({r.key, d["data"]["order_id"].GetString()});
    }
    return seen;
  };
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> validated;
  const bool all_joined = wait_until(
      [&] {
        validated = shipments_on("events.validated");
        for (const auto& [id, number] : expected)
          if (!validated.count(id)) return false;
        return true;
      },
      60000, 1000);
  size_t missing = 0;
  for (const auto& [id, number] : expected) missing += validated.count(id) == 0;
  EXPECT_TRUE(all_joined) << missing << " of " << expected.size() << " updates never joined";
  for (const auto& [id, number] : expected) {
    auto it = validated.find(id);
    if (it == validated.end()) continue;
    ASSERT_EQ(it->second.size(), 1U) << id << " joined more than once";
    EXPECT_EQ(it->second[0].first, labels[number].creator) << id;
    EXPECT_EQ(it->second[0].second, labels[number].order) << id;
  }
  for (const auto& id : unjoined) EXPECT_EQ(validated.count(id), 0U) << id << " has no label";
  std::cout << "  " << labelled << " labels; " << expected.size() << " carrier updates joined, "
            << unjoined.size() << " for numbers no saga labelled still wait" << std::endl;

  // Through the ingest, signed as AfterShip signs: joins at once.
  const std::string number = labels.begin()->first;
  const std::string body =
      R"({"event":"tracking_update","event_id":"7f0c2a9e-3d4b-4f6a-9b1c-0e2d3f4a5b6c","is_tracking_first_tag":true,"msg":{"id":"5f1e2d3c4b5a69788796a5b4","tracking_number":")" +
      number + R"(","slug":"usps","tag":"Delivered","subtag":"Delivered_001","updated_at":")" +
      format_rfc3339_ms(std::time(nullptr) * 1000LL) +
      R"(","customer_name":"Jane Doe","emails":["jane.doe@example.com"],"checkpoints":[]},"ts":)" +
      std::to_string(std::time(nullptr)) + "}";
  const int port = free_port();
  Process ingest({bin("webhook-ingest"), "--brokers", t.broker->bootstrap(), "--port",
                  std::to_string(port), "--secrets-file", t.dir.file("secrets.json")},
                 t.dir.file("ingest.log"));
  const std::string request =
      "POST /webhooks/shipping/aftership HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\naftership-hmac-sha256: " +
      hmac_sha256_base64("cf-dev-aftership-webhook-secret", body) +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  int status = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        status = status_of(raw_http(port, request));
        return status == 200;
      },
      15000, 200))
      << status << "\n"
      << ingest.log();
  const std::string id =
      deterministic_uuid("shipping:aftership:7f0c2a9e-3d4b-4f6a-9b1c-0e2d3f4a5b6c:0");
  ASSERT_TRUE(
      wait_until([&] { return shipments_on("events.validated").count(id) == 1; }, 30000, 500));
  EXPECT_EQ(shipments_on("events.validated")[id][0].second, labels[number].order);
  ASSERT_TRUE(wait_until(
      [&] {
        auto orders = shipments_on("orders.events");
        auto it = orders.find(number);
        return it != orders.end() && it->second.back().second == labels[number].order;
      },
      30000, 500))
      << "the reconciler never applied the shipment to " << labels[number].order;
}

TEST(OrderSaga, HangingShippingLabelsTimeOutAndEverythingIsCompensated) {
  Topology t;
  t.start_sink();
  t.fault(R"({"endpoint":"labels","hang":true})");
  t.feed(1500, 22);
  // An operator aborts one saga waiting for its label (cf-saga, from the read
  // model): a dry run first, then --apply; it compensates with the reason.
  std::string waiting;
  ASSERT_TRUE(wait_until(
      [&] {
        waiting = t.sql(
            "SELECT saga_id FROM sagas WHERE status = 'running' AND step = "
            "'generate_shipping_label' AND attempts = 1 ORDER BY updated_at DESC LIMIT 1");
        return !waiting.empty();
      },
      60000, 200));
  EXPECT_EQ(t.saga_tool({"abort", waiting}, "saga-dry.log"), 0);
  std::stringstream dry;
  dry << std::ifstream(t.dir.file("saga-dry.log")).rdbuf();
  EXPECT_NE(dry.str().find("dry run"), std::string::npos) << dry.str();
  EXPECT_EQ(t.saga_tool({"abort", waiting, "--apply", "--requested-by", "test"}, "saga-abort.log"),
            0);
  auto sagas = t.wait_for_terminal_sagas(240000);
  EXPECT_TRUE(wait_until(
      [&] {
        return t.sql("SELECT count(*) FROM sagas WHERE saga_id = '" + waiting +
                     "' AND manual AND status = 'compensated' AND failure LIKE 'aborted by an "
                     "operator%'") == "1";
      },
      60000, 500))
      << t.sql("SELECT status || ' ' || failure FROM sagas WHERE saga_id = '" + waiting + "'");
  // A saga that is not running cannot be aborted: refused, nothing sent.
  EXPECT_EQ(t.saga_tool({"abort", waiting, "--apply"}, "saga-again.log"), 3);
  // The read model holds every saga in its end state, and each refund once.
  EXPECT_TRUE(wait_until(
      [&] {
        return t.sql("SELECT count(*) FROM sagas WHERE status = 'compensated'") ==
               std::to_string(sagas.size());
      },
      60000, 500))
      << t.sql("SELECT count(*) FROM sagas") << " rows for " << sagas.size() << " sagas";
  EXPECT_EQ(t.sql("SELECT count(*) FROM sagas s WHERE payment_refunded AND NOT EXISTS (SELECT 1 "
                  "FROM order_refunds r WHERE r.creator_id = s.creator_id AND r.aggregate_id = "
                  "s.channel || ':' || s.order_id)"),
            "0");
  EXPECT_EQ(t.sql("SELECT (SELECT coalesce(sum(refunded_minor), 0) FROM creator_daily_revenue) = "
                  "(SELECT coalesce(sum(amount_minor), 0) FROM order_refunds)"),
            "t");
  EXPECT_NE(t.sql("SELECT count(*) FROM order_refunds WHERE source = 'saga'"), "0");
  // Nothing was fulfilled: automation health 0 wherever a saga finished.
  EXPECT_EQ(t.sql("SELECT count(*) FROM creator_daily_dashboard WHERE sagas_finished > 0 AND "
                  "automation_health <> 0"),
            "0");
  ASSERT_GT(sagas.size(), 50U);
  size_t reached_shipping = 0;
  for (const auto& [order, v] : sagas) {
    EXPECT_NE(v.status, "completed") << order;
    if (v.failure.find("generate_shipping_label") != std::string::npos) ++reached_shipping;
  }
  EXPECT_GT(reached_shipping, sagas.size() / 2);
  auto s = t.stats();
  EXPECT_EQ(s["fulfillments"]["applied"], 0);
  EXPECT_GT(s["refunds"]["applied"], 0);
  EXPECT_EQ(s["refunds"]["applied"], s["captures"]["applied"]) << "every capture refunded";
  EXPECT_EQ(s["captures"]["net_orders"], 0);
  EXPECT_EQ(s["refunds"]["max_per_order"], 1);
  for (const auto& [order, v] : sagas) {
    EXPECT_NE(v.status, "needs_manual") << order << ": " << v.failure << "\n" << v.history;
  }
  // One dead letter per saga whose label step failed every attempt, with its history.
  auto letters = read_all(t.broker->bootstrap(), "dlq.order-saga");
  EXPECT_EQ(letters.size(), reached_shipping);
  if (!letters.empty()) {
    EXPECT_EQ(letters[0].headers["cf-dlq-error-class"], "saga_step_exhausted");
    EXPECT_NE(letters[0].value.find("\"history\""), std::string::npos);
  }
  expect_reservations_released(t);
}

TEST(OrderSaga, KillNineOfOrchestratorAndConnectorOutagePastEveryAttemptChangesNoEffect) {
  Topology t;
  t.fault(R"({"participant":"payment","latency_ms":50,"error_rate":0.2,"max_errors_per_key":2})");
  t.fault(R"({"participant":"shipping","latency_ms":50})");
  Process feed({bin("cf-loadgen"), "--to-kafka", "--brokers", t.broker->bootstrap(), "--count",
                "3000", "--rate", "300", "--seed", "23", "--skus", "40", "--start-time",
                std::to_string(std::time(nullptr))},
               t.dir.file("feed.log"));
  // Mid-flight: once captures are happening, kill -9 the connector and keep it
  // down while the feed goes on, so that steps time out past every attempt;
  // kill -9 the orchestrator during that outage. The connector comes back
  // only once compensations have escalated for lack of answers: the commands
  // waiting in the log then run, once each, and their late answers must
  // resolve every escalation.
  ASSERT_TRUE(wait_until(
      [&] {
        size_t completed = 0;
        for (const auto& [order, v] : t.sagas()) completed += v.status == "completed";
        return completed >= 20 && t.stats()["captures"]["applied"] > 50;
      },
      60000, 200));
  t.http->kill9();
  t.saga->kill9();
  t.start_saga();
  size_t escalated = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        escalated = 0;
        for (const auto& [order, v] : t.sagas()) escalated += v.status == "needs_manual";
        return escalated > 0;
      },
      120000, 1000))
      << "no compensation escalated while the connector was down";
  std::cout << "  " << escalated << " sagas escalated while the connector was down" << std::endl;
  t.start_http();
  ASSERT_EQ(feed.wait(120000), 0) << feed.log();
  auto sagas = t.wait_for_terminal_sagas(240000, false);
  ASSERT_GT(sagas.size(), 100U);
  expect_effects_match(t, sagas);
  expect_reservations_released(t);
}

}  // namespace
}  // namespace cf::test
