// channel-api on real binaries: TikTok notifications as TikTok sends them
// (id, status, times) -> channel-api, fetching each order's detail from the
// API stub -> validator. The API throttles (429 with Retry-After), fails (503),
// expires every access token, and channel-api is killed with -9 mid-stream:
// every valid notification's events still reach events.validated exactly once,
// nothing is dead-lettered, and each partition keeps its order; an order the
// API never returns is dead-lettered with the API's answer after the bounded
// attempts.
//
// Scheduled inventory sync: ticks and an operator's command on the sync topic
// make channel-api read the shops' stock from the API stub (Search Products,
// Inventory Search); a sale the pipeline never heard of is corrected in the
// ledger by the next round, under throttling, failures and kill -9, and a
// replay of old ticks polls nothing.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

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

/// The ledger's latest available units of creator|product_sku, or -1.
int64_t ledger_available(const std::string& bootstrap, const std::string& creator,
                         const std::string& sku) {
  int64_t version = -1, available = -1;
  for (auto& r : read_all(bootstrap, "inventory.velocity")) {
    rapidjson::Document d;
    d.Parse(r.value.c_str());
    if (!d.IsObject() || d["creator_id"].GetString() != creator ||
        d["product_sku"].GetString() != sku || !d["counted"].GetBool())
      continue;
    if (d["version"].GetInt64() >= version) {
      version = d["version"].GetInt64();
      available = d["available"].GetInt64();
    }
  }
  return available;
}

/// What a sync test runs on: the reference files (shops, secrets, the SKU
/// mapping file), a development broker and the API stub.
struct SyncRig {
  TempDir dir;
  rapidjson::Document shops;
  std::unique_ptr<DevBroker> broker;
  std::unique_ptr<ApiStub> stub;

  SyncRig() {
    write_reference_files(dir);
    EXPECT_EQ(Process({bin("cf-loadgen"), "--write-sku-mapping-file", dir.file("skus.json")},
                      dir.file("files.log"))
                  .wait(10000),
              0);
    std::ifstream in(dir.file("shops.json"));
    std::stringstream text;
    text << in.rdbuf();
    shops.Parse(text.str().c_str());
    broker = std::make_unique<DevBroker>(dir);
    stub = std::make_unique<ApiStub>(dir);
  }
  std::string creator_of(const std::string& shop) const {
    return shops["shops"][shop.c_str()]["creator_id"].GetString();
  }
};

TEST(ChannelApiSync, ASyncAfterAMissedSaleCorrectsTheLedgerAndAReplayPollsNothing) {
  SyncRig rig;
  const TempDir& dir = rig.dir;
  DevBroker& broker = *rig.broker;
  ApiStub& stub = *rig.stub;
  const std::string shop = "shop-7001";
  const std::string creator = rig.creator_of(shop);
  auto stock = [&](int64_t units) {
    // 150 products: two pages of Search Products. The one under test is on the second.
    std::string body = R"({"skus":[)";
    for (int i = 0; i < 150; ++i) {
      if (i > 0) body += ",";
      const std::string n = std::to_string(900 + i);
      body += R"({"product_id":"1729382476852)" + n + R"(","sku_id":"1729382476853)" + n +
              R"(","seller_sku":"CF-SYNC-)" + n + R"(","quantity":)" +
              std::to_string(i == 149 ? units : 40) + "}";
    }
    ASSERT_EQ(stub.post("/tiktok/inventory?shop_id=" + shop, body + "]}"), 200);
  };
  const std::string sku = "CF-SYNC-1049";
  std::vector<std::unique_ptr<Process>> workers;
  for (const char* name : {"validator", "reconciler", "inventory-velocity"}) {
    workers.push_back(
        std::make_unique<Process>(worker_command(name, broker.bootstrap(), dir, dir.file("state")),
                                  dir.file(std::string(name) + ".log")));
  }
  const int metrics = free_port();
  auto channel_args = [&](const std::string& group) {
    auto args = worker_command("channel-api", broker.bootstrap(), dir, dir.file("channel-state"),
                               std::to_string(metrics));
    args.insert(args.end(), {"--tiktok-api-url", stub.url(), "--sync-interval-s", "2", "--group",
                             group, "--retry-base-ms", "100"});
    return args;
  };
  auto channel = std::make_unique<Process>(channel_args("cf.channel-api"), dir.file("channel.log"));
  auto velocity_ticks = [&] {
    // Snapshots held back by coalescing leave on a tick of the ledger's topic.
    Process({bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic", "inventory.events",
             "--count", "1"},
            dir.file("velocity-ticker.log"))
        .wait(30000);
  };
  auto ledger_becomes = [&](int64_t expected) {
    int64_t seen = -2;
    bool ok = wait_until(
        [&] {
          velocity_ticks();
          seen = ledger_available(broker.bootstrap(), creator, sku);
          return seen == expected;
        },
        60000, 500);
    EXPECT_TRUE(ok) << "ledger " << seen << ", expected " << expected << "\n" << channel->log();
    return ok;
  };

  // 1. On demand: an operator's command reads the shop's stock at once. (A
  // command read more than one interval after it was written is history:
  // wait until channel-api has its partitions.)
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(metrics, "cf_assigned_partitions") > 0; }, 30000));
  stock(50);
  ASSERT_EQ(Process({bin("cf-channel-sync"), "--brokers", broker.bootstrap(), "--shop", shop},
                    dir.file("sync-command.log"))
                .wait(30000),
            0);
  ASSERT_TRUE(ledger_becomes(50));
  auto s = [&] {
    rapidjson::Document d;
    d.Parse(stub.get("/tiktok/stats").c_str());
    return d;
  };
  EXPECT_EQ(s()["products_calls"].GetInt64(), 2) << "two pages of products";
  EXPECT_EQ(s()["inventory_calls"].GetInt64(), 2);
  EXPECT_EQ(s()["sign_failures"].GetInt64(), 0);

  // 2. A sale the pipeline never heard of (its webhook was lost): the
  // platform's stock is one lower. The next scheduled round corrects it.
  // The API throttles and fails a third of the calls meanwhile: rounds are
  // repeated or end early, and the next ones get through.
  ASSERT_EQ(
      stub.post("/tiktok/faults", R"({"throttle_rate":0.3,"retry_after_s":1,"error_rate":0.3})"),
      200);
  stock(49);
  auto ticker = std::make_unique<Process>(
      std::vector<std::string>{bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic",
                               "channel.sync.commands", "--interval-ms", "500"},
      dir.file("sync-ticker.log"));
  ASSERT_TRUE(ledger_becomes(49));
  EXPECT_GT(s()["throttled"].GetInt64() + s()["errors"].GetInt64(), 0);
  ASSERT_EQ(stub.post("/tiktok/faults", "{}"), 200);
  // A few rounds: every 2 s, not one per tick (ticks every 0.5 s).
  ASSERT_TRUE(wait_until(
      [&] { return read_all(broker.bootstrap(), "channel.sync.commands").size() >= 10; }, 30000));
  // kill -9 in the middle of rounds (each call takes 1 s now, so the test
  // shop's round of four calls is always running): the rounds whose ticks
  // were not committed run again after the restart, with the same
  // notification ids, and the validator lets each count through once.
  ASSERT_EQ(stub.post("/tiktok/faults", R"({"latency_ms":1000})"), 200);
  const std::string products_ok =
      "cf_channel_api_calls_total{api=\"products_search\",outcome=\"ok\"}";
  const double calls_before_kill = scrape_metric(metrics, products_ok);
  ASSERT_TRUE(wait_until(
      [&] { return scrape_metric(metrics, products_ok) > calls_before_kill + 3; }, 30000));
  channel->kill9();
  const size_t ticks_at_kill = read_all(broker.bootstrap(), "channel.sync.commands").size();
  channel = std::make_unique<Process>(channel_args("cf.channel-api"), dir.file("channel-2.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        return scrape_metric(metrics, "cf_channel_api_sync_rounds_total{outcome=\"completed\"}") >
                   0 &&
               read_all(broker.bootstrap(), "channel.sync.commands").size() >= ticks_at_kill + 8;
      },
      60000))
      << channel->log();
  ASSERT_EQ(stub.post("/tiktok/faults", "{}"), 200);
  ticker->signal(SIGTERM);
  ASSERT_EQ(ticker->wait(10000), 0);
  const double ticks_skipped =
      scrape_metric(metrics, "cf_channel_api_sync_requests_skipped_total{reason=\"same_round\"}");
  EXPECT_GT(ticks_skipped, 0) << "ticks of a round already started start nothing";

  // 3. Replay: the sync topic read again from its start by a new group,
  // after the ticks have aged past one interval. Nothing is polled.
  channel->signal(SIGTERM);
  ASSERT_EQ(channel->wait(30000), 0) << channel->log();
  const int64_t calls_before = s()["products_calls"].GetInt64();
  // The point of a replay: every record of the sync topic is older than one interval.
  const auto sync_records = read_all(broker.bootstrap(), "channel.sync.commands");
  ASSERT_GT(sync_records.size(), 4u);
  int64_t newest = 0;
  for (const auto& r : sync_records) {
    rapidjson::Document d;
    d.Parse(r.value.c_str());
    newest = std::max(
        newest, d.HasMember("tick_ms") ? d["tick_ms"].GetInt64() : d["requested_at"].GetInt64());
  }
  ASSERT_TRUE(wait_until([&] { return std::time(nullptr) * 1000LL > newest + 2100; }, 10000));
  stock(10);
  channel = std::make_unique<Process>(channel_args("cf.channel-api-replay"),
                                      dir.file("channel-replay.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        return scrape_metric(metrics,
                             "cf_channel_api_sync_requests_skipped_total{reason=\"history\"}") ==
               static_cast<double>(sync_records.size());
      },
      60000))
      << channel->log();
  EXPECT_EQ(s()["products_calls"].GetInt64(), calls_before) << "a replay polls nothing";
  velocity_ticks();
  EXPECT_EQ(ledger_available(broker.bootstrap(), creator, sku), 49) << "and writes nothing";

  // Every count the rounds wrote went through the validator as scheduled_sync,
  // once: the repeated rounds after the kill -9 were dropped as duplicates.
  for (const auto& [id, n] : event_id_counts(broker.bootstrap(), "events.validated"))
    EXPECT_EQ(n, 1) << "event " << id << " appears " << n << " times";
  size_t synced = 0;
  for (auto& r : read_all(broker.bootstrap(), "events.validated"))
    synced += r.value.find("\"source\":\"scheduled_sync\"") != std::string::npos;
  EXPECT_GE(synced, 300u);
  EXPECT_TRUE(read_all(broker.bootstrap(), "webhooks.rejected").empty());
  channel->signal(SIGTERM);
  EXPECT_EQ(channel->wait(30000), 0);
  for (auto& w : workers) w->signal(SIGTERM);
  for (auto& w : workers) EXPECT_EQ(w->wait(30000), 0) << w->log();
}

TEST(ChannelApiSync, AShopifyStoresCountsCarryTheSkuLookedUpOnceThroughTheAdminApi) {
  SyncRig rig;
  const TempDir& dir = rig.dir;
  DevBroker& broker = *rig.broker;
  ApiStub& stub = *rig.stub;
  const std::string store = "shop-7002.myshopify.com";
  const std::string creator = rig.creator_of(store);
  // 300 items at one location (two pages of levels) and the item under test
  // at two: its count is the sum. None of these items is in the mapping file.
  auto stock = [&](int64_t first, int64_t second) {
    std::string body = R"({"items":[)";
    for (int i = 0; i < 300; ++i) {
      body += (i ? "," : "") + std::string(R"({"inventory_item_id":)") +
              std::to_string(88100000 + i) + R"(,"sku":"SHOP-SKU-)" + std::to_string(i) +
              R"(","available":)" + std::to_string(i == 299 ? first : 30) + "}";
    }
    body += R"(,{"inventory_item_id":88100299,"sku":"SHOP-SKU-299","location_id":655441492,)"
            R"("available":)" +
            std::to_string(second) + "}]}";
    ASSERT_EQ(stub.post("/shopify-stub/inventory?shop=" + store, body), 200);
  };
  auto stats = [&] {
    rapidjson::Document d;
    d.Parse(stub.get("/shopify-stub/stats").c_str());
    return d;
  };
  std::vector<std::unique_ptr<Process>> workers;
  for (const char* name : {"validator", "reconciler", "inventory-velocity"}) {
    workers.push_back(
        std::make_unique<Process>(worker_command(name, broker.bootstrap(), dir, dir.file("state")),
                                  dir.file(std::string(name) + ".log")));
  }
  const int metrics = free_port();
  int runs = 0;
  auto start_channel = [&] {
    auto args = worker_command("channel-api", broker.bootstrap(), dir, dir.file("channel-state"),
                               std::to_string(metrics));
    args.insert(args.end(), {"--tiktok-api-url", stub.url(), "--shopify-api-url",
                             stub.url() + "/shopify/{shop}", "--sync-interval-s", "60"});
    auto p =
        std::make_unique<Process>(args, dir.file("channel-" + std::to_string(++runs) + ".log"));
    EXPECT_TRUE(
        wait_until([&] { return scrape_metric(metrics, "cf_assigned_partitions") > 0; }, 30000));
    return p;
  };
  auto sync_now = [&] {
    ASSERT_EQ(Process({bin("cf-channel-sync"), "--brokers", broker.bootstrap(), "--shop", store},
                      dir.file("sync-command.log"))
                  .wait(30000),
              0);
  };
  auto ledger_becomes = [&](int64_t expected, Process& channel) {
    int64_t seen = -2;
    bool ok = wait_until(
        [&] {
          Process({bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic", "inventory.events",
                   "--count", "1"},
                  dir.file("velocity-ticker.log"))
              .wait(30000);
          seen = ledger_available(broker.bootstrap(), creator, "SHOP-SKU-299");
          return seen == expected;
        },
        60000, 500);
    EXPECT_TRUE(ok) << "ledger " << seen << ", expected " << expected << "\n" << channel.log();
    return ok;
  };

  auto channel = start_channel();
  stock(7, 5);
  sync_now();
  ASSERT_TRUE(ledger_becomes(12, *channel));
  EXPECT_EQ(stats()["items_calls"].GetInt64(), 3) << "300 SKUs, 100 per call";
  EXPECT_GE(stats()["levels_calls"].GetInt64(), 3) << "two pages at one location, one at the other";
  EXPECT_EQ(stats()["token_failures"].GetInt64(), 0);
  // Known items are not looked up again, and a restart reads them back from
  // the changelog.
  stock(4, 5);
  sync_now();
  ASSERT_TRUE(ledger_becomes(9, *channel));
  channel->signal(SIGTERM);
  ASSERT_EQ(channel->wait(30000), 0) << channel->log();
  channel = start_channel();
  stock(3, 5);
  sync_now();
  ASSERT_TRUE(ledger_becomes(8, *channel));
  EXPECT_EQ(stats()["items_calls"].GetInt64(), 3) << "each item's SKU looked up once";
  EXPECT_EQ(read_all(broker.bootstrap(), "channel-api.shopify-items.changelog").size(), 300u);
  size_t synced = 0;
  for (auto& r : read_all(broker.bootstrap(), "events.validated"))
    synced += r.value.find("\"source\":\"scheduled_sync\"") != std::string::npos &&
              r.value.find("\"seller_sku\":\"SHOP-SKU-") != std::string::npos;
  EXPECT_EQ(synced, 900u) << "three rounds of 300 items";
  EXPECT_TRUE(read_all(broker.bootstrap(), "webhooks.rejected").empty());
  channel->signal(SIGTERM);
  EXPECT_EQ(channel->wait(30000), 0);
  for (auto& w : workers) w->signal(SIGTERM);
  for (auto& w : workers) EXPECT_EQ(w->wait(30000), 0) << w->log();
}

}  // namespace
}  // namespace cf::test
