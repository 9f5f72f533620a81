// Take every broker down while posting: the ingest answers 503 (never 200 for
// a record Kafka does not hold) and recovers when the brokers come back;
// everything answered 200 reaches events.validated (through channel-api, which
// rides out the outage as well).
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <sstream>

#include "harness.h"

namespace cf::test {
namespace {

/// A log without librdkafka's own lines (connection refused, ... while the
/// brokers are down drown everything else).
std::string own_lines(const std::string& log) {
  std::string out, line;
  std::istringstream in(log);
  while (std::getline(in, line))
    if (line.find("\"logger\":\"kafka\"") == std::string::npos) out += line + "\n";
  return out;
}

/// Where the acknowledged events that never reached events.validated stopped:
/// for each, its request and whether that request's record is on the raw and
/// the enriched topic (a failure this explains is worth more than a timeout).
std::string missing_report(const std::string& bootstrap, const std::set<std::string>& must_exist,
                           const std::map<std::string, int>& counts,
                           const std::vector<const std::vector<ReportLine>*>& phases) {
  std::map<std::string, std::string> request_of;  // event id -> request id
  for (const auto* phase : phases)
    for (const auto& r : *phase)
      for (const auto& id : r.event_ids) request_of[id] = r.request_id;
  auto located = [&](const std::string& topic) {
    std::map<std::string, std::string> where;  // request id -> "partition@offset"
    for (const auto& rec : read_all(bootstrap, topic)) {
      auto h = rec.headers.find("cf-request-id");
      if (h != rec.headers.end())
        where[h->second] = std::to_string(rec.partition) + "@" + std::to_string(rec.offset);
    }
    return where;
  };
  auto raw = located("webhooks.tiktok.raw");
  auto shopify = located("webhooks.shopify.raw");
  auto shipping = located("webhooks.shipping.raw");
  auto enriched = located("webhooks.tiktok.enriched");
  std::ostringstream out;
  int missing = 0;
  for (const auto& id : must_exist) {
    if (counts.count(id)) continue;
    if (++missing > 20) continue;
    const auto& req = request_of[id];
    std::string where = raw.count(req)        ? "tiktok:" + raw[req]
                        : shopify.count(req)  ? "shopify:" + shopify[req]
                        : shipping.count(req) ? "shipping:" + shipping[req]
                                              : "-";
    out << "missing " << id << " request " << req << " raw=" << where
        << " enriched=" << (enriched.count(req) ? enriched[req] : "-") << "\n";
  }
  out << missing << " of " << must_exist.size() << " acknowledged events missing; " << raw.size()
      << " TikTok raw, " << enriched.size() << " enriched, " << shopify.size()
      << " Shopify raw records\n";
  return out.str();
}

TEST(BrokerOutage, IngestAnswers503AndRecovers) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  int port = free_port();
  Process ingest(
      {bin("webhook-ingest"), "--brokers", broker.bootstrap(), "--port", std::to_string(port),
       "--secrets-file", dir.file("secrets.json"), "--ack-timeout-ms", "1500", "--rate-per-shop",
       "100000", "--burst-per-shop", "100000"},
      dir.file("ingest.log"));
  Process validator(
      {bin("validator"), "--brokers", broker.bootstrap(), "--shops-file", dir.file("shops.json"),
       "--schema-dir", source_dir() + "/schemas", "--state-dir", dir.file("validator-state")},
      dir.file("validator.log"));
  ApiStub stub(dir);
  auto channel_args = worker_command("channel-api", broker.bootstrap(), dir, dir.file("ch-state"));
  channel_args.insert(channel_args.end(), {"--tiktok-api-url", stub.url()});
  Process channel(channel_args, dir.file("channel-api.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        return status_of(raw_http(
                   port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200;
      },
      10000));

  auto run_loadgen = [&](const std::string& name, const std::string& seed, const std::string& count,
                         const std::string& rate, bool retry) {
    std::vector<std::string> argv = {bin("cf-loadgen"),
                                     "--target",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--count",
                                     count,
                                     "--rate",
                                     rate,
                                     "--connections",
                                     "8",
                                     "--seed",
                                     seed,
                                     "--bad-signatures",
                                     "0",
                                     "--malformed",
                                     "0",
                                     "--report",
                                     dir.file(name + ".jsonl"),
                                     "--tiktok-api",
                                     stub.address()};
    if (retry) argv.push_back("--retry-unavailable");
    Process p(argv, dir.file(name + ".log"));
    EXPECT_EQ(p.wait(180000), 0) << p.log();
    return read_report(dir.file(name + ".jsonl"));
  };

  auto before = run_loadgen("before", "31", "300", "1000", false);
  for (const auto& r : before) ASSERT_EQ(r.status, 200) << "before the outage";

  broker.command("down all");
  auto during = run_loadgen("during", "32", "80", "40", false);
  int unavailable = 0;
  for (const auto& r : during) {
    EXPECT_NE(r.status, 200) << "200 for seq " << r.seq << " while every broker is down";
    unavailable += r.status == 503;
  }
  EXPECT_EQ(unavailable, static_cast<int>(during.size()))
      << "every request during the outage is 503";

  broker.command("up all");
  auto after = run_loadgen("after", "33", "300", "500", true);
  std::map<uint64_t, int> final_status;
  for (const auto& r : after) final_status[r.seq] = r.status;  // last answer per request
  for (auto& [seq, status] : final_status)
    EXPECT_EQ(status, 200) << "seq " << seq << " after recovery";

  std::set<std::string> must_exist, may_exist;
  for (const auto* phase : {&before, &after}) {
    for (const auto& r : *phase) {
      if (r.status == 200) must_exist.insert(r.event_ids.begin(), r.event_ids.end());
    }
  }
  for (const auto& r : during) may_exist.insert(r.event_ids.begin(), r.event_ids.end());
  std::map<std::string, int> counts;
  EXPECT_TRUE(wait_until(
      [&] {
        counts = event_id_counts(broker.bootstrap(), "events.validated");
        for (auto& id : must_exist)
          if (!counts.count(id)) return false;
        return true;
      },
      90000, 1000))
      << missing_report(broker.bootstrap(), must_exist, counts, {&before, &after})
      << "\nvalidator:\n"
      << own_lines(validator.log()) << "\nchannel-api:\n"
      << own_lines(channel.log()) << "\ningest:\n"
      << own_lines(ingest.log());
  for (auto& [id, n] : counts) {
    EXPECT_TRUE(must_exist.count(id) || may_exist.count(id)) << "unexpected event " << id;
  }
  std::cout << "outage test: " << unavailable << " answered 503 during the outage; "
            << must_exist.size() << " events acknowledged and delivered" << std::endl;
}

enum class BrokerFate { kDown, kKilledBefore, kKilledDuring };

void expect_bounded_shutdown(BrokerFate fate) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  int metrics_port = free_port();
  Process validator(
      {bin("validator"), "--brokers", broker.bootstrap(), "--shops-file", dir.file("shops.json"),
       "--schema-dir", source_dir() + "/schemas", "--state-dir", dir.file("validator-state"),
       "--metrics-port", std::to_string(metrics_port), "--shutdown-timeout-ms", "3000"},
      dir.file("validator.log"));
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(metrics_port, "cf_assigned_partitions") > 0; }, 30000))
      << validator.log();
  // Traffic in flight when the brokers go, so the shutdown has outputs it
  // cannot deliver.
  Process feed({bin("cf-loadgen"), "--to-kafka", "--brokers", broker.bootstrap(), "--count",
                "20000", "--rate", "5000"},
               dir.file("feed.log"));
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(metrics_port, "cf_records_in_total") > 1000; }, 30000));
  if (fate == BrokerFate::kKilledBefore) broker.kill();
  if (fate == BrokerFate::kDown) broker.command("down all");
  auto started = std::chrono::steady_clock::now();
  validator.signal(SIGTERM);
  // The broker dying while the validator leaves its group once tripped a
  // librdkafka assertion (abort, exit 134) in the close.
  if (fate == BrokerFate::kKilledDuring) broker.kill();
  auto status = validator.wait(20000);
  ASSERT_TRUE(status.has_value()) << "SIGTERM with every broker down must still end the process";
  EXPECT_EQ(*status, 0) << validator.log();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
  feed.kill9();
}

TEST(BrokerOutage, ValidatorShutdownIsBoundedWhenBrokersAreDown) {
  expect_bounded_shutdown(BrokerFate::kDown);
}

TEST(BrokerOutage, ValidatorShutdownIsBoundedWhenTheBrokerProcessIsGone) {
  expect_bounded_shutdown(BrokerFate::kKilledBefore);
}

TEST(BrokerOutage, ValidatorShutdownSurvivesTheBrokerDyingDuringIt) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    expect_bounded_shutdown(BrokerFate::kKilledDuring);
  }
}

}  // namespace
}  // namespace cf::test
