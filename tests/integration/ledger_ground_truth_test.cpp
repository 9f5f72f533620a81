// The whole inventory path on real binaries: generated TikTok, Shopify and
// shipping webhooks -> (TikTok notifications as TikTok sends them, through
// channel-api and the API stub's order details) -> validator -> reconciler ->
// inventory-velocity -> stockout-predictor. TikTok sends no stock webhook:
// deliveries reach the ledger only through channel-api's scheduled sync of
// both platforms' stock, asked for once the feed is over. Every SKU's final
// ledger then equals the generator's ground truth: each sale, cancellation
// and count from both channels applied once.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "harness.h"

namespace cf::test {
namespace {

TEST(LedgerGroundTruth, BothChannelsFeedOneLedgerPerProductSku) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  ApiStub stub(dir);
  const int channel_metrics = free_port();
  std::vector<std::unique_ptr<Process>> workers;
  for (const char* name :
       {"channel-api", "validator", "reconciler", "inventory-velocity", "stockout-predictor"}) {
    const bool channel = std::string(name) == "channel-api";
    auto args = worker_command(name, broker.bootstrap(), dir, dir.file("state"),
                               channel ? std::to_string(channel_metrics) : "-1");
    if (channel)
      args.insert(args.end(), {"--tiktok-api-url", stub.url(), "--shopify-api-url",
                               stub.url() + "/shopify/{shop}"});
    workers.push_back(std::make_unique<Process>(args, dir.file(std::string(name) + ".log")));
  }

  const int64_t start_s = std::time(nullptr);
  Process feed({bin("cf-loadgen"), "--to-kafka", "--raw-tiktok", "--tiktok-api", stub.address(),
                "--brokers", broker.bootstrap(), "--count", "20000", "--rate", "4000", "--seed",
                "5", "--skus", "60", "--write-stock-file", dir.file("truth.json"),
                // Event time advances as the wall clock does at 4000/s: the
                // validator's skew between the TikTok and Shopify topics (up to
                // thousands of records) then stays well inside the 60 s lateness.
                "--event-seconds-per-webhook", "0.00025",
                // Event time starts now, so the ticker's wall-clock ticks stay
                // within the allowed lateness of the events they overtake.
                "--start-time", std::to_string(start_s)},
               dir.file("feed.log"));
  ASSERT_EQ(feed.wait(120000), 0) << feed.log();
  // The final round: once the wall clock is past the last event's second
  // (20000 x 0.25 ms of event time), a count covers every sale, and an
  // operator's sync reads every shop's and store's stock.
  ASSERT_TRUE(wait_until([&] { return std::time(nullptr) > start_s + 6; }, 30000, 100));
  ASSERT_GT(scrape_metric(channel_metrics, "cf_assigned_partitions"), 0);
  ASSERT_EQ(Process({bin("cf-channel-sync"), "--brokers", broker.bootstrap()},
                    dir.file("sync-command.log"))
                .wait(30000),
            0);
  // Ticks after the last event flush snapshots still held by coalescing; one
  // goes out before every check, so a tick that overtook the last events is
  // followed by another.
  auto tick = [&] {
    EXPECT_EQ(Process({bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic",
                       "inventory.events", "--count", "1"},
                      dir.file("ticker.log"))
                  .wait(30000),
              0);
  };
  std::ifstream in(dir.file("truth.json"));
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document truth;
  truth.Parse(text.str().c_str());
  ASSERT_TRUE(truth.IsObject() && truth.MemberCount() > 100);

  std::map<std::string, std::pair<int64_t, int64_t>> latest;  // creator|sku -> (version, available)
  std::map<std::string, bool> counted;
  size_t matching = 0, compared = 0;
  std::string first_mismatch;
  bool converged = wait_until(
      [&] {
        tick();
        latest.clear();
        for (auto& r : read_all(broker.bootstrap(), "inventory.velocity")) {
          rapidjson::Document d;
          d.Parse(r.value.c_str());
          std::string key =
              std::string(d["creator_id"].GetString()) + "|" + d["product_sku"].GetString();
          auto& slot = latest[key];
          if (d["version"].GetInt64() >= slot.first) {
            slot = {d["version"].GetInt64(), d["available"].GetInt64()};
            counted[key] = d["counted"].GetBool();
          }
        }
        matching = compared = 0;
        first_mismatch.clear();
        for (auto& [key, value] : latest) {
          if (!counted[key] || !truth.HasMember(key.c_str())) continue;
          ++compared;
          if (value.second == truth[key.c_str()].GetInt64()) {
            ++matching;
          } else if (first_mismatch.empty()) {
            first_mismatch = key + ": ledger " + std::to_string(value.second) + ", truth " +
                             std::to_string(truth[key.c_str()].GetInt64());
          }
        }
        return compared > 100 && matching == compared;
      },
      120000, 3000);
  EXPECT_TRUE(converged) << matching << " of " << compared << " counted SKUs match; first mismatch "
                         << first_mismatch;
  if (!first_mismatch.empty() && std::getenv("CF_DEBUG_LEDGER")) {
    std::string key = first_mismatch.substr(0, first_mismatch.find(':'));
    std::string creator = key.substr(0, key.find('|')), sku = key.substr(key.find('|') + 1);
    for (auto& r : read_all(broker.bootstrap(), "inventory.events")) {
      if (r.key == creator && r.value.find("\"" + sku + "\"") != std::string::npos)
        std::cout << r.value << "\n";
    }
  }
  size_t shopify_items = 0;
  for (auto& r : read_all(broker.bootstrap(), "inventory.events")) {
    shopify_items += r.value.find("\"channel\":\"shopify\"") != std::string::npos;
  }
  EXPECT_GT(shopify_items, 100u) << "Shopify sales, returns and counts reached the ledger";
  EXPECT_TRUE(
      wait_until([&] { return read_all(broker.bootstrap(), "inventory.predictions").size() > 100; },
                 60000, 1000))
      << "stockout-predictor turned the snapshots into predictions";
  const double sync_counts = scrape_metric(channel_metrics, "cf_channel_api_sync_counts_total");
  EXPECT_GE(sync_counts, static_cast<double>(compared)) << "the deliveries came with the sync";
  std::cout << "ledger ground truth: " << matching << " of " << compared
            << " counted SKUs equal the generator's units (" << latest.size() << " SKUs in all, "
            << shopify_items << " Shopify inventory events, " << sync_counts
            << " counts from the scheduled sync)" << std::endl;
  for (auto& w : workers) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(30000), 0) << w->log();
  }
}

}  // namespace
}  // namespace cf::test
