// channel-api on real binaries: TikTok notifications as TikTok sends them
// (id, status, times) -> channel-api, fetching each order's detail from the
// API stub -> validator. The API throttles (429 with Retry-After), fails (503),
// expires every access token, and channel-api is killed with -9 mid-stream:
// every valid notification's events still reach events.validated exactly once,
// nothing is dead-lettered, and each partition keeps its order; an order the
// API never returns is dead-lettered with the API's answer after the bounded
// attempts.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <iostream>
#include <map>
#include <set>

#include "cf/config.h"
#include "cf/producer.h"
#include "harness.h"

namespace cf::test {
namespace {

struct Topology {
  TempDir dir;
  std::unique_ptr<DevBroker> broker;
  std::unique_ptr<ApiStub> stub;
  std::unique_ptr<Process> validator, channel;
  int channel_metrics = 0;
  int channel_runs = 0;

  Topology() {
    write_reference_files(dir);
    broker = std::make_unique<DevBroker>(dir);
    stub = std::make_unique<ApiStub>(dir);
    validator = std::make_unique<Process>(
        worker_command("validator", broker->bootstrap(), dir, dir.file("validator-state")),
        dir.file("validator.log"));
    start_channel();
  }
  void start_channel() {
    channel_metrics = free_port();
    auto args = worker_command("channel-api", broker->bootstrap(), dir, dir.file("channel-state"),
                               std::to_string(channel_metrics));
    // Short backoffs so the faults below pass in seconds.
    args.insert(args.end(), {"--tiktok-api-url", stub->url(), "--retry-base-ms", "100",
                             "--retry-max-ms", "1000", "--max-attempts", "4"});
    channel = std::make_unique<Process>(
        args, dir.file("channel-api-" + std::to_string(++channel_runs) + ".log"));
  }
  rapidjson::Document stats() const {
    rapidjson::Document d;
    d.Parse(stub->get("/tiktok/stats").c_str());
    return d;
  }
  void fault(const std::string& json) { ASSERT_EQ(stub->post("/tiktok/faults", json), 200); }
};

TEST(ChannelApi, ThrottlingOutagesExpiredTokensAndKill9LoseAndDoubleNothing) {
  Topology t;
  Process feed({bin("cf-loadgen"), "--to-kafka", "--raw-tiktok", "--tiktok-api", t.stub->address(),
                "--brokers", t.broker->bootstrap(), "--count", "4000", "--rate", "500", "--seed",
                "23", "--report", t.dir.file("report.jsonl")},
               t.dir.file("feed.log"));
  auto enriched = [&] {
    return scrape_metric(t.channel_metrics,
                         "cf_channel_api_calls_total{api=\"order_detail\",outcome=\"ok\"}");
  };
  ASSERT_TRUE(wait_until([&] { return enriched() > 20; }, 30000)) << t.channel->log();
  // A stretch of throttling and failures.
  t.fault(R"({"throttle_rate":0.3,"retry_after_s":1,"error_rate":0.3})");
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = t.stats();
        return s["throttled"].GetInt64() > 5 && s["errors"].GetInt64() > 5;
      },
      30000));
  // Every access token expires at once; then the connector dies mid-stream.
  t.fault(R"({"expire_tokens":true})");
  ASSERT_TRUE(wait_until([&] { return t.stats()["refreshes"].GetInt64() > 0; }, 30000))
      << t.channel->log();
  t.channel->kill9();
  t.fault(R"({"throttle_rate":0.2,"retry_after_s":1})");
  t.start_channel();
  ASSERT_EQ(feed.wait(120000), 0) << feed.log();
  t.fault("{}");

  std::set<std::string> expected;
  size_t invalid = 0;
  for (const auto& r : read_report(t.dir.file("report.jsonl"))) {
    if (r.expect == "invalid") ++invalid;
    if (r.expect == "valid" || r.expect == "duplicate")
      expected.insert(r.event_ids.begin(), r.event_ids.end());
  }
  std::map<std::string, int> counts;
  const bool complete = wait_until(
      [&] {
        counts = event_id_counts(t.broker->bootstrap(), "events.validated");
        return counts.size() >= expected.size();
      },
      120000, 1000);
  EXPECT_TRUE(complete) << counts.size() << " of " << expected.size() << "\n" << t.channel->log();
  size_t extra = 0;
  for (const auto& [id, n] : counts) {
    EXPECT_EQ(n, 1) << "event " << id << " appears " << n << " times";
    if (!expected.count(id) && ++extra <= 3) ADD_FAILURE() << "unexpected event " << id;
  }
  size_t missing = 0;
  for (const auto& r : read_report(t.dir.file("report.jsonl"))) {
    for (const auto& id : r.event_ids) {
      if (!expected.count(id) || counts.count(id) || ++missing > 3) continue;
      // Where did its notification go?
      const std::string notification = r.idempotency_key.substr(r.idempotency_key.find(':') + 1);
      std::string seen;
      for (const char* topic : {"webhooks.tiktok.raw", "webhooks.tiktok.enriched",
                                "webhooks.rejected", "dlq.channel-api"}) {
        for (const auto& rec : read_all(t.broker->bootstrap(), topic)) {
          if (rec.value.find(notification) == std::string::npos) continue;
          seen += std::string("\n  on ") + topic + " p" + std::to_string(rec.partition) + "@" +
                  std::to_string(rec.offset) + ": " + rec.value.substr(0, 600);
          for (const auto& [name, value] : rec.headers) seen += " [" + name + ": " + value + "]";
        }
      }
      ADD_FAILURE() << "missing event " << id << " (" << r.expect << " " << r.kind << ", "
                    << r.idempotency_key << ")" << seen;
    }
  }
  EXPECT_EQ(extra + missing, 0u) << extra << " unexpected, " << missing << " missing";
  EXPECT_TRUE(read_all(t.broker->bootstrap(), "dlq.channel-api").empty())
      << "an outage delays, never dead-letters";
  // Each partition's records leave in the order they came, whatever the
  // concurrent calls, refetches and the restart did (repeats after the
  // kill -9 aside: the first copy of each is where it belongs).
  std::map<int32_t, std::vector<std::string>> raw_order, enriched_order;
  for (const auto& r : read_all(t.broker->bootstrap(), "webhooks.tiktok.raw"))
    raw_order[r.partition].push_back(r.headers.at("cf-request-id"));
  std::set<std::string> seen;
  for (const auto& r : read_all(t.broker->bootstrap(), "webhooks.tiktok.enriched")) {
    const std::string& id = r.headers.at("cf-request-id");
    if (seen.insert(id).second) enriched_order[r.partition].push_back(id);
  }
  EXPECT_EQ(enriched_order, raw_order);
  // Schema-breaking notifications passed through and were rejected precisely.
  size_t rejected = 0;
  for (const auto& r : read_all(t.broker->bootstrap(), "webhooks.rejected"))
    rejected += r.headers.count("cf-reject-reason") &&
                r.headers.at("cf-reject-reason").find("schema_violation") != std::string::npos;
  EXPECT_EQ(rejected, invalid);
  auto s = t.stats();
  EXPECT_EQ(s["sign_failures"].GetInt64(), 0);
  EXPECT_LE(s["max_ids_per_call"].GetInt64(), 50);
  std::cout << "channel-api under faults: " << expected.size() << " events once each; stub saw "
            << s["detail_calls"].GetInt64() << " detail calls for " << s["ids_requested"].GetInt64()
            << " ids, " << s["throttled"].GetInt64() << " throttled, " << s["errors"].GetInt64()
            << " failed, " << s["token_failures"].GetInt64() << " refused tokens, "
            << s["refreshes"].GetInt64() << " refreshes" << std::endl;
}

TEST(ChannelApi, AnOrderTheApiNeverReturnsIsDeadLetteredWithTheReason) {
  Topology t;
  KafkaSettings kafka;
  kafka.brokers = t.broker->bootstrap();
  Producer producer(kafka, "test-feed", nullptr);
  const std::string body =
      R"({"type":1,"tts_notification_id":"n-ghost","shop_id":"shop-7003","timestamp":)" +
      std::to_string(std::time(nullptr)) +
      R"(,"data":{"order_id":"ghost-1","order_status":"AWAITING_SHIPMENT","update_time":)" +
      std::to_string(std::time(nullptr)) + R"(,"is_on_hold_order":false}})";
  OutputRecord record{"webhooks.tiktok.raw",
                      "shop-7003",
                      body,
                      {{"cf-source", "tiktok"},
                       {"cf-received-at", std::to_string(std::time(nullptr) * 1000LL)},
                       {"cf-request-id", "req-ghost"}}};
  producer.produce(record, nullptr);
  producer.flush(10000);
  std::vector<Record> letters;
  ASSERT_TRUE(wait_until(
      [&] {
        letters = read_all(t.broker->bootstrap(), "dlq.channel-api");
        return !letters.empty();
      },
      60000, 500))
      << t.channel->log();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].value, body) << "the notification, byte for byte";
  EXPECT_NE(letters[0].headers.at("cf-dlq-error").find("after 4 attempts"), std::string::npos)
      << letters[0].headers.at("cf-dlq-error");
  EXPECT_NE(letters[0].headers.at("cf-dlq-error").find("order_not_found"), std::string::npos);
  EXPECT_EQ(letters[0].headers.at("cf-request-id"), "req-ghost");
  EXPECT_TRUE(read_all(t.broker->bootstrap(), "events.validated").empty());
}

}  // namespace
}  // namespace cf::test
